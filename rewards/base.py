"""Reward functions and their composition into a `Rubric`.

A `RewardFn` maps ``(completion, task, verdict)`` to a float, or to ``None`` when the term does
not apply (a "not applicable" is recorded as such, never silently turned into a zero). It may
also return a `Scored`: the value plus details (a judge's critique, the parts of a product, the
score of each step) that travel in the breakdown. A `Rubric` is a set of named, weighted
`Term`s; calling it returns a `Reward`: the total, the per-term values and the per-term details,
which always travel together.

Every term declares its range ``[low, high]`` and its value is clipped to it, so a rubric's
`bounds` are a guarantee. A term whose function raises, or returns NaN, is not applicable (None)
and says why in its details: a broken reward is not a zero reward.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, runtime_checkable

from assay.verifiers.base import Status, Task, Verdict

__all__ = [
    "CORRECTNESS",
    "BatchRewardFn",
    "Reward",
    "RewardFn",
    "Rubric",
    "Scored",
    "Term",
    "correct",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Scored:
    """A term's value with the details that explain it (kept in `Reward.details`)."""

    value: float | None
    details: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


RewardFn = Callable[[str, Task, Verdict], "float | Scored | None"]
"""``(completion, task, verdict) -> value``; ``None`` means "not applicable"."""


@runtime_checkable
class BatchRewardFn(Protocol):
    """A `RewardFn` that can also score many completions at once (a judge batches its requests).

    `Rubric.batch` uses ``batch`` when a term's function has it; results are in input order.
    """

    def __call__(self, completion: str, task: Task, verdict: Verdict, /) -> float | Scored | None: ...

    def batch(
        self, completions: Sequence[str], tasks: Sequence[Task], verdicts: Sequence[Verdict], /
    ) -> Sequence[float | Scored | None]: ...


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
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("Term.name must be a non-empty str")
        for attr in ("weight", "low", "high"):
            if not math.isfinite(getattr(self, attr)):
                raise ValueError(f"Term {self.name!r}: {attr} must be finite, got {getattr(self, attr)}")
        if not self.low <= self.high:
            raise ValueError(f"Term {self.name!r}: low={self.low} > high={self.high}")

    @property
    def span(self) -> tuple[float, float]:
        """The range of ``weight * value`` when the term applies."""
        a, b = self.weight * self.low, self.weight * self.high
        return (min(a, b), max(a, b))

    def weighted(self, weight: float) -> Term:
        """A copy with another weight."""
        return dataclasses.replace(self, weight=float(weight))

    def renamed(self, name: str) -> Term:
        """A copy with another name."""
        return dataclasses.replace(self, name=name)

    def evaluate(
        self, completion: str, task: Task, verdict: Verdict
    ) -> tuple[float | None, Mapping[str, Any]]:
        """The clipped (unweighted) value, or None, and the details."""
        try:
            out = self.fn(completion, task, verdict)
        except Exception as e:  # noqa: BLE001 - a broken term is not applicable, not a crash
            return None, {"error": f"{type(e).__name__}: {e}"}
        if out.__class__ is float and out == out:  # the common case, inlined (not NaN)
            return (self.low if out < self.low else self.high if out > self.high else out), _EMPTY
        return self._settle(out)

    def evaluate_batch(
        self, completions: Sequence[str], tasks: Sequence[Task], verdicts: Sequence[Verdict]
    ) -> list[tuple[float | None, Mapping[str, Any]]]:
        """`evaluate` over a batch (one call to ``fn.batch`` when the function has it)."""
        if not isinstance(self.fn, BatchRewardFn):
            return [self.evaluate(c, t, v) for c, t, v in zip(completions, tasks, verdicts, strict=True)]
        try:
            outs = list(self.fn.batch(completions, tasks, verdicts))
            if len(outs) != len(completions):
                raise ValueError(f"batch returned {len(outs)} values for {len(completions)} completions")
        except Exception as e:  # noqa: BLE001 - as in evaluate
            return [(None, {"error": f"{type(e).__name__}: {e}"})] * len(completions)
        return [self._settle(out) for out in outs]

    def _settle(self, out: float | Scored | None) -> tuple[float | None, Mapping[str, Any]]:
        details = _EMPTY
        if isinstance(out, Scored):
            details = out.details
            out = out.value
        if out is None:
            return None, details
        value = float(out)
        if math.isnan(value):
            return None, {**details, "error": "returned NaN"}
        return min(max(value, self.low), self.high), details


