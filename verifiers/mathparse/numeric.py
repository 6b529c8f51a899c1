"""Numeric comparison with mpmath: evaluate both sides at sample points, at adaptive precision.

Precision starts at 40 significant digits plus the size of the largest exact constant in either
expression (``2^{1/2^{1000}}`` holds a 302-digit denominator, so it is compared at 342 digits
and found different from 1). Each point's verdict accounts for cancellation: the rounding noise
of a value is estimated from the largest intermediate magnitude met while computing it, and a
difference is "zero" only when it is below that noise, "nonzero" only when far above it;
anything in between is undecided.

Values that are astronomically large or small without being exact rationals (``e^{-e^{e^5}}``)
raise `Extreme`: numbers cannot be trusted there, and the caller must prove equality
symbolically instead. With variables, the points are drawn in (1.1, 2.9) (where roots and
logarithms are real) and in (-2.9, -1.1): expressions must agree at every positive point, and at
negative points wherever both sides are real (so ``|x|`` differs from ``x``, while
``\\sqrt{x}\\sqrt{x}`` equals ``x``).
"""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

import mpmath

from assay.verifiers.mathparse.errors import TooComplex
from assay.verifiers.mathparse.exact import Undefined, const_value, symbols
from assay.verifiers.mathparse.nodes import BigOp, Const, Func, Node, Num, Op, Sym, Wrap, walk

__all__ = ["Extreme", "NotNumeric", "numeric_equal", "numeric_value"]

BASE_DPS = 40
MAX_DPS = 4_000
EXTREME_EXP = 30
"""|log10| of a non-rational value beyond which numbers are not trusted (see `Extreme`)."""

MAX_EXPONENT = 10_000
POSITIVE_POINTS = 4
NEGATIVE_POINTS = 2
MAX_SUM_TERMS = 2_000


class NotNumeric(ValueError):
    """The node has no numeric value here (text, a set, an unknown function, ...)."""


class Extreme(ValueError):
    """A non-rational intermediate value is too large or too small to trust numerically."""


