"""Exact evaluation: rational constants, and a randomised identity test for rational functions.

`const_value` evaluates a constant expression to a `Fraction` when its value is rational
(``2^{10}``, ``\\sqrt{16}``, ``\\frac{3}{4} + 1``, ``5!``), returns None when it is not
(``\\sqrt 2``, ``\\pi``), and raises `TooComplex` before computing anything with more than
`MAX_BITS` bits (``10^{10^{10}}``, ``(10^{10})!``).

`rational_identity` decides whether two rational functions (variables, ``+ - * /``, integer
powers) are identical by evaluating both at random points modulo a random 62-bit prime chosen
per process (the Schwartz-Zippel lemma: two different rational functions of degree d agree at a
random point with probability at most d/p, about 1e-9 even for degree 10^9; four points are
used). No bit growth, no sympy: ``(x+1)^{1000}`` costs microseconds.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

from assay.verifiers.errors import VerifierError
from assay.verifiers.math.errors import TooComplex
from assay.verifiers.math.nodes import BigOp, Func, Node, Num, Op, Sym, walk

__all__ = ["MAX_BITS", "Undefined", "const_value", "rational_identity", "symbols"]

MAX_BITS = 200_000
"""Largest numerator/denominator (in bits) an exact computation may produce (about 60,000 digits)."""

MAX_FACTORIAL = 3_000
MAX_ROOT_INDEX = 64
MAX_SUM_TERMS = 2_000


class Undefined(VerifierError, ValueError):
    """The expression has no value (division by zero, ``0^{-1}``)."""


def _bits(q: Fraction) -> int:
    return max(q.numerator.bit_length(), q.denominator.bit_length())


def _shown(n: int) -> str:
    """``n`` for a message: its digits when short, else its size (``str`` of an int over 4,300
    digits raises ValueError, which would turn a too-large answer into a verifier error)."""
    return str(n) if n.bit_length() <= 64 else f"a {n.bit_length()}-bit number"


def _check(q: Fraction) -> Fraction:
    if _bits(q) > MAX_BITS:
        raise TooComplex(f"a number with more than {MAX_BITS} bits")
    return q


def _iroot(n: int, k: int) -> int | None:
    """The exact integer k-th root of n >= 0, or None."""
    if n < 2:
        return n
    r = round(n ** (1.0 / k)) if n.bit_length() < 1000 else _iroot_newton(n, k)
    for c in (r - 1, r, r + 1):
        if c >= 0 and c**k == n:
            return c
    return None


def _iroot_newton(n: int, k: int) -> int:
    x = 1 << ((n.bit_length() + k - 1) // k)
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def _rational_root(q: Fraction, k: int) -> Fraction | None:
    if q < 0:
        if k % 2 == 0:
            return None
        r = _rational_root(-q, k)
        return -r if r is not None else None
    num, den = _iroot(q.numerator, k), _iroot(q.denominator, k)
    return Fraction(num, den) if num is not None and den is not None else None


def _power(base: Fraction, exp: Fraction) -> Fraction | None:
    if exp.denominator != 1:
        if exp.denominator > MAX_ROOT_INDEX:
            return None
        root = _rational_root(base, exp.denominator)
        if root is None:
            return None
        return _power(root, Fraction(exp.numerator))
    n = exp.numerator
    if base == 0:
        if n < 0:
            raise Undefined("0 to a negative power")
        return Fraction(0) if n > 0 else Fraction(1)
    if abs(base) == 1:
        return base**n
    if abs(n) * _bits(base) > MAX_BITS:
        raise TooComplex(f"a power with more than {MAX_BITS} bits")
    return base**n


def _int(q: Fraction | None) -> int | None:
    return q.numerator if q is not None and q.denominator == 1 else None


def const_value(node: Node, env: dict[str, Fraction] | None = None) -> Fraction | None:
    """The exact rational value of ``node`` (variables from ``env``), or None if not rational.

    Raises `TooComplex` (a number over `MAX_BITS`) and `Undefined` (division by zero).
    """
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Sym):
        return env.get(node.name) if env is not None else None
    if isinstance(node, Op):
        vals = [const_value(a, env) for a in node.args]
        if any(v is None for v in vals):
            return None
        xs: list[Fraction] = [v for v in vals if v is not None]
        if node.op == "+":
            return _check(sum(xs, Fraction(0)))
        if node.op == "*":
            out = Fraction(1)
            for x in xs:
                out = _check(out * x)
            return out
        if node.op == "neg":
            return -xs[0]
        if node.op == "/":
            if xs[1] == 0:
                raise Undefined("division by zero")
            return _check(xs[0] / xs[1])
        if node.op == "^":
            return _power(xs[0], xs[1])
        return None  # pm / mp are expanded by the caller
    if isinstance(node, Func):
        return _func_value(node, env)
    if isinstance(node, BigOp):
        return _bigop_value(node, env)
    return None


def _func_value(node: Func, env: dict[str, Fraction] | None) -> Fraction | None:
    name = node.name
    if name == "base":
        digits, base = node.args
        assert isinstance(digits, Num) and isinstance(base, Num)
        return Fraction(int(str(digits.value.numerator), int(base.value)))
    vals = [const_value(a, env) for a in node.args]
    if any(v is None for v in vals):
        return None
    xs: list[Fraction] = [v for v in vals if v is not None]
    if name == "sqrt":
        return _rational_root(xs[0], 2)
    if name == "root":
        k = _int(xs[1])
        if k is None or not 2 <= k <= MAX_ROOT_INDEX:
            return None
        return _rational_root(xs[0], k)
    if name == "abs":
        return abs(xs[0])
    if name == "floor":
        return Fraction(math.floor(xs[0]))
    if name == "ceil":
        return Fraction(math.ceil(xs[0]))
    if name == "fact":
        n = _int(xs[0])
        if n is None or n < 0:
            return None
        if n > MAX_FACTORIAL:
            raise TooComplex(f"{_shown(n)}! is too large to compute")
        return Fraction(math.factorial(n))
    if name == "binom":
        n, k = _int(xs[0]), _int(xs[1])
        if n is None or k is None or n < 0:
            return None
        if n > 20 * MAX_FACTORIAL:
            raise TooComplex(f"binomial({_shown(n)}, {_shown(k)}) is too large to compute")
        return Fraction(math.comb(n, k)) if 0 <= k <= n else Fraction(0)
    if name in ("max", "min") and xs:
        return max(xs) if name == "max" else min(xs)
    if name in ("gcd", "lcm") and xs:
        ints = [_int(x) for x in xs]
        if any(i is None for i in ints):
            return None
        fn = math.gcd if name == "gcd" else math.lcm
        return Fraction(fn(*(i for i in ints if i is not None)))
    if name == "log":
        x, b = xs
        return _exact_log(x, b)
    return None


def _exact_log(x: Fraction, b: Fraction) -> Fraction | None:
    """log_b(x) when it is an integer or a simple fraction (``\\log_2 8``, ``\\log_4 2``)."""
    if x <= 0 or b <= 0 or b == 1:
        return None
    guess = (
        math.log(float(x.numerator) / float(x.denominator)) / math.log(float(b)) if _bits(x) < 1000 else None
    )
    if guess is None or not math.isfinite(guess):
        return None
    for den in (1, 2, 3, 4, 6):
        num = round(guess * den)
        try:
            if _power(b, Fraction(num, den)) == x:
                return Fraction(num, den)
        except (TooComplex, Undefined):
            return None
    return None


def _bigop_value(node: BigOp, env: dict[str, Fraction] | None) -> Fraction | None:
    lo, hi = _int(const_value(node.lo, env)), _int(const_value(node.hi, env))
    if lo is None or hi is None:
        return None
    if hi - lo + 1 > MAX_SUM_TERMS:
        raise TooComplex(f"a {node.kind} of {hi - lo + 1} terms")
    acc = Fraction(0) if node.kind == "sum" else Fraction(1)
    inner = dict(env or {})
    for k in range(lo, hi + 1):
        inner[node.var] = Fraction(k)
        v = const_value(node.body, inner)
        if v is None:
            return None
        acc = _check(acc + v) if node.kind == "sum" else _check(acc * v)
    return acc


def symbols(node: Node) -> set[str]:
    """The free variable names in ``node`` (summation variables excluded)."""
    bound: set[str] = set()
    found: set[str] = set()
    for n in walk(node):
        if isinstance(n, Sym):
            found.add(n.name)
        elif isinstance(n, BigOp):
            bound.add(n.var)
    return found - bound


# -- modular identity test -------------------------------------------------------------------


def _is_probable_prime(n: int) -> bool:
    if n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
    for p in small:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in small:  # deterministic for n < 3.3e24
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _random_prime(rng: random.Random) -> int:
    while True:
        candidate = rng.getrandbits(62) | (1 << 61) | 1
        if _is_probable_prime(candidate):
            return candidate


_RNG = random.Random()  # seeded from os.urandom: the test points are not predictable
_PRIME = _random_prime(_RNG)


class _Singular(ArithmeticError):
    """A denominator vanished at this point modulo p: try another point."""


def _mod(node: Node, env: dict[str, int], p: int) -> int | None:
    if isinstance(node, Num):
        num, den = node.value.numerator % p, node.value.denominator % p
        if den == 0:
            raise _Singular
        return num * pow(den, -1, p) % p
    if isinstance(node, Sym):
        return env.get(node.name)
    if isinstance(node, Op):
        if node.op == "^":
            base = _mod(node.args[0], env, p)
            if base is None:
                return None
            try:
                e = const_value(node.args[1])
            except Undefined:
                return None
            if e is None or e.denominator != 1:
                return None
            n = e.numerator
            if base == 0:
                if n < 0:
                    raise _Singular
                return 0 if n > 0 else 1
            if n < 0:
                base, n = pow(base, -1, p), -n
            return pow(base, n % (p - 1), p) if n else 1
        vals = [_mod(a, env, p) for a in node.args]
        if any(v is None for v in vals):
            return None
        xs = [v for v in vals if v is not None]
        if node.op == "+":
            return sum(xs) % p
        if node.op == "*":
            out = 1
            for x in xs:
                out = out * x % p
            return out
        if node.op == "neg":
            return -xs[0] % p
        if node.op == "/":
            if xs[1] == 0:
                raise _Singular
            return xs[0] * pow(xs[1], -1, p) % p
    return None


def rational_identity(a: Node, b: Node, *, points: int = 4) -> bool | None:
    """True/False when ``a`` and ``b`` are rational functions that are/are not identical;
    None when either is not a rational function (or every point tried was singular)."""
    names = sorted(symbols(a) | symbols(b))
    if not names:
        return None
    p = _PRIME
    agreed = 0
    for _ in range(points * 4):
        env = {n: _RNG.randrange(2, p - 1) for n in names}
        try:
            va, vb = _mod(a, env, p), _mod(b, env, p)
        except _Singular:
            continue
        if va is None or vb is None:
            return None
        if va != vb:
            return False
        agreed += 1
        if agreed >= points:
            return True
    return None
