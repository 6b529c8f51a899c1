"""Reward functions and their composition into a `Rubric`.

A `RewardFn` maps ``(completion, task, verdict)`` to a float, or to ``None`` when the term does
not apply (a "not applicable" is recorded as such, never silently turned into a zero). A
`Rubric` is a set of named, weighted `Term`s; calling it returns a `Reward`: the total and the
per-term breakdown, which always travel together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from assay.verifiers.base import Status, Task, Verdict

__all__ = ["CORRECTNESS", "Reward", "RewardFn", "Rubric", "Term", "correct"]

RewardFn = Callable[[str, Task, Verdict], float | None]
"""``(completion, task, verdict) -> value``; ``None`` means "not applicable"."""


def correct(completion: str, task: Task, verdict: Verdict) -> float:
    """The verdict's score when it is `Status.CORRECT`, else 0. Range ``[0, 1]``."""
    return verdict.score if verdict.status is Status.CORRECT else 0.0


@dataclass(frozen=True, slots=True)
class Term:
    """One named reward term.

    Attributes:
        name: Key of this term in the breakdown.
        fn: The reward function.
        weight: Multiplies the term's value in the total (may be negative for penalties).
        low: Smallest value ``fn`` returns (declared, and enforced by clipping).
        high: Largest value ``fn`` returns.
    """

    name: str
    fn: RewardFn
    weight: float = 1.0
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("Term.name must be non-empty")
        if not self.low <= self.high:
            raise ValueError(f"Term {self.name!r}: low={self.low} > high={self.high}")


class Reward(NamedTuple):
    """A rubric's output: ``total`` and the unweighted value of each term (None: not applicable)."""

    total: float
    terms: dict[str, float | None]


class Rubric:
    """Named, weighted reward terms. ``rubric(completion, task, verdict) -> Reward``.

    The total is ``sum(weight * value)`` over the terms that apply. Each value is clipped to the
    term's declared ``[low, high]``, so `bounds` is a guarantee, not a hope.
    """

    __slots__ = ("terms",)

    def __init__(self, terms: Iterable[Term] | Mapping[str, tuple[float, RewardFn]]) -> None:
        if isinstance(terms, Mapping):
            terms = [Term(name, fn, weight) for name, (weight, fn) in terms.items()]
        self.terms: tuple[Term, ...] = tuple(terms)
        names = [t.name for t in self.terms]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate term names in {names}")
        if not self.terms:
            raise ValueError("a Rubric needs at least one term")

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> Reward:
        parts: dict[str, float | None] = {}
        total = 0.0
        for term in self.terms:
            value = term.fn(completion, task, verdict)
            if value is None:
                parts[term.name] = None
                continue
            value = min(max(float(value), term.low), term.high)
            parts[term.name] = value
            total += term.weight * value
        return Reward(total, parts)

    @property
    def bounds(self) -> tuple[float, float]:
        """The smallest and largest total this rubric can return."""
        lo = hi = 0.0
        for t in self.terms:
            a, b = t.weight * t.low, t.weight * t.high
            lo += min(a, b, 0.0)  # a term may be not applicable: contributes 0
            hi += max(a, b, 0.0)
        return lo, hi

    def __repr__(self) -> str:
        inner = ", ".join(f"{t.name}={t.weight:g}" for t in self.terms)
        return f"Rubric({inner})"


CORRECTNESS = Rubric([Term("correct", correct)])
"""The default: 1.0 for a correct verdict (or its partial score), 0.0 otherwise."""
