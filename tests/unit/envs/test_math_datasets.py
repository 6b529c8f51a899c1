"""GSM8K, MATH (and MATH-500), AIME: fixtures, local files, the hub's failure modes, templates."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from assay.envs.math.competition import AIMEEnv, MATHEnv
from assay.envs.math.gsm8k import GSM8KEnv, gsm8k_answer
from assay.envs.math.prompts import BOXED_INSTRUCTION
from assay.errors import EnvError
from assay.verifiers.base import Status, Task

ENVS = [GSM8KEnv, MATHEnv, AIMEEnv]


@pytest.mark.parametrize("cls", ENVS)
def test_every_fixture_gold_earns_full_reward(cls):
    env = cls()
    assert env.num_tasks >= 10 and env.source == "fixture"
    for i in range(env.num_tasks):
        env.reset(options={"index": i})
        _, reward, terminated, _, info = env.step(env.gold(env.task))
        assert reward == 1.0 and terminated, (i, env.task.answer, info["verdict"])


@pytest.mark.parametrize("cls", ENVS)
def test_a_wrong_answer_earns_nothing(cls):
    env = cls()
    env.reset(seed=0)
    _, reward, _, _, info = env.step("\\boxed{-123456789}")
    assert reward == 0.0 and info["verdict"].status is Status.INCORRECT


def test_gsm8k_reference_is_the_number_after_the_hashes():
    assert gsm8k_answer("She pays 1,200 dollars.\n#### 1,200") == "1200"
    env = GSM8KEnv()
    task = env.task_at(0)
    assert task.answer == "81" and task.id == "gsm8k/test/0" and "####" in task.meta["solution"]


def test_math_reference_is_the_last_box_of_the_solution():
    env = MATHEnv()
    answers = {env.task_at(i).answer for i in range(env.num_tasks)}
    assert "[2, 5) \\cup (5, \\infty)" in answers and "\\frac{1}{9}" in answers


def test_math_filters_by_subject_and_level():
    env = MATHEnv(subjects=["number_theory"], levels=[2, 3])
    tasks = [env.task_at(i) for i in range(env.num_tasks)]
    assert tasks and all(t.meta["subject"] == "number_theory" and t.meta["level"] in (2, 3) for t in tasks)
    with pytest.raises(ValueError, match="unknown subjects"):
        MATHEnv(subjects=["astrology"])


def test_math500_subset_uses_its_answer_field():
    env = MATHEnv("math500")
    task = env.task_at(0)
    assert task.id.startswith("math500/test/") and task.meta["unique_id"]
    assert env.num_tasks == 12


def test_aime_answers_are_integers():
    env = AIMEEnv()
    assert all(0 <= int(env.task_at(i).answer) <= 999 for i in range(env.num_tasks))


def test_task_ids_pin_tasks():
    env = MATHEnv()
    env.reset(seed=3)
    task = env.task
    env.reset(seed=99)
    prompt, info = env.reset(options={"task_id": task.id})
    assert info["task_id"] == task.id and prompt == task.prompt


def test_templates():
    boxed = GSM8KEnv().task_at(1).prompt
    assert boxed.endswith(BOXED_INSTRUCTION)
    think = GSM8KEnv(template="think").task_at(1).prompt
    assert "<think>" in think and "\\boxed{}" in think
    plain = GSM8KEnv(template="plain").task_at(1)
    assert plain.prompt == GSM8KEnv().records[1]["question"]
    chat = GSM8KEnv(template="chat")
    chat.reset(options={"index": 1})
    assert chat.task.prompt == plain.prompt and chat.system_prompt == BOXED_INSTRUCTION
    custom = GSM8KEnv(template="Q: {problem}\nA:").task_at(1).prompt
    assert custom.startswith("Q: ") and custom.endswith("\nA:")
    with pytest.raises(ValueError, match="template"):
        GSM8KEnv(template="no placeholder")


def test_limit():
    assert GSM8KEnv(limit=3).num_tasks == 3
    with pytest.raises(ValueError, match="limit"):
        GSM8KEnv(limit=0)


def test_local_data_files_in_the_dataset_schema(tmp_path):
    path = tmp_path / "mine.jsonl"
    rows = [
        {"question": "What is 6 times 7?", "answer": "6 * 7 = 42\n#### 42"},
        {"question": "What is 100 minus 1?", "answer": "#### 99"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.warns(DeprecationWarning, match="data_files= is deprecated"):
        env = GSM8KEnv(data_files=str(path))
    assert env.num_tasks == 2 and env.source == "data_files"
    env.reset(options={"index": 0})
    assert env.step("It is \\boxed{42}.")[1] == 1.0


def test_local_parquet_files(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = {
        "id": [1],
        "problem": ["What is 2+2?"],
        "solution": ["4"],
        "answer": ["4"],
        "url": [""],
        "year": ["x"],
    }
    datasets.Dataset.from_dict(rows).to_parquet(str(tmp_path / "aime.parquet"))
    with pytest.warns(DeprecationWarning, match="data_files="):
        env = AIMEEnv(data_files=str(tmp_path / "*.parquet"))
    assert env.num_tasks == 1 and env.task_at(0).answer == "4"


def test_missing_local_files_give_a_clear_error(tmp_path):
    with pytest.raises(EnvError, match="no file matches"):
        GSM8KEnv(data=str(tmp_path / "nope.jsonl"))
    with (
        pytest.raises(EnvError, match="no file matches"),
        pytest.warns(DeprecationWarning, match="data_files="),
    ):
        GSM8KEnv(data_files=str(tmp_path / "nope.jsonl"))


def test_records_in_the_wrong_schema_give_a_clear_error(tmp_path):
    path = tmp_path / "wrong.jsonl"
    path.write_text(json.dumps({"prompt": "x", "target": "y"}) + "\n")
    env = GSM8KEnv(data=str(path))
    with pytest.raises(EnvError, match="lacks the fields"):
        env.task_at(0)


def test_unknown_source_is_a_value_error():
    with pytest.raises(ValueError, match="source"), pytest.warns(DeprecationWarning, match="source="):
        GSM8KEnv(source="ftp")


def _offline(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=120
    )


def test_hub_unavailable_fails_with_instructions():
    pytest.importorskip("datasets")
    run = _offline(
        """
        from assay.envs.math.gsm8k import GSM8KEnv
        from assay.errors import EnvError
        try:
            GSM8KEnv(source="hub")
        except EnvError as e:
            print("ERROR", e)
        """
    )
    assert run.returncode == 0, run.stderr
    assert "ERROR could not load openai/gsm8k" in run.stdout
    assert "data='path/to/test.jsonl'" in run.stdout and "leave data out" in run.stdout


def test_auto_source_falls_back_to_the_fixture_when_the_hub_is_unavailable():
    pytest.importorskip("datasets")
    run = _offline(
        """
        import warnings
        from assay.envs.math.competition import AIMEEnv
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            env = AIMEEnv(source="auto")
        print(env.num_tasks, any("Falling back" in str(w.message) for w in caught))
        """
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["10", "True"]


STRICT = [  # TRUST 18 and 19 as every math env's verifier sees them: (completion, status)
    ("I think 41 or 42", Status.NO_ANSWER),
    ("Candidates: 3, 5, 42", Status.NO_ANSWER),
    ("1 2 3 42", (Status.NO_ANSWER, Status.INCORRECT)),  # MathVerifier: one answer, a list
    ("<think>maybe \\boxed{42}? no</think> I do not know", Status.NO_ANSWER),
    ("<think>so it is \\boxed{42", Status.NO_ANSWER),  # cut off mid-thought
    ("<think>maybe 41</think> \\boxed{42}", Status.CORRECT),
    ("<think>maybe 41</think>42", Status.CORRECT),
    ("42", Status.CORRECT),
]


def _math_envs():
    from assay.envs.math.arithmetic import ArithmeticEnv
    from assay.envs.math.mathgen import MathGenEnv

    return {
        "Arithmetic": ArithmeticEnv,
        "GSM8K": GSM8KEnv,
        "MATH": MATHEnv,
        "AIME": AIMEEnv,
        "MathGen": MathGenEnv,
    }


@pytest.mark.parametrize("name", sorted(_math_envs()))
def test_every_env_that_extracts_answers_inherits_18_and_19(name):
    env = _math_envs()[name]()
    for completion, expected in STRICT:
        env.reset(options={"task": Task(id="t/0", prompt="?", answer="42")})
        status = env.step(completion)[4]["verdict"].status
        assert status in (expected if isinstance(expected, tuple) else (expected,)), (completion, status)
