"""Combinators: build one `Term` out of others, with a declared range and a visible breakdown.

Inside a combinator each input contributes ``weight * value`` (its own weight, its value clipped
to its own range), so a term means the same thing inside a product as inside a `Rubric`. The
result is a new `Term` (weight 1 unless given) whose ``[low, high]`` is computed from the
inputs' ranges, so the bounds of any rubric built from it still hold. Its details hold every
input's value under ``"parts"`` (and their own details under ``"details"``).

"Not applicable" inputs (None) are skipped, never read as zero:

- `weighted_sum`, `product`, `minimum`, `maximum`: over the inputs that apply; None when none
  does. (A skipped factor of a product acts as 1.)
- `gate`: the value passes when the gate applies and reaches its threshold, or when the gate
  does not apply; otherwise it is replaced by ``otherwise``.
- `clip`, `scale`: None stays None.

Each combinator has a batch form, so a judge inside a product still scores a batch at once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from assay.rewards.base import Scored, Term
from assay.verifiers.base import Task, Verdict

__all__ = ["clip", "gate", "maximum", "minimum", "product", "scale", "weighted_sum"]

_Result = tuple[float | None, Mapping[str, Any]]


class _Composite:
    """Evaluates its input terms (singly or as a batch) and folds their contributions."""

    def __init__(self, terms: Sequence[Term], fold: Callable[[list[float | None]], float | None]) -> None:
        self.terms = tuple(terms)
        self.fold = fold

    def _scored(self, results: Sequence[_Result]) -> Scored:
        contributions = [
            None if value is None else term.weight * value
            for term, (value, _) in zip(self.terms, results, strict=True)
        ]
        info: dict[str, Any] = {
            "parts": {t.name: value for t, (value, _) in zip(self.terms, results, strict=True)}
        }
        nested = {t.name: d for t, (_, d) in zip(self.terms, results, strict=True) if d}
        if nested:
            info["details"] = nested
        return Scored(self.fold(contributions), info)

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> Scored:
        return self._scored([t.evaluate(completion, task, verdict) for t in self.terms])

    def batch(
        self, completions: Sequence[str], tasks: Sequence[Task], verdicts: Sequence[Verdict]
    ) -> list[Scored]:
        columns = [t.evaluate_batch(completions, tasks, verdicts) for t in self.terms]
        return [self._scored([col[i] for col in columns]) for i in range(len(completions))]


def _unique_names(terms: Sequence[Term]) -> None:
    if not terms:
        raise ValueError("a combinator needs at least one term")
    names = [t.name for t in terms]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate term names in {names}")


def _over_applicable(reduce: Callable[[list[float]], float]) -> Callable[[list[float | None]], float | None]:
    """A fold that applies ``reduce`` to the values that are not None; None when all are None."""

    def fold(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return reduce(present) if present else None

    return fold


def weighted_sum(*terms: Term, name: str = "sum", weight: float = 1.0) -> Term:
    """``sum(w_i * v_i)`` over the inputs that apply. Range: the sum of the inputs' spans."""
    _unique_names(terms)
    lo = sum(min(t.span[0], 0.0) for t in terms)
    hi = sum(max(t.span[1], 0.0) for t in terms)
    return Term(name, _Composite(terms, _over_applicable(math.fsum)), weight, lo, hi)


def product(*terms: Term, name: str | None = None, weight: float = 1.0) -> Term:
    """``prod(w_i * v_i)`` over the inputs that apply (e.g. ``correct * formatted``).

    Range: interval arithmetic over the inputs' spans, each widened to include 1 (a skipped
    input).
    """
    _unique_names(terms)
    corners = [(min(t.span[0], 1.0), max(t.span[1], 1.0)) for t in terms]
    products = [math.prod(c) for c in itertools.product(*corners)] if len(terms) <= 12 else None
    if products is None:  # 2**n corners is too many: a looser bound
        m = math.prod(max(abs(a), abs(b)) for a, b in corners)
        lo, hi = -m, m
    else:
        lo, hi = min(products), max(products)
    fold = _over_applicable(math.prod)
    return Term(name or "*".join(t.name for t in terms), _Composite(terms, fold), weight, lo, hi)


def minimum(*terms: Term, name: str | None = None, weight: float = 1.0) -> Term:
    """``min(w_i * v_i)`` over the inputs that apply. Range: ``[min lows, max highs]`` of the spans."""
    return _extremum(min, "min", terms, name, weight)


def maximum(*terms: Term, name: str | None = None, weight: float = 1.0) -> Term:
    """``max(w_i * v_i)`` over the inputs that apply. Range: ``[min lows, max highs]`` of the spans."""
    return _extremum(max, "max", terms, name, weight)


def _extremum(
    pick: Callable[[list[float]], float], label: str, terms: Sequence[Term], name: str | None, weight: float
) -> Term:
    _unique_names(terms)
    lo = min(t.span[0] for t in terms)
    hi = max(t.span[1] for t in terms)
    default = f"{label}({','.join(t.name for t in terms)})"
    return Term(name or default, _Composite(terms, _over_applicable(pick)), weight, lo, hi)


def gate(
    term: Term,
    when: Term,
    *,
    threshold: float | None = None,
    otherwise: float = 0.0,
    name: str | None = None,
    weight: float = 1.0,
) -> Term:
    """``term`` counts only when ``when`` holds: e.g. correctness only when the format is right.

    Value: ``w * v`` of ``term`` if ``when`` does not apply or ``w' * v' >= threshold`` for the
    gate (default threshold: the gate's largest contribution, i.e. fully satisfied); else
    ``otherwise``. A not-applicable ``term`` stays None. Range: the term's span widened to
    include ``otherwise``.
    """
    _unique_names([term, when])
    if not math.isfinite(otherwise):
        raise ValueError(f"otherwise must be finite, got {otherwise}")
    bar = when.span[1] if threshold is None else float(threshold)

    def fold(values: list[float | None]) -> float | None:
        value, held = values
        if value is None:
            return None
        if held is None or held >= bar - 1e-12:
            return value
        return otherwise

    lo, hi = term.span
    return Term(
        name or f"{term.name}_if_{when.name}",
        _Composite([term, when], fold),
        weight,
        min(lo, otherwise),
        max(hi, otherwise),
    )


def clip(term: Term, low: float, high: float, *, name: str | None = None) -> Term:
    """``w * v`` clipped to ``[low, high]`` (intersected with the term's own span)."""
    if not low <= high:
        raise ValueError(f"clip: low={low} > high={high}")
    lo, hi = max(term.span[0], low), min(term.span[1], high)
    if lo > hi:  # the ranges do not overlap: the clip pins every value to one end
        lo = hi = low if term.span[1] < low else high

    def fold(values: list[float | None]) -> float | None:
        (v,) = values
        return None if v is None else min(max(v, lo), hi)

    return Term(name or term.name, _Composite([term], fold), 1.0, lo, hi)


def scale(term: Term, factor: float, offset: float = 0.0, *, name: str | None = None) -> Term:
    """``factor * (w * v) + offset`` (e.g. map a ``[0, 1]`` score to ``[-1, 1]`` with 2, -1)."""
    if not (math.isfinite(factor) and math.isfinite(offset)):
        raise ValueError("scale: factor and offset must be finite")
    a, b = (factor * x + offset for x in term.span)

    def fold(values: list[float | None]) -> float | None:
        (v,) = values
        return None if v is None else factor * v + offset

    return Term(name or term.name, _Composite([term], fold), 1.0, min(a, b), max(a, b))
