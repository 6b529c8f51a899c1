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

from assay.verifiers.errors import VerifierError
from assay.verifiers.math.errors import TooComplex
from assay.verifiers.math.exact import Undefined, const_value, symbols
from assay.verifiers.math.nodes import BigOp, Const, Func, Node, Num, Op, Sym, Wrap, children, walk

__all__ = ["Extreme", "NotNumeric", "numeric_equal", "numeric_value"]

BASE_DPS = 40
MAX_DPS = 4_000
EXTREME_EXP = 30
"""A non-zero non-rational value below 10^-EXTREME_EXP is not trusted (see `Extreme`)."""
HUGE_EXP = 10_000
"""Nor is one above 10^HUGE_EXP."""

MAX_EXPONENT = 10_000
POSITIVE_POINTS = 4
NEGATIVE_POINTS = 2
MAX_SUM_TERMS = 2_000


_FLOAT_MAX = mpmath.mpf(10) ** 300
_HUGE = mpmath.mpf(10) ** HUGE_EXP
_TINY = mpmath.mpf(10) ** -EXTREME_EXP


class NotNumeric(VerifierError, ValueError):
    """The node has no numeric value here (text, a set, an unknown function, ...)."""


class Extreme(VerifierError, ValueError):
    """A non-rational intermediate value is too large or too small to trust numerically."""


def _constants(*roots: Node) -> dict[int, Fraction]:
    """The exact value of every constant rational subtree, by node id, in one pass."""
    table: dict[int, Fraction] = {}
    free: dict[int, bool] = {}
    for root in roots:
        for n in reversed(walk(root)):  # descendants before their parent
            f = isinstance(n, Sym | BigOp) or any(free[id(k)] for k in children(n))
            free[id(n)] = f
            if not f and isinstance(n, Op | Func):
                try:
                    v = const_value(n)
                except (Undefined, TooComplex):
                    v = None
                if v is not None:
                    table[id(n)] = v
    return table


class _Evaluator:
    def __init__(self, env: dict[str, Any], dps: int, constants: dict[int, Fraction] | None = None) -> None:
        self.env = env
        self.dps = dps
        self.maxmag = 0.0
        self.constants = constants if constants is not None else {}

    def note(self, v: Any) -> Any:
        if not mpmath.isfinite(v):
            raise Undefined("not finite")
        m = abs(v)
        m = float(m) if m < _FLOAT_MAX else 1e300
        if m > self.maxmag:
            self.maxmag = m
        return v

    def exact(self, node: Node) -> Fraction | None:
        return self.constants.get(id(node))

    def trusted(self, v: Any) -> Any:
        """Raise `Extreme` for a non-zero value below 1e-30 or above 1e10000 in magnitude.

        A tiny value can hide below the working precision (``\\sqrt2 + e^{-e^{e^5}}`` would
        look equal to ``\\sqrt2``); huge values are safe because cancellation among them is
        caught by the noise estimate in `_compare_at`."""
        if v != 0:
            m = abs(v)
            if m > _HUGE or m < _TINY:
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
            if name in ("sin", "cos", "tan", "sec", "csc", "cot") and abs(x) > 10**15:
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
        for k in range(ilo, ihi + 1):
            self.env[node.var] = mpmath.mpf(k)
            v = self.ev(node.body)
            acc = self.note(acc + v if node.kind == "sum" else acc * v)
        if saved is None:
            self.env.pop(node.var, None)
        else:
            self.env[node.var] = saved
        return acc


def _literal_digits(constants: dict[int, Fraction], *roots: Node) -> int:
    """Decimal digits of the largest exact constant appearing in ``roots``."""
    values = list(constants.values()) + [n.value for r in roots for n in walk(r) if isinstance(n, Num)]
    bits = max((max(q.numerator.bit_length(), q.denominator.bit_length()) for q in values), default=0)
    return bits * 30103 // 100000 + 1


def numeric_value(node: Node, env: dict[str, Any] | None = None, dps: int = BASE_DPS) -> Any:
    """``node`` as an mpmath number at ``dps`` digits (raises NotNumeric/Extreme/Undefined)."""
    with mpmath.workdps(dps):
        return _Evaluator(dict(env or {}), dps, _constants(node)).ev(node)


def _sample_points(
    names: list[str], integers: set[str], rng: random.Random
) -> list[tuple[bool, dict[str, Any]]]:
    """Random points; variables in ``integers`` (summation bounds) get integers in [4, 12]."""
    pts: list[tuple[bool, dict[str, Any]]] = []
    for k in range(POSITIVE_POINTS + NEGATIVE_POINTS):
        positive = k < POSITIVE_POINTS
        env = {}
        for n in names:
            if n in integers:
                env[n] = mpmath.mpf(rng.randrange(4, 13))
                continue
            v = Fraction(rng.randrange(1_100_000, 2_900_000), 1_000_000)
            env[n] = mpmath.mpf(v.numerator) / v.denominator * (1 if positive else -1)
        pts.append((positive, env))
    return pts


def _bound_variables(*roots: Node) -> set[str]:
    out: set[str] = set()
    for root in roots:
        for n in walk(root):
            if isinstance(n, BigOp):
                out |= symbols(n.lo) | symbols(n.hi)
    return out


def _compare_at(
    a: Node, b: Node, env: dict[str, Any], dps: int, constants: dict[int, Fraction]
) -> bool | None:
    """True (equal here), False (different here), None (undecided or undefined here)."""
    with mpmath.workdps(dps):
        ea, eb = _Evaluator(dict(env), dps, constants), _Evaluator(dict(env), dps, constants)
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
    constants = _constants(a, b)
    dps = min(MAX_DPS, BASE_DPS + _literal_digits(constants, a, b))
    if not names:
        for precision in (dps, 2 * dps):
            try:
                verdict = _compare_at(a, b, {}, precision, constants)
            except Undefined:
                return None
            if verdict is not None:
                return verdict
        return None
    rng = random.Random(seed)
    decided = 0
    for positive, env in _sample_points(names, _bound_variables(a, b), rng):
        try:
            verdict = _compare_at(a, b, env, dps, constants)
            if verdict is None:
                verdict = _compare_at(a, b, env, 2 * dps, constants)
        except Undefined:
            continue
        if verdict is None:
            continue
        if verdict is False:
            if positive:
                return False
            with mpmath.workdps(dps):
                va = _Evaluator(dict(env), dps, constants).ev(a)
                vb = _Evaluator(dict(env), dps, constants).ev(b)
                tiny = mpmath.mpf(10) ** (-(dps // 2))
                if abs(mpmath.im(va)) <= tiny * (1 + abs(va)) and abs(mpmath.im(vb)) <= tiny * (1 + abs(vb)):
                    return False
            continue
        if positive:
            decided += 1
    return True if decided >= 2 else None
