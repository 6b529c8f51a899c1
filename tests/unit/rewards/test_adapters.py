"""The adapters against TRL's and verl's calling conventions (without their trainers: see
tests/integration/test_trl_grpo.py for a real TRL GRPOTrainer step)."""

import asyncio
import functools
import importlib.util
import json
import math
import pickle
import sys
from collections import defaultdict

import pytest

import assay
from assay.errors import AssayError
from assay.rewards import Rubric, Term, correct, length_in_range, tags
from assay.rewards.adapters import message_text, to_trl, to_trl_dataset, to_verl
from assay.rewards.outcome import outcome
from assay.verifiers import ExactMatch, NumberMatch, Status, Verdict

RUBRIC = Rubric([Term("correct", correct), tags("answer").weighted(0.5)])


def test_trl_plain_text_call_with_completion_ids_and_columns():
    fn = to_trl(RUBRIC, ExactMatch())
    metrics, extra = {}, {}
    out = fn(
        prompts=["2+2?", "2+2?"],
        completions=["<answer>4</answer>", "5"],
        completion_ids=[[1, 2], [3]],
        answer=["4", "4"],
        task_id=["q1", "q1"],
        difficulty=["easy", "easy"],
        trainer_state=object(),
        log_metric=lambda k, v: metrics.__setitem__(k, v),
        log_extra=lambda k, v: extra.__setitem__(k, v),
    )
    assert out == [1.5, 0.0]
    assert metrics == {"assay/correct": 0.5, "assay/format": 0.5}
    assert extra == {"assay/correct": [1.0, 0.0], "assay/format": [1.0, 0.0]}
    assert fn.__name__ == "assay"


def test_trl_tasks_carry_answer_id_and_meta():
    fn = to_trl(RUBRIC)
    (task,) = fn.tasks(["p"], {"answer": [7], "task_id": ["x"], "level": [3], "log_metric": [None]})
    assert task.id == "x" and task.answer == "7" and dict(task.meta) == {"level": 3}
    (anon,) = fn.tasks(["p"], {})
    assert anon.id.startswith("h/") and anon.answer is None


def test_trl_conversational_prompts_and_completions():
    fn = to_trl(RUBRIC, ExactMatch())
    prompts = [[{"role": "system", "content": "sys"}, {"role": "user", "content": "2+2?"}]]
    completions = [[{"role": "assistant", "content": "<answer>4</answer>"}]]
    assert fn(prompts=prompts, completions=completions, answer=["4"]) == [1.5]
    assert fn.tasks(prompts, {})[0].prompt == "2+2?"
    assert message_text([{"role": "assistant", "content": [{"type": "text", "text": "hi"}]}]) == "hi"


def test_trl_all_terms_not_applicable_is_none_and_verifier_errors_are_not_zero():
    fn = to_trl(Rubric([Term("correct", lambda c, t, v: None)]))
    assert fn(prompts=["p"], completions=["c"]) == [None]

    def broken(c, t):
        raise RuntimeError("down")

    rubric = Rubric(
        [outcome(NumberMatch()), Term("verdict_ok", lambda c, t, v: 0.0 if v.status is Status.ERROR else 1.0)]
    )
    assert to_trl(rubric, broken)(prompts=["p"], completions=["\\boxed{1}"], answer=["1"]) == [1.0]


def _same(completion, task):  # module-level: picklable (ExactMatch's default extractor is a closure)
    return Verdict(
        Status.CORRECT if completion == task.answer else Status.INCORRECT, float(completion == task.answer)
    )


def test_trl_reward_pickles_for_async_workers():
    fn = to_trl(Rubric([Term("correct", correct), length_in_range(1, 10)]), _same)
    again = pickle.loads(pickle.dumps(fn))
    assert again(prompts=["p"], completions=["4"], answer=["4"]) == fn(
        prompts=["p"], completions=["4"], answer=["4"]
    )


def test_trl_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="prompts"):
        to_trl(RUBRIC)(prompts=["a"], completions=["x", "y"])


# -- TRL datasets built from envs ----------------------------------------------------------------
# Arrow cannot store KnightsKnaves' or Zebra's meta as it is (lists mixing strings and lists):
# to_trl_dataset stores it as JSON text, TRLReward decodes it, and a reward built for an env
# refuses a dataset that lacks the columns its verifier reads instead of scoring every answer 0.

LOCAL = {"sandbox": "local"}  # code envs: no Docker in unit tests


def _env_kwargs(env_id):
    return LOCAL if any(k in env_id for k in ("HumanEval", "MBPP", "CompetitiveCode")) else {}


def _is_single_turn(env_id):
    return not callable(getattr(assay.make(env_id, **_env_kwargs(env_id)).unwrapped, "respond", None))


def _columns(ds):
    """What TRL passes a reward function: every column but the prompt, as lists."""
    return {c: list(ds[c]) for c in ds.column_names if c != "prompt"}


