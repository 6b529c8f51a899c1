"""Model text never reaches eval/exec/sympify/parse_expr, and code in an answer is just a wrong answer."""

import builtins
import re
from pathlib import Path

import pytest

from assay.verifiers.base import Status, Task
from assay.verifiers.math import MathVerifier
from assay.verifiers.math.equiv import judge

ROOT = Path(__file__).resolve().parents[3]
SOURCES = sorted((ROOT / "verifiers" / "math").glob("*.py"))

PAYLOADS = [
    "__import__('os').system('touch {sentinel}')",
    "\\boxed{__import__('os').system('touch {sentinel}')}",
    "\\boxed{exec(\"open('{sentinel}', 'w')\")}",
    "\\boxed{().__class__.__base__.__subclasses__()}",
    "\\boxed{lambda: open('{sentinel}', 'w')}",
    "\\boxed{eval('1+1')}",
    "\\boxed{\\text{${__import__('os').system('touch {sentinel}')}}}",
    "\\boxed{Symbol('x').__class__}",
    "\\boxed{x; import os}",
]


def test_no_dangerous_call_in_the_verifier_source():
    sympy_parsers = re.compile(r"\b(sympify|parse_expr|parse_latex|lambdify)\s*\(")
    builtins_ = re.compile(r"(?<![.\w])(eval|exec|compile|__import__)\s*\(")
    for path in SOURCES:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            assert not sympy_parsers.search(line), f"{path.name}:{n}: {line.strip()}"
            assert not builtins_.search(line), f"{path.name}:{n}: {line.strip()}"


def install_tripwires(monkeypatch):
    """Any string reaching sympy's parser, or eval/exec on a string, is recorded.

    sympy parses its own constant strings when some of its modules are first imported (unit
    prefixes, for solveset), so comparisons are run once before the tripwires are set."""
    import sympy.parsing.sympy_parser as sympy_parser

    calls: list[str] = []

    def tripped(name):
        def fn(*args, **kwargs):
            calls.append(f"{name}{args[:1]!r}")
            raise AssertionError(f"{name} was called")

        return fn

    monkeypatch.setattr(sympy_parser, "parse_expr", tripped("parse_expr"))
    real_eval, real_exec = builtins.eval, builtins.exec

    def guarded(real, name):
        def fn(source, *args, **kwargs):
            if isinstance(source, str):
                calls.append(f"{name}({source[:40]!r})")
            return real(source, *args, **kwargs)

        return fn

    monkeypatch.setattr(builtins, "eval", guarded(real_eval, "eval"))
    monkeypatch.setattr(builtins, "exec", guarded(real_exec, "exec"))
    return calls


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        ("\\sqrt{18}", "3\\sqrt{2}"),
        ("\\tan^2 x + 1", "\\sec^2 x"),
        ("x^2 < 4", "(-2, 2)"),
        ("|x - 1| \\ge 2", "(-\\infty, -1] \\cup [3, \\infty)"),
        ("e^{-e^{e^{5}}} + \\sqrt{2}", "\\sqrt{2}"),
        ("\\sum_{k=0}^{n-1} F_k F_{n-k-1}", "\\sum_{k=0}^{n-2} F_k F_{n-k-2}"),
        (
            "\\begin{pmatrix} 1 & x \\\\ 0 & 1 \\end{pmatrix}",
            "\\begin{pmatrix} 1 & x \\\\ 0 & 1 \\end{pmatrix}",
        ),
        *[(p.replace("{sentinel}", "/nonexistent/x"), "2") for p in PAYLOADS],
    ],
)
def test_comparisons_never_parse_strings_with_sympy_or_eval(monkeypatch, pred, gold):
    first = judge(pred, gold)  # warms sympy's lazy imports
    calls = install_tripwires(monkeypatch)
    assert judge(pred, gold) == first
    assert calls == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_code_in_an_answer_is_a_wrong_answer_and_does_nothing(tmp_path, payload):
    sentinel = tmp_path / "pwned"
    verdict = MathVerifier(timeout_s=5)(payload.replace("{sentinel}", str(sentinel)), Task("t", "?", "2"))
    assert verdict.status in (Status.INCORRECT, Status.NO_ANSWER, Status.TIMEOUT)
    assert not sentinel.exists()
