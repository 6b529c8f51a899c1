"""Format terms: the response has the shape the task asked for. Each is 1 or 0 (range ``[0, 1]``),
and a 0 says why in its details (``{"reason": ...}``).

- ``tags("think", "answer")``: every marker ``<think>``, ``</think>``, ``<answer>``, ``</answer>``
  occurs exactly once and in that order; with ``outside="whitespace"`` (the default, as
  DeepSeek-R1's format reward) only whitespace may stand before the first block, between blocks
  and after the last; ``outside="any"`` allows other text there.
- ``json_valid()``: the JSON text (``extract(completion)``, by default the body of the first
  fenced ``json`` block if there is one, else the whole response stripped) parses as strict JSON
  (``NaN``/``Infinity`` rejected). ``json_schema(schema)``: and it validates against ``schema``
  (JSON Schema, with the ``jsonschema`` library; the draft is the one ``$schema`` names,
  2020-12 by default).
- ``fenced_code(language)``: a closed Markdown fence (a line starting with three backticks, an
  optional info string, a non-blank body, a closing line of three backticks) is present; with
  ``language`` its info string must name it (case-insensitive; several names allowed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from assay.rewards.base import Scored, Term
from assay.verifiers.base import Task, Verdict
from assay.verifiers.extract import Extractor

__all__ = ["fenced_blocks", "fenced_code", "json_schema", "json_valid", "tags"]


class _Tags:
    def __init__(self, names: Sequence[str], outside: Literal["whitespace", "any"]) -> None:
        self.markers = [m for n in names for m in (f"<{n}>", f"</{n}>")]
        self.distinct = sorted(set(self.markers), key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(m) for m in self.distinct))
        self.strict = outside == "whitespace"

    def _find(self, text: str) -> list[tuple[str, int, int]]:
        """Every marker occurrence, in order. Jumps from one "<" to the next (a memchr-speed
        scan); text with very many "<" falls back to one regex pass."""
        found: list[tuple[str, int, int]] = []
        i = text.find("<")
        hops = 0
        while i >= 0:
            hops += 1
            if hops > 64:
                return [(m.group(), m.start(), m.end()) for m in self.pattern.finditer(text)]
            for marker in self.distinct:
                if text.startswith(marker, i):
                    found.append((marker, i, i + len(marker)))
                    break
            i = text.find("<", i + 1)
        return found

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> float | Scored:
        found = self._find(completion)
        if len(found) != len(self.markers) or any(
            f[0] != m for f, m in zip(found, self.markers, strict=True)
        ):
            return Scored(0.0, {"reason": self._why([f[0] for f in found])})
        if self.strict:
            pos = 0
            for k in range(0, len(found), 2):  # before each opening marker
                start = found[k][1]
                if start > pos and not completion[pos:start].isspace():
                    return Scored(0.0, {"reason": f"text outside the tags before {found[k][0]}"})
                pos = found[k + 1][2]
            if pos < len(completion) and not completion[pos:].isspace():
                return Scored(0.0, {"reason": "text after the last tag"})
        return 1.0

    def _why(self, seen: list[str]) -> str:
        for marker in self.markers:
            count = seen.count(marker)
            if count == 0:
                return f"missing {marker}"
            if count > 1:
                return f"{marker} occurs {count} times"
        return f"tags out of order: {seen[:8]}"


def tags(
    *names: str,
    outside: Literal["whitespace", "any"] = "whitespace",
    name: str = "format",
    weight: float = 1.0,
) -> Term:
    """Required ``<name>...</name>`` blocks, each exactly once, in order (module docstring)."""
    if not names:
        raise ValueError("tags() needs at least one tag name")
    for n in names:
        if not n or any(c in n for c in "<>/ \t\n"):
            raise ValueError(f"bad tag name {n!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate tag names in {names}")
    if outside not in ("whitespace", "any"):
        raise ValueError(f"outside must be 'whitespace' or 'any', got {outside!r}")
    return Term(name, _Tags(names, outside), weight, 0.0, 1.0)


_OPEN = re.compile(r"^[ \t]{0,3}```[ \t]*([^\s`]*)[^\n`]*\n", re.MULTILINE)
_CLOSE = re.compile(r"^[ \t]{0,3}```[ \t]*$", re.MULTILINE)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every closed fenced code block as ``(info, body)``, in order (an unclosed fence ends the scan)."""
    out: list[tuple[str, str]] = []
    pos = 0
    while (m := _OPEN.search(text, pos)) is not None:
        end = _CLOSE.search(text, m.end())
        if end is None:
            break
        body = text[m.end() : end.start()]
        out.append((m.group(1), body[:-1] if body.endswith("\n") else body))
        pos = end.end()
    return out


