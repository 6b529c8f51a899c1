"""A safe parser for arithmetic answers (Countdown, 24): integers, ``+ - * /``, parentheses.

The parser is a small recursive-descent grammar over a token list; nothing is ever handed to
``eval``, ``compile`` or sympy. Values are exact `fractions.Fraction`s. Limits keep hostile
input cheap: at most `MAX_CHARS` characters, `MAX_DIGITS` digits per literal and `MAX_DEPTH`
nested parentheses (so the recursion cannot overflow), and a product whose size would exceed
`MAX_BITS` is refused instead of computed.

Grammar (``×``/``x``/``·`` mean ``*``; ``÷`` means ``/``; ``−`` means ``-``)::

    expr   := term (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := NUMBER | "(" expr ")" | "-" factor      (unary minus only if allowed)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["MAX_CHARS", "ExprError", "Parsed", "parse_arithmetic"]

MAX_CHARS = 1_000
MAX_DIGITS = 12
MAX_DEPTH = 40
MAX_BITS = 4_096

_TOKEN = re.compile(r"\s*(?:(\d+)|([-+*/()]))")
_SYNONYMS = str.maketrans({"×": "*", "x": "*", "X": "*", "·": "*", "÷": "/", "−": "-", "–": "-"})


class ExprError(ValueError):
    """The text is not a well-formed arithmetic expression (or breaks a limit)."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed expression: its exact value and the integer literals it uses, in order."""

    value: Fraction
    numbers: tuple[int, ...]


def _tokenize(text: str) -> list[str]:
    text = text.translate(_SYNONYMS)
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExprError(f"unexpected character {text[pos:].lstrip()[:1]!r}")
        if m.group(1) is not None and len(m.group(1)) > MAX_DIGITS:
            raise ExprError(f"number longer than {MAX_DIGITS} digits")
        tokens.append(m.group(1) or m.group(2))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], unary_minus: bool) -> None:
        self.tokens, self.pos, self.unary_minus = tokens, 0, unary_minus
        self.numbers: list[int] = []

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ExprError("expression ends too early")
        self.pos += 1
        return tok

    def expr(self, depth: int) -> Fraction:
        value = self.term(depth)
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term(depth)
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self, depth: int) -> Fraction:
        value = self.factor(depth)
        while self.peek() in ("*", "/"):
            op = self.take()
            rhs = self.factor(depth)
            if op == "*":
                if _bits(value) + _bits(rhs) > MAX_BITS:
                    raise ExprError("intermediate value too large")
                value *= rhs
            else:
                if rhs == 0:
                    raise ZeroDivisionError("division by zero")
                value /= rhs
        return value

    def factor(self, depth: int) -> Fraction:
        if depth > MAX_DEPTH:
            raise ExprError(f"more than {MAX_DEPTH} nested parentheses")
        tok = self.take()
        if tok == "(":
            value = self.expr(depth + 1)
            if self.take() != ")":
                raise ExprError("missing ')'")
            return value
        if tok == "-" and self.unary_minus:
            return -self.factor(depth + 1)
        if tok.isdigit():
            self.numbers.append(int(tok))
            return Fraction(int(tok))
        raise ExprError(f"unexpected {tok!r}")


def _bits(x: Fraction) -> int:
    return x.numerator.bit_length() + x.denominator.bit_length()


def parse_arithmetic(text: str, *, unary_minus: bool = False) -> Parsed:
    """Parse and evaluate ``text`` exactly.

    Raises:
        ExprError: Malformed text, or a limit broken.
        ZeroDivisionError: The expression divides by zero.
    """
    if len(text) > MAX_CHARS:
        raise ExprError(f"expression longer than {MAX_CHARS} characters")
    tokens = _tokenize(text)
    if not tokens:
        raise ExprError("empty expression")
    parser = _Parser(tokens, unary_minus)
    value = parser.expr(0)
    if parser.pos != len(tokens):
        raise ExprError(f"unexpected {tokens[parser.pos]!r} after the expression")
    return Parsed(value, tuple(parser.numbers))
