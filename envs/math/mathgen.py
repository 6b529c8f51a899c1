"""MathGen: procedurally generated algebra, calculus, number theory and counting problems.

``assay/MathGen-v0``. Each task is drawn from one of `FAMILIES` (all by default) at a difficulty
``level`` (easy/medium/hard: larger coefficients, more terms, irrational or rational answers).
The reference answer is computed with sympy and written in LaTeX; the policy is verified with
`MathVerifier`, plus a form check where the form is the point of the task: an ``expand`` answer
must have no parentheses and a ``factor`` answer must be a product of factors (otherwise
copying the question would be "equivalent"). Tasks are a pure function of ``(level, families,
index)``: ``task_at(i)`` draws from its own ``numpy`` generator seeded with the index.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from assay.envs.base import SingleTurnEnv
from assay.envs.math.prompts import render, system_prompt_for
from assay.verifiers.base import Status, Task, Verdict
from assay.verifiers.math import MathVerifier

__all__ = ["FAMILIES", "LEVELS", "FormCheckedVerifier", "MathGenEnv"]

LEVELS: dict[str, dict[str, int]] = {
    "easy": {"coef": 5, "terms": 2, "root": 6},
    "medium": {"coef": 9, "terms": 3, "root": 10},
    "hard": {"coef": 15, "terms": 4, "root": 15},
}


def _sympy() -> Any:
    import sympy

    return sympy


def _nonzero(rng: np.random.Generator, bound: int) -> int:
    v = int(rng.integers(1, bound + 1))
    return v if rng.random() < 0.5 else -v


def _linear(rng: np.random.Generator, cfg: dict[str, int], level: str) -> tuple[str, str, dict[str, Any]]:
    sp = _sympy()
    x = sp.Symbol("x")
    a, c = _nonzero(rng, cfg["coef"]), _nonzero(rng, cfg["coef"])
    while c == a:
        c = _nonzero(rng, cfg["coef"])
    b = int(rng.integers(-3 * cfg["coef"], 3 * cfg["coef"] + 1))
    if level == "hard":
        d = int(rng.integers(-3 * cfg["coef"], 3 * cfg["coef"] + 1))
    else:  # an integer solution
        d = (a - c) * int(rng.integers(-cfg["root"], cfg["root"] + 1)) + b
    (solution,) = sp.solve(sp.Eq(a * x + b, c * x + d), x)
    problem = f"Solve for $x$: ${sp.latex(a * x + b)} = {sp.latex(c * x + d)}$."
    return problem, sp.latex(solution), {}


def _quadratic(rng: np.random.Generator, cfg: dict[str, int], level: str) -> tuple[str, str, dict[str, Any]]:
    sp = _sympy()
    x = sp.Symbol("x")
    if level == "hard":  # irrational roots
        while True:
            b, c = (
                int(rng.integers(-cfg["coef"], cfg["coef"] + 1)),
                int(rng.integers(-cfg["coef"], cfg["coef"] + 1)),
            )
            disc = b * b - 4 * c
            if disc > 0 and int(disc**0.5) ** 2 != disc:
                break
        poly = x**2 + b * x + c
    else:
        r, s = (int(rng.integers(-cfg["root"], cfg["root"] + 1)) for _ in range(2))
        lead = 1 if level == "easy" else int(rng.integers(1, 4))
        poly = sp.expand(lead * (x - r) * (x - s))
    roots = sorted(set(sp.solve(sp.Eq(poly, 0), x)), key=lambda v: float(v))
    problem = f"Find all real solutions of ${sp.latex(poly)} = 0$. Separate several solutions with commas."
    return problem, ", ".join(sp.latex(v) for v in roots), {}


def _system(rng: np.random.Generator, cfg: dict[str, int], level: str) -> tuple[str, str, dict[str, Any]]:
    sp = _sympy()
    x, y = sp.symbols("x y")
    x0, y0 = (int(rng.integers(-cfg["root"], cfg["root"] + 1)) for _ in range(2))
    while True:
        a1, b1, a2, b2 = (_nonzero(rng, cfg["coef"]) for _ in range(4))
        if a1 * b2 - a2 * b1 != 0:
            break
    e1, e2 = a1 * x + b1 * y, a2 * x + b2 * y
    problem = (
        f"Solve the system ${sp.latex(e1)} = {a1 * x0 + b1 * y0}$ and ${sp.latex(e2)} = {a2 * x0 + b2 * y0}$. "
        "Give your answer as an ordered pair $(x, y)$."
    )
    return problem, f"({x0}, {y0})", {}


def _fractions(rng: np.random.Generator, cfg: dict[str, int], level: str) -> tuple[str, str, dict[str, Any]]:
    sp = _sympy()
    n = cfg["terms"]
    parts = [
        Fraction(int(rng.integers(1, cfg["coef"] + 1)), int(rng.integers(2, cfg["coef"] + 3)))
        for _ in range(n)
    ]
    ops = [str(rng.choice(["+", "-", "\\cdot"] if level != "easy" else ["+", "-"])) for _ in range(n - 1)]
    total = sp.Rational(parts[0].numerator, parts[0].denominator)
    text = f"\\frac{{{parts[0].numerator}}}{{{parts[0].denominator}}}"
    terms = [total]
    for op, q in zip(ops, parts[1:], strict=True):
        r = sp.Rational(q.numerator, q.denominator)
        text += f" {op} \\frac{{{q.numerator}}}{{{q.denominator}}}"
        if op == "\\cdot":
            terms[-1] = terms[-1] * r
        else:
            terms.append(r if op == "+" else -r)
    value = sp.Add(*terms)
    problem = f"Compute ${text}$. Give your answer as a fraction in lowest terms."
    return problem, sp.latex(value), {}


def _binomials(rng: np.random.Generator, cfg: dict[str, int], count: int) -> Any:
    sp = _sympy()
    x = sp.Symbol("x")
    product = sp.Integer(1)
    for _ in range(count):
        product *= int(rng.integers(1, 4)) * x + int(rng.integers(-cfg["root"], cfg["root"] + 1))
    return product


def _expand(rng: np.random.Generator, cfg: dict[str, int], level: str) -> tuple[str, str, dict[str, Any]]:
    sp = _sympy()
    product = _binomials(rng, cfg, 2 if level != "hard" else 3)
    problem = f"Expand ${sp.latex(product)}$. Write the result as a polynomial without parentheses."
    return problem, sp.latex(sp.expand(product)), {"form": "expanded"}


def _factor(rng: np.random.Generator, cfg: dict[str, int], level: str) -> tuple[str, str, dict[str, Any]]:
    sp = _sympy()
    x = sp.Symbol("x")
    while True:
        roots = [int(rng.integers(-cfg["root"], cfg["root"] + 1)) for _ in range(2 if level != "hard" else 3)]
        if any(roots):
            break
    poly = sp.expand(sp.Mul(*[(x - r) for r in roots]))
    problem = f"Factor ${sp.latex(poly)}$ completely over the integers."
    return problem, sp.latex(sp.factor(poly)), {"form": "factored"}


def _derivative(rng: np.random.Generator, cfg: dict[str, int], level: str) -> tuple[str, str, dict[str, Any]]:
    sp = _sympy()
    x = sp.Symbol("x")
    k = int(rng.integers(2, 5 if level == "easy" else 7))
    c = _nonzero(rng, cfg["coef"])
    pieces: list[Any] = [
        c * x**k,
        x**k * sp.sin(x),
        sp.exp(c * x) * x,
        x**2 * sp.log(x),
        (x**2 + 1) ** k,
        sp.cos(c * x) / x,
    ]
    choices = pieces[:2] if level == "easy" else pieces
    f = choices[int(rng.integers(len(choices)))]
    if level == "hard":
        f = f + pieces[int(rng.integers(len(pieces)))]
    problem = f"Find the derivative of $f(x) = {sp.latex(f)}$ with respect to $x$."
    return problem, sp.latex(sp.diff(f, x)), {}


def _integral(rng: np.random.Generator, cfg: dict[str, int], level: str) -> tuple[str, str, dict[str, Any]]:
    sp = _sympy()
    x = sp.Symbol("x")
    degree = cfg["terms"]
    poly = sum(
        (int(rng.integers(-cfg["coef"], cfg["coef"] + 1)) * x**p for p in range(degree + 1)), sp.Integer(0)
    )
    if poly == 0:
        poly = x + 1
    lo = int(rng.integers(-3, 2))
    hi = lo + int(rng.integers(1, 4))
    problem = f"Compute $\\int_{{{lo}}}^{{{hi}}} \\left({sp.latex(poly)}\\right) \\, dx$."
    return problem, sp.latex(sp.integrate(poly, (x, lo, hi))), {}


def _modular(rng: np.random.Generator, cfg: dict[str, int], level: str) -> tuple[str, str, dict[str, Any]]:
    sp = _sympy()
    base = int(rng.integers(2, 10 * cfg["coef"]))
    exponent = int(rng.integers(10, 10 ** (2 + cfg["terms"])))
    modulus = (
        int(sp.prime(int(rng.integers(4, 10 * cfg["terms"]))))
        if level != "hard"
        else int(rng.integers(50, 1000))
    )
    problem = f"Find the remainder when ${base}^{{{exponent}}}$ is divided by ${modulus}$."
    return problem, str(pow(base, exponent, modulus)), {}


_WORDS = (
    "LEVEL",
    "BANANA",
    "COOKBOOK",
    "SUCCESS",
    "MISSISSIPPI",
    "BOOKKEEPER",
    "ASSESSMENT",
    "PEPPER",
    "COMMITTEE",
)


def _counting(rng: np.random.Generator, cfg: dict[str, int], level: str) -> tuple[str, str, dict[str, Any]]:
    sp = _sympy()
    kind = int(rng.integers(3))
    if kind == 0:
        n = int(rng.integers(5, 5 + 2 * cfg["coef"]))
        k = int(rng.integers(2, min(n, 2 + cfg["terms"] * 2)))
        return f"In how many ways can a group of {k} be chosen from {n} people?", str(sp.binomial(n, k)), {}
    if kind == 1:
        n = int(rng.integers(4, 4 + cfg["coef"]))
        k = int(rng.integers(2, min(n, 2 + cfg["terms"])))
        return (
            f"In how many ways can {k} different prizes be given to {k} of {n} people, at most one prize each?",
            str(sp.ff(n, k)),
            {},
        )
    word = _WORDS[int(rng.integers(len(_WORDS) if level != "easy" else 3))]
    counts = [word.count(ch) for ch in sorted(set(word))]
    value = sp.factorial(len(word)) / sp.Mul(*[sp.factorial(c) for c in counts])
    return f"How many distinct arrangements of the letters of the word {word} are there?", str(value), {}


Generator = Callable[[np.random.Generator, dict[str, int], str], tuple[str, str, dict[str, Any]]]
FAMILIES: dict[str, Generator] = {
    "linear": _linear,
    "quadratic": _quadratic,
    "system": _system,
    "fractions": _fractions,
    "expand": _expand,
    "factor": _factor,
    "derivative": _derivative,
    "integral": _integral,
    "modular": _modular,
    "counting": _counting,
}
"""Problem families: name -> generator of (problem, LaTeX answer, extra meta)."""

_LEFT_RIGHT = re.compile(r"\\(?:left|right)\s*[()]|\\[()]")


@dataclass(frozen=True, slots=True)
class FormCheckedVerifier:
    """`MathVerifier`, and for ``task.meta["form"]``: ``expanded`` answers may not contain
    parentheses, ``factored`` answers must contain a parenthesised factor."""

    inner: MathVerifier = field(default_factory=MathVerifier)

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        verdict = self.inner(completion, task)
        form = task.meta.get("form")
        if verdict.status is not Status.CORRECT or form is None or verdict.extracted is None:
            return verdict
        text = _LEFT_RIGHT.sub(lambda m: "(" if "(" in m.group(0) else ")", verdict.extracted)
        if form == "expanded" and "(" in text:
            return Verdict(
                Status.INCORRECT, 0.0, verdict.extracted, "equivalent but not expanded", verdict.details
            )
        if form == "factored" and "(" not in text:
            return Verdict(
                Status.INCORRECT, 0.0, verdict.extracted, "equivalent but not factored", verdict.details
            )
        return verdict


class MathGenEnv(SingleTurnEnv):
    """Procedural math problems with sympy-computed answers (see `FAMILIES`, `LEVELS`).

    Args:
        level: ``"easy"``, ``"medium"`` or ``"hard"``.
        families: Names from `FAMILIES` to draw from (default: all).
        template: Prompt template (see `assay.envs.math.prompts`).
        **kwargs: Passed to `SingleTurnEnv` (``verifier``, ``rubric``, ``system_prompt``...).
    """

    def __init__(
        self,
        level: str = "medium",
        *,
        families: Sequence[str] | None = None,
        template: str = "boxed",
        **kwargs: Any,
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {sorted(LEVELS)}, got {level!r}")
        names = list(FAMILIES) if families is None else list(families)
        unknown = sorted(set(names) - set(FAMILIES))
        if unknown or not names:
            raise ValueError(f"unknown families {unknown}; choose from {sorted(FAMILIES)}")
        render(template, "")
        self.level, self.families, self.template = level, tuple(names), template
        kwargs["system_prompt"] = system_prompt_for(template, kwargs.get("system_prompt"))
        kwargs.setdefault("verifier", FormCheckedVerifier())
        super().__init__(**kwargs)
        key = f"{level}|{','.join(self.families)}".encode()
        self._salt = int.from_bytes(hashlib.sha256(key).digest()[:4], "little")
        tag = "all" if families is None else "+".join(self.families)
        self._prefix = f"mathgen/{level}/{tag}"

    def task_at(self, index: int) -> Task:
        rng = np.random.default_rng(np.random.SeedSequence([self._salt, index]))
        family = self.families[int(rng.integers(len(self.families)))]
        problem, answer, extra = FAMILIES[family](rng, LEVELS[self.level], self.level)
        return Task(
            id=f"{self._prefix}/{index}",
            prompt=render(self.template, problem),
            answer=answer,
            meta={"family": family, "level": self.level, **extra},
        )

    def gold(self, task: Task) -> str:
        return f"The answer is $\\boxed{{{task.answer}}}$."
