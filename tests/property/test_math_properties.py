"""Properties of the math verifier: garbage never raises or overruns, equal things compare equal,
perturbed things do not (no false accepts)."""

import contextlib
import random
import time
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from assay.verifiers.base import Status, Task, Verdict
from assay.verifiers.math import MathVerifier
from assay.verifiers.math.equiv import judge
from assay.verifiers.math.errors import ParseError, TooComplex
from assay.verifiers.math.extract import extract_answer
from assay.verifiers.math.parser import parse

BUDGET = 2.0
VERIFIER = MathVerifier(timeout_s=BUDGET)
LATEX_PIECES = [
    "\\frac", "{", "}", "(", ")", "[", "]", "^", "_", "\\sqrt", "x", "y", "1", "2", "10", ",", ";",
    "=", "<", "\\le", "\\pm", "\\infty", "\\text{", "\\begin{pmatrix}", "&", "\\\\", "\\end{pmatrix}",
    "\\cup", "|", "!", "\\%", "^\\circ", ".", "e", "i", "\\pi", "\\sum_{k=1}^{n}", "\\boxed{", "$",
    "\\left(", "\\right)", " ", "-", "+", "\\cdot", "\\sin", "\\log_2", "0.5", "\\{", "\\}", "or",
]  # fmt: skip
latexish = st.lists(st.sampled_from(LATEX_PIECES), max_size=40).map("".join)


@given(st.text(max_size=2_000))
def test_extraction_never_raises(text):
    found = extract_answer(text)
    assert found is None or isinstance(found, str)


@given(st.one_of(st.text(max_size=300), latexish))
def test_parser_raises_only_its_own_errors(text):
    with contextlib.suppress(ParseError, TooComplex):
        parse(text)


@settings(max_examples=40)
@given(
    st.one_of(st.text(max_size=1_000), latexish),
    st.sampled_from(["5", "x^2+1", "[0, 1)", "\\frac{\\sqrt3}{2}"]),
)
def test_verifier_returns_a_verdict_within_budget_on_garbage(text, reference):
    start = time.monotonic()
    verdict = VERIFIER(text, Task("t", "?", reference))
    assert isinstance(verdict, Verdict)
    assert time.monotonic() - start < BUDGET + 0.5
    assert verdict.status is not Status.ERROR, verdict


@given(latexish)
def test_an_answer_equals_itself_unless_unreadable(text):
    result = judge(text, text)
    assert result.status in ("correct", "error"), result


def _forms(q: Fraction) -> list[str]:
    a, b = q.numerator, q.denominator
    forms = [f"{a}/{b}", f"\\frac{{{a}}}{{{b}}}", f"\\dfrac{{{a}}}{{{b}}}", f"{2 * a}/{2 * b}"]
    if a < 0:
        forms.append(f"-\\frac{{{-a}}}{{{b}}}")
    if b == 1:
        forms.append(f"{a:,}")
    d, places = b, 0
    for p in (2, 5):
        count = 0
        while d % p == 0:
            d //= p
            count += 1
        places = max(places, count)
    if d == 1 and b > 1:  # a terminating decimal, written exactly
        scaled = abs(a) * 10**places // b
        text = f"{scaled:0{places + 1}d}"
        forms.append(("-" if a < 0 else "") + text[:-places] + "." + text[-places:])
    if q > 1 and b > 1:
        whole = a // b
        forms.append(f"{whole}\\frac{{{a - whole * b}}}{{{b}}}")
    return forms


fractions = st.fractions(min_value=-(10**6), max_value=10**6, max_denominator=10**4)


@given(fractions)
def test_every_way_of_writing_a_rational_is_equal(q):
    forms = _forms(q)
    for f in forms:
        assert judge(f, forms[0]).status == "correct", (f, forms[0])


@given(fractions, st.fractions(min_value=Fraction(-1, 10), max_value=Fraction(1, 10), max_denominator=10**6))
def test_a_different_rational_is_never_equal(q, delta):
    if delta == 0:
        return
    other = q + delta
    assert (
        judge(f"\\frac{{{other.numerator}}}{{{other.denominator}}}", f"{q.numerator}/{q.denominator}").status
        == "incorrect"
    )


def _poly_string(coeffs: list[int]) -> str:
    terms = []
    for power, c in enumerate(coeffs):
        if c:
            terms.append(f"{c}" + (f"x^{{{power}}}" if power else ""))
    return " + ".join(terms) or "0"


def _expand(lead: int, roots: list[int]) -> list[int]:
    coeffs = [lead]
    for r in roots:  # multiply by (x - r)
        nxt = [0] * (len(coeffs) + 1)
        for i, c in enumerate(coeffs):
            nxt[i + 1] += c
            nxt[i] -= r * c
        coeffs = nxt
    return coeffs


@given(st.integers(1, 9), st.lists(st.integers(-20, 20), min_size=1, max_size=5))
def test_factored_and_expanded_polynomials_are_equal(lead, roots):
    factored = f"{lead}" + "".join(f"(x - ({r}))" for r in roots)
    expanded = _poly_string(_expand(lead, roots))
    assert judge(expanded, factored).status == "correct", (expanded, factored)


@given(st.integers(1, 9), st.lists(st.integers(-20, 20), min_size=1, max_size=5), st.data())
def test_a_perturbed_polynomial_is_not_equal(lead, roots, data):
    coeffs = _expand(lead, roots)
    k = data.draw(st.integers(0, len(coeffs) - 1))
    coeffs[k] += data.draw(st.sampled_from([-2, -1, 1, 3]))
    factored = f"{lead}" + "".join(f"(x - ({r}))" for r in roots)
    assert judge(_poly_string(coeffs), factored).status == "incorrect"


ends = st.tuples(st.integers(-50, 50), st.integers(1, 40), st.booleans(), st.booleans())


@given(ends)
def test_interval_and_inequality_agree(spec):
    a, width, left, right = spec
    b = a + width
    interval = f"{'[' if left else '('}{a}, {b}{']' if right else ')'}"
    le = "\\le"
    inequality = f"{a} {le if left else '<'} x {le if right else '<'} {b}"
    assert judge(inequality, interval).status == "correct"
    flipped = f"{'(' if left else '['}{a}, {b}{']' if right else ')'}"
    assert judge(flipped, interval).status == "incorrect"


@given(st.lists(st.integers(-99, 99), min_size=2, max_size=8, unique=True), st.randoms(use_true_random=False))
def test_lists_are_unordered_and_complete(values, rng: random.Random):
    shuffled = values[:]
    rng.shuffle(shuffled)
    gold = ", ".join(map(str, values))
    assert judge(", ".join(map(str, shuffled)), gold).status == "correct"
    assert judge(", ".join(map(str, shuffled[1:])), gold).status == "incorrect"
    assert judge(str(values[0]), gold).status == "incorrect"
