"""Sequence tasks: sort a list of numbers, or continue an integer sequence of a stated kind.

``assay/Sequence-v0``. Two kinds (``kinds`` knob):

- ``sort``: sort ``length`` integers ascending or descending. One right answer.
- ``pattern``: the prompt states the rule's *kind* and shows enough terms to fix it, so the
  continuation is unique: a polynomial in the index of degree at most ``degree`` (``degree + 2``
  or more terms shown: ``degree + 1`` values determine such a polynomial), or a recurrence
  ``a(n) = p*a(n-1) + q*a(n-2)`` with integer p, q (at least four terms shown and the two
  equations for p and q independent, so p and q are determined).

Answer: the numbers, comma-separated, e.g. ``1, 4, 9``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from assay.envs.logic.puzzle import Puzzle, PuzzleEnv
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["KINDS", "SequenceEnv"]

KINDS = ("sort", "pattern")

SORT_PROMPT = (
    "Sort these numbers in {order} order: {numbers}.\n"
    "Put your final answer inside <answer></answer> tags as a comma-separated list, "
    "e.g. <answer>{example}</answer>."
)
POLY_PROMPT = (
    "The n-th term of this sequence (n = 1, 2, 3, ...) is a polynomial in n of degree at most "
    "{degree} with integer coefficients: {terms}, ...\nGive the next {ask} term(s). Put your "
    "final answer inside <answer></answer> tags as a comma-separated list, e.g. <answer>{example}</answer>."
)
REC_PROMPT = (
    "Each term of this sequence from the third on is p times the previous term plus q times the "
    "one before it, for some fixed integers p and q: {terms}, ...\nGive the next {ask} term(s). "
    "Put your final answer inside <answer></answer> tags as a comma-separated list, e.g. "
    "<answer>{example}</answer>."
)

_INT = re.compile(r"[-−]?\d+")


class SequenceEnv(PuzzleEnv):
    """Sort numbers or continue a sequence whose rule kind is stated (a unique answer).

    Args:
        level: ``easy`` (5 numbers, degree 1), ``medium`` (8, degree 2), ``hard`` (12, degree 3).
        kinds: Task kinds to draw from, a subset of `KINDS`.
        length: Numbers to sort.
        max_value: Sorted numbers lie in ``[-max_value, max_value]``.
        degree: Largest polynomial degree of a pattern.
        ask: Terms to continue a pattern by.
        **kwargs: See `PuzzleEnv`.
    """

    family = "sequence"
    LEVELS = {  # noqa: RUF012 - read-only table
        "easy": {"kinds": KINDS, "length": 5, "max_value": 20, "degree": 1, "ask": 1},
        "medium": {"kinds": KINDS, "length": 8, "max_value": 100, "degree": 2, "ask": 2},
        "hard": {"kinds": KINDS, "length": 12, "max_value": 1000, "degree": 3, "ask": 3},
    }

    def __init__(
        self,
        level: str | None = None,
        *,
        kinds: Sequence[str] | None = None,
        length: int | None = None,
        max_value: int | None = None,
        degree: int | None = None,
        ask: int | None = None,
        **kwargs: Any,
    ) -> None:
        knobs = {
            "kinds": tuple(kinds) if kinds else None,
            "length": length,
            "max_value": max_value,
            "degree": degree,
            "ask": ask,
        }
        super().__init__(level, knobs=knobs, **kwargs)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        self.kinds = tuple(cfg["kinds"])
        self.length, self.max_value = int(cfg["length"]), int(cfg["max_value"])
        self.degree, self.ask = int(cfg["degree"]), int(cfg["ask"])
        if not self.kinds or set(self.kinds) - set(KINDS):
            raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {self.kinds}")
        if not 2 <= self.length <= 200:
            raise ValueError(f"length must be in 2..200, got {self.length}")
        if not 1 <= self.max_value <= 10**9:
            raise ValueError(f"max_value must be in 1..1e9, got {self.max_value}")
        if not 1 <= self.degree <= 5 or not 1 <= self.ask <= 5:
            raise ValueError("degree and ask must be in 1..5")

    def generate(self, rng: np.random.Generator) -> Puzzle:
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        if kind == "sort":
            return self._sort(rng)
        if rng.random() < 0.5:
            return self._polynomial(rng)
        return self._recurrence(rng)

    def _sort(self, rng: np.random.Generator) -> Puzzle:
        numbers = rng.integers(-self.max_value, self.max_value + 1, size=self.length).tolist()
        descending = bool(rng.random() < 0.5)
        result = sorted(numbers, reverse=descending)
        prompt = SORT_PROMPT.format(
            order="descending" if descending else "ascending",
            numbers=", ".join(map(str, numbers)),
            example="3, 2, 1" if descending else "1, 2, 3",
        )
        return Puzzle(prompt, ", ".join(map(str, result)), {"kind": "sort", "expected": result})

    def _polynomial(self, rng: np.random.Generator) -> Puzzle:
        d = self.degree
        coeffs = rng.integers(-5, 6, size=d + 1).tolist()
        if coeffs[d] == 0:
            coeffs[d] = 1 + int(rng.integers(5))  # the stated degree is the real degree
        shown = d + 3
        terms = [sum(c * n**i for i, c in enumerate(coeffs)) for n in range(1, shown + self.ask + 1)]
        return self._pattern(POLY_PROMPT, terms[:shown], terms[shown:], {"degree": d})

    def _recurrence(self, rng: np.random.Generator) -> Puzzle:
        while True:
            p, q = (int(x) for x in rng.integers(-3, 4, size=2))
            a1, a2 = (int(x) for x in rng.integers(-9, 10, size=2))
            terms = [a1, a2]
            while len(terms) < 5 + self.ask:
                terms.append(p * terms[-1] + q * terms[-2])
            if terms[1] * terms[1] - terms[2] * terms[0] != 0 and q != 0:  # p and q are determined
                break
        return self._pattern(REC_PROMPT, terms[:5], terms[5:], {})

    def _pattern(self, template: str, shown: list[int], rest: list[int], extra: dict[str, Any]) -> Puzzle:
        example = ", ".join(str(x) for x in range(1, self.ask + 1))
        prompt = template.format(terms=", ".join(map(str, shown)), ask=self.ask, example=example, **extra)
        return Puzzle(prompt, ", ".join(map(str, rest)), {"kind": "pattern", "expected": rest})

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        expected: list[int] = list(task.meta["expected"])
        raw = _INT.findall(answer)
        if len(raw) != len(expected) or any(len(x) > 60 for x in raw):
            return Verdict(Status.NO_ANSWER, reason=f"expected {len(expected)} numbers")
        found = [int(x.replace("−", "-")) for x in raw]
        if found == expected:
            return Verdict(Status.CORRECT, 1.0, reason="the right numbers in the right order")
        if task.meta["kind"] == "sort" and sorted(found) != sorted(expected):
            return Verdict(Status.INCORRECT, reason="not a permutation of the given numbers")
        return Verdict(Status.INCORRECT, reason="wrong numbers or order")