@pytest.mark.parametrize("env_id", [e for e in assay.list_envs() if _is_single_turn(e)])
def test_trl_dataset_gold_earns_the_envs_own_reward_through_to_trl(env_id):
    pytest.importorskip("datasets")
    kwargs = _env_kwargs(env_id)
    ds = to_trl_dataset(env_id, n=2, **kwargs)
    fn = to_trl.for_env(env_id, ds, env_kwargs=kwargs)
    env = assay.make(env_id, **kwargs).unwrapped
    golds, expected = [], []
    for i in range(2):
        env.reset(options={"index": i})
        golds.append(env.gold(env.task))
        expected.append(float(env.step(golds[-1])[1]))
    completions = [[{"role": "assistant", "content": g}] for g in golds]
    assert fn(prompts=list(ds["prompt"]), completions=completions, **_columns(ds)) == expected
    assert expected[0] > 0  # gold earns full reward: a dropped meta key would score 0 here


def test_trl_dataset_rows_are_chat_prompts_with_answer_and_json_meta():
    pytest.importorskip("datasets")
    ds = to_trl_dataset("assay/KnightsKnaves-v0", n=3, system_prompt="Think first.")
    env = assay.make("assay/KnightsKnaves-v0").unwrapped
    assert ds.column_names == ["prompt", "task_id", "answer", "meta"] and len(ds) == 3
    for i, row in enumerate(ds):
        task = env.task_at(i)
        assert row["prompt"] == [
            {"role": "system", "content": "Think first."},
            {"role": "user", "content": task.prompt},
        ]
        assert (row["task_id"], row["answer"]) == (task.id, task.answer)
        assert json.loads(row["meta"]) == task.meta
    assert to_trl_dataset("assay/KnightsKnaves-v0", n=3, system_prompt="Think first.")[:] == ds[:]
    assert to_trl_dataset("assay/Zebra-v0", n=1)[0]["prompt"][0]["role"] == "user"  # no system prompt


def test_trl_dataset_takes_every_task_of_a_dataset_env_and_passes_split():
    pytest.importorskip("datasets")
    env = assay.make("assay/GSM8K-v0", split="train").unwrapped
    ds = to_trl_dataset("assay/GSM8K-v0", split="train")
    assert len(ds) == env.num_tasks and ds["task_id"][:] == [env.task_at(i).id for i in range(len(ds))]
    assert "/train/" in ds["task_id"][0]
    assert len(to_trl_dataset("assay/GSM8K-v0", n=2)) == 2


def test_trl_dataset_refuses_multi_turn_envs_and_ns_it_cannot_serve():
    pytest.importorskip("datasets")
    with pytest.raises(ValueError, match="single-turn"):
        to_trl_dataset("assay/GuessNumber-v0", n=2)
    with pytest.raises(ValueError, match="procedural"):
        to_trl_dataset("assay/Sudoku-v0")
    size = assay.make("assay/GSM8K-v0").unwrapped.num_tasks
    with pytest.raises(ValueError, match=f"{size} tasks"):
        to_trl_dataset("assay/GSM8K-v0", n=size + 1)
    with pytest.raises(ValueError, match="single-turn"):
        to_trl.for_env("assay/GuessNumber-v0")


def test_trl_reward_for_env_refuses_a_dataset_without_meta_at_construction():
    datasets = pytest.importorskip("datasets")
    bare = datasets.Dataset.from_dict({"prompt": ["p"], "answer": ["Alice: knight"]})
    with pytest.raises(AssayError, match=r"\['meta'\].*to_trl_dataset"):
        to_trl.for_env("assay/KnightsKnaves-v0", bare)
    split = datasets.DatasetDict({"train": bare})
    with pytest.raises(AssayError, match="meta"):
        to_trl.for_env("assay/KnightsKnaves-v0", split)
    with pytest.raises(TypeError, match="column_names"):
        to_trl.for_env("assay/KnightsKnaves-v0", [{"prompt": "p"}])


def test_trl_reward_call_without_meta_raises_instead_of_scoring_zero():
    pytest.importorskip("datasets")
    ds = to_trl_dataset("assay/KnightsKnaves-v0", n=1)
    fn = to_trl.for_env("assay/KnightsKnaves-v0")
    gold = [[{"role": "assistant", "content": f"<answer>{ds[0]['answer']}</answer>"}]]
    assert fn(prompts=list(ds["prompt"]), completions=gold, **_columns(ds)) == [1.0]
    with pytest.raises(AssayError, match=r"\['meta'\]"):  # the issue: KeyError 'names' -> ERROR -> 0.0
        fn(
            prompts=list(ds["prompt"]),
            completions=gold,
            answer=list(ds["answer"]),
            task_id=list(ds["task_id"]),
        )
    with pytest.raises(AssayError, match=r"\['answer', 'meta'\]"):
        fn(prompts=list(ds["prompt"]), completions=gold)


