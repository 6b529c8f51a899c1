"""Outcome terms: the result of a verifier as a reward term.

- ``outcome(verifier)`` runs ``verifier(completion, task)`` itself (so one rubric can combine
  several verifiers: the env's math check plus a judge, unit tests plus a style checker) and
  maps its `Verdict` to a value with ``credit``.
- ``verdict_credit()`` maps the env's own verdict (the one passed to the rubric) the same way:
  like `assay.rewards.correct`, with a value per status (e.g. -0.5 for ``NO_ANSWER``).

``credit`` maps each `Status` to a value; ``"score"`` means the verdict's own score (partial
credit). The default is ``CORRECT -> score``, ``INCORRECT``/``NO_ANSWER``/``TIMEOUT`` -> 0,
``ERROR -> None``: a verifier that broke is not applicable, never a zero (and a verifier that
raises is an ERROR). The range is the hull of the credit values, with ``[0, 1]`` for ``"score"``.
Details carry the verdict (status, score, extracted answer, reason).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from assay.rewards.base import Scored, Term
from assay.verifiers.base import Status, Task, Verdict, Verifier

__all__ = ["DEFAULT_CREDIT", "Credit", "outcome", "verdict_credit"]

Credit = Mapping[Status, "float | Literal['score'] | None"]

DEFAULT_CREDIT: Credit = {
    Status.CORRECT: "score",
    Status.INCORRECT: 0.0,
    Status.NO_ANSWER: 0.0,
    Status.TIMEOUT: 0.0,
    Status.ERROR: None,
}


def _full_credit(credit: Credit | None) -> dict[Status, float | str | None]:
    merged: dict[Status, float | str | None] = dict(DEFAULT_CREDIT)
    for status, value in (credit or {}).items():
        if value != "score" and value is not None:
            value = float(value)
        merged[Status(status)] = value
    return merged


def _range(credit: Mapping[Status, float | str | None]) -> tuple[float, float]:
    points: list[float] = []
    for value in credit.values():
        if value == "score":
            points += [0.0, 1.0]
        elif isinstance(value, float):
            points.append(value)
    return (min(points), max(points)) if points else (0.0, 0.0)


def _info(v: Verdict) -> dict[str, Any]:
    info: dict[str, Any] = {"status": v.status.value, "score": v.score, "reason": v.reason}
    if v.extracted is not None:
        info["extracted"] = v.extracted
    if v.details:
        info["details"] = dict(v.details)
    return info


def _value(credit: Mapping[Status, float | str | None], v: Verdict) -> Scored:
    c = credit[v.status]
    value = v.score if c == "score" else c
    return Scored(value if not isinstance(value, str) else None, _info(v))


class _Outcome:
    def __init__(self, verifier: Verifier, credit: Mapping[Status, float | str | None]) -> None:
        self.verifier, self.credit = verifier, credit

    def _verify(self, completion: str, task: Task) -> Verdict:
        try:
            return self.verifier(completion, task)
        except Exception as e:  # noqa: BLE001 - a verifier that raises is an ERROR verdict
            return Verdict(Status.ERROR, reason=f"verifier raised {type(e).__name__}: {e}")

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> Scored:
        return _value(self.credit, self._verify(completion, task))

    def batch(
        self, completions: Sequence[str], tasks: Sequence[Task], verdicts: Sequence[Verdict]
    ) -> list[Scored]:
        many = getattr(self.verifier, "batch", None)
        if many is None:
            return [self(c, t, v) for c, t, v in zip(completions, tasks, verdicts, strict=True)]
        return [_value(self.credit, v) for v in many(completions, tasks)]


class _VerdictCredit:
    def __init__(self, credit: Mapping[Status, float | str | None]) -> None:
        self.credit = credit

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> float | None:
        c = self.credit[verdict.status]
        return verdict.score if c == "score" else (c if not isinstance(c, str) else None)


def outcome(
    verifier: Verifier, *, credit: Credit | None = None, name: str = "outcome", weight: float = 1.0
) -> Term:
    """Run ``verifier`` and credit its verdict (module docstring). Verifiers with a
    ``batch(completions, tasks)`` method (LLM judges) are called once per batch."""
    full = _full_credit(credit)
    lo, hi = _range(full)
    return Term(name, _Outcome(verifier, full), weight, lo, hi)


def verdict_credit(*, credit: Credit | None = None, name: str = "correct", weight: float = 1.0) -> Term:
    """Credit the env's verdict by status (module docstring)."""
    full = _full_credit(credit)
    lo, hi = _range(full)
    return Term(name, _VerdictCredit(full), weight, lo, hi)
