"""Plain data across the sandbox boundary: encode, decode, compare.

The code verifier never compares an object made by candidate code. A candidate's return value
is turned into JSON *inside* the sandbox by `encode`, and only that text leaves it; outside,
`decode` rebuilds plain built-in values (``None``, ``bool``, ``int``, ``float``, ``complex``,
``str``, ``bytes``, ``list``, ``tuple``, ``dict``, ``set``, ``frozenset``), and `same` compares
them. Whatever the candidate does to its own process (patch ``json``, replace this encoder,
return an object whose ``__eq__`` always says yes), what comes out is plain data: an always-equal
object cannot cross, and a subclass of ``int`` or ``list`` crosses as its underlying value, read
through the base type's own methods, so overridden ``__eq__``/``__iter__``/``__repr__`` are
never called.

This module must stay standard-library only and self-contained: its source is shipped into the
sandbox, where ``assay`` is not installed.

Wire format: JSON where ``null``/``true``/``false``/numbers/strings/arrays mean themselves and
every object is a one-key tag: ``{"$tuple": [...]}``, ``{"$set": [...]}``,
``{"$frozenset": [...]}``, ``{"$dict": [[k, v], ...]}``, ``{"$bytes": "<base64>"}``,
``{"$float": "nan" | "inf" | "-inf"}``, ``{"$int": "<hex>"}`` (beyond 4000 digits),
``{"$complex": [re, im]}``. Spec files may also use plain JSON objects for ``str``-keyed dicts.
"""

import base64
import json
import math
import re
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "Tolerance",
    "ValueRejected",
    "compare_tokens",
    "decode",
    "dumps",
    "encode",
    "loads",
    "same",
]

MAX_DEPTH = 64
"""Nesting deeper than this is refused (both ways)."""
_BIG_INT_BITS = 13_000
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class ValueRejected(ValueError):
    """A value cannot cross the boundary (unsupported type, too deep, malformed)."""


# -- encode (runs inside the sandbox) ------------------------------------------------------------


def _float(x: float) -> Any:
    if math.isfinite(x):
        return x
    return {"$float": "nan" if x != x else ("inf" if x > 0 else "-inf")}


def encode(value: Any, _depth: int = 0) -> Any:
    """``value`` as JSON-ready plain data; `ValueRejected` for anything else.

    Subclasses of the built-in types are read through the base type's methods (an ``int``
    subclass crosses as its integer value; a ``list`` subclass as its items), so no method the
    candidate defined runs here.
    """
    if _depth > MAX_DEPTH:
        raise ValueRejected(f"value nested deeper than {MAX_DEPTH}")
    t = type(value)
    if value is None or t is bool:
        return value
    if issubclass(t, bool):  # pragma: no cover - bool cannot be subclassed
        raise ValueRejected("bool subclass")
    if issubclass(t, int):
        v = int.__int__(value)
        return v if v.bit_length() < _BIG_INT_BITS else {"$int": format(v, "x")}
    if issubclass(t, float):
        return _float(float.__float__(value))
    if issubclass(t, str):
        return str.__str__(value)
    if issubclass(t, complex):
        c = complex.__complex__(value)
        return {"$complex": [_float(c.real), _float(c.imag)]}
    if issubclass(t, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(memoryview(value))).decode("ascii")}
    d = _depth + 1
    if issubclass(t, list):
        return [encode(x, d) for x in list.__iter__(value)]
    if issubclass(t, tuple):
        return {"$tuple": [encode(x, d) for x in tuple.__iter__(value)]}
    if issubclass(t, dict):
        return {"$dict": [[encode(k, d), encode(v, d)] for k, v in dict.items(value)]}
    if issubclass(t, frozenset):
        return {"$frozenset": [encode(x, d) for x in frozenset.__iter__(value)]}
    if issubclass(t, set):
        return {"$set": [encode(x, d) for x in set.__iter__(value)]}
    raise ValueRejected(f"cannot send a {t.__name__!r} across the sandbox boundary (plain data only)")


def dumps(value: Any) -> str:
    """`encode` then JSON text."""
    return json.dumps(encode(value), allow_nan=False, separators=(",", ":"))


# -- decode (runs outside, and in the test runner) ------------------------------------------------


def _hashable(x: Any) -> Any:
    try:
        hash(x)
    except TypeError:
        raise ValueRejected(f"unhashable {type(x).__name__} used as a set item or dict key") from None
    return x


