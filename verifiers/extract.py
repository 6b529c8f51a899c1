"""Answer extraction: pull the final answer out of a model's response.

Every function is linear in the length of its input (no backtracking regexes over model text)
and returns ``None`` when it finds nothing. They compose: `first_of` tries extractors in order,
`after_reasoning` hides reasoning blocks (``<think>...</think>``) from the extractor it wraps.

Reasoning is never the answer: `drop_reasoning` keeps the text after the last closing tag, and
gives None (no answer) when a block is opened and never closed, as in a generation cut off
mid-thought. Non-guarantee: a chat template that puts the opening tag in the *prompt* leaves a
cut-off completion with no tag at all, which reads as an answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "REASONING_TAGS",
    "Extractor",
    "after_reasoning",
    "answer_is",
    "bare_answer",
    "boxed",
    "braced",
    "drop_reasoning",
    "first_of",
    "gsm8k_hash",
    "last_boxed",
    "last_number",
    "tagged",
]

Extractor = Callable[[str], str | None]

REASONING_TAGS = ("<think>", "</think>")
"""The default (opening, closing) tags of a reasoning block."""


def drop_reasoning(text: str, tags: tuple[str, str] = REASONING_TAGS) -> str | None:
    """The text after the last reasoning block (all of it when there is none), or None when a
    block is still open at the end (cut off mid-thought: nothing in it is a final answer).

    A closing tag without an opening one (templates that open the block in the prompt) ends
    the reasoning all the same.
    """
    open_tag, close_tag = tags
    close = text.rfind(close_tag)
    rest = text if close == -1 else text[close + len(close_tag) :]
    return None if open_tag in rest else rest


@dataclass(frozen=True, slots=True)
class after_reasoning:  # lower-case: reads as a function, after_reasoning(last_boxed)
    """``extract`` applied to the text after the reasoning blocks (see `drop_reasoning`);
    None when a block is never closed. Picklable."""

    extract: Extractor
    tags: tuple[str, str] = REASONING_TAGS

    def __call__(self, text: str) -> str | None:
        rest = drop_reasoning(text, self.tags)
        return None if rest is None else self.extract(rest)


_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_TOKEN = re.compile(r"[^\s$]+")


def braced(text: str, start: int) -> tuple[str, int] | None:
    """The contents of the brace group opening at ``text[start] == '{'`` and the end index."""
    depth = 0
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:  # an escaped brace does not count
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
        i += 1
    return None


def boxed(text: str) -> list[str]:
    """All top-level ``\\boxed{...}`` / ``\\fbox{...}`` contents, in order (nested braces kept).

    ``\\boxed 5`` (a single token without braces) is accepted as ``5``.
    """
    out: list[str] = []
    pos = 0
    while (m := _BOX.search(text, pos)) is not None:
        k = m.end()
        while k < len(text) and text[k] == " ":
            k += 1
        if k < len(text) and text[k] == "{":
            group = braced(text, k)
            if group is None:  # unbalanced: nothing trustworthy after this point
                return out
            out.append(group[0].strip())
            pos = group[1]
        else:
            token = _TOKEN.match(text, k) if k > m.end() else None
            if token:
                out.append(token.group(0))
                pos = token.end()
            else:
                pos = k
    return out


def last_boxed(text: str) -> str | None:
    """The last ``\\boxed{}``/``\\fbox{}`` content, or None."""
    found = boxed(text)
    return found[-1] if found else None


@dataclass(frozen=True, slots=True)
class tagged:  # lower-case: reads as a function, tagged("answer")
    """An extractor for the last ``<tag>...</tag>`` span (stripped). Picklable."""

    tag: str

    def __call__(self, text: str) -> str | None:
        open_tag, close_tag = f"<{self.tag}>", f"</{self.tag}>"
        end = text.rfind(close_tag)
        if end == -1:
            return None
        start = text.rfind(open_tag, 0, end)
        if start == -1:
            return None
        return text[start + len(open_tag) : end].strip()


_ANSWER_IS = re.compile(r"(?:final answer|answer)\s*(?:is|:)\s*:?\s*", re.IGNORECASE)


def answer_is(text: str) -> str | None:
    """The text after the last "the answer is" / "final answer:" up to the end of its line."""
    last = None
    for m in _ANSWER_IS.finditer(text):
        last = m
    if last is None:
        return None
    rest = text[last.end() :].split("\n", 1)[0].strip()
    rest = rest.rstrip(".").strip()
    if rest.startswith("$") and rest.endswith("$") and len(rest) > 1:
        rest = rest.strip("$").strip()
    return rest or None


def gsm8k_hash(text: str) -> str | None:
    """GSM8K's ``#### 42`` convention (the last one)."""
    idx = text.rfind("####")
    if idx == -1:
        return None
    rest = text[idx + 4 :].split("\n", 1)[0].strip()
    return rest or None


MAX_BARE_CHARS = 100
"""Longest text `bare_answer` takes as one answer."""
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_SPACED_DIGITS = re.compile(r"\d\s+\d")
_SPACE_GROUPED = re.compile(r"[+-]?\d{1,3}(?: \d{3})+(?:\.\d+)?")


def bare_answer(text: str) -> str | None:
    """The whole text, stripped (and a final period dropped), when it is itself one short
    answer: one line of at most `MAX_BARE_CHARS` characters, with a digit or letter, no word (two
    or more letters not part of a LaTeX command) and no numbers side by side (``1 000 000`` is
    one number).

    So ``7``, ``-3/4``, ``\\frac{1}{2}`` and ``x = 5`` are answers; "I think 41 or 42",
    "Candidates: 3, 5, 7", "1 2 3 525" and "I do not know" are not (where `last_number` would
    pick a number out of them). A word answer needs a marker (``<answer>``, ``\\boxed{}``).
    """
    t = text.strip()
    if t.endswith("."):
        t = t[:-1].rstrip()
    if len(t) > MAX_BARE_CHARS or "\n" in t or not any(c.isalnum() for c in t) or _PROSE_WORD.search(t):
        return None
    if _SPACED_DIGITS.search(t) and not _SPACE_GROUPED.fullmatch(t):
        return None
    return t


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def last_number(text: str) -> str | None:
    """The last number in the text (``-1,234.5`` style), thousands separators removed.

    Flexible extraction (lm-eval style) for evaluations that opt in: it picks a number out of
    prose ("I think 41 or 42" gives 42), which a policy trained on it learns to exploit."""
    last = None
    for m in _NUMBER.finditer(text):
        last = m
    if last is None:
        return None
    return last.group(0).replace(",", "").rstrip(".")


class first_of:  # lower-case: reads as a function, first_of(a, b)
    """Try ``extractors`` in order; return the first non-None answer. Picklable."""

    __slots__ = ("extractors",)

    def __init__(self, *extractors: Extractor) -> None:
        self.extractors: tuple[Extractor, ...] = extractors

    def __call__(self, text: str) -> str | None:
        for fn in self.extractors:
            found = fn(text)
            if found is not None:
                return found
        return None

    def __reduce__(self) -> tuple[object, tuple[Extractor, ...]]:
        return (first_of, self.extractors)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, first_of) and self.extractors == other.extractors

    def __hash__(self) -> int:
        return hash(self.extractors)
