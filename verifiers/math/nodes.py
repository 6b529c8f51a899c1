"""The AST of a parsed answer: a closed set of small frozen nodes.

Numbers are exact (`Num.value` is a `Fraction`; `Num.decimals` remembers how a decimal literal
was written, for the rounding rule). Everything a comparison needs is here; nothing refers to
sympy except `Ext`, which wraps a sympy object computed by this package (e.g. the solution set of
an inequality), never one parsed from text.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Union

__all__ = [
    "BigOp",
    "Const",
    "Ext",
    "Func",
    "Matrix",
    "Node",
    "Num",
    "Op",
    "Rel",
    "Seq",
    "SetOp",
    "Sym",
    "Text",
    "Wrap",
    "children",
    "walk",
]


@dataclass(frozen=True, slots=True)
class Num:
    """An exact number. ``decimals`` is the count of digits after the point of a decimal
    literal (``0.50`` -> 2), or -1 for integers and anything computed exactly."""

    value: Fraction
    decimals: int = -1


@dataclass(frozen=True, slots=True)
class Sym:
    """A variable: ``x``, ``a_1``, ``\\alpha``, ``AB`` (one letter each unless subscripted)."""

    name: str


@dataclass(frozen=True, slots=True)
class Const:
    """``pi``, ``e`` (Euler's number), ``i`` (imaginary unit), ``inf`` (+infinity)."""

    name: str


@dataclass(frozen=True, slots=True)
class Op:
    """Arithmetic: ``+`` and ``*`` (n-ary), ``/`` and ``^`` (binary), ``neg`` (unary), and
    ``pm``/``mp``: ``a ± b`` (binary) or ``±a`` (unary), expanded into two answers."""

    op: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Func:
    """A whitelisted function: ``sin``, ``log`` (args ``(x, base)``), ``root`` (``(x, n)``),
    ``sqrt``, ``abs``, ``floor``, ``ceil``, ``fact``, ``binom``, ``max``, ``gcd``..."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Wrap:
    """A value with a marker: ``percent``, ``degree``, or ``unit`` (``unit`` holds the text)."""

    kind: str
    arg: Node
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Rel:
    """A relation or chain: ``ops[i]`` relates ``args[i]`` and ``args[i + 1]``. Ops: ``=``,
    ``<``, ``<=``, ``>``, ``>=``, ``!=``, ``~`` (approximately), ``in``."""

    ops: tuple[str, ...]
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Seq:
    """Several values. ``kind``: ``list`` (bare, comma or "and"/"or" separated), ``semi``
    (semicolon separated), ``set`` (braces), ``group`` (brackets: ``open``/``close`` are the
    delimiters, so ``(a, b)``, ``[a, b)``, ``[a, b, c]``, ``\\langle a, b \\rangle``)."""

    kind: str
    items: tuple[Node, ...]
    open: str = ""
    close: str = ""


@dataclass(frozen=True, slots=True)
class SetOp:
    """``union``, ``inter`` or ``minus`` of two sets."""

    op: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Matrix:
    """A matrix (``pmatrix``, ``bmatrix``, ``array``...), row by row."""

    rows: tuple[tuple[Node, ...], ...]


@dataclass(frozen=True, slots=True)
class Text:
    """A word answer (``\\text{Evelyn}``, ``odd``, ``(C)``), compared as normalised text."""

    text: str


@dataclass(frozen=True, slots=True)
class BigOp:
    """``\\sum`` or ``\\prod`` (``kind``) of ``body`` for ``var`` from ``lo`` to ``hi``."""

    kind: str
    var: str
    lo: Node
    hi: Node
    body: Node


@dataclass(frozen=True, slots=True)
class Ext:
    """A sympy object computed by this package (never parsed from model text)."""

    obj: Any


Node = Union[Num, Sym, Const, Op, Func, Wrap, Rel, Seq, SetOp, Matrix, Text, BigOp, Ext]  # noqa: UP007 - runtime alias


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-nodes of ``node``."""
    if isinstance(node, Op | Func | Rel | SetOp):
        return node.args
    if isinstance(node, Wrap):
        return (node.arg,)
    if isinstance(node, Seq):
        return node.items
    if isinstance(node, Matrix):
        return tuple(x for row in node.rows for x in row)
    if isinstance(node, BigOp):
        return (node.lo, node.hi, node.body)
    return ()


def walk(node: Node) -> list[Node]:
    """Every node of the tree, iteratively (no recursion limit to hit)."""
    out: list[Node] = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(children(n))
    return out