def decode(obj: Any, *, lenient: bool = False, _depth: int = 0) -> Any:
    """Plain built-in values from wire data (see the module docstring).

    With ``lenient`` (spec files), a JSON object that is not a one-key ``$`` tag is a dict with
    string keys.
    """
    if _depth > MAX_DEPTH + 2:
        raise ValueRejected(f"value nested deeper than {MAX_DEPTH}")
    t = type(obj)
    if obj is None or t in (bool, int, str):
        return obj
    if t is float:
        return obj
    d = _depth + 1
    if t is list:
        return [decode(x, lenient=lenient, _depth=d) for x in obj]
    if t is not dict:
        raise ValueRejected(f"malformed value of type {t.__name__}")
    if len(obj) == 1:
        ((tag, payload),) = obj.items()
        if isinstance(tag, str) and tag.startswith("$"):
            return _tagged(tag, payload, lenient, d)
    if lenient:
        return {k: decode(v, lenient=True, _depth=d) for k, v in obj.items()}
    raise ValueRejected("malformed value: an object that is not a tag")


def _tagged(tag: str, payload: Any, lenient: bool, d: int) -> Any:
    def items() -> list[Any]:
        if type(payload) is not list:
            raise ValueRejected(f"{tag} needs a list")
        return [decode(x, lenient=lenient, _depth=d) for x in payload]

    if tag == "$tuple":
        return tuple(items())
    if tag == "$set":
        return {_hashable(x) for x in items()}
    if tag == "$frozenset":
        return frozenset(_hashable(x) for x in items())
    if tag == "$dict":
        out = {}
        for pair in items():
            if type(pair) is not list or len(pair) != 2:
                raise ValueRejected("$dict needs [key, value] pairs")
            out[_hashable(pair[0])] = pair[1]
        return out
    if tag == "$bytes" and type(payload) is str:
        try:
            return base64.b64decode(payload.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise ValueRejected("bad $bytes") from None
    if tag == "$float" and payload in _NONFINITE:
        return _NONFINITE[payload]
    if tag == "$int" and type(payload) is str and 0 < len(payload.lstrip("-")) <= 200_000:
        digits = payload[1:] if payload.startswith("-") else payload
        if digits and not digits.strip("0123456789abcdef"):
            return int(payload, 16)
    if tag == "$complex" and type(payload) is list and len(payload) == 2:
        re_, im = (decode(x, _depth=d) for x in payload)
        if type(re_) is float and type(im) is float:
            return complex(re_, im)
    raise ValueRejected(f"malformed {tag!r} value")


def loads(text: str | bytes, *, lenient: bool = False, max_bytes: int = 64 << 20) -> Any:
    """JSON text to plain values; `ValueRejected` for anything malformed, huge or too deep."""
    if len(text) > max_bytes:
        raise ValueRejected(f"value larger than {max_bytes} bytes")

    def no_constants(name: str) -> Any:
        raise ValueRejected(f"bare {name} is not allowed (use the $float tag)")

    try:
        raw = json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError) as e:
        if isinstance(e, ValueRejected):
            raise
        raise ValueRejected(f"not valid JSON: {str(e)[:200]}") from None
    return decode(raw, lenient=lenient)


# -- compare (outside) ----------------------------------------------------------------------------


class Tolerance:
    """A float tolerance the task declares: ``|a - e| <= max(rel * |e|, abs)``.

    Only finite values can be close; ``nan`` matches only an expected ``nan`` and an infinity
    only the same infinity. Without a `Tolerance`, floats compare exactly.
    """

    __slots__ = ("abs", "rel")

    def __init__(self, rel: float = 0.0, abs: float = 0.0) -> None:
        for name, v in (("rel", rel), ("abs", abs)):
            if type(v) not in (int, float) or not math.isfinite(v) or not 0 <= v < 1:
                raise ValueError(f"tolerance {name} must be a number in [0, 1), got {v!r}")
        self.rel = float(rel)
        self.abs = float(abs)

    def close(self, expected: float, actual: float) -> bool:
        if math.isnan(expected) or math.isnan(actual):
            return math.isnan(expected) and math.isnan(actual)
        if math.isinf(expected) or math.isinf(actual):
            return expected == actual
        return abs(actual - expected) <= max(self.rel * abs(expected), self.abs)

    def __repr__(self) -> str:
        return f"Tolerance(rel={self.rel:g}, abs={self.abs:g})"


_NUMBER = (int, float)


def _key(x: Any) -> Any:
    """A hashable stand-in for a set item or dict key in which the type is part of the value.

    Python says ``True == 1`` and ``hash(True) == hash(1)``, so ``{False, True} == {0, 1}``; here
    a bool, a number, a string and bytes never share a key at any depth. Numbers keep comparing
    by value (``2`` and ``2.0`` are one key), as `same` does.
    """
    t = type(x)
    if t is bool:
        return ("bool", x)
    if t is int or t is float:
        return ("num", x)
    if t is tuple:
        return ("tuple", tuple(_key(i) for i in x))
    if t is frozenset:
        return ("frozenset", frozenset(_key(i) for i in x))
    return (t.__name__, x)


