"""Safe reading of arithmetic and algebra typed by a model.

The text is parsed with `ast.parse` (parsing only: nothing is compiled to code or evaluated)
and the tree is walked over a whitelist of node types. `evaluate` computes numbers exactly with
`fractions.Fraction` (floats only for irrational functions and constants); `to_sympy` builds sympy
objects with sympy's constructors (never ``sympify``/``parse_expr``, which run Python).

Limits keep every walk small: at most `MAX_CHARS` characters, `MAX_NODES` nodes, `MAX_DEPTH`
nesting; integer powers and factorials are refused when their result would pass `MAX_BITS`.
``^`` means power (math notation), and ``×``, ``÷``, ``−`` are read as ``*``, ``/``, ``-``.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

__all__ = [
    "ExpressionError",
    "evaluate",
    "format_number",
    "parse",
    "parse_equation",
    "terminating_decimal",
    "to_sympy",
]

MAX_CHARS = 1_000
MAX_NODES = 400
MAX_DEPTH = 40
MAX_BITS = 13_000
"""About 3,900 decimal digits (Python refuses to print ints past 4,300 digits by default)."""
MAX_FACTORIAL = 1_000

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,19}")
_LONE_EQUALS = re.compile(r"(?<![=<>!])=(?!=)")


class ExpressionError(ValueError):
    """Input the safe parser refuses, with the reason (shown to the model)."""


def _normalise(text: str) -> str:
    if not isinstance(text, str):
        raise ExpressionError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ExpressionError(f"expression longer than {MAX_CHARS} characters")
    s = text.replace("^", "**").replace("×", "*").replace("÷", "/").replace("−", "-").strip()
    depth = 0
    for c in s:
        depth += c in "([{"
        depth -= c in ")]}"
        if depth > MAX_DEPTH:
            raise ExpressionError(f"nested deeper than {MAX_DEPTH} levels")
    return s


def parse(text: str) -> ast.expr:
    """The syntax tree of one expression (checked for size, not yet for node types)."""
    s = _normalise(text)
    if not s:
        raise ExpressionError("empty expression")
    try:
        tree = ast.parse(s, mode="eval")
    except SyntaxError as e:
        raise ExpressionError(
            f"invalid syntax at column {e.offset} (use * for products, ** or ^ for powers)"
        ) from None
    except (ValueError, MemoryError, RecursionError) as e:
        raise ExpressionError(f"cannot parse: {type(e).__name__}") from None
    for nodes, _ in enumerate(ast.walk(tree), start=1):
        if nodes > MAX_NODES:
            raise ExpressionError(f"expression has more than {MAX_NODES} parts")
    return tree.body


def parse_equation(text: str) -> tuple[ast.expr, ast.expr | None]:
    """``lhs = rhs`` as two trees (a single ``=``), or one expression and None."""
    s = _normalise(text)
    parts = _LONE_EQUALS.split(s)
    if len(parts) > 2:
        raise ExpressionError("more than one '=' in an equation")
    if len(parts) == 2:
        return parse(parts[0]), parse(parts[1])
    return parse(s), None


# -- numbers (the calculator) -------------------------------------------------------------------

Number = Fraction | float


def _check(x: Number) -> Number:
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            raise ExpressionError("result is not a finite number")
        return x
    if max(x.numerator.bit_length(), x.denominator.bit_length()) > MAX_BITS:
        raise ExpressionError("number too large")
    return x


def _int(x: Number, what: str) -> int:
    if isinstance(x, Fraction) and x.denominator == 1:
        return x.numerator
    if isinstance(x, float) and x.is_integer() and abs(x) < 2**53:
        return int(x)
    raise ExpressionError(f"{what} needs an integer, got {format_number(x)}")


def _power(base: Number, exp: Number) -> Number:
    if isinstance(exp, Fraction) and exp.denominator == 1 and isinstance(base, Fraction):
        n = exp.numerator
        size = max(base.numerator.bit_length(), base.denominator.bit_length())
        if size > 1 and abs(n) * (size - 1) > MAX_BITS:
            raise ExpressionError("power too large")
        if n < 0 and base == 0:
            raise ExpressionError("division by zero")
        return base**n
    b, e = float(base), float(exp)
    if b < 0 and not e.is_integer():
        raise ExpressionError("a negative number to a fractional power is not real")
    if b == 0 and e < 0:
        raise ExpressionError("division by zero")
    try:
        return math.pow(b, e)
    except OverflowError:
        raise ExpressionError("power too large") from None


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise ExpressionError("square root of a negative number")
    if isinstance(x, Fraction):
        p, q = math.isqrt(x.numerator), math.isqrt(x.denominator)
        if p * p == x.numerator and q * q == x.denominator:
            return Fraction(p, q)
    return math.sqrt(x)


def _factorial(x: Number) -> Number:
    n = _int(x, "factorial")
    if not 0 <= n <= MAX_FACTORIAL:
        raise ExpressionError(f"factorial needs 0 <= n <= {MAX_FACTORIAL}")
    return Fraction(math.factorial(n))


def _log(x: Number, base: Number | None = None) -> Number:
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise ExpressionError("logarithm of a non-positive number or to base 1")
    return math.log(x) if base is None else math.log(x) / math.log(base)


def _round(x: Number, digits: Number = Fraction(0)) -> Number:
    n = _int(digits, "round")
    if not -50 <= n <= 50:
        raise ExpressionError("round() digits must be within [-50, 50]")
    return Fraction(round(Fraction(x), n))


def _float1(fn: Callable[[float], float]) -> Callable[..., Number]:
    def call(x: Number) -> Number:
        try:
            return fn(float(x))
        except (ValueError, OverflowError) as e:
            raise ExpressionError(f"{fn.__name__}: {e}") from None

    return call


def _gcd(*xs: Number) -> Number:
    return Fraction(math.gcd(*(_int(x, "gcd") for x in xs)))


def _lcm(*xs: Number) -> Number:
    return Fraction(math.lcm(*(_int(x, "lcm") for x in xs)))


_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {  # name -> (fn, min args, max args)
    "sqrt": (_sqrt, 1, 1),
    "abs": (lambda x: abs(x), 1, 1),
    "floor": (lambda x: Fraction(math.floor(x)), 1, 1),
    "ceil": (lambda x: Fraction(math.ceil(x)), 1, 1),
    "round": (_round, 1, 2),
    "factorial": (_factorial, 1, 1),
    "gcd": (_gcd, 1, 20),
    "lcm": (_lcm, 1, 20),
    "min": (lambda *xs: min(xs), 1, 50),
    "max": (lambda *xs: max(xs), 1, 50),
    "exp": (_float1(math.exp), 1, 1),
    "log": (_log, 1, 2),
    "ln": (_log, 1, 1),
    "log10": (lambda x: _log(x, Fraction(10)), 1, 1),
    "log2": (lambda x: _log(x, Fraction(2)), 1, 1),
    "sin": (_float1(math.sin), 1, 1),
    "cos": (_float1(math.cos), 1, 1),
    "tan": (_float1(math.tan), 1, 1),
    "asin": (_float1(math.asin), 1, 1),
    "acos": (_float1(math.acos), 1, 1),
    "atan": (_float1(math.atan), 1, 1),
}
_CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e}


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
        return _check(Fraction(value) if isinstance(value, int) else float(value))  # type: ignore[arg-type]
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        x = _eval(node.operand)
        return -x if isinstance(node.op, ast.USub) else x
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left), _eval(node.right)
        op = node.op
        if isinstance(op, ast.Pow):
            return _check(_power(a, b))
        if isinstance(op, ast.Add):
            return _check(a + b)
        if isinstance(op, ast.Sub):
            return _check(a - b)
        if isinstance(op, ast.Mult):
            return _check(a * b)
        if isinstance(op, ast.Div | ast.FloorDiv | ast.Mod):
            if b == 0:
                raise ExpressionError("division by zero")
            if isinstance(op, ast.Div):
                return _check(a / b)
            return _check(Fraction(a // b) if isinstance(op, ast.FloorDiv) else a % b)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        if node.keywords:
            raise ExpressionError(f"{node.func.id}() takes no keyword arguments")
        fn, lo, hi = _FUNCTIONS[node.func.id]
        if not lo <= len(node.args) <= hi:
            raise ExpressionError(f"{node.func.id}() takes {lo}..{hi} arguments, got {len(node.args)}")
        return _check(fn(*(_eval(a) for a in node.args)))
    if isinstance(node, ast.Name):
        raise ExpressionError(f"unknown name {node.id!r} (numbers, + - * / // % ** and the functions only)")
    if isinstance(node, ast.Call):
        raise ExpressionError(f"unknown function; the functions are: {', '.join(sorted(_FUNCTIONS))}")
    raise ExpressionError(f"{type(node).__name__} is not allowed in arithmetic")


def evaluate(text: str) -> Number:
    """The value of an arithmetic expression: exact (`Fraction`) unless a float was needed."""
    try:
        return _eval(parse(text))
    except (OverflowError, ValueError, ZeroDivisionError, TypeError) as e:
        if isinstance(e, ExpressionError):
            raise
        raise ExpressionError(f"{type(e).__name__}: {e}") from None


def terminating_decimal(x: Fraction, max_places: int = 30) -> str | None:
    """``x`` as an exact decimal string when it has one with at most ``max_places`` places."""
    q, places = x.denominator, 0
    while q % 10 == 0 or q % 2 == 0 or q % 5 == 0:
        if places >= max_places:
            return None
        q //= 10 if q % 10 == 0 else (2 if q % 2 == 0 else 5)
        places += 1
    if q != 1:
        return None
    scaled = abs(x.numerator) * 10**places // x.denominator
    digits = str(scaled).rjust(places + 1, "0")
    sign = "-" if x < 0 else ""
    return (
        f"{sign}{digits[:-places]}.{digits[-places:]}".rstrip("0").rstrip(".")
        if places
        else f"{sign}{digits}"
    )


def format_number(x: Number) -> str:
    """An integer as digits, a fraction as ``p/q (≈ decimal)``, a float with 15 significant digits."""
    if isinstance(x, float):
        return format(x, ".15g")
    if x.denominator == 1:
        return str(x.numerator)
    exact = terminating_decimal(x)
    if exact is not None:
        return exact
    with localcontext() as ctx:
        ctx.prec = 15
        approx = Decimal(x.numerator) / Decimal(x.denominator)
    return f"{x.numerator}/{x.denominator} (≈ {approx:g})"


# -- sympy (the algebra tools) --------------------------------------------------------------------


def _sympy_tables() -> tuple[dict[str, Any], dict[str, Any]]:
    import sympy

    functions = {
        "sin": sympy.sin,
        "cos": sympy.cos,
        "tan": sympy.tan,
        "cot": sympy.cot,
        "sec": sympy.sec,
        "csc": sympy.csc,
        "asin": sympy.asin,
        "acos": sympy.acos,
        "atan": sympy.atan,
        "sinh": sympy.sinh,
        "cosh": sympy.cosh,
        "tanh": sympy.tanh,
        "exp": sympy.exp,
        "log": sympy.log,
        "ln": sympy.log,
        "sqrt": sympy.sqrt,
        "abs": sympy.Abs,
        "Abs": sympy.Abs,
        "factorial": sympy.factorial,
        "floor": sympy.floor,
        "ceiling": sympy.ceiling,
        "binomial": sympy.binomial,
    }
    constants = {"pi": sympy.pi, "E": sympy.E, "e": sympy.E, "I": sympy.I, "oo": sympy.oo, "inf": sympy.oo}
    return functions, constants


def _sympy_bits(x: Any) -> int:
    import sympy

    if isinstance(x, sympy.Rational):
        return max(int(x.p).bit_length(), int(x.q).bit_length())
    return 0


def to_sympy(node: ast.AST) -> Any:
    """A sympy expression (or relation) from a parsed tree; `ExpressionError` on anything else."""
    import sympy

    functions, constants = _sympy_tables()

    def build(n: ast.AST) -> Any:
        if isinstance(n, ast.Constant) and type(n.value) in (int, float):
            return sympy.Integer(n.value) if isinstance(n.value, int) else sympy.Rational(repr(n.value))
        if isinstance(n, ast.Name):
            if n.id in constants:
                return constants[n.id]
            if n.id in functions or not _IDENT.fullmatch(n.id):
                raise ExpressionError(f"{n.id!r} cannot be a variable name")
            return sympy.Symbol(n.id)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.UAdd | ast.USub):
            x = build(n.operand)
            return -x if isinstance(n.op, ast.USub) else x
        if isinstance(n, ast.BinOp):
            a, b = build(n.left), build(n.right)
            if isinstance(n.op, ast.Add):
                return a + b
            if isinstance(n.op, ast.Sub):
                return a - b
            if isinstance(n.op, ast.Mult):
                return a * b
            if isinstance(n.op, ast.Div):
                return a / b
            if isinstance(n.op, ast.Mod):
                return sympy.Mod(a, b)
            if isinstance(n.op, ast.Pow):
                if b.is_Number:
                    if abs(b) > 10_000:
                        raise ExpressionError("exponent too large")
                    if b.is_Integer and _sympy_bits(a) * abs(int(b)) > MAX_BITS:
                        raise ExpressionError("power too large")
                return sympy.Pow(a, b)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in functions:
            if n.keywords:
                raise ExpressionError(f"{n.func.id}() takes no keyword arguments")
            args = [build(a) for a in n.args]
            if not 1 <= len(args) <= 2:
                raise ExpressionError(f"{n.func.id}() takes 1 or 2 arguments")
            if n.func.id in ("factorial", "binomial") and any(
                a.is_Number and abs(a) > MAX_FACTORIAL for a in args
            ):
                raise ExpressionError(f"{n.func.id} argument above {MAX_FACTORIAL}")
            try:
                return functions[n.func.id](*args)
            except TypeError as e:
                raise ExpressionError(f"{n.func.id}(): {e}") from None
        if isinstance(n, ast.Compare) and len(n.ops) == 1:
            a, b = build(n.left), build(n.comparators[0])
            op = n.ops[0]
            table = {
                ast.Eq: sympy.Eq,
                ast.Lt: sympy.Lt,
                ast.LtE: sympy.Le,
                ast.Gt: sympy.Gt,
                ast.GtE: sympy.Ge,
            }
            for kind, make in table.items():
                if isinstance(op, kind):
                    return make(a, b)
        if isinstance(n, ast.Call):
            raise ExpressionError(f"unknown function; the functions are: {', '.join(sorted(functions))}")
        raise ExpressionError(f"{type(n).__name__} is not allowed in an expression")

    try:
        return build(node)
    except ExpressionError:
        raise
    except (TypeError, AttributeError, ValueError, ArithmeticError, RecursionError) as e:
        raise ExpressionError(f"{type(e).__name__}: {str(e)[:200]}") from None
