"""Repetition terms: how much of a response repeats itself (a degenerate-loop signal).

Both are rates in ``[0, 1]`` (0: nothing repeats); give them a negative weight to penalise,
e.g. ``ngram_repetition().weighted(-0.5)``. Words, lines and n-grams are defined in
`assay.rewards.textstats`.

- ``ngram_repetition(n)``: ``1 - unique_ngrams / ngrams`` over the word n-grams of the whole
  response (the rate of "Demystifying Long Chain-of-Thought Reasoning", Appendix C.2, over words
  instead of token ids). Not applicable (None) when the response has fewer than ``n`` words.
- ``line_repetition()``: ``1 - unique_lines / lines`` over the lines that have a word. Not
  applicable when there is no such line.
"""

from __future__ import annotations

from assay.rewards.base import Term
from assay.rewards.textstats import text_stats
from assay.verifiers.base import Task, Verdict

__all__ = ["line_repetition", "ngram_repetition"]


class _NgramRepetition:
    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = n

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> float | None:
        s = text_stats(completion, self.n)
        return 1.0 - s.unique_ngrams / s.ngrams if s.ngrams else None


class _LineRepetition:
    def __call__(self, completion: str, task: Task, verdict: Verdict) -> float | None:
        s = text_stats(completion, 3)
        return 1.0 - s.unique_lines / s.lines if s.lines else None


def ngram_repetition(n: int = 3, *, name: str = "ngram_repetition", weight: float = 1.0) -> Term:
    """Rate of repeated word ``n``-grams, in ``[0, 1]`` (see the module docstring)."""
    return Term(name, _NgramRepetition(n), weight, 0.0, 1.0)


def line_repetition(*, name: str = "line_repetition", weight: float = 1.0) -> Term:
    """Rate of repeated non-empty lines, in ``[0, 1]`` (see the module docstring)."""
    return Term(name, _LineRepetition(), weight, 0.0, 1.0)
