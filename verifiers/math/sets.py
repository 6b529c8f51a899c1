"""Sets of reals as sorted, merged interval lists: intervals, unions, finite sets, inequalities.

``x \\geq 5``, ``5 \\leq x``, ``[5, \\infty)`` and ``x \\in [5, \\infty)`` all become
``[Piece(5, inf, closed, open)]``. Inequalities linear in one variable are solved exactly with
rationals; anything else (``1 \\leq |z| \\leq 3/2``, ``x^2 < 4``) goes to sympy's ``solveset``.
Pieces are sorted and merged (``[1, 2) \\cup [2, 3]`` is ``[1, 3]``), so equal sets have equal
lists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from assay.verifiers.errors import VerifierError
from assay.verifiers.math.errors import TooComplex
from assay.verifiers.math.exact import Undefined, const_value, symbols
from assay.verifiers.math.nodes import Const, Ext, Func, Node, Num, Op, Rel, Seq, SetOp, Sym, walk

__all__ = ["Piece", "SetError", "to_intervals"]

POS_INF: Node = Const("inf")
NEG_INF: Node = Op("neg", (Const("inf"),))
MAX_PIECES = 64


class SetError(VerifierError, ValueError):
    """The node does not describe a set of reals this module handles."""


@dataclass(frozen=True, slots=True)
class Piece:
    """One interval; a point is ``Piece(a, a, True, True)``."""

    lo: Node
    hi: Node
    lo_closed: bool
    hi_closed: bool


def _is_inf(node: Node) -> int:
    """+1 for +infinity, -1 for -infinity, 0 otherwise."""
    if isinstance(node, Const) and node.name == "inf":
        return 1
    if (
        isinstance(node, Op)
        and node.op == "neg"
        and isinstance(node.args[0], Const)
        and node.args[0].name == "inf"
    ):
        return -1
    return 0


def _piece(lo: Node, hi: Node, lo_closed: bool, hi_closed: bool) -> Piece:
    return Piece(lo, hi, lo_closed and not _is_inf(lo), hi_closed and not _is_inf(hi))


def _is_variable(node: Node) -> bool:
    """A plain variable (``x``, ``a_1``) or a named function value (``f(x)``, read as f*x)."""
    if isinstance(node, Sym):
        return True
    return isinstance(node, Op) and node.op == "*" and all(isinstance(a, Sym) for a in node.args)


def _is_constant(node: Node) -> bool:
    return not symbols(node)


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "!=": "!=", "=": "="}


def _half_line(op: str, c: Node) -> list[Piece]:
    """The set of v with ``v op c``."""
    if op == "<":
        return [_piece(NEG_INF, c, False, False)]
    if op == "<=":
        return [_piece(NEG_INF, c, False, True)]
    if op == ">":
        return [_piece(c, POS_INF, False, False)]
    if op == ">=":
        return [_piece(c, POS_INF, True, False)]
    if op == "!=":
        return [_piece(NEG_INF, c, False, False), _piece(c, POS_INF, False, False)]
    if op == "=":
        return [_piece(c, c, True, True)]
    raise SetError(f"relation {op}")


def _linear(op: str, lhs: Node, rhs: Node) -> list[Piece] | None:
    """Solve ``lhs op rhs`` exactly when it is linear in one variable with rational coefficients."""
    names = symbols(lhs) | symbols(rhs)
    if len(names) != 1:
        return None
    (v,) = names
    diff = Op("+", (lhs, Op("neg", (rhs,))))
    if not all(isinstance(n, Num | Sym) or (isinstance(n, Op) and n.op != "^") for n in walk(diff)):
        return None  # abs, floor, powers...: not linear in general
    try:
        cm, c0, c1, c2 = (const_value(diff, {v: Fraction(k)}) for k in (-3, 0, 1, 2))
    except Undefined:
        return None
    if cm is None or c0 is None or c1 is None or c2 is None or c2 - c1 != c1 - c0 or c0 - cm != 3 * (c1 - c0):
        return None
    a, b = c1 - c0, c0
    if a == 0:
        holds = {"<": b < 0, "<=": b <= 0, ">": b > 0, ">=": b >= 0, "!=": b != 0, "=": b == 0}[op]
        return [_piece(NEG_INF, POS_INF, False, False)] if holds else []
    root = Num(-b / a)
    return _half_line(op if a > 0 else _FLIP[op], root)


def _from_sympy(s: Any) -> list[Piece]:
    import sympy as sp

    def node(x: Any) -> Node:
        if x is sp.oo:
            return POS_INF
        if x is sp.S.NegativeInfinity:
            return NEG_INF
        if x.is_Rational:
            return Num(Fraction(int(x.p), int(x.q)))
        return Ext(x)

    if s is sp.S.EmptySet:
        return []
    if s is sp.S.Reals:
        return [_piece(NEG_INF, POS_INF, False, False)]
    if isinstance(s, sp.Interval):
        return [_piece(node(s.start), node(s.end), not s.left_open, not s.right_open)]
    if isinstance(s, sp.FiniteSet):
        return [_piece(node(x), node(x), True, True) for x in s.args if x.is_real]
    if isinstance(s, sp.Union):
        out: list[Piece] = []
        for part in s.args:
            out.extend(_from_sympy(part))
        return out
    if isinstance(s, sp.Complement) and s.args[0] is sp.S.Reals and isinstance(s.args[1], sp.FiniteSet):
        points = sorted(s.args[1].args, key=lambda x: float(x))
        pieces, lo = [], NEG_INF
        for x in points:
            pieces.append(_piece(lo, node(x), False, False))
            lo = node(x)
        pieces.append(_piece(lo, POS_INF, False, False))
        return pieces
    raise SetError(f"solution set {type(s).__name__}")


def _to_sympy_set(pieces: list[Piece]) -> Any:
    import sympy as sp

    from assay.verifiers.math.symbolic import to_sympy

    parts = []
    for p in pieces:
        lo, hi = to_sympy(p.lo), to_sympy(p.hi)
        parts.append(
            sp.FiniteSet(lo) if p.lo == p.hi else sp.Interval(lo, hi, not p.lo_closed, not p.hi_closed)
        )
    return sp.Union(*parts) if parts else sp.S.EmptySet


def _abs_linear(op: str, lhs: Node, rhs: Node) -> list[Piece] | None:
    """``|E| op c`` (or ``c op |E|``) with E linear: two linear inequalities, no sympy."""
    if isinstance(rhs, Func) and rhs.name == "abs" and not isinstance(lhs, Func):
        op, lhs, rhs = _FLIP[op], rhs, lhs
    if not (isinstance(lhs, Func) and lhs.name == "abs") or symbols(rhs) or op not in ("<", "<=", ">", ">="):
        return None
    inner = lhs.args[0]
    try:
        c = const_value(rhs)
    except Undefined:
        return None
    if c is None:
        return None
    if op in ("<", "<="):
        below, above = _linear(">" if op == "<" else ">=", inner, Num(-c)), _linear(op, inner, Num(c))
        if below is None or above is None:
            return None
        return _intersect(below, above)
    low, high = _linear("<" if op == ">" else "<=", inner, Num(-c)), _linear(op, inner, Num(c))
    if low is None or high is None:
        return None
    return low + high


def _solve(op: str, lhs: Node, rhs: Node) -> list[Piece]:
    linear = _linear(op, lhs, rhs)
    if linear is not None:
        return linear
    absolute = _abs_linear(op, lhs, rhs)
    if absolute is not None:
        return absolute
    names = symbols(lhs) | symbols(rhs)
    if len(names) != 1:
        raise SetError("not an inequality in one variable")
    from assay.verifiers.math.symbolic import NotSymbolic, solve_inequality

    try:
        return _from_sympy(solve_inequality(op, lhs, rhs, next(iter(names))))
    except (NotSymbolic, TypeError, ValueError, NotImplementedError) as e:
        raise SetError(f"cannot solve: {e}") from e


def _intersect(a: list[Piece], b: list[Piece]) -> list[Piece]:
    if any(symbols(p.lo) or symbols(p.hi) for p in (*a, *b)):
        raise SetError("intersection of sets with symbolic ends")
    try:
        keyed_a = [(_key(p.lo), _key(p.hi), p) for p in a]
        keyed_b = [(_key(p.lo), _key(p.hi), p) for p in b]
    except SetError:
        return _from_sympy(_to_sympy_set(a).intersect(_to_sympy_set(b)))
    out: list[Piece] = []
    for alo, ahi, pa in keyed_a:
        for blo, bhi, pb in keyed_b:
            if alo > blo or (alo == blo and not pa.lo_closed):
                lo, lo_closed = pa.lo, pa.lo_closed
            else:
                lo, lo_closed = pb.lo, pb.lo_closed
            if ahi < bhi or (ahi == bhi and not pa.hi_closed):
                hi, hi_closed = pa.hi, pa.hi_closed
            else:
                hi, hi_closed = pb.hi, pb.hi_closed
            klo, khi = max(alo, blo), min(ahi, bhi)
            if klo < khi or (klo == khi and lo_closed and hi_closed):
                out.append(_piece(lo, hi, lo_closed, hi_closed))
    return out


def _relation(rel: Rel) -> list[Piece]:
    if rel.ops == ("in",):
        return _raw(rel.args[1])
    if len(rel.ops) == 1:
        op, lhs, rhs = rel.ops[0], rel.args[0], rel.args[1]
        if _is_variable(lhs) and _is_constant(rhs):
            return _half_line(op, rhs)
        if _is_constant(lhs) and _is_variable(rhs):
            return _half_line(_FLIP[op], lhs)
        return _solve(op, lhs, rhs)
    if len(rel.ops) == 2:
        a, mid, b = rel.args
        o1, o2 = rel.ops
        if _is_variable(mid) and _is_constant(a) and _is_constant(b):
            if o1 in ("<", "<=") and o2 in ("<", "<="):
                return [_piece(a, b, o1 == "<=", o2 == "<=")]
            if o1 in (">", ">=") and o2 in (">", ">="):
                return [_piece(b, a, o2 == ">=", o1 == ">=")]
        return _intersect(_solve(o1, a, mid), _solve(o2, mid, b))
    raise SetError("a chain of more than two relations")


def _raw(node: Node) -> list[Piece]:
    if isinstance(node, Seq) and node.kind == "group" and len(node.items) == 2:
        lo, hi = node.items
        if symbols(lo) or symbols(hi):
            return [_piece(lo, hi, node.open == "[", node.close == "]")]
        return [_piece(lo, hi, node.open == "[", node.close == "]")]
    if isinstance(node, Seq) and node.kind in ("set", "list"):
        return [_piece(x, x, True, True) for x in node.items]
    if isinstance(node, SetOp):
        left, right = _raw(node.args[0]), _raw(node.args[1])
        if node.op == "union":
            return left + right
        if node.op == "inter":
            return _intersect(left, right)
        return _from_sympy(_to_sympy_set(left) - _to_sympy_set(right))
    if isinstance(node, Rel):
        return _relation(node)
    if isinstance(node, Func) and node.name == "ratio":
        raise SetError("a ratio")
    raise SetError(f"{type(node).__name__} is not a set")


def _key(node: Node) -> float:
    inf = _is_inf(node)
    if inf:
        return float("inf") * inf
    if isinstance(node, Ext):
        return float(node.obj.evalf(30))
    from assay.verifiers.math.numeric import Extreme, NotNumeric, numeric_value

    try:
        v = numeric_value(node)
    except (NotNumeric, Extreme, Undefined, ZeroDivisionError) as e:
        raise SetError(f"endpoint without a value: {e}") from e
    import mpmath

    if mpmath.im(v) != 0:
        raise SetError("complex endpoint")
    return float(mpmath.re(v))


def to_intervals(node: Node, same: Callable[[Node, Node], bool]) -> list[Piece]:
    """The normalised (sorted, merged) pieces of the set ``node`` describes.

    ``same(a, b)`` says whether two endpoints are the same number (the caller's comparison,
    e.g. the math comparer's); it decides whether two touching pieces merge.
    """
    try:
        pieces = _raw(node)
    except TooComplex:
        raise
    except (TypeError, ValueError, NotImplementedError, AttributeError) as e:
        if isinstance(e, SetError):
            raise
        raise SetError(str(e)) from e
    if len(pieces) > MAX_PIECES:
        raise TooComplex("too many pieces in a set")
    if any(symbols(p.lo) or symbols(p.hi) for p in pieces):
        return pieces  # symbolic endpoints ([x, x + 1]): compare as written
    keyed = sorted((((_key(p.lo), not p.lo_closed, _key(p.hi)), p) for p in pieces), key=lambda kp: kp[0])
    merged: list[tuple[float, float, Piece]] = []
    for (lo, _, hi), p in keyed:
        if merged:
            mlo, mhi, m = merged[-1]
            touching = lo < mhi or (lo == mhi and (m.hi_closed or p.lo_closed) and same(m.hi, p.lo))
            if touching:
                if hi > mhi or (hi == mhi and p.hi_closed and not m.hi_closed):
                    merged[-1] = (mlo, hi, Piece(m.lo, p.hi, m.lo_closed, p.hi_closed))
                continue
        merged.append((lo, hi, p))
    return [m for _, _, m in merged]
