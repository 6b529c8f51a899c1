"""Reasoning heuristics: cheap signals about the shape of a chain of thought.

The reasoning is the body of the ``<think>`` block when there is one, else the whole response.

- ``min_steps(k)``: ``min(1, steps / k)`` where ``steps`` counts the reasoning's steps
  (`assay.rewards.process.split_steps`, ``"auto"`` by default). Range ``[0, 1]``.
- ``verification_step()``: 1 when the reasoning contains a verification (`VERIFY_PATTERNS`:
  "let me check", "verify", "double-check", "sanity check", "plugging back in", "substituting
  back", ...), else 0. Range ``[0, 1]``.

Heuristics, easy to satisfy on purpose: weight them lightly (0.05 to 0.2), ideally gated on
correctness, so that they shape rather than replace the outcome reward.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from assay.rewards.base import Scored, Term
from assay.rewards.process import split_steps
from assay.verifiers.base import Task, Verdict

__all__ = ["VERIFY_PATTERNS", "min_steps", "reasoning_text", "verification_step"]

VERIFY_PATTERNS: Sequence[str] = (
    r"\blet(?:'s| me| us) (?:double[- ])?(?:check|verify|confirm)",
    r"\b(?:double[- ]check|sanity[- ]check|cross[- ]check)",
    r"\bverif(?:y|ying|ied|ication)\b",
    r"\b(?:plugging|substituting|putting) (?:it |this |these |the \w+ )?back",
    r"\bcheck(?:ing)?:",
)
"""Verification phrases (case-insensitive regexes)."""


def reasoning_text(completion: str) -> str:
    """The ``<think>`` block's body when present (the last one), else the whole response."""
    end = completion.rfind("</think>")
    if end >= 0:
        start = completion.rfind("<think>", 0, end)
        if start >= 0:
            return completion[start + len("<think>") : end]
    return completion


class _MinSteps:
    def __init__(self, k: int, mode: Literal["auto", "numbered", "paragraphs", "lines"]) -> None:
        self.k, self.mode = k, mode

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> Scored:
        steps = len(split_steps(reasoning_text(completion), self.mode))
        return Scored(min(1.0, steps / self.k), {"steps": steps})


def min_steps(
    k: int,
    *,
    split: Literal["auto", "numbered", "paragraphs", "lines"] = "auto",
    name: str = "min_steps",
    weight: float = 1.0,
) -> Term:
    """``min(1, steps / k)`` (module docstring)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return Term(name, _MinSteps(k, split), weight, 0.0, 1.0)


class _Verification:
    def __init__(self, patterns: Sequence[str]) -> None:
        self.pattern = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> float | Scored:
        m = self.pattern.search(reasoning_text(completion))
        return Scored(1.0, {"found": m.group(0)}) if m else 0.0


def verification_step(
    patterns: Sequence[str] = VERIFY_PATTERNS, *, name: str = "verification", weight: float = 1.0
) -> Term:
    """1 when the reasoning contains a verification step (module docstring)."""
    if not patterns:
        raise ValueError("verification_step needs at least one pattern")
    return Term(name, _Verification(patterns), weight, 0.0, 1.0)
