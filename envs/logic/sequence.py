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

from assay.envs.logic.puzzle import Draws, Puzzle, PuzzleEnv
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
    "{degree} with integer coefficients: {{terms}}, ...\nGive the next {ask} term(s). Put your "
    "final answer inside <answer></answer> tags as a comma-separated list, e.g. <answer>{example}</answer>."
)
REC_PROMPT = (
    "Each term of this sequence from the third on is p times the previous term plus q times the "
    "one before it, for some fixed integers p and q: {{terms}}, ...\nGive the next {ask} term(s). "
    "Put your final answer inside <answer></answer> tags as a comma-separated list, e.g. "
    "<answer>{example}</answer>."
)

_INT = re.compile(r"[-−]?\d+")


def _split(prompt: str) -> tuple[str, str]:
    before, _, after = prompt.partition("{terms}")
    return before, after


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
        example = ", ".join(str(x) for x in range(1, self.ask + 1))
        # each pattern prompt as the text before and after its terms
        self._poly_prompt = _split(POLY_PROMPT.format(degree=self.degree, ask=self.ask, example=example))
        self._rec_prompt = _split(REC_PROMPT.format(ask=self.ask, example=example))

    def generate(self, rng: np.random.Generator) -> Puzzle:
        draws = Draws(rng)
        kind = self.kinds[draws.below(len(self.kinds))]
        if kind == "sort":
            return self._sort(draws)
        if draws.uniform() < 0.5:
            return self._polynomial(draws)
        return self._recurrence(draws)

    def _sort(self, draws: Draws) -> Puzzle:
        low, span = -self.max_value, 2 * self.max_value + 1
        numbers = [low + int(x * span) for x in draws.take(self.length)]
        descending = draws.uniform() < 0.5
        result = sorted(numbers, reverse=descending)
        prompt = SORT_PROMPT.format(
            order="descending" if descending else "ascending",
            numbers=", ".join(map(str, numbers)),
            example="3, 2, 1" if descending else "1, 2, 3",
        )
        return Puzzle(prompt, ", ".join(map(str, result)), {"kind": "sort", "expected": result})

    def _polynomial(self, draws: Draws) -> Puzzle:
        d = self.degree
        coeffs = [int(x * 11) - 5 for x in draws.take(d + 1)]  # in [-5, 5]
        if coeffs[d] == 0:
            coeffs[d] = draws.between(1, 5)  # the stated degree is the real degree
        terms = []
        for n in range(1, d + 4 + self.ask):  # d + 3 shown, then ask more
            value = 0
            for c in reversed(coeffs):
                value = value * n + c
            terms.append(value)
        return self._pattern(self._poly_prompt, terms, d + 3)

    def _recurrence(self, draws: Draws) -> Puzzle:
        while True:
            p, q = draws.between(-3, 3), draws.between(-3, 3)
            a1, a2 = draws.between(-9, 9), draws.between(-9, 9)
            terms = [a1, a2]
            while len(terms) < 5 + self.ask:
                terms.append(p * terms[-1] + q * terms[-2])
            if terms[1] * terms[1] - terms[2] * terms[0] != 0 and q != 0:  # p and q are determined
                break
        return self._pattern(self._rec_prompt, terms, 5)

    def _pattern(self, prompt: tuple[str, str], terms: list[int], shown: int) -> Puzzle:
        rest = terms[shown:]
        text = prompt[0] + ", ".join(map(str, terms[:shown])) + prompt[1]
        return Puzzle(text, ", ".join(map(str, rest)), {"kind": "pattern", "expected": rest})

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
