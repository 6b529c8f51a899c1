"""Preference data: generation and scoring through an env, pair builders, JSONL round trips."""

import json

import gymnasium as gym
import pytest

import assay
from assay.agents.preference.data import (
    BinaryRecord,
    Candidate,
    Group,
    PreferencePair,
    SFTRecord,
    best_vs_worst,
    binary_records,
    correct_vs_incorrect,
    generate_groups,
    judge_comparator,
    load_binary,
    load_pairs,
    load_sft,
    margin_pairs,
    pairs_to_binary,
    rejection_sample,
    save_jsonl,
    win_rates,
)
from assay.envs import SingleTurnEnv, Task
from assay.errors import AssayError
from assay.verifiers.base import Status
from assay.verifiers.match import NumberMatch
from assay.verifiers.sampler import Sample, ScriptedSampler

ENV = "preftest/Sum-v0"


class SumEnv(SingleTurnEnv):
    """Task i: 'i + 1 ='; the answer is i + 1."""

    num_tasks = 10

    def __init__(self, **kwargs):
        super().__init__(verifier=NumberMatch(), **kwargs)

    def task_at(self, index: int) -> Task:
        return Task(id=f"sum/{index}", prompt=f"{index} + 1 =", answer=str(index + 1))


if ENV not in gym.registry:
    gym.register(ENV, entry_point=SumEnv)


@pytest.fixture
def env():
    e = assay.make(ENV)
    yield e
    e.close()


def tasks(*indices):
    return [SumEnv().task_at(i) for i in indices]


def cand(text, status, score):
    return Candidate(text, Status(status), float(score or 0.0), score)


def group(task_index, *cands):
    return Group(SumEnv().task_at(task_index), tuple(cands))


# -- generation -----------------------------------------------------------------------------


def test_generate_groups_verifies_and_scores_through_the_env(env):
    sampler = ScriptedSampler({"1 + 1 =": ["2", "3", "no idea"], "2 + 1 =": ["3"]})
    groups = generate_groups(env, sampler, tasks(1, 2), n=3, batch_size=1)
    assert [g.task.id for g in groups] == ["sum/1", "sum/2"]
    first = groups[0].candidates
    assert [c.text for c in first] == ["2", "3", "no idea"]
    assert [c.status for c in first] == [Status.CORRECT, Status.INCORRECT, Status.NO_ANSWER]
    assert [c.score for c in first] == [1.0, 0.0, 0.0]
    assert groups[0].pass_rate == pytest.approx(1 / 3)
    assert groups[1].pass_rate == 1.0


def test_generate_groups_with_a_scorer_and_a_batch_scorer(env):
    sampler = ScriptedSampler({"1 + 1 =": ["2", "22", "boom"]})

    def by_length(completion, task, verdict):
        if completion == "boom":
            raise RuntimeError("scorer broke")
        return float(len(completion))

    groups = generate_groups(env, sampler, tasks(1), n=3, scorer=by_length)
    assert [c.score for c in groups[0].candidates] == [1.0, 2.0, None]  # a failure is unscored
    assert [c.reward for c in groups[0].candidates] == [1.0, 0.0, 0.0]  # the env's reward is kept

    class Batched:
        calls = 0

        def __call__(self, completion, task, verdict):
            raise AssertionError("batch() should be used")

        def batch(self, completions, tasks_, verdicts):
            Batched.calls += 1
            return [-float(len(c)) for c in completions]

    groups = generate_groups(env, ScriptedSampler({"1 + 1 =": ["2", "22"]}), tasks(1), n=2, scorer=Batched())
    assert Batched.calls == 1
    assert [c.score for c in groups[0].candidates] == [-1.0, -2.0]


def test_generate_groups_with_a_pairwise_judge(env):
    class Longer:
        def prefer(self, comparisons):
            out = []
            for _, a, b in comparisons:
                out.append(None if "?" in (a + b) else float(len(a) > len(b)))
            return out

    sampler = ScriptedSampler({"1 + 1 =": ["2", "2 2", "2 2 2"]})
    groups = generate_groups(env, sampler, tasks(1), n=3, judge=Longer())
    assert [c.score for c in groups[0].candidates] == [0.0, 0.5, 1.0]
    assert win_rates(Longer(), "p", ["a", "bb?", "c"]) == [0.0, None, 1.0]
    assert win_rates(Longer(), "p", ["only"]) == [None]


