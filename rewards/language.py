"""Language terms: the response keeps the prompt's language and script.

- ``language_consistency()``: the expected language is ``expected``, else ``task.meta["language"]``,
  else the language identified in the prompt. The response, with code blocks, inline code,
  LaTeX, markup tags and URLs removed, is cut into up to ``chunks`` equal pieces of at most
  ``chunk_chars`` characters spread over its length; the value is the fraction of pieces
  identified as the expected language (so a switch half-way scores about 0.5). Identification
  is py3langid (a maintained fork of langid.py; the model ships in the wheel and runs offline).
  Not applicable when the cleaned response has fewer than ``min_chars`` letters.
- ``script_consistency()``: the fraction of the response's letters written in the prompt's
  dominant script (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Hangul, CJK with kana, ...;
  from each letter's Unicode name). Not applicable with fewer than ``min_letters`` letters in
  the response (or none in the prompt). Cheap, and catches the common failure (a Chinese
  answer to an English prompt) without a model.

Ranges ``[0, 1]``; details carry what was expected and detected.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from assay.rewards.base import Scored, Term
from assay.verifiers.base import Task, Verdict

__all__ = [
    "dominant_script",
    "identify_language",
    "language_consistency",
    "script_consistency",
    "strip_non_prose",
]

_NON_PROSE = re.compile(
    r"```.*?(?:```|\Z)"  # fenced code (an unclosed fence runs to the end)
    r"|`[^`\n]*`"  # inline code
    r"|\$\$.*?\$\$|\\\[.*?\\\]|\\\(.*?\\\)|\$[^$\n]*\$"  # LaTeX
    r"|</?[A-Za-z][^<>\n]{0,64}>"  # markup tags
    r"|https?://\S+",  # URLs
    re.DOTALL,
)


def strip_non_prose(text: str) -> str:
    """``text`` without code, LaTeX, markup tags and URLs (what a language check should skip)."""
    return _NON_PROSE.sub(" ", text)


_IDENTIFIERS: dict[tuple[str, ...] | None, Any] = {}
_ID_LOCK = threading.Lock()


def _identifier(languages: tuple[str, ...] | None) -> Any:
    with _ID_LOCK:
        found = _IDENTIFIERS.get(languages)
        if found is None:
            try:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier
            except ImportError as e:  # pragma: no cover - depends on the install
                from gymnasium.error import DependencyNotInstalled

                raise DependencyNotInstalled(
                    'language terms need py3langid: pip install "assay[rewards]"'
                ) from e
            found = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            if languages is not None:
                found.set_languages(list(languages))
            _IDENTIFIERS[languages] = found
        return found


def identify_language(text: str, languages: Sequence[str] | None = None) -> tuple[str, float]:
    """``(ISO 639-1 code, probability)`` of ``text`` (py3langid; offline)."""
    key = tuple(sorted(languages)) if languages is not None else None
    lang, prob = _identifier(key).classify(text)
    return str(lang), float(prob)


def _letters(text: str) -> int:
    return sum(1 for c in text if c.isalpha())


class _Language:
    def __init__(
        self,
        expected: str | None,
        languages: tuple[str, ...] | None,
        min_chars: int,
        chunks: int,
        chunk_chars: int,
    ) -> None:
        self.expected, self.languages = expected, languages
        self.min_chars, self.chunks, self.chunk_chars = min_chars, chunks, chunk_chars

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> Scored | None:
        expected = self.expected or task.meta.get("language")
        if expected is None:
            prompt = strip_non_prose(task.prompt)
            if _letters(prompt) < self.min_chars:
                return None
            expected = identify_language(prompt, self.languages)[0]
        text = " ".join(strip_non_prose(completion).split())
        if _letters(text) < self.min_chars:
            return None
        k = max(1, min(self.chunks, -(-len(text) // self.chunk_chars)))
        size = min(self.chunk_chars, len(text) // k)
        step = (len(text) - size) / (k - 1) if k > 1 else 0.0
        detected = []
        for i in range(k):
            start = int(i * step)
            detected.append(identify_language(text[start : start + size], self.languages)[0])
        value = sum(d == expected for d in detected) / k
        return Scored(value, {"expected": expected, "detected": detected})


def language_consistency(
    expected: str | None = None,
    *,
    languages: Sequence[str] | None = None,
    min_chars: int = 20,
    chunks: int = 4,
    chunk_chars: int = 400,
    name: str = "language",
    weight: float = 1.0,
) -> Term:
    """Fraction of the response identified as the expected language (module docstring).

    ``languages`` restricts identification to a set of ISO 639-1 codes (more robust on short
    text when the candidates are known).
    """
    if chunks < 1 or chunk_chars < 1:
        raise ValueError("chunks and chunk_chars must be >= 1")
    langs = tuple(sorted(languages)) if languages is not None else None
    if langs is not None:
        _identifier(langs)  # unknown codes raise here, not per response
    return Term(name, _Language(expected, langs, min_chars, chunks, chunk_chars), weight, 0.0, 1.0)


_FAMILY = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "IDEOGRAPHIC": "CJK", "BOPOMOFO": "CJK", "KANGXI": "CJK"}


@lru_cache(maxsize=65536)
def _script(codepoint: int) -> str | None:
    ch = chr(codepoint)
    if not unicodedata.category(ch).startswith("L"):
        return None
    words = unicodedata.name(ch, "").split()
    if not words:
        return None
    head = words[1] if words[0] in ("FULLWIDTH", "HALFWIDTH") and len(words) > 1 else words[0]
    return _FAMILY.get(head, head)


def _script_counts(text: str) -> dict[str, int]:
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    ascii_letters = int(np.count_nonzero(((cps | 0x20) >= 0x61) & ((cps | 0x20) <= 0x7A)))
    counts: dict[str, int] = {"LATIN": ascii_letters} if ascii_letters else {}
    rest = cps[cps >= 0x80]
    if rest.size:
        values, freq = np.unique(rest, return_counts=True)
        for cp, f in zip(values.tolist(), freq.tolist(), strict=True):
            script = _script(cp)
            if script is not None:
                counts[script] = counts.get(script, 0) + f
    return counts


def dominant_script(text: str) -> str | None:
    """The script most of ``text``'s letters are written in (``"LATIN"``, ``"CJK"``, ...), or None."""
    counts = _script_counts(text)
    return max(counts, key=lambda s: counts[s]) if counts else None


class _Script:
    def __init__(self, expected: str | None, min_letters: int) -> None:
        self.expected, self.min_letters = expected, min_letters

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> Scored | None:
        expected = self.expected or task.meta.get("script") or dominant_script(strip_non_prose(task.prompt))
        if expected is None:
            return None
        counts = _script_counts(strip_non_prose(completion))
        total = sum(counts.values())
        if total < self.min_letters:
            return None
        return Scored(counts.get(expected, 0) / total, {"expected": expected, "letters": counts})


def script_consistency(
    expected: str | None = None, *, min_letters: int = 1, name: str = "script", weight: float = 1.0
) -> Term:
    """Fraction of the response's letters in the expected script (module docstring)."""
    return Term(name, _Script(expected.upper() if expected else None, max(1, min_letters)), weight, 0.0, 1.0)
