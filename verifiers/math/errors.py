"""The two ways reading an answer can fail."""

from __future__ import annotations

__all__ = ["ParseError", "TooComplex"]


class ParseError(ValueError):
    """The text is not an answer in a notation this parser reads."""


class TooComplex(ValueError):
    """The answer is beyond a size limit (nesting, digits, exponent, factorial...).

    Raised before the expensive computation, so a pathological answer costs microseconds.
    """