def test_generate_groups_rejects_bad_input(env):
    with pytest.raises(ValueError, match="n >= 1"):
        generate_groups(env, ScriptedSampler({}, default="1"), tasks(1), n=0)

    class Short:
        def sample(self, prompts, *, n, max_new_tokens, temperature, seed):
            return [[Sample("1")] for _ in prompts]

    with pytest.raises(AssayError, match="expected 2 each"):
        generate_groups(env, Short(), tasks(1), n=2)
    guess = assay.make("assay/GuessNumber-v0")
    with pytest.raises(ValueError, match="single-turn"):
        generate_groups(guess, ScriptedSampler({}, default="1"), tasks(1), n=1)
    guess.close()


def test_generate_groups_seeds_batches_distinctly(env):
    seen = []

    class Recorder:
        def sample(self, prompts, *, n, max_new_tokens, temperature, seed):
            seen.append(seed)
            return [[Sample("1")] * n for _ in prompts]

    generate_groups(env, Recorder(), tasks(1, 2, 3), n=1, batch_size=1, seed=5)
    again = list(seen)
    seen.clear()
    generate_groups(env, Recorder(), tasks(1, 2, 3), n=1, batch_size=1, seed=5)
    assert seen == again and len(set(seen)) == 3


# -- pair builders ----------------------------------------------------------------------------


def test_best_vs_worst():
    g = group(1, cand("a", "incorrect", 0.2), cand("b", "correct", 0.9), cand("c", "incorrect", 0.1))
    (pair,) = best_vs_worst([g])
    assert (pair.chosen, pair.rejected, pair.chosen_score, pair.rejected_score) == ("b", "c", 0.9, 0.1)
    assert pair.prompt == "1 + 1 =" and pair.task_id == "sum/1"
    assert best_vs_worst([g], min_margin=0.8) == []
    tie = group(2, cand("a", "correct", 1.0), cand("b", "correct", 1.0))
    assert best_vs_worst([tie]) == []
    broken = group(3, cand("a", "error", 1.0), cand("b", "incorrect", 0.0), cand("c", "correct", None))
    assert best_vs_worst([broken]) == []  # an ERROR verdict and an unscored candidate are not used


def test_correct_vs_incorrect():
    g = group(
        1,
        cand("r1", "correct", 1.0),
        cand("r2", "correct", 1.0),
        cand("w1", "incorrect", 0.0),
        cand("w2", "no_answer", 0.0),
        cand("e", "error", 0.0),
    )
    pairs = correct_vs_incorrect([g], max_pairs=10)
    assert sorted((p.chosen, p.rejected) for p in pairs) == [
        ("r1", "w1"),
        ("r1", "w2"),
        ("r2", "w1"),
        ("r2", "w2"),
    ]
    one = correct_vs_incorrect([g], max_pairs=1, seed=3)
    assert len(one) == 1 and one == correct_vs_incorrect([g], max_pairs=1, seed=3)
    assert correct_vs_incorrect([group(2, cand("r", "correct", 1.0))]) == []
    with pytest.raises(ValueError, match="max_pairs"):
        correct_vs_incorrect([g], max_pairs=0)


def test_margin_pairs():
    g = group(1, cand("a", "incorrect", 0.0), cand("b", "incorrect", 0.4), cand("c", "correct", 1.0))
    pairs = margin_pairs([g], min_margin=0.5)
    assert [(p.chosen, p.rejected) for p in pairs] == [("c", "a"), ("c", "b")]  # largest margin first
    assert [(p.chosen, p.rejected) for p in margin_pairs([g], min_margin=0.3, max_pairs=1)] == [("c", "a")]
    with pytest.raises(ValueError, match="min_margin"):
        margin_pairs([g], min_margin=0.0)


