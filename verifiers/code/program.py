"""Program text: the code in a completion (`extract_code`) and the program that runs (`compose_program`).

Pure text work on the host; nothing here runs code (`ast.parse` only parses).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

__all__ = ["compose_program", "extract_code", "parses"]


def extract_code(text: str, language: str = "python") -> str | None:
    """The program in a completion: the last fenced code block in ``language`` (or untagged).

    An unterminated last fence (a truncated completion) runs to the end. Without fences, the
    whole text is taken if it parses as Python. Linear in the text.
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
    """Whether ``code`` is syntactically valid Python (never raises)."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _defines(code: str, names: Sequence[str]) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    top = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    return all(n in top for n in names)


def compose_program(preamble: str, code: str, names: Sequence[str] = ()) -> str:
    """``preamble`` (e.g. HumanEval's prompt) and the candidate's ``code``.

    Code that defines every tested name is a whole solution and goes after the preamble (which
    supplies imports and helpers); otherwise it continues the preamble (a function body).
    """
    if not preamble:
        return code
    if _defines(code, names):
        return preamble.rstrip("\n") + "\n\n\n" + code
    return preamble + code
