"""The adapters against TRL's and verl's calling conventions (without their trainers: see
tests/integration/test_trl_grpo.py for a real TRL GRPOTrainer step)."""

import asyncio
import functools
import importlib.util
import math
import pickle
import sys
from collections import defaultdict

import pytest

from assay.rewards import Rubric, Term, correct, length_in_range, tags
from assay.rewards.adapters import message_text, to_trl, to_verl
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
