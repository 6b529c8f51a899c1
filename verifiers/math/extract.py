"""`extract_answer`: the final answer of a model response, as a string.

Where the answer is looked for, in order of *position* (the one that ends last wins, so a
self-correction that ends in a new final answer is judged by that answer):

- ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces; also ``\\\\boxed`` from over-escaped text).
  Boxes separated only by connectors (``,``, "and", "or", ``\\quad``, ``$``, a short label such
  as ``y_2 =``) form one answer: ``\\boxed{-2} and \\boxed{1}`` is the list ``-2, 1``. Boxes
  separated by prose are separate statements, and only the last one counts.
- ``<answer>...</answer>``;
- "the answer is ...", "Final Answer: ..." (up to the end of the sentence or line);
- GSM8K's ``#### ...``.

With none of these, ``fallback`` decides:

- ``"whole"`` (the default): the whole completion, when it is itself one answer (``7``,
  ``1 000``, ``\\frac{1}{3} \\text{meters}``, ``$x \\in [-2,7]$``, a word answer such as ``Evelyn``).
  Prose is not: "I think 41 or 42", "Candidates: 3, 5, 7" and "I do not know" have no answer.
- ``"last"`` (opt-in, lm-eval-style flexible extraction for evaluations): also the later of the
  last math span (``$...$``, ``\\(...\\)``, ``\\[...\\]``) and the last number in the prose (a
  number glued to a preceding letter, as in ``AZYUK2A``, does not count). Not for rewards: a
  policy learns to end its text in a number.
- ``"none"``: marked answers only.

Reasoning is never the answer: only the text after the last closing tag of a reasoning block
(``</think>`` by default; ``reasoning`` sets the tags) is searched, and a block opened and never
closed (a generation cut off mid-thought) means no answer, whatever it holds. Chat-template stop
tokens (``<|im_end|>``, ``<|im_start|>``, ...) end the response first. The ``"last"`` fallback
reads only the last `FALLBACK_WINDOW` characters. Every step is linear in the length of the
text; nothing here evaluates anything.
"""

from __future__ import annotations

import re
from typing import Literal

from assay.verifiers.extract import REASONING_TAGS, drop_reasoning

__all__ = ["FALLBACKS", "Fallback", "answer_like", "extract_answer"]

Fallback = Literal["none", "whole", "last"]
"""Where an answer is looked for when nothing marks one (see the module docstring)."""
FALLBACKS: tuple[Fallback, ...] = ("none", "whole", "last")

_STOP = re.compile(
    r"<\|im_end\|>|<\|im_start\|>|<\|endoftext\|>|<\|eot_id\|>|<\|end\|>|<\uff5cend\u2581of\u2581sentence\uff5c>"
)
_BOX_TAIL = re.compile(r"\s*\{")
_BRACE = re.compile(r"\\.|[{}]", re.DOTALL)
_MARKER = re.compile(r"answer\s*(?:\*\*|__)?\s*(?:is\b|:|=)\s*(?:\*\*|__)?\s*:?")
_MATH_DELIM = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|(?<!\\)\$")
_NUMBER = re.compile(
    r"(?<![A-Za-z_\d.])(?:-\s?)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+(?!\d|\.\d))?(?:\s*%)?"
)
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_PLAIN_WORD = re.compile(r"[A-Za-z']+")
_HEDGES = frozenset(
    {"i", "i'm", "im", "we", "you", "me", "my", "know", "think", "sure", "unsure", "idea", "guess",
     "maybe", "perhaps", "cannot", "can't", "don't", "dont"}
)  # fmt: skip
"""Words of someone talking about the answer, not giving one ("I do not know", "not sure")."""
_TEXT_CMD = re.compile(
    r"\\(?:text|textbf|textit|mbox|mathrm|textnormal)\s*\{|\\(?:begin|end|operatorname|mathbb)\s*\{[A-Za-z*]*\}"
)
_SENTENCE_BREAK = re.compile(r"[.!?]\s+[A-Z]|\n\s*\n")

_GAP_WORDS = frozenset(
    {"and", "or", "for", "part", "parts", "respectively", "also", "both", "with", "text", "quad", "qquad",
     "textbf", "mathrm", "mbox", "as", "well"}
)  # fmt: skip
MAX_GAP = 80
"""Longest text between two boxes that still joins them into one answer."""

