import pickle

import pytest

from assay.rewards import CORRECTNESS, Reward, Rubric, Scored, Term, correct
from assay.rewards.combine import clip, gate, maximum, minimum, product, scale, weighted_sum
from assay.rewards.normalize import batch_normalize, group_ids, group_normalize, group_normalize_terms
from assay.verifiers import Status, Task, Verdict

TASK = Task("t", "p", "1")
OK = Verdict(Status.CORRECT, 1.0)
BAD = Verdict(Status.INCORRECT, 0.0)


def const(name, value, weight=1.0, low=0.0, high=1.0):
    return Term(name, lambda c, t, v: value, weight, low, high)


def test_rubric_details_travel_with_total_and_survive_pickle():
    r = Rubric([Term("a", lambda c, t, v: Scored(0.5, {"why": "half"})), Term("b", correct, 2.0)])
    reward = r("x", TASK, OK)
    total, terms = reward
    assert total == 2.5 and terms == {"a": 0.5, "b": 1.0}
    assert reward.details == {"a": {"why": "half"}}
    again = pickle.loads(pickle.dumps(reward))
    assert again == reward and again.details == {"a": {"why": "half"}}


def test_term_that_raises_or_returns_nan_is_not_applicable_with_reason():
    def boom(c, t, v):
        raise RuntimeError("broken")

    r = Rubric([Term("boom", boom), Term("nan", lambda c, t, v: float("nan")), Term("correct", correct)])
    reward = r("x", TASK, OK)
    assert reward.terms == {"boom": None, "nan": None, "correct": 1.0} and reward.total == 1.0
    assert "RuntimeError: broken" in reward.details["boom"]["error"]
    assert reward.details["nan"]["error"] == "returned NaN"


def test_term_rejects_non_finite_range_and_empty_name():
    with pytest.raises(ValueError, match="finite"):
        Term("x", correct, 1.0, 0.0, float("inf"))
    with pytest.raises(ValueError, match="non-empty"):
        Term("", correct)


def test_rubric_batch_equals_single_calls_and_uses_batch_form():
    calls = []

    class Batched:
        def __call__(self, c, t, v):
            raise AssertionError("batch form expected")

        def batch(self, cs, ts, vs):
            calls.append(len(cs))
            return [len(c) / 10 for c in cs]

    r = Rubric([Term("len", Batched()), Term("correct", correct)])
    out = r.batch(["ab", "abcd"], [TASK, TASK], [OK, BAD])
    assert calls == [2]
    assert [x.terms for x in out] == [{"len": 0.2, "correct": 1.0}, {"len": 0.4, "correct": 0.0}]
    assert out[0].total == pytest.approx(1.2)
    with pytest.raises(ValueError, match="lengths differ"):
        r.batch(["a"], [TASK, TASK], [OK])


def test_weighted_sum_and_as_term_range_and_value():
    s = weighted_sum(const("a", 1.0, 2.0), const("b", 0.5, -1.0), name="s")
    assert (s.low, s.high) == (-1.0, 2.0)
    value, info = s.evaluate("x", TASK, OK)
    assert value == 1.5 and info["parts"] == {"a": 1.0, "b": 0.5}
    inner = Rubric([const("a", 1.0, 2.0), const("b", 0.5, -1.0)]).as_term("inner")
    assert (inner.low, inner.high) == (-1.0, 2.0) and inner.evaluate("x", TASK, OK)[0] == 1.5


def test_product_is_correct_times_format_and_skips_not_applicable():
    p = product(Term("correct", correct), const("format", 0.0))
    assert p.name == "correct*format" and (p.low, p.high) == (0.0, 1.0)
    assert p.evaluate("x", TASK, OK)[0] == 0.0
    assert product(Term("correct", correct), const("na", None)).evaluate("x", TASK, OK)[0] == 1.0
    assert product(const("a", None), const("b", None)).evaluate("x", TASK, OK)[0] is None


def test_product_bounds_with_negative_spans():
    p = product(const("a", -1.0, 1.0, -1.0, 0.0), const("b", 2.0, 1.0, 0.0, 2.0))
    assert (p.low, p.high) == (-2.0, 2.0)  # b alone (a not applicable) reaches 2
    assert p.evaluate("x", TASK, OK)[0] == -2.0


