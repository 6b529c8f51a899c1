"""The code envs: data loading in three schemas, gold answers, wrong answers (local sandbox)."""

import base64
import json
import pickle
import zlib
from importlib import resources

import pytest

from assay.envs.code import CompetitiveCodeEnv, HumanEvalEnv, MBPPEnv, load_records
from assay.envs.code.competitive import competitive_task
from assay.errors import EnvError
from assay.sandboxes import LocalSandbox
from assay.verifiers.base import Status


def sample_path(name):
    return str(resources.files("assay.envs.code").joinpath(name))


@pytest.fixture(scope="module")
def box():
    sandbox = LocalSandbox(workers=2)
    yield sandbox
    sandbox.close()


def test_humaneval_has_164_tasks_with_prompts_tests_and_gold():
    env = HumanEvalEnv(sandbox="local")
    assert env.num_tasks == 164
    task = env.task_at(0)
    assert task.id == "HumanEval/0" and "def has_close_elements" in task.prompt and "```python" in task.prompt
    assert env.task_by_id("HumanEval/163").meta["entry_point"] == "generate_integers"
    assert (
        "check" in task.meta["tests"]["setup"] and task.meta["tests"]["entry_point"] == "has_close_elements"
    )


def test_humaneval_gold_body_only_and_wrong_answers(box):
    env = HumanEvalEnv(sandbox=box)
    env.reset(options={"index": 2})
    task = env.current_task()
    assert env.step(env.gold(task))[1] == 1.0
    env.reset(options={"index": 2})
    body_only = "    return number % 1.0\n"  # continues the prompt, as the original HumanEval completions do
    _, reward, _, _, info = env.step(body_only)
    assert reward == 1.0, info["verdict"]
    env.reset(options={"index": 2})
    _, reward, _, _, info = env.step(
        "```python\ndef truncate_number(number: float) -> float:\n    return number\n```"
    )
    assert reward == 0.0 and info["verdict"].status is Status.INCORRECT
    env.reset(options={"index": 2})
    assert env.step("I don't know.")[4]["verdict"].status is Status.NO_ANSWER


def test_mbpp_sample_gold_passes_and_class_tests_are_skipped(box):
    env = MBPPEnv(sandbox=box)
    assert env.num_tasks == 7 and env.skipped == 1  # the Stack task builds objects: skipped
    for i in range(env.num_tasks):
        env.reset(options={"index": i})
        task = env.current_task()
        _, reward, _, _, info = env.step(env.gold(task))
        assert reward == 1.0, (task.id, info["verdict"])
    two = env.task_by_id("mbpp/9006")
    assert two.meta["tests"]["names"] == ["dedupe_sorted", "merge_sorted"]
    assert "assert merge_sorted([1, 4], [2, 3, 5])" in two.prompt


def test_mbpp_fraction_scoring_rewards_partial_solutions(box):
    env = MBPPEnv(sandbox=box, scoring="fraction")
    env.reset(options={"task_id": "mbpp/9001"})
    _, reward, _, _, info = env.step(
        "```python\ndef sum_of_squares(nums):\n    return sum(nums) ** 2 if nums else 0\n```"
    )
    assert reward == pytest.approx(2 / 3) and info["verdict"].status is Status.INCORRECT  # [1, 2, 3] fails
    assert info["reward_terms"] == {"passed": pytest.approx(2 / 3)}


@pytest.mark.parametrize(
    ("name", "schema", "count"),
    [
        ("competitive_sample.jsonl", "codecontests", 4),
        ("competitive_apps_sample.jsonl", "apps", 2),
        ("competitive_lcb_sample.jsonl", "livecodebench", 2),
    ],
)
def test_competitive_schemas_load_and_gold_passes(box, name, schema, count):
    env = CompetitiveCodeEnv(data=sample_path(name), sandbox=box)
    assert env.num_tasks == count
    for i in range(count):
        task = env.task_at(i)
        assert task.meta["schema"] == schema and task.meta["tests"]["cases"]
        env.reset(options={"index": i})
        _, reward, _, _, info = env.step(env.gold(task))
        assert reward == 1.0, (task.id, info["verdict"])


def test_competitive_wrong_and_slow_programs(box):
    env = CompetitiveCodeEnv(sandbox=box, timeout_s=1.0)
    env.reset(options={"task_id": "codecontests/count-primes"})
    slow = "```python\nn = int(input())\nprint(sum(all(p % d for d in range(2, p)) for p in range(2, n + 1)))\n```"
    _, reward, _, _, info = env.step(slow)
    assert reward == 0.0 and info["verdict"].status is Status.TIMEOUT
    env.reset(options={"task_id": "codecontests/sum-two"})
    _, reward, _, _, info = env.step("```python\nprint(7)\n```")
    assert reward == 0.0 and info["verdict"].status is Status.INCORRECT


def test_livecodebench_private_cases_unpickle_without_globals():
    evil = base64.b64encode(zlib.compress(pickle.dumps(print))).decode()  # a global: refused
    record = {
        "question_content": "q",
        "question_id": "x",
        "public_test_cases": "[]",
        "private_test_cases": evil,
    }
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        competitive_task(record, 0)
    fine = base64.b64encode(
        zlib.compress(pickle.dumps(json.dumps([{"input": "1", "output": "2", "testtype": "stdin"}])))
    ).decode()
    task = competitive_task({**record, "private_test_cases": fine}, 0)
    assert task is not None and task.meta["tests"]["cases"] == [{"stdin": "1", "stdout": "2"}]


def test_competitive_options_and_errors(tmp_path):
    public = CompetitiveCodeEnv(tests="public", sandbox="local")
    assert all(len(public.task_at(i).meta["tests"]["cases"]) == 1 for i in range(public.num_tasks))
    tol = CompetitiveCodeEnv(tolerance={"rel": 1e-6}, sandbox="local")
    assert tol.task_at(0).meta["tests"]["tolerance"] == {"rel": 1e-6}
    empty = tmp_path / "empty.jsonl"
    empty.write_text(
        json.dumps({"question": "call based", "input_output": {"fn_name": "f", "inputs": [], "outputs": []}})
        + "\n"
    )
    with pytest.raises(EnvError, match="no stdin/stdout"):
        CompetitiveCodeEnv(data=str(empty), sandbox="local")
    with pytest.raises(ValueError, match="tests must be"):
        CompetitiveCodeEnv(tests="some", sandbox="local")


@pytest.mark.slow
def test_local_files_also_load_through_datasets():
    pytest.importorskip("datasets")
    direct = load_records(sample_path("mbpp_sample.jsonl"))
    via = load_records(sample_path("mbpp_sample.jsonl"), use_datasets=True)
    assert [r["task_id"] for r in via] == [r["task_id"] for r in direct]