_VOCAB = frozenset(
    {
        "and", "or", "percent", "pct", "percentage", "degree", "degrees", "deg", "million", "billion",
        "thousand", "trillion", "pi", "infty", "inf", "infinity", "sqrt", "sin", "cos", "tan", "sec",
        "csc", "cot", "ln", "log", "exp", "arcsin", "arccos", "arctan", "cm", "mm", "km", "ft", "in",
        "yd", "mi", "kg", "mg", "lb", "lbs", "oz", "hr", "hrs", "min", "mins", "secs", "mph",
        "ml", "sq", "units", "unit", "square", "cubic", "meters", "meter", "metres", "miles", "mile",
        "feet", "foot", "inches", "inch", "yards", "seconds", "second", "minutes", "minute", "hours",
        "hour", "days", "day", "weeks", "week", "months", "month", "years", "year", "dollars",
        "dollar", "cents", "cent", "grams", "gram", "kilograms", "pounds", "pound", "liters", "liter",
        "centimeters", "kilometers", "millimeters", "yuan", "euros", "people", "students",
    }
)  # fmt: skip


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


MARKER_WINDOW = 100_000
"""Markers ("the answer is") are looked for in the last this many characters."""


def _marker_ends(text: str) -> list[int]:
    """Where the content of each "answer is" / "Final Answer:" marker starts, in order.

    Matched in the last `MARKER_WINDOW` characters of an ASCII-lowercased copy (same length,
    so positions agree) with a pattern that starts with a literal."""
    offset = max(0, len(text) - MARKER_WINDOW)
    tail = text[offset:].translate(_ASCII_LOWER)
    return [offset + m.end() for m in _MARKER.finditer(tail)]


def _cut(text: str, reasoning: tuple[str, str]) -> str | None:
    """The response up to its first stop token, after its reasoning (None: cut off mid-thought)."""
    stop = _STOP.search(text)
    if stop is not None:
        text = text[: stop.start()]
    return drop_reasoning(text, reasoning)


MAX_BOXES = 64
"""Only the last this many ``\\boxed{`` openings are read (the final answer is among them)."""
MAX_BOX_CHARS = 10_000
"""A box whose closing brace is further than this is unclosed (longer answers are refused anyway)."""


def _box_starts(text: str) -> list[tuple[int, int]]:
    """The last `MAX_BOXES` ``\\boxed{`` / ``\\fbox{`` openings: (start, index after the brace).

    Found with ``str.rfind`` from the end, so a response with a million boxes costs no more
    than one with a hundred."""
    found: list[tuple[int, int]] = []
    for word in ("boxed", "fbox"):
        end = len(text)
        count = 0
        while count < MAX_BOXES and (i := text.rfind(word, 0, end)) != -1:
            end = i
            tail = _BOX_TAIL.match(text, i + len(word))
            if tail is None or (i > 0 and text[i - 1].isalpha()):
                continue  # not followed by a brace, or part of a longer word ("unboxed")
            start = i
            while start > 0 and i - start < 2 and text[start - 1] == "\\":
                start -= 1
            found.append((start, tail.end()))
            count += 1
    found.sort()
    return found[-MAX_BOXES:]


def _closing_brace(text: str, open_index: int) -> int:
    """The index after the brace closing ``text[open_index] == '{'``, or -1 within the limit."""
    depth = 0
    for b in _BRACE.finditer(text, open_index, min(len(text), open_index + MAX_BOX_CHARS)):
        tok = b.group(0)
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth == 0:
                return b.end()
    return -1


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """The top-level boxes among the last `MAX_BOXES`: (start, end, content), in order.

    An unclosed box is skipped, unless it is the last one (a truncated response): then the
    rest of the text (up to `MAX_BOX_CHARS`) is its content."""
    starts = _box_starts(text)
    out: list[tuple[int, int, str]] = []
    covered = -1
    for k, (start, open_end) in enumerate(starts):
        if start < covered:
            continue  # nested inside the previous box
        end = _closing_brace(text, open_end - 1)
        if end == -1:
            if k == len(starts) - 1:
                out.append((start, len(text), text[open_end : open_end + MAX_BOX_CHARS].strip()))
            continue
        out.append((start, end, text[open_end : end - 1].strip()))
        covered = end
    return out


