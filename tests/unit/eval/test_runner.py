import json
import math

import gymnasium as gym
import pytest

from assay.agents.evaluation import (
    ConfigMismatch,
    EvalConfig,
    SampleLog,
    evaluate,
    read_log,
    summarize,
)
from assay.envs import SingleTurnEnv, Task
from assay.errors import AssayError
from assay.verifiers.match import NumberMatch
from assay.verifiers.sampler import Sample, ScriptedSampler

ENV = "evaltest/Fixed-v0"


class FixedEnv(SingleTurnEnv):
    """Two fixed tasks: 3 + 4 and 1 / 2."""

    num_tasks = 2
    ANSWERS = ("7", "1/2")

    def __init__(self, **kwargs):
        super().__init__(verifier=NumberMatch(), **kwargs)

    def task_at(self, index: int) -> Task:
        return Task(id=f"fixed/{index}", prompt=f"question {index}", answer=self.ANSWERS[index])


if ENV not in gym.registry:
    gym.register(ENV, entry_point=FixedEnv)


def run(tmp_path, replies, n, ks=(1,), **kw):
    config = EvalConfig(env=ENV, n=n, ks=ks, **kw)
    out = tmp_path / "run.jsonl"
    return evaluate(config, ScriptedSampler(replies), out), out


def test_maj_at_k_groups_differently_written_equal_answers(tmp_path):
    # Task 0 (gold 7): "1/2" is written three ways, 7 twice: string voting would pick 7.
    # Task 1 (gold 1/2): the right answer is written three ways, a wrong "3" twice.
    replies = {
        "question 0": ["\\boxed{0.5}", "\\boxed{1/2}", "\\boxed{\\frac{1}{2}}", "\\boxed{7}", "\\boxed{7}"],
        "question 1": ["\\boxed{3}", "\\boxed{0.50}", "\\boxed{2/4}", "\\boxed{3}", "\\boxed{\\frac12}"],
    }
    summary, out = run(tmp_path, replies, n=5, ks=(5,))
    samples = read_log(out).samples
    classes = {(r["task_index"], r["sample_index"]): r["answer_class"] for r in samples}
    assert [classes[(0, j)] for j in range(5)] == [0, 0, 0, 3, 3]
    # "\frac12" is not a number to NumberMatch: it is its own class (a wrong answer).
    assert [classes[(1, j)] for j in range(5)] == [0, 1, 1, 0, 4]
    assert summary.metrics["maj@5"].mean == pytest.approx((0.0 + 0.5) / 2)  # task 1: 2 vs 2, a tie
    assert summary.metrics["pass@5"].mean == 1.0


def test_pass_at_k_and_reward_are_recomputed_from_the_log(tmp_path):
    replies = {
        "question 0": ["\\boxed{7}", "no", "\\boxed{8}", "\\boxed{7}"],
        "question 1": ["\\boxed{1}", "\\boxed{1}", "\\boxed{1}", "\\boxed{0.5}"],
    }
    summary, out = run(tmp_path, replies, n=4, ks=(1, 2, 4))
    # task 0: c=2 of 4; task 1: c=1 of 4
    assert summary.metrics["pass@1"].mean == pytest.approx((0.5 + 0.25) / 2)
    p2 = (1 - math.comb(2, 2) / math.comb(4, 2) + 1 - math.comb(3, 2) / math.comb(4, 2)) / 2
    assert summary.metrics["pass@2"].mean == pytest.approx(p2)
    assert summary.metrics["pass@4"].mean == 1.0
    assert summary.metrics["reward"].mean == pytest.approx(0.375)
    assert summary.status == {"correct": 3, "incorrect": 4, "no_answer": 1}
    again = summarize(read_log(out).samples, n=4, ks=(1, 2, 4))
    assert again.metrics == summary.metrics


def test_each_record_has_prompt_completion_verdict_and_reward_terms(tmp_path):
    _, out = run(tmp_path, {"question 0": ["\\boxed{7}"], "question 1": ["x"]}, n=1)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["kind"] == "header"
    assert [x["kind"] for x in lines[1:]] == ["meta", "sample", "sample"]  # meta: the reward's bounds
    assert lines[1]["reward_bounds"] == [0.0, 1.0]
    rec = lines[2]
    assert rec["prompt"] == "question 0" and rec["completion"] == "\\boxed{7}"
    assert rec["verdict"]["status"] == "correct" and rec["verdict"]["extracted"] == "7"
    assert rec["reward"] == 1.0 and rec["reward_terms"] == {"correct": 1.0}


class Flaky:
    """Honours seeds (reply j of batch b depends only on b and j); dies on batch `die_at`."""

    def __init__(self, die_at=None):
        self.die_at = die_at
        self.calls = 0

    def sample(self, prompts, *, n, max_new_tokens, temperature, seed):
        self.calls += 1
        if self.die_at is not None and self.calls > self.die_at:
            raise RuntimeError("sampler died")
        return [[Sample(f"\\boxed{{{(seed + j) % 3}}}", [1], [-1.0]) for j in range(n)] for _ in prompts]


def test_resume_after_a_crash_writes_only_the_missing_samples(tmp_path):
    out = tmp_path / "run.jsonl"
    config = EvalConfig(
        env="assay/Arithmetic-v0", n=3, ks=(1, 3), limit=10, batch_size=2, env_kwargs={"level": "easy"}
    )
    with pytest.raises(RuntimeError, match="sampler died"):
        evaluate(config, Flaky(die_at=2), out)
    assert len(read_log(out).samples) == 2 * 2 * 3
    resumed = Flaky()
    summary = evaluate(config, resumed, out)
    assert resumed.calls == 3  # batches 0 and 1 were complete
    log = read_log(out)
    keys = [(r["task_index"], r["sample_index"]) for r in log.samples]
    assert log.duplicates == 0 and sorted(keys) == [(t, j) for t in range(10) for j in range(3)]
    clean = evaluate(config, Flaky(), tmp_path / "clean.jsonl")
    assert summary.metrics == clean.metrics  # the same as an uninterrupted run


