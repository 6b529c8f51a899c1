"""Safe arithmetic on text typed by a model: one reader, one set of limits, one error type.

Two grammars share the reader:

- the calculator's (`evaluate`): decimal numbers, ``+ - * / // % **``, parentheses, signs, the
  constants ``pi`` and ``e`` and the functions in ``_FUNCTIONS`` (sqrt, gcd, log, sin, ...).
  Values are exact fractions (`fractions.Fraction`); a float only where an irrational function or
  constant (or a decimal literal) needs one;
- the puzzles' (`parse_arithmetic`, for Countdown and 24): whole numbers of at most
  `PUZZLE_DIGITS` digits, ``+ - * /`` and parentheses, a leading minus only on request. Values are
  exact; the numbers used are returned in order, so a checker can enforce which were given.

`parse` and `parse_equation` give the checked syntax tree to readers built on it (the sympy tools
map it onto sympy's constructors).

How: the text is normalised (``^`` means ``**``; ``×`` and ``·`` mean ``*``; ``÷`` means ``/``;
``−`` and ``–`` mean ``-``; in puzzles ``x`` also means ``*``) and parsed with `ast.parse`, which
only parses: nothing is compiled or evaluated. The tree is then walked over a whitelist of node
types, computing as it goes.

Guarantees: model text is never handed to ``eval``, ``exec``, ``compile`` or sympy's
``sympify``/``parse_expr``. Every refusal is an `ExpressionError` (a `ValueError`) whose message
says why and may be shown to the model; dividing by zero is its subclass `DivisionByZero`, also a
`ZeroDivisionError`. One set of limits keeps hostile input cheap, for both grammars:

- at most `MAX_CHARS` characters, `MAX_NODES` tree nodes, `MAX_DEPTH` nested brackets and
  `MAX_DEPTH` nested signs, so parsing and the walk stay shallow;
- no exact value has a numerator or denominator over `MAX_BITS` bits: each result is checked,
  and integer powers and factorials, whose results can be astronomically larger than their
  arguments, are refused *before* computing (factorial's argument is at most `MAX_FACTORIAL`).

Not guaranteed: floats are IEEE doubles (``sin(pi)`` is about ``1.2e-16``, not 0), and there is no
time limit of its own (the limits keep a call to microseconds; the tools run it in a worker with a
timeout anyway).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

from assay.verifiers.errors import VerifierError

__all__ = [
    "MAX_BITS",
    "MAX_CHARS",
    "MAX_DEPTH",
    "MAX_FACTORIAL",
    "MAX_NODES",
    "PUZZLE_DIGITS",
    "DivisionByZero",
    "ExpressionError",
    "Number",
    "Parsed",
    "evaluate",
    "format_number",
    "parse",
    "parse_arithmetic",
    "parse_equation",
    "terminating_decimal",
]

MAX_CHARS = 1_000
"""The longest text read, in characters."""
MAX_NODES = 400
"""The most syntax-tree nodes (operators are nodes: ``1 + 2`` has five)."""
MAX_DEPTH = 40
"""The deepest nesting of brackets, and (separately) of signs such as ``- - 1``."""
MAX_BITS = 4_096
"""The largest numerator or denominator of an exact value, in bits (about 1,230 decimal digits)."""
MAX_FACTORIAL = 1_000
"""The largest argument of ``factorial`` (and of the sympy tools' ``factorial``/``binomial``)."""
PUZZLE_DIGITS = 12
"""The longest number in a puzzle answer (a rule of the puzzle grammar; `MAX_BITS` is the limit)."""

Number = Fraction | float

_SYNONYMS = str.maketrans({"×": "*", "·": "*", "÷": "/", "−": "-", "–": "-"})
_PUZZLE_TIMES = str.maketrans({"x": "*", "X": "*"})
_NOT_PUZZLE = re.compile(r"[^\d\s+\-*/()]")
_DIGITS = re.compile(r"\d+")
_LONE_EQUALS = re.compile(r"(?<![=<>!])=(?!=)")


class ExpressionError(VerifierError, ValueError):
    """Text the safe parser refuses, with the reason (fit to show to the model)."""


class DivisionByZero(ExpressionError, ZeroDivisionError):
    """The expression divides by zero: well formed, but without a value."""


# -- reading ------------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    if not isinstance(text, str):
        raise ExpressionError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ExpressionError(f"expression longer than {MAX_CHARS} characters")
    s = text.translate(_SYNONYMS).replace("^", "**").strip()
    depth = 0
    for c in s:
        depth += c in "([{"
        depth -= c in ")]}"
        if depth > MAX_DEPTH:
            raise ExpressionError(f"nested deeper than {MAX_DEPTH} levels")
    return s


def _tree(s: str) -> ast.expr:
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


def parse(text: str) -> ast.expr:
    """The syntax tree of one expression, within the limits (node types are not checked yet)."""
    return _tree(_normalise(text))


def parse_equation(text: str) -> tuple[ast.expr, ast.expr | None]:
    """``lhs = rhs`` as two trees (a single ``=``), or one expression and None."""
    s = _normalise(text)
    parts = _LONE_EQUALS.split(s)
    if len(parts) > 2:
        raise ExpressionError("more than one '=' in an equation")
    if len(parts) == 2:
        return parse(parts[0]), parse(parts[1])
    return parse(s), None


# -- exact numbers ------------------------------------------------------------------------------


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
            raise DivisionByZero("division by zero")
        return base**n
    b, e = float(base), float(exp)
    if b < 0 and not e.is_integer():
        raise ExpressionError("a negative number to a fractional power is not real")
    if b == 0 and e < 0:
        raise DivisionByZero("division by zero")
    try:
        return math.pow(b, e)
    except OverflowError:
        raise ExpressionError("power too large") from None


def _binary(op: ast.operator, a: Number, b: Number) -> Number:
    if isinstance(op, ast.Pow):
        return _power(a, b)
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    if b == 0:
        raise DivisionByZero("division by zero")
    if isinstance(op, ast.Div):
        return a / b
    return Fraction(a // b) if isinstance(op, ast.FloorDiv) else a % b


# -- the calculator's functions -----------------------------------------------------------------


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


# -- the walk -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Grammar:
    """What a walk accepts beyond whole numbers and parentheses."""

    allowed: str
    """Said in refusals: what the grammar is made of."""
    operators: tuple[type[ast.operator], ...]
    signs: tuple[type[ast.unaryop], ...]
    decimals: bool
    functions: Mapping[str, tuple[Callable[..., Number], int, int]]
    constants: Mapping[str, Number]


_CALCULATOR = _Grammar(
    allowed="numbers, + - * / // % ** and the functions",
    operators=(ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow),
    signs=(ast.UAdd, ast.USub),
    decimals=True,
    functions=_FUNCTIONS,
    constants={"pi": math.pi, "e": math.e},
)
_PUZZLE = _Grammar(
    allowed="whole numbers, + - * / and parentheses",
    operators=(ast.Add, ast.Sub, ast.Mult, ast.Div),
    signs=(),
    decimals=False,
    functions={},
    constants={},
)
_PUZZLE_SIGNED = _Grammar(
    allowed="whole numbers, + - * /, a leading minus and parentheses",
    operators=_PUZZLE.operators,
    signs=(ast.USub,),
    decimals=False,
    functions={},
    constants={},
)


def _walk(node: ast.AST, g: _Grammar, literals: list[int], signs: int = 0) -> Number:
    """The value of ``node`` under grammar ``g``; whole-number literals are appended to ``literals``."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        literals.append(node.value)
        return _check(Fraction(node.value))
    if isinstance(node, ast.Constant) and type(node.value) is float and g.decimals:
        return _check(float(node.value))
    if isinstance(node, ast.Name) and node.id in g.constants:
        return g.constants[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, g.signs):
        if signs >= MAX_DEPTH:
            raise ExpressionError(f"more than {MAX_DEPTH} nested signs")
        x = _walk(node.operand, g, literals, signs + 1)
        return -x if isinstance(node.op, ast.USub) else x
    if isinstance(node, ast.BinOp) and isinstance(node.op, g.operators):
        a = _walk(node.left, g, literals, signs)
        return _check(_binary(node.op, a, _walk(node.right, g, literals, signs)))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in g.functions:
        if node.keywords:
            raise ExpressionError(f"{node.func.id}() takes no keyword arguments")
        fn, lo, hi = g.functions[node.func.id]
        if not lo <= len(node.args) <= hi:
            raise ExpressionError(f"{node.func.id}() takes {lo}..{hi} arguments, got {len(node.args)}")
        return _check(fn(*(_walk(a, g, literals, signs) for a in node.args)))
    if isinstance(node, ast.Name):
        raise ExpressionError(f"unknown name {node.id!r} ({g.allowed} only)")
    if isinstance(node, ast.Call):
        if not g.functions:
            raise ExpressionError(f"no functions here ({g.allowed} only)")
        raise ExpressionError(f"unknown function; the functions are: {', '.join(sorted(g.functions))}")
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        raise ExpressionError(f"{type(node.op).__name__} is not allowed ({g.allowed} only)")
    raise ExpressionError(f"{type(node).__name__} is not allowed in arithmetic")


def evaluate(text: str) -> Number:
    """The value of a calculator expression: exact (`Fraction`) unless a float was needed.

    Raises:
        ExpressionError: The text is refused (the message says why); `DivisionByZero` for a
            division by zero.
    """
    try:
        return _walk(parse(text), _CALCULATOR, [])
    except (OverflowError, ValueError, ZeroDivisionError, TypeError) as e:
        if isinstance(e, ExpressionError):
            raise
        raise ExpressionError(f"{type(e).__name__}: {e}") from None


@dataclass(frozen=True, slots=True)
class Parsed:
    """A puzzle answer: its exact value and the whole numbers it uses, in order of appearance."""

    value: Fraction
    numbers: tuple[int, ...]


def _puzzle_number(m: re.Match[str]) -> str:
    if len(m.group()) > PUZZLE_DIGITS:
        raise ExpressionError(f"number longer than {PUZZLE_DIGITS} digits")
    return str(int(m.group()))  # "007" is 7, as written by hand; any Unicode decimal digits


def parse_arithmetic(text: str, *, unary_minus: bool = False) -> Parsed:
    """Read a puzzle answer (whole numbers, ``+ - * /``, parentheses) and compute it exactly.

    Args:
        text: The expression, e.g. ``(3 + 5) x 4``.
        unary_minus: Accept a leading minus (``-3``, ``2 * -1``); off for Countdown and 24.

    Raises:
        ExpressionError: Malformed text, anything outside the grammar, or a limit broken.
        DivisionByZero: The expression divides by zero (also a `ZeroDivisionError`).
    """
    s = _normalise(text).translate(_PUZZLE_TIMES)
    bad = _NOT_PUZZLE.search(s)
    if bad is not None:
        raise ExpressionError(f"unexpected character {bad.group()!r}")
    s = " ".join(_DIGITS.sub(_puzzle_number, s).split())
    literals: list[int] = []
    value = _walk(_tree(s), _PUZZLE_SIGNED if unary_minus else _PUZZLE, literals)
    assert isinstance(value, Fraction)  # the puzzle grammar has no floats
    return Parsed(value, tuple(literals))


# -- printing -----------------------------------------------------------------------------------


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
