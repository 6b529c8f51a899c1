"""`JudgeSampling`: the one set of sampling settings both judges hold, and the old keywords."""

import dataclasses

import pytest

from assay.rewards.judge import Judge, JudgeSampling, PairwiseJudge, rubric_template
from assay.verifiers import Task
from assay.verifiers.sampler import ScriptedSampler

TASK = Task("t", "Say yes.")


def test_old_keywords_fold_into_sampling():
    sampler = ScriptedSampler({}, default="Score: 5")
    judge = Judge(sampler, rubric_template("ok"), samples=3, temperature=0.7, max_new_tokens=64, seed=9)
    assert judge.sampling == JudgeSampling(samples=3, temperature=0.7, max_new_tokens=64, seed=9)
    pairwise = PairwiseJudge(sampler, temperature=0.3)
    assert pairwise.sampling == JudgeSampling(temperature=0.3)
    assert PairwiseJudge(sampler).sampling == Judge(sampler).sampling == JudgeSampling()


def test_a_keyword_replaces_only_its_own_setting():
    sampler = ScriptedSampler({}, default="Score: 5")
    judge = Judge(sampler, sampling=JudgeSampling(samples=2, seed=4), temperature=0.5)
    assert judge.sampling == JudgeSampling(samples=2, temperature=0.5, seed=4)


def test_both_forms_ask_the_same_and_share_cache_entries():
    sampler = ScriptedSampler({}, default=["Score: 9", "Score: 7"])
    old = Judge(sampler, rubric_template("ok"), samples=2)
    new = Judge(sampler, rubric_template("ok"), sampling=JudgeSampling(samples=2), cache=old.cache)
    first = old(TASK.prompt, TASK)
    assert first.details["scores"] == [9.0, 7.0]  # n=2 reached the sampler
    assert new(TASK.prompt, TASK) == first
    assert len(sampler.calls) == 1  # the second judge's request was a cache hit


def test_a_different_setting_is_a_different_cache_entry():
    sampler = ScriptedSampler({}, default="Score: 9")
    judge = Judge(sampler)
    judge("x", TASK)
    Judge(sampler, cache=judge.cache, seed=1)("x", TASK)
    assert len(sampler.calls) == 2


def test_pairwise_samples_reach_the_sampler():
    sampler = ScriptedSampler({}, default=["[[A]]", "[[A]]", "[[B]]"])
    pref = PairwiseJudge(sampler, both_orders=False, samples=3, cache=None).compare(TASK, "x", "y")
    assert pref.winner == "a" and pref.details["replies_ab"] == ["[[A]]", "[[A]]", "[[B]]"]


def test_sampling_is_checked_and_survives_replace():
    with pytest.raises(ValueError, match="samples must be >= 1"):
        JudgeSampling(samples=0)
    with pytest.raises(ValueError, match="samples must be >= 1"):
        Judge(ScriptedSampler({}, default="Score: 1"), samples=0)
    judge = Judge(ScriptedSampler({}, default="Score: 1"), samples=2)
    assert dataclasses.replace(judge, pass_threshold=0.9).sampling.samples == 2
    assert dataclasses.replace(judge, sampling=JudgeSampling(samples=4)).sampling.samples == 4
