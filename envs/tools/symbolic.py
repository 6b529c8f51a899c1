"""Sympy tools: ``solve``, ``simplify``, ``integrate`` on safely parsed input.

Input goes through `assay.envs.tools.expr` (a whitelisted syntax tree mapped onto sympy's
constructors); model text never reaches ``sympify`` or ``parse_expr``. Sympy can take forever
on some inputs, so these tools run in the tool worker process and are killed at ``timeout_s``.
"""

from __future__ import annotations

from typing import Any

from assay.envs.tools.expr import ExpressionError, parse, parse_equation, to_sympy
from assay.envs.tools.tool import Tool

__all__ = ["integrate", "simplify", "solve", "sympy_tools"]


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