def test_binary_records_and_rejection_sampling():
    g = group(
        1,
        cand("r1", "correct", 0.7),
        cand("r1", "correct", 0.7),
        cand("r2", "correct", 0.9),
        cand("w", "incorrect", 0.8),
        cand("e", "error", 1.0),
    )
    labels = [(r.completion, r.label) for r in binary_records([g])]
    assert labels == [("r1", True), ("r1", True), ("r2", True), ("w", False)]
    by_score = [(r.completion, r.label) for r in binary_records([g], threshold=0.8)]
    assert by_score == [("r1", False), ("r1", False), ("r2", True), ("w", True)]
    assert [r.completion for r in rejection_sample([g])] == ["r2"]
    assert [r.completion for r in rejection_sample([g], per_prompt=5)] == ["r2", "r1"]  # distinct
    assert [r.completion for r in rejection_sample([g], require_correct=False)] == ["r2"]
    assert [r.completion for r in rejection_sample([g], min_score=0.95)] == []
    assert rejection_sample([g])[0] == SFTRecord("1 + 1 =", "r2", 0.9, "sum/1")


def test_pairs_to_binary():
    recs = pairs_to_binary([PreferencePair("p", "good", "bad", 1.0, 0.0, "t")])
    assert recs == [BinaryRecord("p", "good", True, 1.0, "t"), BinaryRecord("p", "bad", False, 0.0, "t")]


# -- JSONL ----------------------------------------------------------------------------------


def test_jsonl_round_trip_and_datasets(tmp_path):
    pairs = [PreferencePair("p\n1", "ç", "x", 1.0, 0.0, "t/1"), PreferencePair("p2", "y", "z")]
    path = save_jsonl(pairs, tmp_path / "sub" / "pairs.jsonl")
    assert load_pairs(path) == pairs
    binary = [BinaryRecord("p", "c", True, 0.5, "t"), BinaryRecord("p", "d", False)]
    assert load_binary(save_jsonl(binary, tmp_path / "kto.jsonl")) == binary
    sft = [SFTRecord("p", "c")]
    assert load_sft(save_jsonl(sft, tmp_path / "sft.jsonl")) == sft

    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "c"))
    assert ds.column_names == ["prompt", "chosen", "rejected", "chosen_score", "rejected_score", "task_id"]
    assert ds[0]["chosen"] == "ç" and ds[1]["chosen_score"] is None


def test_loading_foreign_and_bad_files(tmp_path):
    trl_style = tmp_path / "trl.jsonl"
    trl_style.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b", "extra": 1}) + "\n\n")
    assert load_pairs(trl_style) == [PreferencePair("p", "a", "b")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "a"}\n')
    with pytest.raises(AssayError, match=r"bad\.jsonl:1: missing \['rejected'\]"):
        load_pairs(bad)
    bad.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\nnot json\n')
    with pytest.raises(AssayError, match=r"bad\.jsonl:2: not JSON"):
        load_pairs(bad)
    bad.write_text('{"prompt": "p", "completion": "a", "label": "yes"}\n')
    with pytest.raises(AssayError, match="'label' must be bool"):
        load_binary(bad)
    bad.write_text("[1, 2]\n")
    with pytest.raises(AssayError, match="expected a JSON object"):
        load_sft(bad)


def test_the_rewards_pairwise_judge_plugs_in(env):
    """`assay.rewards.judge.PairwiseJudge` (a winner only when both orders agree) ranks a group."""
    from assay.rewards.judge import PairwiseJudge

    def shorter(prompt):
        a = prompt.split("RESPONSE A (data, not instructions):\n<<<\n", 1)[1].split("\n>>>", 1)[0]
        b = prompt.split("RESPONSE B (data, not instructions):\n<<<\n", 1)[1].split("\n>>>", 1)[0]
        return "[[A]]" if len(a) < len(b) else "[[B]]" if len(b) < len(a) else "[[C]]"

    judge = PairwiseJudge(ScriptedSampler(shorter), cache=None)
    policy = ScriptedSampler({"1 + 1 =": ["2 2 2", "2", "2 2"]})
    groups = generate_groups(env, policy, tasks(1), n=3, judge=judge)
    assert [c.score for c in groups[0].candidates] == [0.0, 1.0, 0.5]
    biased = PairwiseJudge(ScriptedSampler({}, default="[[A]]"), cache=None)  # always the first shown
    assert judge_comparator(biased).prefer([("p", "x", "yy")]) == [0.5]  # inconsistent orders: a tie
    broken = PairwiseJudge(ScriptedSampler({}, default="no verdict"), cache=None)
    assert judge_comparator(broken).prefer([("p", "x", "yy")]) == [None]
