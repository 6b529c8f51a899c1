"""Core verification types: `Task`, `Status`, `Verdict` and the `Verifier` protocol.

A verifier judges one completion against one task and returns a `Verdict`. The verdict tells
a *wrong* answer (`INCORRECT`, `NO_ANSWER`, `TIMEOUT`: the policy's fault) apart from a verifier
that *could not judge* (`ERROR`: our fault, counted and logged, never silently a zero).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

__all__ = ["Status", "Task", "Verdict", "Verifier"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Task:
    """One verifiable problem.

    Attributes:
        id: Stable across runs and machines; used for grouping, dedup, pinning and logging.
        prompt: What the policy sees (plain text; envs can present it as chat messages).
        answer: The reference the verifier compares against. Never shown to the policy.
        meta: Anything else a verifier or reward needs (tests, difficulty, source, ...).
    """

    id: str
    prompt: str
    answer: str | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"Task.id must be a non-empty str, got {self.id!r}")
        if not isinstance(self.prompt, str):
            raise TypeError(f"Task.prompt must be str, got {type(self.prompt).__name__}")
        if self.answer is not None and not isinstance(self.answer, str):
            raise TypeError(f"Task.answer must be str or None, got {type(self.answer).__name__}")
        if not isinstance(self.meta, MappingProxyType):
            object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    def __reduce__(self) -> tuple[Any, ...]:  # MappingProxyType does not pickle; vector envs need it
        return (Task, (self.id, self.prompt, self.answer, dict(self.meta)))

    def __deepcopy__(self, memo: dict[int, Any]) -> Task:
        return self  # immutable


class Status(StrEnum):
    """How a verification ended."""

    CORRECT = "correct"
    """The answer is right (``score`` may still be partial credit below 1)."""
    INCORRECT = "incorrect"
    """An answer was found and it is wrong."""
    NO_ANSWER = "no_answer"
    """Nothing could be extracted, or the action was malformed: the policy's format fault."""
    TIMEOUT = "timeout"
    """The candidate exceeded its budget (e.g. a program that loops)."""
    ERROR = "error"
    """The verifier itself failed: our fault. Never to be read as a wrong answer."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one verification.

    Attributes:
        status: See `Status`.
        score: In ``[0, 1]``. 1.0 for a correct answer; partial credit only where a verifier
            defines it; 0.0 for every other status unless the verifier documents otherwise.
        extracted: The answer the verifier read out of the completion, if any.
        reason: A short human-readable why.
        details: Structured extras (per-test results, timings), JSON-serialisable.
    """

    status: Status
    score: float = 0.0
    extracted: str | None = None
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            object.__setattr__(self, "status", Status(self.status))
        score = float(self.score)
        if math.isnan(score) or not 0.0 <= score <= 1.0:
            raise ValueError(f"Verdict.score must be in [0, 1], got {self.score!r}")
        object.__setattr__(self, "score", score)
        if not isinstance(self.details, MappingProxyType):
            object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            Verdict,
            (self.status, self.score, self.extracted, self.reason, dict(self.details)),
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> Verdict:
        return self

    @property
    def correct(self) -> bool:
        """True when ``status`` is `Status.CORRECT`."""
        return self.status is Status.CORRECT

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``status`` as its string value)."""
        return {
            "status": self.status.value,
            "score": self.score,
            "extracted": self.extracted,
            "reason": self.reason,
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Inverse of `to_dict`."""
        return cls(
            status=Status(data["status"]),
            score=float(data.get("score", 0.0)),
            extracted=data.get("extracted"),
            reason=str(data.get("reason", "")),
            details=dict(data.get("details") or {}),
        )


@runtime_checkable
class Verifier(Protocol):
    """Anything that judges a completion against a task.

    Implementations never raise on model output: a malformed completion is ``NO_ANSWER`` and an
    internal failure is ``ERROR``. Exceptions are for programmer errors only.
    """

    def __call__(self, completion: str, task: Task, /) -> Verdict: ...
