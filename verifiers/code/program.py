"""Program text: the code in a completion (`extract_code`) and the program that runs (`compose_program`).

Pure text work on the host; nothing here runs code. Everything here is bounded in the text's
size, so candidate text can never make the host work for long: fences and top-level ``def``
lines are found by linear scans, and the one full parse (`parses`, CPython's parser, which is
quadratic on some inputs such as an f-string with many fields) is only tried on texts of at most
`MAX_PARSE_CHARS` characters. Whether a text is taken as code depends on the text alone, never on
timing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

__all__ = ["MAX_PARSE_CHARS", "compose_program", "extract_code", "parses"]

MAX_PARSE_CHARS = 16_384
"""Longest text `parses` hands to the parser; longer text never counts as parsing. Measured on
CPython 3.11: the worst known input of this size (an f-string with 5,000 fields) parses in about
0.05 s, where 240 KB of it took 6.8 s."""
_TOP_LEVEL_DEF = re.compile(r"^(?:async[ \t]+)?(?:def|class)[ \t]+([A-Za-z_][A-Za-z_0-9]*)", re.M | re.A)


def extract_code(text: str, language: str = "python") -> str | None:
    """The program in a completion: the last fenced code block in ``language`` (or untagged).

    An unterminated last fence (a truncated completion) runs to the end. Without fences, the
    whole text is taken if it `parses` as Python (so never one longer than `MAX_PARSE_CHARS`).
    Linear in the text.
    """
    aliases = {"python": {"python", "py", "python3"}}.get(language, {language})
    blocks: list[tuple[str, str]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        stripped = lines[i].lstrip()
        if stripped.startswith("```"):
            tag = stripped[3:].strip().lower()
            body = []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith("```"):
                body.append(lines[i])
                i += 1
            blocks.append((tag, "\n".join(body)))
        i += 1
    chosen = [b for t, b in blocks if t in aliases or t == ""]
    if chosen:
        code = chosen[-1]
        return code if code.strip() else None
    if blocks or not text.strip() or language != "python":
        return None
    return text if parses(text) else None


def parses(code: str) -> bool:
    """Whether ``code`` is syntactically valid Python of at most `MAX_PARSE_CHARS` characters.

    Never raises; longer code is False without being parsed (a bound on host work).
    """
    if len(code) > MAX_PARSE_CHARS:
        return False
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _defines(code: str, names: Sequence[str]) -> bool:
    """Whether a line of ``code`` starts ``def name``/``async def name``/``class name`` for each name.

    A linear scan, not a parse: a top-level definition always starts a line at column 0 (a line
    inside a multi-line string that looks like one also counts; the program then fails to load
    either way).
    """
    top = set(_TOP_LEVEL_DEF.findall(code))
    return all(n in top for n in names)


def compose_program(preamble: str, code: str, names: Sequence[str] = ()) -> str:
    """``preamble`` (e.g. HumanEval's prompt) and the candidate's ``code``.

    Code that defines every tested name at the top level (see `_defines`) is a whole solution
    and goes after the preamble (which supplies imports and helpers); otherwise it continues the
    preamble (a function body). Linear in the text.
    """
    if not preamble:
        return code
    if _defines(code, names):
        return preamble.rstrip("\n") + "\n\n\n" + code
    return preamble + code