def _default_json_text(completion: str) -> str | None:
    for info, body in fenced_blocks(completion) if "```" in completion else ():
        if info.casefold() == "json":
            return body
    return completion.strip() or None


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON")


class _Json:
    def __init__(self, validator: Any, extract: Extractor | None, max_chars: int) -> None:
        self.validator = validator
        self.extract = extract
        self.max_chars = max_chars

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> float | Scored:
        text = self.extract(completion) if self.extract is not None else _default_json_text(completion)
        if text is None:
            return Scored(0.0, {"reason": "no JSON found"})
        if len(text) > self.max_chars:
            return Scored(0.0, {"reason": f"JSON text longer than {self.max_chars} chars"})
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as e:
            return Scored(0.0, {"reason": f"invalid JSON: {str(e)[:200]}"})
        if self.validator is not None:
            from jsonschema.exceptions import best_match

            try:
                error = best_match(self.validator.iter_errors(value))
            except RecursionError:
                return Scored(0.0, {"reason": "JSON nested too deeply to validate"})
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "(root)"
                return Scored(0.0, {"reason": f"schema: at {where}: {error.message[:200]}"})
        return 1.0


def json_valid(
    *,
    extract: Extractor | None = None,
    max_chars: int = 1_000_000,
    name: str = "json_valid",
    weight: float = 1.0,
) -> Term:
    """1 when the response's JSON text parses (module docstring)."""
    return Term(name, _Json(None, extract, max_chars), weight, 0.0, 1.0)


def json_schema(
    schema: Mapping[str, Any],
    *,
    extract: Extractor | None = None,
    max_chars: int = 1_000_000,
    name: str = "json_schema",
    weight: float = 1.0,
) -> Term:
    """1 when the response's JSON text parses and validates against ``schema`` (checked here)."""
    try:
        from jsonschema.validators import validator_for
    except ImportError as e:  # pragma: no cover - depends on the install
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled('json_schema needs jsonschema: pip install "assay[rewards]"') from e
    cls = validator_for(schema)
    cls.check_schema(schema)  # a bad schema is the programmer's error: raise now, not per response
    return Term(name, _Json(cls(schema), extract, max_chars), weight, 0.0, 1.0)


class _Fenced:
    def __init__(self, languages: frozenset[str] | None) -> None:
        self.languages = languages

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> float | Scored:
        if "```" not in completion:
            return Scored(0.0, {"reason": "no fenced code block"})
        blocks = [(info, body) for info, body in fenced_blocks(completion) if body.strip()]
        if not blocks:
            return Scored(0.0, {"reason": "no closed, non-empty fenced code block"})
        if self.languages is not None and not any(info.casefold() in self.languages for info, _ in blocks):
            found = sorted({info for info, _ in blocks})
            return Scored(0.0, {"reason": f"no block in {sorted(self.languages)}; found {found}"})
        return 1.0


def fenced_code(
    language: str | Sequence[str] | None = None, *, name: str = "fenced_code", weight: float = 1.0
) -> Term:
    """1 when a closed, non-empty fenced code block (in ``language``, if given) is present."""
    if language is None:
        languages = None
    else:
        names = [language] if isinstance(language, str) else list(language)
        languages = frozenset(n.casefold() for n in names)
    return Term(name, _Fenced(languages), weight, 0.0, 1.0)
