"""Sympy tools: ``solve``, ``simplify``, ``integrate`` on safely parsed input.

Input is read by `assay.verifiers.arithmetic.parse` (a size-checked syntax tree, never
evaluated) and `to_sympy` maps a whitelist of its nodes onto sympy's constructors; model text
never reaches ``sympify`` or ``parse_expr``. Sympy can take forever
on some inputs, so these tools run in the tool worker process and are killed at ``timeout_s``.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from assay.envs.tools.tool import Tool
from assay.verifiers.arithmetic import MAX_BITS, MAX_FACTORIAL, ExpressionError, parse, parse_equation

__all__ = ["integrate", "simplify", "solve", "sympy_tools", "to_sympy"]

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,19}")


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


def _symbols(names: str) -> list[Any]:
    import sympy

    out = []
    for name in (n.strip() for n in names.split(",")):
        if name:
            sym = to_sympy(parse(name))
            if not isinstance(sym, sympy.Symbol):
                raise ExpressionError(f"{name!r} is not a variable name")
            out.append(sym)
    return out


def _text(value: Any) -> str:
    import sympy

    return str(sympy.sstr(value))


def solve(equations: str, variables: str = "") -> str:
    """Solve equations exactly with sympy.

    Args:
        equations: One equation or several separated by ``;``, e.g. ``x**2 = 4`` or
            ``x + y = 3; x - y = 1``. An expression without ``=`` is set equal to 0.
        variables: The unknowns, comma-separated (default: every variable that appears).
    """
    import sympy

    try:
        eqs = []
        for part in (p for p in equations.split(";") if p.strip()):
            lhs, rhs = parse_equation(part)
            left = to_sympy(lhs)
            eqs.append(sympy.Eq(left, to_sympy(rhs)) if rhs is not None else left)
        if not eqs:
            raise ExpressionError("no equation given")
        unknowns = _symbols(variables) or sorted(set().union(*(e.free_symbols for e in eqs)), key=str)
        solutions = sympy.solve(eqs, unknowns, dict=True)
    except ExpressionError as e:
        raise ValueError(str(e)) from None
    if not solutions:
        return "no solution"
    return "; ".join(
        ", ".join(f"{k} = {_text(v)}" for k, v in sol.items()) or "any value" for sol in solutions
    )


def simplify(expression: str) -> str:
    """Simplify an expression with sympy.

    Args:
        expression: E.g. ``(x**2 - 1)/(x - 1)`` or ``sin(x)**2 + cos(x)**2``.
    """
    import sympy

    try:
        return _text(sympy.simplify(to_sympy(parse(expression))))
    except ExpressionError as e:
        raise ValueError(str(e)) from None


def integrate(expression: str, variable: str = "x", lower: str = "", upper: str = "") -> str:
    """Integrate an expression with sympy: indefinite, or definite when both bounds are given.

    Args:
        expression: The integrand, e.g. ``x*exp(x)``.
        variable: The variable of integration.
        lower: The lower bound (e.g. ``0``); leave empty for an antiderivative.
        upper: The upper bound (e.g. ``pi``).
    """
    import sympy

    try:
        (var,) = _symbols(variable) or [sympy.Symbol("x")]
        f = to_sympy(parse(expression))
        if bool(lower.strip()) != bool(upper.strip()):
            raise ExpressionError("give both bounds or neither")
        if lower.strip():
            return _text(sympy.integrate(f, (var, to_sympy(parse(lower)), to_sympy(parse(upper)))))
        return _text(sympy.integrate(f, var))
    except ExpressionError as e:
        raise ValueError(str(e)) from None
    except ValueError as e:  # sympy's own refusals ("too many values to unpack" included)
        raise ValueError(str(e)[:300]) from None


def sympy_tools(*, timeout_s: float = 10.0) -> list[Tool]:
    """``solve``, ``simplify`` and ``integrate`` (process-isolated; sympy preloaded in the worker)."""
    return [
        Tool.from_function(fn, timeout_s=timeout_s, preload=("sympy",)) for fn in (solve, simplify, integrate)
    ]