class Reward(NamedTuple):
    """A rubric's output: ``total`` and the unweighted value of each term (None: not applicable).

    Unpacks as ``total, terms = reward``. `details` (an attribute, not a tuple field) maps a term
    name to the details its function reported (critiques, parts, per-step scores); terms that
    reported none are absent.
    """

    total: float
    terms: dict[str, float | None]

    @property
    def details(self) -> Mapping[str, Mapping[str, Any]]:
        """Per-term details (also reachable as ``terms.details``, so env infos carry them)."""
        found: Mapping[str, Mapping[str, Any]] = getattr(self.terms, "details", _EMPTY)
        return found


class _Terms(dict[str, float | None]):
    """The breakdown: a plain dict of values that also carries the per-term ``details``.

    Equality, JSON and iteration are a dict's; the details ride along into env infos.
    """

    __slots__ = ("details",)
    details: Mapping[str, Mapping[str, Any]]

    def __reduce__(self) -> Any:
        return (_restore_terms, (dict(self), dict(getattr(self, "details", {}))))


def _restore_terms(values: dict[str, float | None], details: dict[str, Any]) -> _Terms:
    terms = _Terms(values)
    terms.details = MappingProxyType(details)
    return terms


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
        for t in self.terms:
            if not isinstance(t, Term):
                raise TypeError(f"Rubric terms must be Term, got {type(t).__name__}")
        names = [t.name for t in self.terms]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate term names in {names}")
        if not self.terms:
            raise ValueError("a Rubric needs at least one term")

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> Reward:
        return self._combine([t.evaluate(completion, task, verdict) for t in self.terms])

    def batch(
        self, completions: Sequence[str], tasks: Sequence[Task], verdicts: Sequence[Verdict]
    ) -> list[Reward]:
        """Score many completions; terms with a batch form (judges) run once over the batch."""
        if not len(completions) == len(tasks) == len(verdicts):
            raise ValueError(f"lengths differ: {len(completions)}, {len(tasks)}, {len(verdicts)}")
        columns = [t.evaluate_batch(completions, tasks, verdicts) for t in self.terms]
        return [self._combine([col[i] for col in columns]) for i in range(len(completions))]

    def _combine(self, results: Sequence[tuple[float | None, Mapping[str, Any]]]) -> Reward:
        parts = _Terms()
        details: dict[str, Mapping[str, Any]] = {}
        total = 0.0
        for term, (value, info) in zip(self.terms, results, strict=True):
            parts[term.name] = value
            if info:
                details[term.name] = info
            if value is not None:
                total += term.weight * value
        parts.details = MappingProxyType(details) if details else _EMPTY
        return Reward(total, parts)

    @property
    def bounds(self) -> tuple[float, float]:
        """The smallest and largest total this rubric can return."""
        lo = hi = 0.0
        for t in self.terms:
            a, b = t.span
            lo += min(a, 0.0)  # a term may be not applicable: contributes 0
            hi += max(b, 0.0)
        return lo, hi

    def as_term(self, name: str, weight: float = 1.0) -> Term:
        """This rubric as one term (its weighted sum) of a larger rubric or combinator.

        The range is `bounds`; the term's details hold this rubric's breakdown.
        """
        lo, hi = self.bounds
        return Term(name, _RubricFn(self), weight, lo, hi)

    def __repr__(self) -> str:
        inner = ", ".join(f"{t.name}={t.weight:g}" for t in self.terms)
        return f"Rubric({inner})"


class _RubricFn:
    """A rubric's total as a `BatchRewardFn`, with the breakdown as details."""

    def __init__(self, rubric: Rubric) -> None:
        self.rubric = rubric

    @staticmethod
    def _scored(reward: Reward) -> Scored:
        info: dict[str, Any] = {"terms": dict(reward.terms)}
        if reward.details:
            info["details"] = dict(reward.details)
        return Scored(reward.total, info)

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> Scored:
        return self._scored(self.rubric(completion, task, verdict))

    def batch(
        self, completions: Sequence[str], tasks: Sequence[Task], verdicts: Sequence[Verdict]
    ) -> list[Scored]:
        return [self._scored(r) for r in self.rubric.batch(completions, tasks, verdicts)]


CORRECTNESS = Rubric([Term("correct", correct)])
"""The default: 1.0 for a correct verdict (or its partial score), 0.0 otherwise."""