def test_trl_meta_column_is_decoded_into_task_meta():
    fn = to_trl(RUBRIC)
    (task,) = fn.tasks(["p"], {"meta": ['{"names": ["A"], "level": 2}'], "level": [1], "src": ["x"]})
    assert dict(task.meta) == {"names": ["A"], "level": 2, "src": "x"}  # the meta column wins
    (mapped,) = fn.tasks(["p"], {"meta": [{"k": 1}]})
    assert dict(mapped.meta) == {"k": 1}
    (empty,) = fn.tasks(["p"], {"meta": [None]})
    assert dict(empty.meta) == {}
    for bad, why in (("{not json", "not valid JSON"), ("[1, 2]", "JSON object"), (3, "JSON object")):
        with pytest.raises(AssayError, match=why):
            fn.tasks(["p"], {"meta": [bad]})


def test_trl_requires_names_columns_for_any_rubric():
    fn = to_trl(RUBRIC, ExactMatch(), requires=["answer"])
    with pytest.raises(AssayError, match=r"\['answer'\]"):
        fn(prompts=["2+2?"], completions=["4"], task_id=["q"])
    assert fn(prompts=["2+2?"], completions=["<answer>4</answer>"], answer=["4"]) == [1.5]


# -- verl ---------------------------------------------------------------------------------------
# verl itself is not installed (it pins numpy<2 and pulls ray, vllm and more); these tests follow
# its documented convention as read in verl 0.9.1: `custom_reward_function.path/name` loads
# `compute_score` from a file (verl.utils.import_utils.load_extern_object), wraps it with
# functools.partial merging `reward_kwargs` (verl.trainer.ppo.reward._call_with_kwargs), and the
# reward managers call it by keyword (data_source, solution_str, ground_truth, extra_info, plus
# manager kwargs) from a thread executor; a dict result must hold "score" and the same keys for
# every sample (NaiveRewardManager collects them into reward_extra_info lists).

REWARD_FILE = """
from assay.rewards import Rubric, Term, correct, tags
from assay.rewards.adapters import to_verl
from assay.verifiers import NumberMatch

compute_score = to_verl(Rubric([Term("correct", correct), tags("answer").weighted(0.5)]), NumberMatch())
"""


def _load_like_verl(path, name):
    spec = importlib.util.spec_from_file_location("custom_module", str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_module"] = module
    spec.loader.exec_module(module)
    return getattr(module, name)


def _call_with_kwargs(raw_fn, extra_kwargs, *args, **kwargs):
    return raw_fn(*args, **{**kwargs, **extra_kwargs})


def test_verl_compute_score_loaded_from_a_file_and_called_like_the_reward_managers(tmp_path):
    path = tmp_path / "reward_fn.py"
    path.write_text(REWARD_FILE)
    raw = _load_like_verl(path, "compute_score")
    assert not asyncio.iscoroutinefunction(raw)  # verl runs it in an executor
    compute_score = functools.partial(_call_with_kwargs, raw, {"my_kwarg": 1})
    batch = [
        ("openai/gsm8k", "<answer>\\boxed{72}</answer>", "72", {"index": 0, "question": "48 + 24?"}),
        ("openai/gsm8k", "I think 70", "72", {"index": 1, "question": "48 + 24?"}),
        ("openai/gsm8k", "\\boxed{72}", 72, None),
    ]

    async def manager():
        loop = asyncio.get_running_loop()
        return await asyncio.gather(
            *(
                loop.run_in_executor(
                    None,
                    lambda d=d: compute_score(
                        data_source=d[0],
                        solution_str=d[1],
                        ground_truth=d[2],
                        extra_info=d[3],
                        reward_router_address=None,
                    ),
                )
                for d in batch
            )
        )

    results = asyncio.run(manager())
    reward_extra_info = defaultdict(list)
    scores = []
    for result in results:  # NaiveRewardManager's handling of a dict result
        assert isinstance(result, dict)
        scores.append(result["score"])
        for key, value in result.items():
            reward_extra_info[key].append(value)
    assert scores == [1.5, 0.0, 1.0]
    assert set(reward_extra_info) == {"score", "correct", "format"}
    assert all(len(v) == len(batch) for v in reward_extra_info.values())


def test_verl_not_applicable_terms_are_nan_and_task_is_built_from_extra_info():
    fn = to_verl(Rubric([Term("correct", correct), Term("na", lambda c, t, v: None)]))
    out = fn("src", "x", ["a", "b"], {"prompt": [{"role": "user", "content": "q?"}], "index": 5})
    assert out["score"] == 0.0 and math.isnan(out["na"])
    task = fn.task("src", ["a", "b"], {"prompt": [{"role": "user", "content": "q?"}], "index": 5})
    assert task.id == "src/5" and task.prompt == "q?" and task.answer == '["a", "b"]'


def test_verl_rejects_a_term_named_score():
    with pytest.raises(ValueError, match="score"):
        to_verl(Rubric([Term("score", correct)]))