def _joins(gap: str) -> bool:
    """Whether the text between two boxes only connects them: ``, ``, `` and ``, ``\\quad``, a
    label, or a few words around a connector (``\\boxed{1} papers and \\boxed{2} bins``)."""
    if len(gap) > MAX_GAP or _SENTENCE_BREAK.search(gap):
        return False
    words = [w.group(0).lower() for w in _WORD.finditer(gap)]
    if all(w in _GAP_WORDS for w in words):
        return True
    connected = "," in gap or ";" in gap or "and" in words or "or" in words
    return connected and len(words) <= 4


def _box_groups(text: str) -> list[tuple[int, int, str]]:
    boxes = _boxes(text)
    groups: list[tuple[int, int, list[str]]] = []
    for start, end, content in boxes:
        if groups and _joins(text[groups[-1][1] : start]):
            groups[-1] = (groups[-1][0], end, [*groups[-1][2], content])
        else:
            groups.append((start, end, [content]))
    return [(s, e, ", ".join(parts)) for s, e, parts in groups]


def _sentence(text: str, start: int) -> tuple[str, int]:
    """The text from ``start`` to the end of its sentence (outside math) or line; at most 400 chars."""
    n = len(text)
    i = start
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] == "\n":  # "Final Answer:\n\n$$5$$": the answer is on the next line
        while i < n and text[i].isspace():
            i += 1
    begin = i
    limit = min(n, begin + 400)
    dollars = 0
    depth = 0
    while i < limit:
        c = text[i]
        if c == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt in "([":
                depth += 1
            elif nxt in ")]":
                depth -= 1
            i += 2
            continue
        if c == "$":
            dollars ^= 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif (c == "\n" and not dollars and depth <= 0) or (
            c in ".!?" and not dollars and depth <= 0 and (i + 1 >= n or text[i + 1].isspace())
        ):
            break
        i += 1
    return text[begin:i].strip(), i


def _strip_math(s: str) -> str:
    return _MATH_DELIM.sub(" ", s).strip()


def answer_like(s: str) -> bool:
    """Whether ``s`` reads as a bare answer rather than prose.

    True when every English-looking word in it is known vocabulary (units, connectors, function
    names) once ``\\text{}`` wrappers are set aside, or when it is a short phrase without digits
    (a word answer such as ``Evelyn``) that is not a hedge ("I do not know", "not sure").
    """
    t = _strip_math(s)
    if not t:
        return False
    bare = _TEXT_CMD.sub(" ", t)
    words = [w.group(0) for w in _WORD.finditer(bare)]
    unknown = [w for w in words if w.lower() not in _VOCAB]
    if not unknown:
        return True
    has_math = any(c.isdigit() or c in "=+^_\\<>" for c in t)
    if has_math or len(t.split()) > 4:
        return False
    return not any(w.group(0).lower() in _HEDGES for w in _PLAIN_WORD.finditer(t))


def _spans(text: str) -> list[tuple[int, int, str]]:
    """Math spans ($...$, $$...$$, \\(...\\), \\[...\\]) in order; linear."""
    out: list[tuple[int, int, str]] = []
    closer = {"\\(": "\\)", "\\[": "\\]", "$$": "$$", "$": "$"}
    open_tok: str | None = None
    open_end = 0
    open_start = 0
    for m in _MATH_DELIM.finditer(text):
        tok = m.group(0)
        if open_tok is None:
            if tok in closer:
                open_tok, open_start, open_end = tok, m.start(), m.end()
        elif tok == closer[open_tok]:
            out.append((open_start, m.end(), text[open_end : m.start()].strip()))
            open_tok = None
    return out


def _last_number(text: str, spans: list[tuple[int, int, str]]) -> tuple[int, str] | None:
    masked = text
    if spans:
        parts = []
        prev = 0
        for s, e, _ in spans:
            parts.append(text[prev:s])
            parts.append(" " * (e - s))
            prev = e
        parts.append(text[prev:])
        masked = "".join(parts)
    last = None
    for m in _NUMBER.finditer(masked):
        last = m
    if last is None:
        return None
    return last.end(), last.group(0).replace(" ", "")