class _Evaluator:
    def __init__(self, env: dict[str, Any], dps: int) -> None:
        self.env = env
        self.dps = dps
        self.maxmag = 0.0
        self.cache: dict[int, Fraction | None] = {}

    def note(self, v: Any) -> Any:
        if not mpmath.isfinite(v):
            raise Undefined("not finite")
        m = float(abs(v)) if abs(v) < mpmath.mpf(10) ** 300 else 1e300
        if m > self.maxmag:
            self.maxmag = m
        return v

    def exact(self, node: Node) -> Fraction | None:
        key = id(node)
        if key not in self.cache:
            try:
                self.cache[key] = const_value(node) if not (symbols(node)) else None
            except Undefined:
                self.cache[key] = None
        return self.cache[key]

    def trusted(self, v: Any) -> Any:
        """Raise `Extreme` for a non-zero value far outside [1e-30, 1e30]."""
        if v != 0:
            mag = mpmath.log10(abs(v))
            if abs(mag) > EXTREME_EXP:
                raise Extreme("value out of the trusted range")
        return v

    def ev(self, node: Node) -> Any:
        if isinstance(node, Num):
            return self.note(mpmath.mpf(node.value.numerator) / node.value.denominator)
        if isinstance(node, Sym):
            if node.name not in self.env:
                raise NotNumeric(f"free variable {node.name}")
            return self.env[node.name]
        if isinstance(node, Const):
            return {"pi": mpmath.pi, "e": mpmath.e, "i": mpmath.mpc(0, 1)}.get(node.name) or self._inf()
        q = self.exact(node) if not isinstance(node, Wrap) else None
        if q is not None:
            return self.note(mpmath.mpf(q.numerator) / q.denominator)
        if isinstance(node, Op):
            return self.op(node)
        if isinstance(node, Func):
            return self.func(node)
        if isinstance(node, Wrap):
            if node.kind == "percent":
                return self.note(self.ev(node.arg) / 100)
            if node.kind == "degree":
                return self.note(self.ev(node.arg) * mpmath.pi / 180)
            raise NotNumeric("a value with a unit inside an expression")
        if isinstance(node, BigOp):
            return self.bigop(node)
        raise NotNumeric(type(node).__name__)

    def _inf(self) -> Any:
        raise NotNumeric("infinity")

    def op(self, node: Op) -> Any:
        if node.op in ("pm", "mp"):
            raise NotNumeric("plus-minus")
        if node.op == "^":
            base = self.ev(node.args[0])
            exp = self.ev(node.args[1])
            if abs(exp) > MAX_EXPONENT:
                raise Extreme("huge exponent")
            if base == 0:
                if mpmath.re(exp) <= 0:
                    raise Undefined("0 to a non-positive power")
                return mpmath.mpf(0)
            q = self.exact(node.args[1])
            if (
                q is not None
                and q.denominator % 2 == 1
                and q.denominator > 1
                and mpmath.im(base) == 0
                and base < 0
            ):
                # real odd root of a negative number: (-8)^(1/3) = -2
                val = -(mpmath.power(-base, exp)) if q.numerator % 2 else mpmath.power(-base, exp)
            else:
                val = mpmath.power(base, exp)
            return self.note(self.trusted(val))
        vals = [self.ev(a) for a in node.args]
        if node.op == "+":
            return self.note(mpmath.fsum(vals))
        if node.op == "*":
            out = mpmath.mpf(1)
            for v in vals:
                out = self.note(out * v)
            return out
        if node.op == "neg":
            return -vals[0]
        if node.op == "/":
            if vals[1] == 0:
                raise Undefined("division by zero")
            return self.note(vals[0] / vals[1])
        raise NotNumeric(node.op)

    def func(self, node: Func) -> Any:
        name = node.name
        if name in ("ratio", "base"):
            raise NotNumeric(name)
        args = [self.ev(a) for a in node.args]
        x = args[0]
        simple = {
            "sin": mpmath.sin, "cos": mpmath.cos, "tan": mpmath.tan, "sec": mpmath.sec,
            "csc": mpmath.csc, "cot": mpmath.cot, "arcsin": mpmath.asin, "arccos": mpmath.acos,
            "arctan": mpmath.atan, "arcsec": mpmath.asec, "arccsc": mpmath.acsc, "arccot": mpmath.acot,
            "sinh": mpmath.sinh, "cosh": mpmath.cosh, "tanh": mpmath.tanh, "coth": mpmath.coth,
            "sech": mpmath.sech, "csch": mpmath.csch, "arsinh": mpmath.asinh, "arcosh": mpmath.acosh,
            "artanh": mpmath.atanh, "sqrt": mpmath.sqrt, "abs": abs,
        }  # fmt: skip
        if name in simple:
            if name in ("sin", "cos", "tan", "sec", "csc", "cot", "sinh", "cosh", "tanh") and abs(x) > 10**6:
                raise Extreme("trigonometric function of a huge argument")
            if name in ("tan", "sec") and abs(mpmath.cos(x)) < mpmath.mpf(10) ** (-self.dps // 2):
                raise Undefined("pole")
            if name in ("cot", "csc") and abs(mpmath.sin(x)) < mpmath.mpf(10) ** (-self.dps // 2):
                raise Undefined("pole")
            return self.note(self.trusted(simple[name](x)))
        if name == "log":
            if x == 0 or args[1] == 0 or args[1] == 1:
                raise Undefined("log of zero")
            return self.note(self.trusted(mpmath.log(x) / mpmath.log(args[1])))
        if name == "root":
            n = args[1]
            q = self.exact(node.args[1])
            if q is not None and q.denominator == 1 and q.numerator % 2 == 1 and mpmath.im(x) == 0 and x < 0:
                return self.note(-mpmath.root(-x, int(q.numerator)))
            return self.note(mpmath.power(x, 1 / n))
        if name in ("floor", "ceil"):
            if mpmath.im(x) != 0:
                raise NotNumeric("floor of a complex number")
            return mpmath.floor(x) if name == "floor" else mpmath.ceil(x)
        if name == "fact":
            if abs(x) > 3000:
                raise Extreme("huge factorial")
            return self.note(mpmath.gamma(x + 1))
        if name == "binom":
            return self.note(mpmath.binomial(x, args[1]))
        if name in ("max", "min"):
            if any(mpmath.im(a) != 0 for a in args):
                raise NotNumeric("max of complex numbers")
            return max(args) if name == "max" else min(args)
        raise NotNumeric(f"function {name}")

    def bigop(self, node: BigOp) -> Any:
        lo, hi = self.ev(node.lo), self.ev(node.hi)
        if mpmath.im(lo) != 0 or mpmath.im(hi) != 0 or lo != int(lo) or hi != int(hi):
            raise NotNumeric("non-integer summation bounds")
        ilo, ihi = int(lo), int(hi)
        if ihi - ilo + 1 > MAX_SUM_TERMS:
            raise TooComplex("too many terms")
        saved = self.env.get(node.var)
        acc = mpmath.mpf(0) if node.kind == "sum" else mpmath.mpf(1)
        self.cache.clear()
        for k in range(ilo, ihi + 1):
            self.env[node.var] = mpmath.mpf(k)
            v = self.ev(node.body)
            acc = self.note(acc + v if node.kind == "sum" else acc * v)
        if saved is None:
            self.env.pop(node.var, None)
        else:
            self.env[node.var] = saved
        self.cache.clear()
        return acc


def _literal_digits(node: Node) -> int:
    """Decimal digits of the largest exact constant appearing in ``node``."""
    best = 0
    for n in walk(node):
        if isinstance(n, Num):
            q = n.value
        elif isinstance(n, Op | Func) and not symbols(n):
            try:
                v = const_value(n)
            except (Undefined, TooComplex):
                continue
            if v is None:
                continue
            q = v
        else:
            continue
        bits = max(q.numerator.bit_length(), q.denominator.bit_length())
        best = max(best, bits * 30103 // 100000 + 1)
    return best


def numeric_value(node: Node, env: dict[str, Any] | None = None, dps: int = BASE_DPS) -> Any:
    """``node`` as an mpmath number at ``dps`` digits (raises NotNumeric/Extreme/Undefined)."""
    with mpmath.workdps(dps):
        return _Evaluator(dict(env or {}), dps).ev(node)


def _sample_points(names: list[str], rng: random.Random) -> list[tuple[bool, dict[str, Any]]]:
    pts: list[tuple[bool, dict[str, Any]]] = []
    for k in range(POSITIVE_POINTS + NEGATIVE_POINTS):
        positive = k < POSITIVE_POINTS
        env = {}
        for n in names:
            v = Fraction(rng.randrange(1_100_000, 2_900_000), 1_000_000)
            env[n] = mpmath.mpf(v.numerator) / v.denominator * (1 if positive else -1)
        pts.append((positive, env))
    return pts


def _compare_at(a: Node, b: Node, env: dict[str, Any], dps: int) -> bool | None:
    """True (equal here), False (different here), None (undecided or undefined here)."""
    with mpmath.workdps(dps):
        ea, eb = _Evaluator(dict(env), dps), _Evaluator(dict(env), dps)
        va, vb = ea.ev(a), eb.ev(b)
        diff = abs(va - vb)
        noise = (max(ea.maxmag, abs(va)) + max(eb.maxmag, abs(vb))) * mpmath.mpf(10) ** (-(dps - 8))
        if diff <= noise:
            return True
        if diff > noise * 10**6:
            return False
        return None


def numeric_equal(a: Node, b: Node, *, seed: int = 0) -> bool | None:
    """Whether ``a`` and ``b`` agree numerically: True, False, or None (cannot decide).

    Raises `Extreme` when a value is outside the trusted range (prove it symbolically instead)
    and `NotNumeric` when an expression has no numeric value.
    """
    names = sorted(symbols(a) | symbols(b))
    dps = min(MAX_DPS, BASE_DPS + max(_literal_digits(a), _literal_digits(b)))
    if not names:
        for precision in (dps, 2 * dps):
            try:
                verdict = _compare_at(a, b, {}, precision)
            except Undefined:
                return None
            if verdict is not None:
                return verdict
        return None
    rng = random.Random(seed)
    decided = 0
    for positive, env in _sample_points(names, rng):
        try:
            verdict = _compare_at(a, b, env, dps)
            if verdict is None:
                verdict = _compare_at(a, b, env, 2 * dps)
        except Undefined:
            continue
        if verdict is None:
            continue
        if verdict is False:
            if positive:
                return False
            with mpmath.workdps(dps):
                va, vb = numeric_value(a, env, dps), numeric_value(b, env, dps)
            if mpmath.im(va) == 0 and mpmath.im(vb) == 0:
                return False
            continue
        if positive:
            decided += 1
    return True if decided >= 2 else None
