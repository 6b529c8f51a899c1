"""When is a predicted answer the same as the reference? The comparison policy.

`judge(pred, gold)` parses both answers and compares them. The order of checks:

1. Normalised text equality (cheap, exact).
2. Shape. Several values (a list, a set, ``a \\pm b``) are compared as an unordered multiset
   with the other side's values; ordered things (tuples, intervals, matrices) element by element.
   A single reference value against several *different* predicted values is INCORRECT: that is
   a hedge (``3 or 4``, ``\\pm 2`` for ``2``, ``\\boxed{A, B, C, D}``), whatever it contains.
3. Labels. ``x = 2``, ``f(x) = 2``, ``(p, q) = (3, 2)``, ``|AB| = 1`` are their value when the
   other side is a bare value; a left side that is not a name (``7 = 11a + c``) makes it an
   equation. Equations are equal when one is a nonzero constant multiple of the other;
   inequalities (and ``x \\in ...``) are compared as solution sets. A chain whose constant parts
   disagree (``\\boxed{41 = 42}``, ``x = 3 + 3 = 2``) states something false: INCORRECT.
4. Scalars: exact rationals first (integers, decimals, fractions, mixed numbers, percentages as
   p or p/100, degrees as d or d*pi/180, base-n numbers), then the modular identity test for
   rational functions, then mpmath at random points, then sympy.

Units are stripped when only one side has them or both agree (``10 cm`` vs ``10``); different
units on both sides are INCORRECT. A decimal stands for an exact reference only when it is the
correct rounding of it with at least `DEFAULT_APPROX_DIGITS` significant digits (so
``0.8660254`` matches ``\\frac{\\sqrt3}{2}``, ``0.33`` does not match ``\\frac13``, and
``1.99999999`` does not match ``2``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from fractions import Fraction

from assay.verifiers.math.errors import ParseError, TooComplex
from assay.verifiers.math.exact import Undefined, const_value, rational_identity, symbols
from assay.verifiers.math.latex import clean
from assay.verifiers.math.nodes import (
    Const,
    Func,
    Matrix,
    Node,
    Num,
    Op,
    Rel,
    Seq,
    SetOp,
    Sym,
    Text,
    Wrap,
    walk,
)
from assay.verifiers.math.parser import parse

__all__ = ["DEFAULT_APPROX_DIGITS", "Judgement", "judge", "normalize_text"]

DEFAULT_APPROX_DIGITS = 6
MAX_ITEMS = 64
MAX_PM = 3

_TEXT_NOISE = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|textnormal)\s*\{([^{}]*)\}")
_SPACES = re.compile(r"\s+")
_OUTER = re.compile(r"^[\W_]+|[\W_]+$")


def normalize_text(s: str) -> str:
    """The answer with presentation noise removed (`latex.clean`), ``\\text{}`` wrappers dropped,
    casefolded, without spaces. Two answers with the same normalised text are the same answer."""
    return _SPACES.sub("", _TEXT_NOISE.sub(r"\1", clean(s)).casefold())


def normalize_words(s: str) -> str:
    """`normalize_text`, also without outer punctuation: ``\\text{(C)}`` -> ``c``. For word answers."""
    return _OUTER.sub("", normalize_text(s))


@dataclass(frozen=True, slots=True)
class Judgement:
    """The outcome of `judge`: ``status`` is one of correct, incorrect, timeout, error."""

    status: str
    reason: str
    path: str = ""


class _False(Exception):
    """A definite 'not equal' with a reason, raised from deep inside a comparison."""


class _FalseStatement(_False):
    """The answer asserts something false (``41 = 42``)."""


# -- helpers over nodes ----------------------------------------------------------------------


def _is_label(node: Node) -> bool:
    """Whether ``node`` names a quantity (``x``, ``a_1``, ``AB``, ``f(x)``, ``|AB|``, ``NO/BO``,
    ``(p, q)``, ``A:B``) rather than computing one."""
    if isinstance(node, Sym):
        return True
    if isinstance(node, Op) and node.op in ("*", "/"):
        return all(_is_label(a) or (isinstance(a, Const) and a.name in ("e", "i")) for a in node.args)
    if isinstance(node, Func) and node.name in ("abs", "ratio"):
        return all(_is_label(a) for a in node.args)
    if isinstance(node, Seq) and node.kind == "group":
        return all(_is_label(a) for a in node.items)
    if isinstance(node, Op) and node.op == "^":
        return _is_label(node.args[0]) and isinstance(node.args[1], Sym)
    return False


def _expand_pm(node: Node) -> list[Node]:
    """``a \\pm b`` -> [a + b, a - b] (all ± in one expression share the sign, ∓ the opposite)."""
    pms = [n for n in walk(node) if isinstance(n, Op) and n.op in ("pm", "mp")]
    if not pms:
        return [node]
    if len(pms) > MAX_PM:
        raise TooComplex("too many \\pm")

    def sub(n: Node, sign: int) -> Node:
        if isinstance(n, Op):
            args = tuple(sub(a, sign) for a in n.args)
            if n.op in ("pm", "mp"):
                s = sign if n.op == "pm" else -sign
                if len(args) == 1:
                    return args[0] if s > 0 else Op("neg", args)
                return Op("+", (args[0], args[1] if s > 0 else Op("neg", (args[1],))))
            return Op(n.op, args)
        if isinstance(n, Func):
            return Func(n.name, tuple(sub(a, sign) for a in n.args))
        if isinstance(n, Wrap):
            return Wrap(n.kind, sub(n.arg, sign), n.unit)
        if isinstance(n, Rel):
            return Rel(n.ops, tuple(sub(a, sign) for a in n.args))
        if isinstance(n, Seq):
            return Seq(n.kind, tuple(sub(a, sign) for a in n.items), n.open, n.close)
        return n

    return [sub(node, 1), sub(node, -1)]


def _items(node: Node) -> list[Node]:
    """The values an answer stands for: a list/set gives its elements; ``a \\pm b`` two values;
    ``x = 1, 2, 3``-style labels are kept on their items."""
    if isinstance(node, Seq) and node.kind in ("list", "set"):
        out: list[Node] = []
        for item in node.items:
            out.extend(_expand_pm(item))
        if len(out) > MAX_ITEMS:
            raise TooComplex(f"more than {MAX_ITEMS} values")
        return out
    if isinstance(node, Seq) and node.kind == "semi":
        out = []
        for group in node.items:
            if isinstance(group, Seq) and group.kind == "list":
                values = [_strip_label(x) for x in group.items]
                out.append(Seq("group", tuple(values), "(", ")"))
            else:
                out.append(group)
        return out
    if isinstance(node, Rel) and len(node.ops) == 1 and node.ops[0] == "=" and _is_label(node.args[0]):
        rhs = node.args[1]
        if isinstance(rhs, Seq) and rhs.kind in ("list", "set"):
            return [Rel(("=",), (node.args[0], v)) for v in _items(rhs)]
        expanded = _expand_pm(rhs)
        if len(expanded) > 1:
            return [Rel(("=",), (node.args[0], v)) for v in expanded]
    return _expand_pm(node)


def _strip_label(node: Node) -> Node:
    if isinstance(node, Rel) and len(node.ops) == 1 and node.ops[0] == "=" and _is_label(node.args[0]):
        return node.args[1]
    return node


def _label_of(node: Node) -> str | None:
    """The name a labelled value carries (``x = 2`` -> ``x``), else None."""
    if isinstance(node, Rel) and len(node.ops) == 1 and node.ops[0] == "=" and _is_label(node.args[0]):
        return repr(node.args[0])
    return None


def _is_constant(node: Node) -> bool:
    return not symbols(node) and not any(isinstance(n, Text | Seq | Rel | Matrix) for n in walk(node))


# -- the comparer ------------------------------------------------------------------------------


class _Comparer:
    def __init__(self, approx_digits: int) -> None:
        self.approx_digits = approx_digits
        self.path = "exact"

    def used(self, path: str) -> None:
        order = ("exact", "identity", "numeric", "sympy")
        if order.index(path) > order.index(self.path):
            self.path = path

    # answers -----------------------------------------------------------------------------

    def answers(self, g: Node, p: Node) -> tuple[bool, str]:
        if isinstance(g, Text) or isinstance(p, Text):
            return False, "different text"
        G, P = self.dedupe(_items(g)), self.dedupe(_items(p))
        if len(G) == 1 and len(P) == 1:
            return self.item(G[0], P[0])
        bare_g = isinstance(g, Seq) and g.kind == "list"
        bare_p = isinstance(p, Seq) and p.kind == "list"
        if len(G) == 1 and len(P) > 1:
            only = G[0]
            if bare_p and isinstance(only, Seq) and only.kind == "group" and len(only.items) == len(P):
                return self.ordered(list(only.items), [_strip_label(x) for x in P])  # (3, 2) vs 3, 2
            return False, f"{len(P)} different answers where one is expected"
        if len(P) == 1 and len(G) > 1:
            only = P[0]
            if bare_g and isinstance(only, Seq) and only.kind == "group" and len(only.items) == len(G):
                return self.ordered([_strip_label(x) for x in G], list(only.items))
            return False, f"one answer where {len(G)} are expected"
        return self.lists(G, P)

    def dedupe(self, items: list[Node]) -> list[Node]:
        out: list[Node] = []
        for x in items:
            if not any(self.quiet_equal(x, y) for y in out):
                out.append(x)
        return out

    def quiet_equal(self, a: Node, b: Node) -> bool:
        if a == b:
            return True
        try:
            return self.item(a, b)[0]
        except _False:
            return False

    def lists(self, G: list[Node], P: list[Node]) -> tuple[bool, str]:
        if len(G) != len(P):
            return False, f"{len(P)} answers where {len(G)} are expected"
        g_labels = [_label_of(x) for x in G]
        p_labels = [_label_of(x) for x in P]
        g_distinct = None not in g_labels and len(set(g_labels)) == len(g_labels)
        p_distinct = None not in p_labels and len(set(p_labels)) == len(p_labels)
        if g_distinct and p_distinct and set(g_labels) == set(p_labels):
            by_label = dict(zip(p_labels, P, strict=True))
            for lab, gx in zip(g_labels, G, strict=True):
                ok, why = self.item(_strip_label(gx), _strip_label(by_label[lab]))
                if not ok:
                    return False, why
            return True, "same values for the same names"
        if (g_distinct and all(x is None for x in p_labels)) or (
            p_distinct and all(x is None for x in g_labels)
        ):
            return self.ordered([_strip_label(x) for x in G], [_strip_label(x) for x in P])
        remaining = [_strip_label(x) for x in P]
        for gx in G:
            gv = _strip_label(gx)
            for k, pv in enumerate(remaining):
                if self.quiet_equal(gv, pv):
                    del remaining[k]
                    break
            else:
                return False, "the values differ"
        return True, "same values"

    def ordered(self, G: list[Node], P: list[Node]) -> tuple[bool, str]:
        if len(G) != len(P):
            return False, "different number of components"
        for k, (gx, px) in enumerate(zip(G, P, strict=True)):
            ok, why = self.item(gx, px)
            if not ok:
                return False, f"component {k + 1}: {why}"
        return True, "same components"

    # items ---------------------------------------------------------------------------------

    def item(self, g: Node, p: Node) -> tuple[bool, str]:
        if g == p:
            return True, "identical"
        if isinstance(g, Text) or isinstance(p, Text):
            return False, "different text"
        if isinstance(g, Rel) and isinstance(p, Rel):
            return self.relations(g, p)
        if isinstance(g, Rel) or isinstance(p, Rel):
            rel, other = (g, p) if isinstance(g, Rel) else (p, g)
            assert isinstance(rel, Rel)
            value = self.rel_value(rel)
            if value is None:
                if self.set_like(other) and self.is_set_relation(rel):
                    return self.sets(g, p)
                return False, "a relation on one side only"
            return self.item(value, other) if rel is g else self.item(other, value)
        if isinstance(g, Matrix) or isinstance(p, Matrix):
            return self.matrices(g, p)
        if isinstance(g, Seq) and isinstance(p, Seq):
            return self.groups(g, p)
        if self.set_like(g) or self.set_like(p):
            if self.set_like(g) and self.set_like(p):
                return self.sets(g, p)
            return False, "a set on one side only"
        if isinstance(g, Seq) or isinstance(p, Seq):
            return False, "a tuple on one side only"
        if (isinstance(g, Func) and g.name == "ratio") or (isinstance(p, Func) and p.name == "ratio"):
            return self.ratios(g, p)
        if isinstance(g, Func) and g.name == "base":
            return self.base_n(g, p)
        return self.scalar(g, p)

    def base_n(self, g: Func, p: Node) -> tuple[bool, str]:
        """A base-b reference (``204_5``) needs the answer in base b: ``204_5`` or bare ``204``."""
        digits, base = g.args
        assert isinstance(digits, Num) and isinstance(base, Num)
        if isinstance(p, Func) and p.name == "base":
            same = p.args[1] == base and const_value(p) == const_value(g)
            return same, "same base-n number" if same else "different base-n numbers"
        if isinstance(p, Num) and p.decimals < 0 and p.value.denominator == 1:
            same = p.value == digits.value
            return same, "same digits" if same else f"not the base-{base.value} digits"
        return False, f"not a base-{base.value} number"

    def ratios(self, g: Node, p: Node) -> tuple[bool, str]:
        if not (isinstance(g, Func) and g.name == "ratio" and isinstance(p, Func) and p.name == "ratio"):
            return False, "a ratio on one side only"
        ga, pa = list(g.args), list(p.args)
        for parts in (ga, pa):  # 20:34:00 is 20:34
            while len(parts) > 2 and isinstance(parts[-1], Num) and parts[-1].value == 0:
                parts.pop()
        return self.ordered(ga, pa)

    def matrices(self, g: Node, p: Node) -> tuple[bool, str]:
        def rows(n: Node) -> list[list[Node]] | None:
            if isinstance(n, Matrix):
                return [list(r) for r in n.rows]
            if isinstance(n, Seq) and n.kind == "group":
                return [list(n.items)]
            return None

        gr, pr = rows(g), rows(p)
        if gr is None or pr is None:
            return False, "a matrix on one side only"
        if isinstance(g, Seq) or isinstance(p, Seq):  # a vector written as a tuple
            gflat = [x for r in gr for x in r]
            pflat = [x for r in pr for x in r]
            if (len(gr) == 1 or all(len(r) == 1 for r in gr)) and (
                len(pr) == 1 or all(len(r) == 1 for r in pr)
            ):
                return self.ordered(gflat, pflat)
            return False, "different shapes"
        if len(gr) != len(pr) or any(len(a) != len(b) for a, b in zip(gr, pr, strict=True)):
            return False, "different shapes"
        return self.ordered([x for r in gr for x in r], [x for r in pr for x in r])

    def groups(self, g: Seq, p: Seq) -> tuple[bool, str]:
        if g.kind == "set" or p.kind == "set":
            if g.kind != p.kind:
                if {g.kind, p.kind} == {"set", "list"}:
                    return self.lists(self.dedupe(list(g.items)), self.dedupe(list(p.items)))
                return False, "an ordered tuple against an unordered set"
            return self.lists(self.dedupe(list(g.items)), self.dedupe(list(p.items)))
        if g.kind == "group" and p.kind == "group":
            if len(g.items) == 2 and len(p.items) == 2 and (g.open, g.close) != (p.open, p.close):
                return self.sets(g, p)
            return self.ordered(list(g.items), list(p.items))
        return self.lists(list(g.items), list(p.items))

    # relations ----------------------------------------------------------------------------

    def rel_value(self, rel: Rel) -> Node | None:
        """The value a relation states (``x = 2`` -> 2), None for a genuine equation.

        Raises `_FalseStatement` for a chain whose constant parts disagree."""
        if any(op not in ("=", "~") for op in rel.ops):
            if rel.ops == ("in",) and _is_label(rel.args[0]):
                return rel.args[1]
            return None
        args = list(rel.args)
        if "~" in rel.ops:  # keep the exact part: x = 1/3 ~ 0.33 -> x = 1/3
            cut = rel.ops.index("~")
            args = args[:2] if cut == 0 else args[: cut + 1]
        head, values = args[0], args[1:]
        labelled = _is_label(head)
        if not labelled:
            values = args
        constants = [v for v in values if _is_constant(v)]
        for a, b in itertools.pairwise(constants):
            if _norm_unit(_strip_unit(a)[0]) != _norm_unit(_strip_unit(b)[0]):
                continue  # 5 cm = 50 mm: values in different units are not compared
            if not self.quiet_equal(a, b):
                raise _FalseStatement("it states a false equality")
        if labelled or len(constants) == len(values):
            return values[-1]
        return None

    def is_set_relation(self, rel: Rel) -> bool:
        return any(op in ("<", "<=", ">", ">=", "!=", "in") for op in rel.ops)

    def relations(self, g: Rel, p: Rel) -> tuple[bool, str]:
        g_set, p_set = self.is_set_relation(g), self.is_set_relation(p)
        if g_set or p_set:
            if g_set and p_set:
                gv, pv = self.relation_variable(g), self.relation_variable(p)
                if gv is not None and pv is not None and gv != pv:
                    return False, "inequalities in different variables"
                return self.sets(g, p)
            return False, "an inequality against an equation"
        gval, pval = self.rel_value(g), self.rel_value(p)
        if len(g.args) == 2 and len(p.args) == 2:
            same_label = _is_label(g.args[0]) and g.args[0] == p.args[0]
            if same_label and gval is not None and pval is not None:
                return self.item(gval, pval)
            if not any(isinstance(x, Seq | Matrix | Text) for x in (*g.args, *p.args)):
                return self.equations(g, p)
        if gval is not None and pval is not None:
            return self.item(gval, pval)
        return False, "different equations"

    def equations(self, g: Rel, p: Rel) -> tuple[bool, str]:
        """``l1 = r1`` and ``l2 = r2`` are the same when l1 - r1 = c (l2 - r2), c a nonzero constant."""
        e1 = Op("+", (g.args[0], Op("neg", (g.args[1],))))
        e2 = Op("+", (p.args[0], Op("neg", (p.args[1],))))
        c = self.proportion(e1, e2)
        if c is None or c == 0:
            return False, "different equations"
        return True, "equivalent equations"

    def proportion(self, e1: Node, e2: Node) -> Fraction | None:
        """The rational c with e1 = c * e2 identically, if there is one."""
        names = sorted(symbols(e1) | symbols(e2))
        import random

        rng = random.Random(7)
        for _ in range(6):
            env = {n: Fraction(rng.randrange(3, 997), rng.randrange(3, 97)) for n in names}
            try:
                v1, v2 = const_value(e1, env), const_value(e2, env)
            except (Undefined, ZeroDivisionError):
                continue
            if v1 is None or v2 is None:
                return self.numeric_proportion(e1, e2)
            if v2 == 0:
                continue
            c = v1 / v2
            if c != 0 and self.quiet_scalar(e1, Op("*", (Num(c), e2))):
                return c
            return None
        return None

    def numeric_proportion(self, e1: Node, e2: Node) -> Fraction | None:
        from assay.verifiers.math.numeric import Extreme, NotNumeric, numeric_value

        names = sorted(symbols(e1) | symbols(e2))
        env = {n: 1.2345 + 0.1 * k for k, n in enumerate(names)}
        try:
            v1, v2 = numeric_value(e1, env), numeric_value(e2, env)
        except (Extreme, NotNumeric, Undefined, ZeroDivisionError, TooComplex):
            return None
        if v2 == 0:
            return None
        ratio = complex(v1 / v2)
        if abs(ratio.imag) > 1e-12:
            return None
        c = Fraction(ratio.real).limit_denominator(10_000)
        if c != 0 and self.quiet_scalar(e1, Op("*", (Num(c), e2))):
            return c
        return None

    def relation_variable(self, rel: Rel) -> str | None:
        names: set[str] = set()
        for a in rel.args:
            names |= symbols(a)
        return names.pop() if len(names) == 1 else None

    # sets ---------------------------------------------------------------------------------

    def set_like(self, node: Node) -> bool:
        if isinstance(node, SetOp):
            return True
        if isinstance(node, Seq) and node.kind == "group" and len(node.items) == 2:
            return (node.open, node.close) in (("[", ")"), ("(", "]"), ("[", "]"), ("(", ")"))
        if isinstance(node, Seq) and node.kind == "set":
            return True
        return isinstance(node, Rel) and self.is_set_relation(node)

    def sets(self, g: Node, p: Node) -> tuple[bool, str]:
        from assay.verifiers.math.sets import SetError, to_intervals

        try:
            gs, ps = to_intervals(g, self.quiet_equal), to_intervals(p, self.quiet_equal)
        except SetError as e:
            return False, f"not comparable as sets ({e})"
        if len(gs) != len(ps):
            return False, "different sets"
        for a, b in zip(gs, ps, strict=True):
            if a.lo_closed != b.lo_closed or a.hi_closed != b.hi_closed:
                return False, "different sets (open/closed ends)"
            if not self.quiet_equal(a.lo, b.lo) or not self.quiet_equal(a.hi, b.hi):
                return False, "different sets"
        return True, "same set"

    # scalars ------------------------------------------------------------------------------

    def quiet_scalar(self, a: Node, b: Node) -> bool:
        try:
            return self.value(a, b)
        except _False:
            return False

    def scalar(self, g: Node, p: Node) -> tuple[bool, str]:
        g_unit, g = _strip_unit(g)
        p_unit, p = _strip_unit(p)
        if g_unit and p_unit and _norm_unit(g_unit) != _norm_unit(p_unit):
            return False, f"different units ({g_unit} vs {p_unit})"
        g_alts, p_alts = _alternatives(g), _alternatives(p)
        if isinstance(g, Wrap) and isinstance(p, Wrap) and g.kind == p.kind:
            g_alts, p_alts = [g.arg], [p.arg]
        for ga in g_alts:
            for pa in p_alts:
                if self.value(ga, pa):
                    return True, "equal"
        return False, "different values"

    def value(self, a: Node, b: Node) -> bool:
        """Whether two scalar expressions are equal (see the module docstring for the order)."""
        if a == b:
            return True
        if any(isinstance(n, Wrap) and n.kind == "unit" for n in (*walk(a), *walk(b))):
            return normalize_text(repr(a)) == normalize_text(repr(b))
        try:
            ca, cb = const_value(a), const_value(b)
        except Undefined:
            return False
        if ca is not None and cb is not None:
            if ca == cb:
                return True
            return self.rounded(a, b, ca, cb)
        if _is_decimal(a) or _is_decimal(b):
            verdict = self.rounded_numeric(a, b)
            if verdict is not None:
                return verdict
        self.used("identity")
        same = rational_identity(a, b)
        if same is not None:
            return same
        self.used("numeric")
        from assay.verifiers.math.numeric import Extreme, NotNumeric, numeric_equal

        try:
            verdict = numeric_equal(a, b)
        except (Extreme, NotNumeric, Undefined, ZeroDivisionError, OverflowError, ValueError):
            verdict = None
        if verdict is not None:
            return verdict
        self.used("sympy")
        from assay.verifiers.math.symbolic import NotSymbolic, symbolic_equal

        try:
            return symbolic_equal(a, b)
        except (NotSymbolic, TypeError, ValueError, NotImplementedError, AttributeError, ZeroDivisionError):
            return False

    def rounded(self, a: Node, b: Node, ca: Fraction, cb: Fraction) -> bool:
        """A decimal literal against an exact rational: equal if it is its correct rounding."""
        for dec, dv, ev, other in ((a, ca, cb, b), (b, cb, ca, a)):
            if _is_decimal(dec) and not _is_decimal(other):
                assert isinstance(dec, Num)
                if _sig_digits(dec) >= self.approx_digits and abs(dv - ev) <= Fraction(
                    1, 2 * 10**dec.decimals
                ):
                    return True
        return False

    def rounded_numeric(self, a: Node, b: Node) -> bool | None:
        from assay.verifiers.math.numeric import Extreme, NotNumeric, numeric_value

        dec, other = (a, b) if _is_decimal(a) else (b, a)
        assert isinstance(dec, Num)
        if _is_decimal(other) or symbols(other) or _sig_digits(dec) < self.approx_digits:
            return None
        try:
            v = numeric_value(other, dps=dec.decimals + 30)
        except (Extreme, NotNumeric, Undefined, ZeroDivisionError, TooComplex):
            return None
        import mpmath

        if mpmath.im(v) != 0:
            return False
        with mpmath.workdps(dec.decimals + 30):
            gap = abs(mpmath.mpf(dec.value.numerator) / dec.value.denominator - mpmath.re(v))
            return bool(gap <= mpmath.mpf(1) / (2 * 10**dec.decimals))


def _is_decimal(node: Node) -> bool:
    return isinstance(node, Num) and node.decimals >= 0


def _sig_digits(num: Num) -> int:
    digits = f"{abs(num.value.numerator) * 10**num.decimals // num.value.denominator}".lstrip("0")
    return len(digits)


def _strip_unit(node: Node) -> tuple[str, Node]:
    if isinstance(node, Wrap) and node.kind == "unit":
        return node.unit, node.arg
    return "", node


_UNIT_ALIASES = {
    "meter": "m", "metre": "m", "centimeter": "cm", "centimetre": "cm", "millimeter": "mm",
    "kilometer": "km", "inch": "in", "inches": "in", "foot": "ft", "feet": "ft", "yard": "yd",
    "mile": "mi", "second": "s", "sec": "s", "minute": "min", "hour": "h", "hr": "h", "gram": "g",
    "kilogram": "kg", "pound": "lb", "lbs": "lb", "dollar": "usd", "$": "usd", "degree": "deg",
}  # fmt: skip


def _norm_unit(unit: str) -> str:
    words = unit.casefold().replace("^", " ^").replace("{", "").replace("}", "").split()
    out: list[str] = []
    power = ""
    for w in words:
        if w in ("square", "sq"):
            power = "^2"
            continue
        if w in ("cubic", "cu"):
            power = "^3"
            continue
        if w.startswith("^"):
            out.append(w)
            continue
        base = w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
        out.append(_UNIT_ALIASES.get(base, base) + power)
        power = ""
    return "".join(out)


def _alternatives(node: Node) -> list[Node]:
    """A percentage p% stands for p and p/100; an angle d° for d and d*pi/180."""
    if isinstance(node, Wrap) and node.kind == "percent":
        return [node.arg, Op("/", (node.arg, Num(Fraction(100))))]
    if isinstance(node, Wrap) and node.kind == "degree":
        return [node.arg, Op("/", (Op("*", (node.arg, Const("pi"))), Num(Fraction(180))))]
    return [node]


def _texts_equal(a: str, b: str) -> bool:
    return bool(normalize_text(a)) and normalize_text(a) == normalize_text(b)


def _words_equal(a: str, b: str) -> bool:
    return bool(normalize_words(a)) and normalize_words(a) == normalize_words(b)


def judge(pred: str, gold: str, *, approx_digits: int = DEFAULT_APPROX_DIGITS) -> Judgement:
    """Compare two bare answers. Status ``correct``/``incorrect``/``timeout``/``error``.

    ``timeout`` here means a size limit was hit (`TooComplex`), or a value overflowed while
    comparing (``e^{e^{e^{10}}}``): the answer is pathological. ``error`` means the *reference*
    could not be read, or is itself beyond numeric range.
    """
    if _texts_equal(pred, gold):
        return Judgement("correct", "same text", "string")
    try:
        g = parse(gold)
    except TooComplex as e:
        return Judgement("error", f"reference answer over a size limit: {e}")
    except ParseError as e:
        return Judgement("error", f"could not parse the reference answer: {e}")
    try:
        p = parse(pred)
    except TooComplex as e:
        return Judgement("timeout", f"answer over a size limit: {e}")
    except ParseError as e:
        return Judgement("incorrect", f"not a math answer this verifier reads: {e}")
    if isinstance(g, Text) or isinstance(p, Text):
        same = _words_equal(_text_of(g, gold), _text_of(p, pred))
        return Judgement(
            "correct" if same else "incorrect", "same text" if same else "different text", "string"
        )
    comparer = _Comparer(approx_digits)
    try:
        ok, reason = comparer.answers(g, p)
    except _False as e:
        return Judgement("incorrect", str(e), comparer.path)
    except TooComplex as e:
        return Judgement("timeout", f"answer over a size limit: {e}", comparer.path)
    except OverflowError as e:  # mpmath or sympy met a value beyond its range (e^{e^{e^{10}}})
        if _beyond_range(g):
            return Judgement("error", f"reference answer too large to compare: {e}", comparer.path)
        return Judgement("timeout", f"answer too large to compare (OverflowError: {e})", comparer.path)
    return Judgement("correct" if ok else "incorrect", reason, comparer.path)


def _beyond_range(node: Node) -> bool:
    """Whether a constant part of ``node`` is too large to evaluate numerically: then an overflow
    while comparing is the reference's doing (ERROR), not the candidate's (TIMEOUT)."""
    from assay.verifiers.math.numeric import Extreme, NotNumeric, numeric_value

    for n in walk(node):
        if symbols(n) or isinstance(n, Text | Seq | Rel | Matrix):
            continue
        try:
            numeric_value(n)
        except (Extreme, OverflowError):
            return True
        except (NotNumeric, Undefined, ZeroDivisionError, TooComplex, ValueError, TypeError):
            continue
    return False


def _text_of(node: Node, raw: str) -> str:
    return node.text if isinstance(node, Text) else raw