def _float_or_none(x: int | float) -> float | None:
    """``float(x)``, or None for an int too large for a float (never an OverflowError)."""
    try:
        return float(x)
    except OverflowError:
        return None


def same(expected: Any, actual: Any, tol: Tolerance | None = None) -> bool:
    """Whether decoded ``actual`` equals ``expected`` (both plain values).

    Types matter at every depth, set items and dict keys included: ``True`` is not ``1``,
    ``"1"`` is not ``1``, ``{False, True}`` is not ``{0, 1}``. Numbers compare by value
    (``2 == 2.0``). An expected ``int`` compares exactly, tolerance or not (a tolerance never
    turns a wrong integer right: ``6.5`` is not ``7``); an expected ``float`` compares within
    ``tol`` when the task declares one, else exactly (``nan`` equals only ``nan``). Ints of any
    size compare without overflow. A list expected from JSON also accepts a tuple (JSON has no
    tuples); an explicit ``$tuple`` wants a tuple. Set items compare exactly.
    """
    te, ta = type(expected), type(actual)
    if expected is None:
        return actual is None
    if te is bool or ta is bool:
        return te is ta and expected == actual
    if te in _NUMBER:
        if ta not in _NUMBER:
            return False
        if te is int:  # exact (Python compares int and float exactly, without overflow)
            return bool(expected == actual)
        e, a = float(expected), _float_or_none(actual)
        if a is None:  # an int beyond float range is never close to a float
            return False
        if tol is not None:
            return tol.close(e, a)
        if math.isnan(e) or math.isnan(a):
            return math.isnan(e) and math.isnan(a)
        return bool(expected == actual) if ta is int else e == a
    if te is complex:
        return (
            ta is complex and same(expected.real, actual.real, tol) and same(expected.imag, actual.imag, tol)
        )
    if te in (str, bytes):
        return ta is te and bool(expected == actual)
    if te is list or te is tuple:
        if not (ta is te or (te is list and ta is tuple)):
            return False
        return len(expected) == len(actual) and all(
            same(e, a, tol) for e, a in zip(expected, actual, strict=True)
        )
    if te is dict:
        if ta is not dict or len(expected) != len(actual):
            return False
        by_key = {_key(k): v for k, v in actual.items()}
        if len(by_key) != len(actual):
            return False
        missing = object()
        for k, v in expected.items():
            got = by_key.get(_key(k), missing)
            if got is missing or not same(v, got, tol):
                return False
        return True
    if te in (set, frozenset):
        if ta not in (set, frozenset) or len(expected) != len(actual):
            return False
        return {_key(x) for x in expected} == {_key(x) for x in actual}
    return False


# -- stdout tokens --------------------------------------------------------------------------------

_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(name: str) -> re.Pattern[str]:
    """Compiled on first use (the sandboxed copies of this module never need them)."""
    if not _PATTERNS:
        _PATTERNS["int"] = re.compile(r"[+-]?[0-9]+", re.ASCII)
        _PATTERNS["float"] = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
        _PATTERNS["ws"] = re.compile(r"[ \t\n\r\f\v]+")
    return _PATTERNS[name]


def _tokens(text: str) -> list[str]:
    return [t for t in _pattern("ws").split(text) if t]


def compare_tokens(expected: str, actual: str, tol: Tolerance | None = None) -> tuple[bool, str]:
    """Token-exact comparison of program output (ASCII whitespace separates tokens).

    With a declared ``tol``, an expected token that is a decimal float literal (``0.5``,
    ``1e-3``) accepts any finite decimal literal within the tolerance; integer tokens and words
    always compare exactly. ``nan``, ``inf``, hex floats, ``1_000`` and non-ASCII digits are
    never numbers here. Returns ``(ok, reason)``.
    """
    e_tokens, a_tokens = _tokens(expected), _tokens(actual)
    for i, (e, a) in enumerate(zip(e_tokens, a_tokens, strict=False)):
        if e == a:
            continue
        number = _pattern("float")
        if (
            tol is not None
            and not _pattern("int").fullmatch(e)
            and number.fullmatch(e)
            and number.fullmatch(a)
        ):
            fe, fa = float(e), float(a)
            if math.isfinite(fe) and math.isfinite(fa) and tol.close(fe, fa):
                continue
        return False, f"token {i + 1}: expected {e[:50]!r}, got {a[:50]!r}"
    if len(e_tokens) != len(a_tokens):
        return False, f"expected {len(e_tokens)} tokens, got {len(a_tokens)}"
    return True, "output matches"
