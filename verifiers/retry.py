"""Retrying an HTTP call: which failures earn another try, and how long to wait before it.

One policy for assay's HTTP clients: `OpenAISampler` (async, the policy's and the judges' server)
and `assay.serve.client.VerifierClient` (sync, the verification service). Each keeps its own loop
around its own request, because one awaits and the other blocks; what they share lives here.

- `RetryPolicy`: frozen; how many retries, the first backoff, its cap, the jitter, and the HTTP
  statuses worth retrying. ``policy.retries()`` starts the count for one call.
- `Retries`: one call's count; ``next_wait()`` after each failed attempt says how long to wait,
  or None when no retry is left.
- `Retryable`: an attempt's failure worth another try (a client raises it inside its loop).
- `retry_after_s`: a server's ``Retry-After`` header (in seconds) as a wait.

Guarantees: at most ``max_retries + 1`` attempts per call; the n-th backoff is ``backoff_s *
2**(n-1)`` capped at ``cap_s``, times a uniform draw from ``jitter`` (so many clients do not retry
in step), unless the server said how long to wait. Not guaranteed: a bound on one attempt's
duration (that is the caller's timeout), or that a retried request was not already acted on (only
retry requests that are safe to repeat).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from assay.errors import AssayError

__all__ = ["Retries", "RetryPolicy", "Retryable", "retry_after_s"]

_JITTER = random.Random()  # private: the global `random` state is never touched


class Retryable(AssayError):
    """An attempt failed in a way worth retrying (timeout, connection error, a status in the
    policy's ``statuses``, a malformed reply)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one HTTP call is retried (see the module docstring).

    Attributes:
        max_retries: Extra attempts after a retryable failure (0: one attempt only).
        backoff_s: The first wait; doubles each retry.
        cap_s: The longest wait before jitter.
        jitter: ``(low, high)``: each wait is multiplied by a uniform draw from ``[low, high)``.
        statuses: The HTTP statuses worth retrying (others are the caller's error at once).
    """

    max_retries: int
    backoff_s: float
    cap_s: float
    jitter: tuple[float, float]
    statuses: frozenset[int]

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if not 0 <= self.jitter[0] <= self.jitter[1]:
            raise ValueError(f"jitter must be (low, high) with 0 <= low <= high, got {self.jitter}")

    def retryable(self, status: int) -> bool:
        """Whether an HTTP response with this status is worth another try."""
        return status in self.statuses

    def retries(self) -> Retries:
        """A fresh count for one call."""
        return Retries(self)


class Retries:
    """One call's retries under a `RetryPolicy`; not shared between calls or threads.

    ``attempts`` counts the failed attempts reported so far.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.attempts = 0
        self._delay = policy.backoff_s

    def next_wait(self, retry_after: float | None = None) -> float | None:
        """Count one failed attempt; the seconds to wait before the next one, or None when the
        retries are spent. ``retry_after``, when given (the server's word), is the wait as it is."""
        self.attempts += 1
        if self.attempts > self.policy.max_retries:
            return None
        delay = min(self._delay, self.policy.cap_s)
        self._delay = delay * 2
        if retry_after is not None:
            return retry_after
        low, high = self.policy.jitter
        return delay * (low + (high - low) * _JITTER.random())


def retry_after_s(value: str | None, *, longest_s: float = 30.0) -> float | None:
    """A ``Retry-After`` header given in seconds, clamped to ``[0, longest_s]``; None when it is
    absent or not a number (an HTTP date is not read)."""
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), longest_s)
    except ValueError:
        return None
