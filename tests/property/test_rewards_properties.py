"""Reward invariants, as hypothesis properties: bounds hold, totals are linear in the weights,
gates gate, combinators stay in their declared ranges, rule terms never raise on any text."""

import math

from hypothesis import given
from hypothesis import strategies as st

from assay.rewards import (
    Rubric,
    Term,
    clip,
    fenced_code,
    gate,
    json_valid,
    length_in_range,
    line_repetition,
    maximum,
    min_steps,
    minimum,
    ngram_repetition,
    overlong_penalty,
    process_reward,
    product,
    refusal,
    scale,
    tags,
    unsafe_content,
    verification_step,
    weighted_sum,
)
from assay.rewards.judge import parse_preference, parse_score
from assay.rewards.normalize import group_normalize
from assay.rewards.process import arithmetic_steps
from assay.rewards.textstats import python_text_stats, text_stats
from assay.verifiers import Status, Task, Verdict

T = Task("t", "p")
V = Verdict(Status.CORRECT, 1.0)

finite = st.floats(-1e3, 1e3, allow_nan=False)
raw_value = st.one_of(st.none(), st.floats(-1e4, 1e4, allow_nan=False), st.just(float("nan")))


@st.composite
def terms(draw, min_size=1, max_size=5):
    n = draw(st.integers(min_size, max_size))
    out = []
    for i in range(n):
        lo = draw(finite)
        hi = draw(st.floats(lo, lo + 100, allow_nan=False))
        out.append(Term(f"t{i}", (lambda v: lambda c, t, d: v)(draw(raw_value)), draw(finite), lo, hi))
    return out


def within(x, lo, hi):
    tol = 1e-9 * max(1.0, abs(lo), abs(hi))
    return lo - tol <= x <= hi + tol


@given(terms())
def test_total_is_within_declared_bounds(ts):
    rubric = Rubric(ts)
    lo, hi = rubric.bounds
    assert within(rubric("x", T, V).total, lo, hi)


@given(terms(), st.floats(-10, 10, allow_nan=False))
def test_total_is_linear_in_the_weights(ts, c):
    base = Rubric(ts)("x", T, V)
    scaled = Rubric([t.weighted(c * t.weight) for t in ts])("x", T, V)
    assert math.isclose(scaled.total, c * base.total, rel_tol=1e-9, abs_tol=1e-6)
    assert scaled.terms == base.terms  # weights never change the breakdown
    expected = math.fsum(t.weight * v for t, v in zip(ts, base.terms.values(), strict=True) if v is not None)
    assert math.isclose(base.total, expected, rel_tol=1e-9, abs_tol=1e-6)


@given(terms(), terms())
def test_total_is_additive_over_rubrics(a, b):
    b = [t.renamed("u" + t.name) for t in b]
    whole = Rubric(a + b)("x", T, V).total
    assert math.isclose(
        whole, Rubric(a)("x", T, V).total + Rubric(b)("x", T, V).total, rel_tol=1e-9, abs_tol=1e-6
    )


@given(terms(2, 4), st.sampled_from([weighted_sum, product, minimum, maximum]))
def test_combinators_stay_in_their_declared_range(ts, combine):
    term = combine(*ts, name="c") if combine is weighted_sum else combine(*ts)
    value, _ = term.evaluate("x", T, V)
    assert value is None or within(value, term.low, term.high)
    lo, hi = Rubric([term]).bounds
    assert within(Rubric([term])("x", T, V).total, lo, hi)


@given(terms(1, 1), finite, finite, finite, finite)
def test_scale_and_clip_stay_in_range(ts, f, o, a, b):
    (t,) = ts
    for term in (scale(t, f, o), clip(t, min(a, b), max(a, b))):
        value, _ = term.evaluate("x", T, V)
        assert value is None or within(value, term.low, term.high)


@given(terms(1, 1), st.one_of(st.none(), st.floats(0, 1)), st.floats(0, 1), finite)
def test_gate_passes_or_replaces(ts, gate_value, threshold, otherwise):
    (t,) = ts
    g = gate(t, Term("g", lambda c, task, v: gate_value), threshold=threshold, otherwise=otherwise)
    inner, _ = t.evaluate("x", T, V)
    value, _ = g.evaluate("x", T, V)
    if inner is None:
        assert value is None
    elif gate_value is None or gate_value >= threshold:
        assert math.isclose(value, min(max(t.weight * inner, g.low), g.high), rel_tol=1e-9, abs_tol=1e-9)
    else:
        assert value == otherwise


TEXT = st.text(max_size=400) | st.from_regex(
    r"(<think>|</think>|<answer>|</answer>|```\w*\n|\n|Step \d: |\d+ [+*/-] \d+ = \d+|[a-z ]{0,12}){0,30}",
    fullmatch=True,
)
RULES = [
    tags("think", "answer"),
    json_valid(),
    fenced_code("python"),
    length_in_range(10, 100),
    overlong_penalty(200, 50),
    ngram_repetition(3),
    line_repetition(),
    unsafe_content(),
    refusal(),
    min_steps(3),
    verification_step(),
    process_reward(arithmetic_steps),
]


@given(TEXT)
def test_rule_terms_never_raise_and_stay_in_range(text):
    for term in RULES:
        value, details = term.evaluate(text, T, V)
        assert "error" not in details, (term.name, details)
        assert value is None or term.low <= value <= term.high


@given(TEXT, st.integers(1, 4))
def test_compiled_text_stats_equal_the_reference(text, n):
    assert text_stats(text, n) == python_text_stats(text, n)


@given(
    st.lists(st.one_of(st.none(), st.floats(-100, 100)), min_size=1, max_size=12), st.integers(1, 4), finite
)
def test_group_normalize_centres_each_group_and_ignores_offsets(values, groups, shift):
    ids = [i % groups for i in range(len(values))]
    out = group_normalize(values, ids, scale=False)
    for g in set(ids):
        members = [o for o, i in zip(out, ids, strict=True) if i == g and o is not None]
        assert abs(math.fsum(members)) <= 1e-6 * max([1.0, *(abs(v) for v in values if v is not None)])
    shifted = group_normalize([None if v is None else v + shift for v in values], ids, scale=False)
    for a, b in zip(out, shifted, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert math.isclose(a, b, abs_tol=1e-6 * max(1.0, abs(shift)) * 100)


@given(st.text(max_size=300), st.integers(-5, 5), st.integers(1, 20))
def test_parsed_scores_lie_on_the_scale(text, low, width):
    high = low + width
    score = parse_score(text, low, high)
    assert score is None or low <= score <= high
    assert parse_preference(text) in (None, "A", "B", "tie")