def test_resume_truncates_a_torn_last_line(tmp_path):
    out = tmp_path / "run.jsonl"
    config = EvalConfig(env="assay/Arithmetic-v0", n=2, limit=4, batch_size=1, env_kwargs={"level": "easy"})
    with pytest.raises(RuntimeError):
        evaluate(config, Flaky(die_at=2), out)
    good = out.read_bytes()
    out.write_bytes(good + b'{"kind": "sample", "task_index": 2, "sample_ind')  # a write cut short
    assert len(read_log(out).samples) == 4  # readers skip the torn tail
    evaluate(config, Flaky(), out)
    data = out.read_bytes()
    assert data.startswith(good) and data.endswith(b"\n")
    assert len(read_log(out).samples) == 8


def test_resume_with_another_config_is_refused(tmp_path):
    out = tmp_path / "run.jsonl"
    evaluate(EvalConfig(env=ENV, n=1), ScriptedSampler({}, default="\\boxed{7}"), out)
    with pytest.raises(ConfigMismatch, match="temperature"):
        evaluate(EvalConfig(env=ENV, n=1, temperature=0.5), ScriptedSampler({}, default="x"), out)


def test_a_second_writer_is_refused(tmp_path):
    out = tmp_path / "run.jsonl"
    with SampleLog.open(out, {"a": 1}), pytest.raises(AssayError, match="another process"):
        SampleLog.open(out, {"a": 1})


def test_append_never_duplicates_a_key(tmp_path):
    out = tmp_path / "run.jsonl"
    rec = {"task_index": 0, "sample_index": 0, "verdict": {"status": "correct"}}
    with SampleLog.open(out, {}) as log:
        assert log.append([rec, rec]) == 1
    with SampleLog.open(out, {}) as log:
        assert log.append([rec]) == 0
    assert len(out.read_text().splitlines()) == 2


def test_corruption_before_the_tail_is_an_error_not_a_silent_loss(tmp_path):
    out = tmp_path / "run.jsonl"
    out.write_text('{"kind": "header", "config": {}}\nnot json\n{"kind": "sample"}\n')
    with pytest.raises(AssayError, match="line 2"):
        SampleLog.open(out, {})


def test_best_at_k_with_a_selector(tmp_path):
    replies = {"question 0": ["\\boxed{7}", "\\boxed{8}"], "question 1": ["\\boxed{1}", "\\boxed{0.5}"]}
    config = EvalConfig(env=ENV, n=2, ks=(1, 2), select="import:longest")
    summary = evaluate(
        config, ScriptedSampler(replies), tmp_path / "r.jsonl", selector=lambda c, t: float(len(c))
    )
    # equal lengths on task 0 (a tie: 0.5), "\boxed{0.5}" is longer on task 1 (right)
    assert summary.metrics["best@2"].mean == pytest.approx(0.75)


def test_procedural_env_needs_a_limit(tmp_path):
    with pytest.raises(ValueError, match="limit"):
        evaluate(EvalConfig(env="assay/Arithmetic-v0", n=1), Flaky(), tmp_path / "r.jsonl")


def test_multi_turn_env_is_refused(tmp_path):
    with pytest.raises(ValueError, match="single-turn"):
        evaluate(EvalConfig(env="assay/GuessNumber-v0", n=1, limit=1), Flaky(), tmp_path / "r.jsonl")


@pytest.mark.parametrize(
    "content",
    [b"", b'{"kind": "header", "format": 1, "con', b"\x00" * 64, b"\n"],
    ids=["empty", "torn-header", "nul-bytes", "blank-line"],
)
def test_a_log_killed_while_its_header_was_written_resumes(tmp_path, content):
    """Trust item 21: a run killed while creating its log is repaired like a torn tail."""
    out = tmp_path / "run.jsonl"
    out.write_bytes(content)
    assert read_log(out).samples == []  # what `assay eval` reads before resuming
    config = EvalConfig(env=ENV, n=2)
    summary = evaluate(config, ScriptedSampler({}, default="\\boxed{7}"), out)
    clean = evaluate(config, ScriptedSampler({}, default="\\boxed{7}"), tmp_path / "clean.jsonl")
    assert summary.metrics == clean.metrics
    assert out.read_bytes() == (tmp_path / "clean.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        ('{"kind": "sample", "task_index": "x", "sample_index": 0}', "line 2: task_index and sample_index"),
        ('{"kind": "sample", "sample_index": 0}', "line 2: sample has no 'task_index'"),
        ('{"kind": "sample", "task_index": 0, "sample_index": -1}', "line 2: task_index and sample_index"),
    ],
)
def test_a_malformed_field_in_the_log_is_a_one_line_error(tmp_path, sample, message):
    """Trust item 21: a malformed field is a clear `AssayError` naming the line, not a traceback."""
    out = tmp_path / "run.jsonl"
    out.write_text('{"kind": "header", "config": {}}\n' + sample + "\n")
    for read in (read_log, lambda p: SampleLog.open(p, {})):
        with pytest.raises(AssayError, match=message) as e:
            read(out)
        assert "\n" not in str(e.value)
