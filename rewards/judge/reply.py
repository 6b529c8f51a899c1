"""Reading a judge's reply: the score or the preference it ends with.

Both readers look at the last 20,000 characters and take the last match of the most explicit form present, so a critique that
quotes an example score before giving its own is read by its own. A score off the template's
scale is rejected, never clipped; a reply with nothing to read gives None (the caller decides what
that means: `Judge` drops the reply, `PairwiseJudge` leaves the order undecided). Not guaranteed:
that a judge which writes two final scores meant the last one.
"""

from __future__ import annotations

import math
import re
from typing import Literal

__all__ = ["parse_preference", "parse_score"]

_NUMBER = r"(-?\d+(?:\.\d+)?)"
_LABELLED = re.compile(
    rf"\b(?:final\s+)?(?:score|rating|grade)\b[*_ ]*(?:\([^)\n]{{0,20}}\))?[*_ ]*[:=]?[*_ \t]*{_NUMBER}"
    rf"(?:[ \t]*(?:/|out of)[ \t]*(\d+(?:\.\d+)?))?",
    re.IGNORECASE,
)
_BRACKETED = re.compile(rf"\[\[\s*{_NUMBER}\s*\]\]")
_FRACTION = re.compile(rf"{_NUMBER}[ \t]*(?:/|out of)[ \t]*(\d+(?:\.\d+)?)", re.IGNORECASE)


def parse_score(text: str, low: float = 1, high: float = 10) -> float | None:
    """The judge's score on the ``low..high`` scale, or None.

    The last labelled score (``Score: 7``, ``**Rating:** 7/10``, ``Final score = 8.5``) wins;
    else the last ``[[7]]``; else the last ``7/10`` whose denominator is ``high``. A value off
    the scale (or over a different denominator) is rejected, not clipped.
    """
    text = text[-20_000:]
    for pattern in (_LABELLED, _BRACKETED, _FRACTION):
        matches = list(pattern.finditer(text))
        if pattern is _FRACTION:
            matches = [m for m in matches if float(m.group(2)) == high]
        if not matches:
            continue
        m = matches[-1]
        value = float(m.group(1))
        denominator = m.group(2) if pattern is not _BRACKETED else None
        if denominator is not None and float(denominator) != high:
            return None
        return value if low <= value <= high and math.isfinite(value) else None
    return None


_PREF_BRACKET = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)
_PREF_LABEL = re.compile(
    r"\b(?:winner|verdict|better(?:\s+response)?|preferred(?:\s+response)?|choice)\b[*_ ]*[:=][*_ \t]*"
    r"(?:response|answer|assistant)?[ \t]*\[?(A|B|tie)\b",
    re.IGNORECASE,
)


def parse_preference(text: str) -> Literal["A", "B", "tie"] | None:
    """``"A"``, ``"B"`` or ``"tie"`` from the last ``[[A]]``/``[[B]]``/``[[C]]`` (C: tie), else
    the last ``Winner: A``-style line; None when there is none."""
    text = text[-20_000:]
    for pattern in (_PREF_BRACKET, _PREF_LABEL):
        matches = list(pattern.finditer(text))
        if matches:
            token = matches[-1].group(1).upper()
            return "A" if token == "A" else "B" if token == "B" else "tie"
    return None
