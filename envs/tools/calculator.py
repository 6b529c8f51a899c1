"""The ``calculator`` tool: exact arithmetic on an expression, with no ``eval``.

Read by `assay.verifiers.arithmetic.evaluate` (whitelisted syntax tree, exact rationals, size limits), run
in the tool worker process under a timeout like every ``process`` tool.
"""

from __future__ import annotations

from assay.envs.tools.tool import Tool
from assay.verifiers.arithmetic import ExpressionError, evaluate, format_number

__all__ = ["calculate", "calculator_tool"]


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression exactly.

    Supports + - * / // % and ** (or ^), parentheses, the constants pi and e, and the functions
    sqrt, abs, floor, ceil, round, factorial, gcd, lcm, min, max, exp, log, ln, log10, log2,
    sin, cos, tan, asin, acos, atan. Rational results are exact (``7/3 (≈ 2.33333333333333)``).

    Args:
        expression: The expression, e.g. ``(2**64 - 1) // 3``.
    """
    try:
        return format_number(evaluate(expression))
    except ExpressionError as e:
        raise ValueError(str(e)) from None


def calculator_tool(*, timeout_s: float = 5.0) -> Tool:
    """The ``calculator`` tool (process-isolated)."""
    return Tool.from_function(calculate, name="calculator", timeout_s=timeout_s)