FALLBACK_WINDOW = 20_000
"""The fallback looks at the last this many characters only (from a line start): a final
answer is at the end of a response, and this keeps a 10 MB response cheap."""


def _whole(text: str) -> str | None:
    """The whole text when it is itself one answer: a bare answer, one short token, or one math
    span and nothing else (``$$\\text{a regular hexagon}$$``)."""
    t = text.strip()
    if (len(t) <= 300 and answer_like(t)) or (len(t) <= 100 and t and not any(c.isspace() for c in t)):
        return t
    if len(t) <= 300:
        spans = _spans(t)
        if len(spans) == 1 and spans[0][0] == 0 and spans[0][1] == len(t) and spans[0][2]:
            return spans[0][2]
    return None


def _single(text: str) -> str | None:
    """The one math span or number in ``text`` (prose around one value), None if several."""
    spans = [s for s in _spans(text) if s[2]]
    if len(spans) > 1:
        return None
    masked = text if not spans else text[: spans[0][0]] + " " + text[spans[0][1] :]
    numbers = [m.group(0).replace(" ", "") for m in _NUMBER.finditer(masked)]
    if len(spans) + len(numbers) != 1:
        return None
    return spans[0][2] if spans else numbers[0]


def _fallback(text: str) -> str | None:
    whole = _whole(text)
    if whole is not None:
        return whole
    if len(text) > FALLBACK_WINDOW:
        cut = len(text) - FALLBACK_WINDOW
        newline = text.find("\n", cut)
        text = text[newline + 1 if newline != -1 else cut :]
    spans = [s for s in _spans(text) if s[2]]
    number = _last_number(text, spans)
    span = spans[-1] if spans else None
    if span is not None and (number is None or span[1] >= number[0]):
        return span[2]
    return number[1] if number is not None else None


def _refine(content: str) -> str | None:
    """Clean a marked answer: boxes inside win; prose around a value is dropped."""
    groups = _box_groups(content)
    if groups:
        return groups[-1][2]
    c = content.strip().rstrip(".").strip()
    if c.lower().startswith("is "):
        c = c[3:].strip()
    if not c:
        return None
    if answer_like(c):
        return c
    tail = c.lower().rfind(" is ")
    if tail != -1 and answer_like(c[tail + 4 :]):
        return c[tail + 4 :].strip()
    return _single(c) or c


def extract_answer(
    text: str, *, fallback: Fallback = "whole", reasoning: tuple[str, str] = REASONING_TAGS
) -> str | None:
    """The final answer in ``text`` (see the module docstring), or None when there is none.

    ``fallback``: ``"whole"``, ``"last"`` or ``"none"``; ``reasoning``: the (opening, closing)
    tags of a reasoning block, whose content is never the answer.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
    cut = _cut(text, reasoning)
    if cut is None:
        return None
    text = cut
    best: tuple[int, str, str] | None = None  # (end, kind, content)

    def offer(end: int, kind: str, content: str) -> None:
        nonlocal best
        if best is None or end >= best[0]:
            best = (end, kind, content)

    groups = _box_groups(text)
    if groups:
        offer(groups[-1][1], "box", groups[-1][2])
    close = text.rfind("</answer>")
    if close != -1:
        open_ = text.rfind("<answer>", 0, close)
        if open_ != -1:
            offer(close + len("</answer>"), "tag", text[open_ + len("<answer>") : close])
    for start in reversed(_marker_ends(text)):  # the last marker with content is the candidate
        content, end = _sentence(text, start)
        if content:
            offer(end, "marker", content)
            break
    hashes = text.rfind("####")
    if hashes != -1:
        line = text[hashes + 4 :].split("\n", 1)[0].strip()
        if line:
            offer(hashes + 4 + len(line), "hash", line)
    if best is not None:
        _, kind, content = best
        if kind == "box":
            return content or None
        refined = _refine(content)
        if refined:
            return refined
    if fallback == "none":
        return None
    return _whole(text) if fallback == "whole" else _fallback(text)
