"""Exact verifiers: `ExactMatch` (normalised strings) and `NumberMatch` (exact rationals).

Numbers are parsed by a small hand-written grammar into `fractions.Fraction` (integers with
thousands separators, decimals, ``a/b``, ``\\frac{a}{b}``, a leading sign): no ``eval``, no
sympy. Anything else is not a number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

from assay.verifiers.base import Status, Task, Verdict
from assay.verifiers.extract import (
    Extractor,
    after_reasoning,
    answer_is,
    bare_answer,
    first_of,
    last_boxed,
    last_number,
    tagged,
)

__all__ = [
    "DEFAULT_EXTRACT",
    "FLEXIBLE_EXTRACT",
    "ExactMatch",
    "NumberMatch",
    "normalize_text",
    "parse_number",
]

DEFAULT_EXTRACT: Extractor = after_reasoning(first_of(last_boxed, tagged("answer"), answer_is, bare_answer))
"""After the reasoning blocks: ``\\boxed{}``, then ``<answer>``, then "the answer is", then the
whole completion when it is itself one short answer (`bare_answer`). No number is picked out of
prose: "I think 41 or 42" has no answer."""

FLEXIBLE_EXTRACT: Extractor = after_reasoning(first_of(last_boxed, tagged("answer"), answer_is, last_number))
"""The opt-in for evaluations that want lm-eval-style flexible extraction: the last number in
the text when nothing is marked. Not for training rewards: a policy learns to end in a number."""

MAX_ANSWER_CHARS = 1_000
"""Longer extracted answers are judged INCORRECT without parsing."""


def normalize_text(s: str) -> str:
    """Casefold, collapse whitespace, strip surrounding punctuation and ``$``."""
    return " ".join(s.casefold().split()).strip(" .$")


_INT = r"\d{1,3}(?:,\d{3})+|\d+"
_NUM = re.compile(rf"([+-]?)((?:{_INT})(?:\.\d+)?|\.\d+)")
_FRAC = re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")
_NOISE = re.compile(r"\\[,!;: ]|\\left|\\right|\$|\\text\{\s*\}")


def _decimal(s: str) -> Fraction | None:
    m = _NUM.fullmatch(s)
    if not m:
        return None
    value = Fraction(m.group(2).replace(",", ""))
    return -value if m.group(1) == "-" else value


@lru_cache(maxsize=8192)
def parse_number(text: str) -> Fraction | None:
    """Parse ``text`` as an exact rational, or return None. Never evaluates code.

    Memoised (references repeat across a batch; a `Fraction` is immutable).
    """
    if len(text) > MAX_ANSWER_CHARS:
        return None
    if text.isdecimal() and text.isascii():  # the common case: a plain non-negative integer
        return Fraction(int(text))
    s = _NOISE.sub("", text).strip().replace(" ", "")
    sign = 1
    if s.startswith("-") and (s[1:].startswith("\\") or s[1:].startswith("(")):
        sign, s = -1, s[1:]
    if s.startswith("(") and s.endswith(")"):
        s = s[1:-1]
    m = _FRAC.fullmatch(s)
    if m:
        num, den = _decimal(m.group(1)), _decimal(m.group(2))
    elif s.count("/") == 1:
        a, b = s.split("/")
        num, den = _decimal(a), _decimal(b)
    else:
        num, den = _decimal(s), Fraction(1)
    if num is None or den is None or den == 0:
        return None
    return sign * num / den


@dataclass(frozen=True, slots=True)
class ExactMatch:
    """Correct when the extracted answer equals ``task.answer`` after `normalize_text`."""

    extract: Extractor = field(default=DEFAULT_EXTRACT)
    normalize: Callable[[str], str] = field(default=normalize_text)

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        if task.answer is None:
            return Verdict(Status.ERROR, reason=f"task {task.id!r} has no reference answer")
        found = self.extract(completion)
        if found is None:
            return Verdict(Status.NO_ANSWER, reason="no answer found")
        if self.normalize(found) == self.normalize(task.answer):
            return Verdict(Status.CORRECT, 1.0, found, "exact match")
        return Verdict(Status.INCORRECT, 0.0, found, "does not match the reference")


@dataclass(frozen=True, slots=True)
class NumberMatch:
    """Correct when the extracted answer is the same rational number as ``task.answer``.

    ``0.75``, ``3/4``, ``\\frac{3}{4}`` and ``\\dfrac34``-free LaTeX like ``\\frac{3}{4}`` all
    equal ``3/4``; ``1,000`` equals ``1000``. A non-numeric answer is INCORRECT.
    """

    extract: Extractor = field(default=DEFAULT_EXTRACT)

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        gold = parse_number(task.answer or "")
        if gold is None:
            return Verdict(Status.ERROR, reason=f"reference {task.answer!r} is not a number")
        found = self.extract(completion)
        if found is None:
            return Verdict(Status.NO_ANSWER, reason="no answer found")
        value = parse_number(found)
        if value is None:
            return Verdict(Status.INCORRECT, 0.0, found[:200], "answer is not a number")
        if value == gold:
            return Verdict(Status.CORRECT, 1.0, found, "same number")
        return Verdict(Status.INCORRECT, 0.0, found, f"{found} != {task.answer}")
