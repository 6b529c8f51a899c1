"""Regression table for math answer equivalence: (category, reference, prediction, equivalent).

Written for assay (not copied from any grader's suite), one block per category of the issue,
each with near-misses that must be rejected. Every answer that ever fools the verifier becomes a
row. The rows run in-process through `judge` (the function the worker runs) and, in one test,
through `MathVerifier` and its worker process.
"""

import pytest

from assay.verifiers.base import Status
from assay.verifiers.math import MathVerifier
from assay.verifiers.math.equiv import judge

T, F = True, False

CASES = [
    # integers with separators
    ("integer", "1234567", "1,234,567", T),
    ("integer", "1234567", "1 234 567", T),
    ("integer", "1234567", "1{,}234{,}567", T),
    ("integer", "1234567", "1,\\!234,\\!567", T),
    ("integer", "-42", "- 42", T),
    ("integer", "42", "+42", T),
    ("integer", "42", "042", T),
    ("integer", "1234567", "1,234,576", F),
    ("integer", "12", "1,2", F),
    ("integer", "100", "10", F),
    ("integer", "-3", "3", F),
    # decimals
    ("decimal", "2.50", "2.5", T),
    ("decimal", "0.25", ".25", T),
    ("decimal", "7", "7.000", T),
    ("decimal", "3.14", "3.140", T),
    ("decimal", "0.125", "0.12", F),
    ("decimal", "2.5", "25", F),
    ("decimal", "3.14", "3.15", F),
    # fractions
    ("fraction", "\\frac{3}{8}", "3/8", T),
    ("fraction", "\\frac{3}{8}", "0.375", T),
    ("fraction", "\\dfrac{6}{16}", "\\tfrac38", T),
    ("fraction", "-\\frac{5}{2}", "\\frac{-5}{2}", T),
    ("fraction", "-\\frac{5}{2}", "-2.5", T),
    ("fraction", "\\frac{7}{9}", "\\frac{14}{18}", T),
    ("fraction", "\\frac{3}{8}", "\\frac{8}{3}", F),
    ("fraction", "\\frac{1}{3}", "0.33", F),
    ("fraction", "\\frac{1}{3}", "0.3333", F),
    ("fraction", "\\frac{2}{3}", "0.666667", T),
    ("fraction", "\\frac{2}{3}", "0.666666", F),
    ("fraction", "\\frac{1}{7}", "1/7.0001", F),
    # mixed numbers
    ("mixed", "\\frac{11}{4}", "2\\frac{3}{4}", T),
    ("mixed", "\\frac{11}{4}", "2 3/4", T),
    ("mixed", "5.5", "5\\frac12", T),
    ("mixed", "\\frac{11}{4}", "2\\frac{4}{3}", F),
    ("mixed", "\\frac{3}{2}", "2\\frac{3}{4}", F),
    # percentages
    ("percent", "45\\%", "45", T),
    ("percent", "45\\%", "0.45", T),
    ("percent", "45\\%", "45 percent", T),
    ("percent", "12.5\\%", "\\frac{1}{8}", T),
    ("percent", "0.45", "45\\%", T),
    ("percent", "45\\%", "54\\%", F),
    ("percent", "45\\%", "4.5", F),
    # scientific notation
    ("scientific", "3.2 \\times 10^{5}", "320000", T),
    ("scientific", "3.2 \\times 10^{5}", "3.2e5", T),
    ("scientific", "0.00047", "4.7 \\cdot 10^{-4}", T),
    ("scientific", "6.02 \\times 10^{23}", "6.02E23", T),
    ("scientific", "3.2 \\times 10^{5}", "3.2 \\times 10^{6}", F),
    ("scientific", "0.00047", "4.7 \\times 10^{4}", F),
    # radicals
    ("radical", "2\\sqrt{3}", "\\sqrt{12}", T),
    ("radical", "\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", T),
    ("radical", "\\sqrt[3]{16}", "2\\sqrt[3]{2}", T),
    ("radical", "3+2\\sqrt{2}", "(1+\\sqrt{2})^2", T),
    ("radical", "\\sqrt{5}+\\sqrt{3}", "\\sqrt{3}+\\sqrt{5}", T),
    ("radical", "\\sqrt{2}", "1.41421356", T),
    ("radical", "\\sqrt{2}", "1.414", F),
    ("radical", "2\\sqrt{3}", "3\\sqrt{2}", F),
    ("radical", "\\sqrt{12}", "12", F),
    ("radical", "\\sqrt[3]{16}", "\\sqrt{16}", F),
    # pi and e
    ("pi_e", "2\\pi", "\\pi \\cdot 2", T),
    ("pi_e", "\\frac{\\pi}{4}", "0.25\\pi", T),
    ("pi_e", "e^{2}", "\\exp(2)", T),
    ("pi_e", "\\ln(e^3)", "3", T),
    ("pi_e", "\\pi", "3.14159265", T),
    ("pi_e", "\\pi", "3.14", F),
    ("pi_e", "\\frac{\\pi}{4}", "\\frac{\\pi}{2}", F),
    ("pi_e", "e - 1", "1 - e", F),
    ("pi_e", "1 + \\frac{1}{e}", "1 - \\frac{1}{e}", F),
    # symbolic expressions
    ("symbolic", "(a+b)^2", "a^2 + 2ab + b^2", T),
    ("symbolic", "\\frac{x^2-1}{x-1}", "x+1", T),
    ("symbolic", "2\\sin x \\cos x", "\\sin(2x)", T),
    ("symbolic", "\\cos^2 t - \\sin^2 t", "\\cos 2t", T),
    ("symbolic", "\\log_2 32", "5", T),
    ("symbolic", "\\binom{6}{2}", "15", T),
    ("symbolic", "5!", "120", T),
    ("symbolic", "\\sum_{k=1}^{n} k", "\\frac{n(n+1)}{2}", T),
    ("symbolic", "(a+b)^2", "a^2 + b^2", F),
    ("symbolic", "\\frac{x^2-1}{x-1}", "x-1", F),
    ("symbolic", "\\sin(2x)", "2\\sin x", F),
    ("symbolic", "|x|", "x", F),
    ("symbolic", "\\sqrt{x^2}", "x", F),
    ("symbolic", "x + 10^{-40}", "x", F),
    ("symbolic", "\\frac{1}{2004!}", "\\frac{1}{2006!}", F),
    # equations
    ("equation", "7", "x = 7", T),
    ("equation", "y = 7", "7", T),
    ("equation", "3x - 2y = 6", "y = \\frac{3}{2}x - 3", T),
    ("equation", "x^2 + y^2 = 4", "2x^2 + 2y^2 - 8 = 0", T),
    ("equation", "y = 2x + 1", "2x - y + 1 = 0", T),
    ("equation", "f(3) = 10", "10", T),
    ("equation", "3x - 2y = 6", "3x + 2y = 6", F),
    ("equation", "x = 7", "y = 7", F),
    ("equation", "5 = 2a + b", "2a + b", F),
    ("equation", "x^2 + y^2 = 4", "x^2 + y^2 = 2", F),
    # inequalities and intervals
    ("interval", "x > 3", "(3, \\infty)", T),
    ("interval", "x \\ge 3", "[3, +\\infty)", T),
    ("interval", "-1 < t \\le 4", "(-1, 4]", T),
    ("interval", "x \\le -2 \\text{ or } x \\ge 2", "(-\\infty,-2] \\cup [2,\\infty)", F),
    ("interval", "|x - 3| < 2", "(1, 5)", T),
    ("interval", "|x| \\ge 1", "(-\\infty, -1] \\cup [1, \\infty)", T),
    ("interval", "x^2 < 9", "-3 < x < 3", T),
    ("interval", "2x + 1 > 7", "x > 3", T),
    ("interval", "[0, 2) \\cup [2, 5]", "[0, 5]", T),
    ("interval", "(-\\infty, 1) \\cup (1, \\infty)", "x \\neq 1", T),
    ("interval", "x > 3", "[3, \\infty)", F),
    ("interval", "(1, 5)", "[1, 5]", F),
    ("interval", "(1, 5)", "(1, 5]", F),
    ("interval", "(-\\infty, 0)", "(0, \\infty)", F),
    ("interval", "|x - 3| < 2", "(-1, 5)", F),
    ("interval", "[0, 2) \\cup (2, 5]", "[0, 5]", F),
    ("interval", "x < 4", "x > 4", F),
    # sets, unordered lists, ordered tuples
    ("set", "\\{1, 2, 3\\}", "\\{3, 1, 2\\}", T),
    ("set", "1, 2, 3", "3, 2, 1", T),
    ("set", "\\{-1, 4\\}", "4, -1", T),
    ("set", "\\{2\\}", "2", T),
    ("set", "x = 2 \\text{ or } x = -2", "\\pm 2", T),
    ("set", "(1, 2)", "(1, 2)", T),
    ("set", "(1, 2), (3, 4)", "(3, 4), (1, 2)", T),
    ("set", "(0.5, 3)", "(\\frac12, 3)", T),
    ("set", "\\{1, 2, 3\\}", "\\{1, 2\\}", F),
    ("set", "\\{1, 2\\}", "\\{1, 2, 3\\}", F),
    ("set", "(1, 2)", "(2, 1)", F),
    ("set", "(2, 1)", "\\{1, 2\\}", F),
    ("set", "(1, 2, 3)", "(1, 2)", F),
    ("set", "(1, 2), (3, 4)", "(1, 2), (4, 3)", F),
    # matrices and vectors
    (
        "matrix",
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}",
        T,
    ),
    (
        "matrix",
        "\\begin{pmatrix} 0.5 \\\\ -1 \\end{pmatrix}",
        "\\begin{pmatrix} \\frac12 \\\\ -1 \\end{pmatrix}",
        T,
    ),
    ("matrix", "\\begin{pmatrix} 1 \\\\ 2 \\\\ 3 \\end{pmatrix}", "(1, 2, 3)", T),
    (
        "matrix",
        "\\begin{pmatrix} \\sqrt{4} & 0 \\\\ 0 & 1 \\end{pmatrix}",
        "\\begin{pmatrix} 2 & 0 \\\\ 0 & 1 \\end{pmatrix}",
        T,
    ),
    (
        "matrix",
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        "\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}",
        F,
    ),
    (
        "matrix",
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        "\\begin{pmatrix} 1 & 2 & 3 & 4 \\end{pmatrix}",
        F,
    ),
    ("matrix", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(2, 1)", F),
    ("matrix", "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}", "1", F),
    # complex numbers
    ("complex", "3 - 4i", "-4i + 3", T),
    ("complex", "(1+i)^2", "2i", T),
    ("complex", "\\frac{1}{i}", "-i", T),
    ("complex", "e^{i\\pi}", "-1", T),
    ("complex", "3 - 4i", "3 + 4i", F),
    ("complex", "2i", "2", F),
    # units and \text{}
    ("units", "12 \\text{ cm}", "12", T),
    ("units", "12", "12 \\text{ centimeters}", T),
    ("units", "12 \\text{ cm}^2", "12 \\text{ square cm}", T),
    ("units", "\\$7.50", "7.5", T),
    ("units", "7.5 \\text{ dollars}", "\\$7.50", T),
    ("units", "30 \\text{ mph}", "30 \\mbox{ mph}", T),
    ("units", "12 \\text{ cm}", "12 \\text{ m}", F),
    ("units", "12 \\text{ cm}", "21 \\text{ cm}", F),
    ("units", "5 \\text{ hours}", "5 \\text{ minutes}", F),
    # degrees
    ("degrees", "60^\\circ", "60", T),
    ("degrees", "60^{\\circ}", "\\frac{\\pi}{3}", T),
    ("degrees", "60", "60°", T),
    ("degrees", "\\cos(60^\\circ)", "\\frac12", T),
    ("degrees", "60^\\circ", "30^\\circ", F),
    ("degrees", "60^\\circ", "\\frac{\\pi}{6}", F),
    # base-n numbers
    ("base_n", "1011_2", "1011_{2}", T),
    ("base_n", "1011_2", "11", F),
    ("base_n", "1011_2", "1101_2", F),
    ("base_n", "123_4", "123_{4}", T),
    # LaTeX noise
    ("latex", "\\frac{1}{2}", "\\left( \\frac{1}{2} \\right)", T),
    ("latex", "10", "\\mathrm{10}", T),
    ("latex", "\\frac{1}{2}", "$\\displaystyle \\frac{1}{2}$", T),
    ("latex", "2\\sqrt{2}", "2 \\, \\sqrt{2}", T),
    ("latex", "17", "\\boxed{17}", T),
    ("latex", "5", "\\textbf{5}", T),
    ("latex", "\\frac{1}{2}", "\\left[ \\frac{1}{2} \\right]", T),
    ("latex", "5", "\\textbf{6}", F),
    # text answers
    ("text", "\\text{(B)}", "B", T),
    ("text", "\\text{Tuesday}", "tuesday", T),
    ("text", "\\text{no solution}", "No solution", T),
    ("text", "\\text{(B)}", "(D)", F),
    ("text", "\\text{Tuesday}", "Thursday", F),
    # hedges and false statements (reward hacking)
    ("hedge", "5", "5, 7", F),
    ("hedge", "5", "5 \\text{ or } 7", F),
    ("hedge", "5", "\\pm 5", F),
    ("hedge", "5", "5 = 7", F),
    ("hedge", "7", "5 = 7", F),
    ("hedge", "7", "x = 3 + 3 = 7", F),
    ("hedge", "\\text{(C)}", "\\text{(A), (B), (C), (D)}", F),
    ("hedge", "5", "5, 5", T),
    ("hedge", "7", "x = 3 + 4 = 7", T),
    ("hedge", "\\pm 5", "5, -5", T),
    # labelled and multi-part answers
    ("labels", "x = 1, y = 2", "(1, 2)", T),
    ("labels", "x = 1, y = 2", "y = 2, x = 1", T),
    ("labels", "x = 1, y = 2", "x = 2, y = 1", F),
    ("labels", "x = 1, y = 2", "2, 1", F),
    ("labels", "a = 3, b = -1", "3, -1", T),
]


@pytest.mark.parametrize(
    ("category", "gold", "pred", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_equivalence_table(category, gold, pred, expected):
    result = judge(pred, gold)
    assert result.status in ("correct", "incorrect"), result
    assert (result.status == "correct") is expected, result


def test_table_covers_every_category_with_positive_and_negative_rows():
    by_cat: dict[str, set[bool]] = {}
    for category, _, _, expected in CASES:
        by_cat.setdefault(category, set()).add(expected)
    assert all(v == {True, False} for v in by_cat.values()), by_cat
    assert len(by_cat) >= 20


def test_verifier_through_its_worker_agrees_with_the_table():
    verifier = MathVerifier(timeout_s=10.0)
    for _, gold, pred, expected in CASES:
        verdict = verifier.compare(pred, gold)
        assert verdict.status in (Status.CORRECT, Status.INCORRECT), (gold, pred, verdict)
        assert verdict.correct is expected, (gold, pred, verdict)
