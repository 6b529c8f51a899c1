"""Length terms: a target range, and DAPO's soft overlong penalty.

Length ``L`` is counted in ``unit``: ``"chars"`` (``len(text)``, the default: free), ``"words"``
(see `assay.rewards.textstats`), or any ``Callable[[str], int]`` (e.g. a tokenizer's
``lambda s: len(tok(s).input_ids)`` for tokens).

- ``length_in_range(low, high, slack)``: 1 when ``low <= L <= high``; below, ``L / low`` (a
  linear ramp from 0 at an empty response); above, ``max(0, 1 - (L - high) / slack)`` (0 once
  ``slack`` past the range; ``slack`` defaults to ``high``). Range ``[0, 1]``.
- ``overlong_penalty(max_length, cache)``: DAPO (Yu et al. 2025, eq. 13), with
  ``L_max = max_length`` and ``L_cache = cache``: 0 when ``L <= L_max - L_cache``;
  ``((L_max - L_cache) - L) / L_cache`` when ``L_max - L_cache < L <= L_max``; -1 beyond
  ``L_max``. Range ``[-1, 0]``: add it with a positive weight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from assay.rewards.base import Term
from assay.rewards.textstats import text_stats
from assay.verifiers.base import Task, Verdict

__all__ = ["length_in_range", "measure", "overlong_penalty"]

Unit = Literal["chars", "words"] | Callable[[str], int]


def _words(text: str) -> int:
    return text_stats(text, 3).words


def measure(unit: Unit) -> Callable[[str], int]:
    """The length function for ``unit``."""
    if unit == "chars":
        return len
    if unit == "words":
        return _words
    if callable(unit):
        return unit
    raise ValueError(f"unit must be 'chars', 'words' or a callable, got {unit!r}")


class _InRange:
    def __init__(self, low: int, high: int, slack: float, count: Callable[[str], int]) -> None:
        self.low, self.high, self.slack, self.count = low, high, slack, count

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> float:
        n = self.count(completion)
        if n < self.low:
            return n / self.low
        if n <= self.high:
            return 1.0
        return max(0.0, 1.0 - (n - self.high) / self.slack)


class _Overlong:
    def __init__(self, max_length: int, cache: int, count: Callable[[str], int]) -> None:
        self.max_length, self.cache, self.count = max_length, cache, count

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> float:
        n = self.count(completion)
        safe = self.max_length - self.cache
        if n <= safe:
            return 0.0
        if n <= self.max_length:
            return (safe - n) / self.cache
        return -1.0


def length_in_range(
    low: int,
    high: int,
    *,
    slack: float | None = None,
    unit: Unit = "chars",
    name: str = "length",
    weight: float = 1.0,
) -> Term:
    """1 inside ``[low, high]``, ramps to 0 outside (see the module docstring)."""
    if not 0 <= low <= high:
        raise ValueError(f"need 0 <= low <= high, got {low}, {high}")
    width = float(high if slack is None else slack)
    if width <= 0:
        raise ValueError(f"slack must be > 0, got {width}")
    count = measure(unit)
    return Term(name, _InRange(low, high, width, count), weight, 0.0, 1.0)


def overlong_penalty(
    max_length: int, cache: int, *, unit: Unit = "chars", name: str = "overlong", weight: float = 1.0
) -> Term:
    """DAPO's soft overlong punishment, in ``[-1, 0]`` (see the module docstring)."""
    if not 0 < cache <= max_length:
        raise ValueError(f"need 0 < cache <= max_length, got cache={cache}, max_length={max_length}")
    return Term(name, _Overlong(max_length, cache, measure(unit)), weight, -1.0, 0.0)