def test_minimum_and_maximum():
    lo = minimum(const("a", 0.3), const("b", 0.7, 2.0))
    hi = maximum(const("a", 0.3), const("b", 0.7, 2.0))
    assert lo.evaluate("x", TASK, OK)[0] == 0.3 and hi.evaluate("x", TASK, OK)[0] == 1.4
    assert (lo.low, lo.high) == (0.0, 2.0)
    assert minimum(const("a", None), const("b", 0.2)).evaluate("x", TASK, OK)[0] == 0.2
    assert maximum(const("a", None), const("b", None)).evaluate("x", TASK, OK)[0] is None
    assert (lo.name, hi.name, maximum(const("a", 0.1), name="best").name) == ("min(a,b)", "max(a,b)", "best")


def test_gate_counts_correctness_only_when_format_holds():
    fmt = Term("format", lambda c, t, v: 1.0 if c.startswith("<") else 0.0)
    g = gate(Term("correct", correct), fmt)
    assert g.name == "correct_if_format"
    assert g.evaluate("<a>", TASK, OK)[0] == 1.0
    value, info = g.evaluate("a", TASK, OK)
    assert value == 0.0 and info["parts"] == {"correct": 1.0, "format": 0.0}
    assert gate(Term("correct", correct), const("na", None)).evaluate("a", TASK, OK)[0] == 1.0
    g2 = gate(Term("correct", correct), fmt, otherwise=-1.0)
    assert (g2.low, g2.high) == (-1.0, 1.0) and g2.evaluate("a", TASK, OK)[0] == -1.0
    g3 = gate(Term("correct", correct), const("half", 0.5), threshold=0.5)
    assert g3.evaluate("a", TASK, OK)[0] == 1.0


def test_clip_and_scale():
    c = clip(const("a", 0.9, 2.0), 0.0, 1.0)
    assert (c.low, c.high) == (0.0, 1.0) and c.evaluate("x", TASK, OK)[0] == 1.0
    s = scale(Term("correct", correct), 2.0, -1.0)
    assert (s.low, s.high) == (-1.0, 1.0)
    assert s.evaluate("x", TASK, OK)[0] == 1.0 and s.evaluate("x", TASK, BAD)[0] == -1.0
    assert scale(const("na", None), 2.0).evaluate("x", TASK, OK)[0] is None


def test_combinators_reject_duplicate_names():
    with pytest.raises(ValueError, match="duplicate"):
        product(const("a", 1.0), const("a", 1.0))


def test_nested_combinators_keep_batch_form():
    calls = []

    class Batched:
        def __call__(self, c, t, v):
            raise AssertionError

        def batch(self, cs, ts, vs):
            calls.append(len(cs))
            return [0.5] * len(cs)

    term = gate(product(Term("judge", Batched()), Term("correct", correct)), const("f", 1.0))
    out = Rubric([term]).batch(["a", "b", "c"], [TASK] * 3, [OK] * 3)
    assert calls == [3] and [r.total for r in out] == [0.5, 0.5, 0.5]


def test_group_normalize_known_values():
    # group [1, 0]: mean .5, sample std .7071 -> +-0.7071; group [1, 1, 1]: all zero
    out = group_normalize([1.0, 0.0, 1.0, 1.0, 1.0], ["a", "a", "b", "b", "b"], eps=0.0)
    assert out[0] == pytest.approx(0.70710678) and out[1] == pytest.approx(-0.70710678)
    assert out[2:] == [0.0, 0.0, 0.0]
    assert group_normalize([2.0, 4.0, None, 6.0], 4, scale=False) == [-2.0, 0.0, None, 2.0]
    assert group_normalize([None, 3.0], 2) == [None, 0.0]
    assert group_ids(4, 2) == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="groups of 2"):
        group_ids(5, 2)


def test_batch_normalize_known_values():
    out = batch_normalize([1.0, 2.0, 3.0], eps=0.0)
    assert out == pytest.approx([-1.0, 0.0, 1.0])
    assert batch_normalize([None, None]) == [None, None]


def test_group_normalize_terms_normalises_each_term_before_summing():
    rewards = [Reward(0, {"a": 1.0, "b": 0.0}), Reward(0, {"a": 0.0, "b": 0.0})]
    out = group_normalize_terms(rewards, {"a": 2.0, "b": 1.0}, 2, eps=0.0)
    assert out == pytest.approx([2 * 0.70710678, -2 * 0.70710678])


def test_correctness_default_still_works():
    assert CORRECTNESS("x", TASK, OK) == (1.0, {"correct": 1.0})
