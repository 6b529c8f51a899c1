"""Constitutional critique/revision and the pairwise judge, on a scripted sampler."""

import gymnasium as gym
import pytest

import assay
from assay.agents.preference.constitution import (
    DEFAULT_PRINCIPLES,
    Constitution,
    Principle,
    parse_choice,
    sft_records,
)
from assay.agents.preference.data import SFTRecord, best_vs_worst, generate_groups
from assay.envs import SingleTurnEnv, Task
from assay.verifiers.match import ExactMatch
from assay.verifiers.sampler import ScriptedSampler

TERSE = Principle("terse", "Is it too long?", "Make it shorter.", "Which response is shorter?")


def script(prompt: str) -> str:
    """A critic that prefers shorter responses and a reviser that drops the last word."""
    if prompt.endswith("Critique:"):
        return " Too long. "
    if prompt.endswith("Revision:"):
        response = prompt.split("Response:\n", 1)[1].split("\n\nCritique request:", 1)[0]
        return " ".join(response.split()[:-1])
    if prompt.endswith("The better response is: ("):
        a = prompt.split("\n(A) ", 1)[1].split("\n\n(B) ", 1)[0]
        b = prompt.split("\n\n(B) ", 1)[1].split("\n\n", 1)[0]
        return "A) it is shorter" if len(a) < len(b) else "B)"
    raise AssertionError(f"unexpected prompt {prompt!r}")


def test_revise_critiques_then_revises_each_round():
    sampler = ScriptedSampler(script)
    c = Constitution(sampler, [TERSE], seed=1)
    (rev,) = c.revise(["Say hi."], ["hello there my friend"], rounds=2)
    assert rev.original == "hello there my friend"
    assert rev.revised == "hello there"  # one word dropped per round
    assert rev.critique == "Too long." and rev.principle == "terse" and rev.changed
    assert len(sampler.calls) == 4  # critique + revision, twice
    assert "Critique request: Is it too long?" in sampler.calls[0]
    assert "Critique: Too long.\n\nRevision request: Make it shorter.\nRevision:" in sampler.calls[1]
    assert sft_records([rev]) == [SFTRecord("Say hi.", "hello there")]


def test_an_empty_revision_keeps_the_response():
    sampler = ScriptedSampler(lambda p: "fine" if p.endswith("Critique:") else "   ")
    (rev,) = Constitution(sampler, [TERSE]).revise(["q"], ["answer"])
    assert rev.revised == "answer" and not rev.changed
    assert sft_records([rev]) == []
    assert sft_records([rev], only_changed=False) == [SFTRecord("q", "answer")]


def test_principles_are_drawn_per_item_and_seeded():
    c = Constitution(ScriptedSampler({}, default="x"), DEFAULT_PRINCIPLES, seed=3)
    a = [p.name for p in c.pick(20, 0)]
    assert a == [p.name for p in Constitution(c.sampler, DEFAULT_PRINCIPLES, seed=3).pick(20, 0)]
    assert len(set(a)) > 1
    with pytest.raises(ValueError, match="at least one principle"):
        Constitution(c.sampler, [])
    with pytest.raises(ValueError, match="1 prompts for 0 responses"):
        c.revise(["a"], [])


@pytest.mark.parametrize(
    ("text", "choice"),
    [("A)", 0), ("B) because", 1), ("(A)", 0), (" **B**", 1), ("Answer: A", None), ("", None), ("AB", None)],
)
def test_parse_choice(text, choice):
    assert parse_choice(text) == choice


def test_prefer_asks_both_orders_and_cancels_position_bias():
    sampler = ScriptedSampler(script)
    c = Constitution(sampler, [TERSE])
    assert c.prefer([("q", "short", "much longer"), ("q", "much longer", "short")]) == [1.0, 0.0]
    assert len(sampler.calls) == 4  # each comparison in both orders, one sampler call
    always_a = Constitution(ScriptedSampler({}, default="A)"), [TERSE])
    assert always_a.prefer([("q", "x", "yy")]) == [0.5]  # no preference
    garbled = Constitution(ScriptedSampler({}, default="maybe"), [TERSE])
    assert garbled.prefer([("q", "x", "yy")]) == [None]


ENV = "preftest/Echo-v0"


class EchoEnv(SingleTurnEnv):
    num_tasks = 2

    def __init__(self, **kwargs):
        super().__init__(verifier=ExactMatch(), **kwargs)

    def task_at(self, index: int) -> Task:
        return Task(id=f"echo/{index}", prompt=f"say {index}", answer=str(index))


if ENV not in gym.registry:
    gym.register(ENV, entry_point=EchoEnv)


def test_the_critics_choices_become_preference_pairs():
    """RLAIF: the policy samples, the constitutional judge ranks, pairs come out."""
    policy = ScriptedSampler({"say 0": ["0", "0 0 0", "0 0"], "say 1": ["1 1", "1"]})
    judge = Constitution(ScriptedSampler(script), [TERSE])
    env = assay.make(ENV)
    groups = generate_groups(env, policy, [EchoEnv().task_at(0)], n=3, judge=judge)
    env.close()
    assert [c.score for c in groups[0].candidates] == [1.0, 0.0, 0.5]
    (pair,) = best_vs_worst(groups)
    assert (pair.chosen, pair.rejected) == ("0", "0 0 0")
