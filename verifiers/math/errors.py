"""The two ways reading an answer can fail.

Both are `assay.errors.VerifierError` subclasses and ValueErrors (callers catch either); they are
siblings, so ``except ParseError`` never swallows a `TooComplex`.
"""

from __future__ import annotations

from assay.verifiers.errors import VerifierError

__all__ = ["ParseError", "TooComplex"]


class ParseError(VerifierError, ValueError):
    """The text is not an answer in a notation this parser reads."""


class TooComplex(VerifierError, ValueError):
    """The answer is beyond a size limit (nesting, digits, exponent, factorial...).

    Raised before the expensive computation, so a pathological answer costs microseconds.
    """
