"""AST -> sympy, for what the exact and numeric paths cannot settle.

sympy objects are built with sympy's constructors from `nodes` (``Rational``, ``Symbol``,
``Add``, ``sin``...): model text never reaches ``sympify``/``parse_expr``. Constant powers and
factorials are size-checked by `exact.const_value` first, so sympy is never asked to compute a
number with millions of digits. This module imports sympy on first use only.
"""

from __future__ import annotations

from typing import Any

from assay.verifiers.errors import VerifierError
from assay.verifiers.math.errors import TooComplex
from assay.verifiers.math.exact import const_value
from assay.verifiers.math.nodes import BigOp, Const, Ext, Func, Node, Num, Op, Sym, Wrap

__all__ = ["NotSymbolic", "solve_inequality", "symbolic_equal", "to_sympy"]

MAX_SYMPY_EXPONENT = 1_000


class NotSymbolic(VerifierError, ValueError):
    """The node has no sympy counterpart here."""


def _sympy() -> Any:
    import sympy

    return sympy


def to_sympy(node: Node) -> Any:
    """Build the sympy expression of ``node`` (raises `NotSymbolic` / `TooComplex`)."""
    sp = _sympy()
    if isinstance(node, Num):
        return sp.Rational(node.value.numerator, node.value.denominator)
    if isinstance(node, Sym):
        return sp.Symbol(node.name)
    if isinstance(node, Const):
        return {"pi": sp.pi, "e": sp.E, "i": sp.I, "inf": sp.oo}[node.name]
    if isinstance(node, Ext):
        return node.obj
    if isinstance(node, Op):
        if node.op == "^":
            exp_value = const_value(node.args[1]) if not isinstance(node.args[1], Ext) else None
            base_value = const_value(node.args[0]) if not isinstance(node.args[0], Ext) else None
            if exp_value is not None and abs(exp_value) > MAX_SYMPY_EXPONENT and base_value is not None:
                raise TooComplex("power too large for symbolic work")
            return sp.Pow(to_sympy(node.args[0]), to_sympy(node.args[1]))
        args = [to_sympy(a) for a in node.args]
        if node.op == "+":
            return sp.Add(*args)
        if node.op == "*":
            return sp.Mul(*args)
        if node.op == "neg":
            return -args[0]
        if node.op == "/":
            return args[0] / args[1]
        raise NotSymbolic(node.op)
    if isinstance(node, Func):
        return _func(node)
    if isinstance(node, Wrap):
        inner = to_sympy(node.arg)
        if node.kind == "percent":
            return inner / 100
        if node.kind == "degree":
            return inner * sp.pi / 180
        raise NotSymbolic("unit")
    if isinstance(node, BigOp):
        var = sp.Symbol(node.var)
        lo, hi, body = to_sympy(node.lo), to_sympy(node.hi), to_sympy(node.body)
        return (sp.Sum if node.kind == "sum" else sp.Product)(body, (var, lo, hi))
    raise NotSymbolic(type(node).__name__)


def _func(node: Func) -> Any:
    sp = _sympy()
    name = node.name
    if name in ("ratio",):
        raise NotSymbolic(name)
    if name == "base":
        value = const_value(node)
        assert value is not None
        return sp.Integer(value.numerator)
    args = [to_sympy(a) for a in node.args]
    x = args[0]
    table = {
        "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "sec": sp.sec, "csc": sp.csc, "cot": sp.cot,
        "arcsin": sp.asin, "arccos": sp.acos, "arctan": sp.atan, "arcsec": sp.asec, "arccsc": sp.acsc,
        "arccot": sp.acot, "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh, "coth": sp.coth,
        "sech": sp.sech, "csch": sp.csch, "arsinh": sp.asinh, "arcosh": sp.acosh, "artanh": sp.atanh,
        "sqrt": sp.sqrt, "abs": sp.Abs, "floor": sp.floor, "ceil": sp.ceiling, "sgn": sp.sign,
    }  # fmt: skip
    if name in table:
        return table[name](x)
    if name == "log":
        return sp.log(x) if args[1] == sp.E else sp.log(x, args[1])
    if name == "root":
        n = args[1]
        if n.is_Integer and int(n) % 2 == 1:
            return sp.real_root(x, n)
        return sp.root(x, n)
    if name == "fact":
        value = const_value(node.args[0])
        if value is not None and value > 3_000:
            raise TooComplex("factorial too large")
        return sp.factorial(x)
    if name == "binom":
        return sp.binomial(x, args[1])
    if name == "max":
        return sp.Max(*args)
    if name == "min":
        return sp.Min(*args)
    if name in ("gcd", "lcm"):
        fn = sp.gcd if name == "gcd" else sp.lcm
        out = args[0]
        for a in args[1:]:
            out = fn(out, a)
        return out
    raise NotSymbolic(f"function {name}")


def symbolic_equal(a: Node, b: Node) -> bool:
    """Whether sympy can show ``a - b == 0`` (cheap rewrites first, then ``simplify``)."""
    sp = _sympy()
    ea, eb = to_sympy(a), to_sympy(b)
    if ea == eb:
        return True
    diff = ea - eb
    if diff == 0:
        return True
    for rewrite in (sp.expand, sp.cancel, sp.radsimp, sp.simplify):
        try:
            diff = rewrite(diff)
        except (TypeError, ValueError, NotImplementedError, AttributeError):
            continue
        if diff == 0:
            return True
    if diff.is_number:
        try:
            return bool(sp.nsimplify(diff) == 0) and bool(diff.equals(0))
        except (TypeError, ValueError, NotImplementedError):
            return False
    return False


_RELATIONS = {"<": "Lt", "<=": "Le", ">": "Gt", ">=": "Ge", "!=": "Ne", "=": "Eq"}


def solve_inequality(op: str, lhs: Node, rhs: Node, var: str) -> Any:
    """The real solution set of ``lhs op rhs`` in ``var`` (a sympy Set)."""
    sp = _sympy()
    rel = getattr(sp, _RELATIONS[op])(to_sympy(lhs), to_sympy(rhs))
    if rel is sp.true:
        return sp.S.Reals
    if rel is sp.false:
        return sp.S.EmptySet
    return sp.solveset(rel, sp.Symbol(var), domain=sp.S.Reals)
