"""Typed AST mutations of library functions: how RepoRepair plants a bug.

`find_mutations` parses a module with `ast`, visits every function (methods included) and lists
each place one of `OPERATORS` applies. A `Mutation` is a text edit of the original source: the
span of one token or node (``line``/``col`` as `ast` counts them: 1-based lines, UTF-8 byte
columns) and the text before and after, so the rest of the file keeps its formatting and
comments. Each candidate is checked by re-parsing: the edited module must parse to exactly the
tree the operator meant (an edit that would parse differently, e.g. through operator precedence
or a comment in the way, is not offered).

Whether a mutation is a *bug* is not decided here: the task builder keeps one only when the
package's own tests catch it (see `assay.envs.repo.taskset`).
"""

from __future__ import annotations

import ast
import copy
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["OPERATORS", "Mutation", "apply_mutations", "find_mutations", "revert_mutations"]

OPERATORS = (
    "arithmetic_swap",
    "comparison_swap",
    "boolean_swap",
    "off_by_one",
    "wrong_constant",
    "negated_condition",
    "dropped_branch",
    "swapped_arguments",
    "wrong_return",
)
"""The kinds of bug `find_mutations` plants, in the order it lists them."""

_BINOPS: dict[type[ast.operator], tuple[str, type[ast.operator], str]] = {
    ast.Add: ("+", ast.Sub, "-"),
    ast.Sub: ("-", ast.Add, "+"),
    ast.Mult: ("*", ast.FloorDiv, "//"),
    ast.FloorDiv: ("//", ast.Mult, "*"),
    ast.Div: ("/", ast.Mult, "*"),
    ast.Mod: ("%", ast.FloorDiv, "//"),
    ast.BitAnd: ("&", ast.BitOr, "|"),
    ast.BitOr: ("|", ast.BitAnd, "&"),
    ast.LShift: ("<<", ast.RShift, ">>"),
    ast.RShift: (">>", ast.LShift, "<<"),
}
_CMPOPS: dict[type[ast.cmpop], tuple[str, type[ast.cmpop], str]] = {
    ast.Lt: (r"(?<![<>=!])<(?![<=])", ast.LtE, "<="),
    ast.LtE: (r"<=", ast.Lt, "<"),
    ast.Gt: (r"(?<![<>=!-])>(?![>=])", ast.GtE, ">="),
    ast.GtE: (r">=", ast.Gt, ">"),
    ast.Eq: (r"==", ast.NotEq, "!="),
    ast.NotEq: (r"!=", ast.Eq, "=="),
    ast.Is: (r"\bis\b(?!\s+not\b)", ast.IsNot, "is not"),
    ast.IsNot: (r"\bis\s+not\b", ast.Is, "is"),
    ast.In: (r"(?<!not )\bin\b", ast.NotIn, "not in"),
    ast.NotIn: (r"\bnot\s+in\b", ast.In, "in"),
}
_TERMINAL = (ast.Return, ast.Raise, ast.Continue, ast.Break, ast.Assign, ast.AugAssign, ast.Expr)


@dataclass(frozen=True, slots=True)
class Mutation:
    """One planted bug: replace ``before`` at a span of the original file with ``after``.

    Attributes:
        file: Path of the module inside the package's sdist.
        function: Qualified name of the function it is in (``Class.method``).
        op: One of `OPERATORS`.
        line: First line of the span (1-based).
        col: Its start column on that line (UTF-8 bytes, as `ast` counts).
        end_line: Last line of the span.
        end_col: The column just past the span's end on ``end_line``.
        before: The original text of the span.
        after: The text that replaces it.
    """

    file: str
    function: str
    op: str
    line: int
    col: int
    end_line: int
    end_col: int
    before: str
    after: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "function": self.function,
            "op": self.op,
            "line": self.line,
            "col": self.col,
            "end_line": self.end_line,
            "end_col": self.end_col,
            "before": self.before,
            "after": self.after,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Mutation:
        return Mutation(**{k: d[k] for k in Mutation.__slots__})


def _offsets(data: bytes) -> list[int]:
    starts = [0]
    for i, b in enumerate(data):
        if b == 0x0A:
            starts.append(i + 1)
    return starts


def _span(starts: list[int], m: Mutation) -> tuple[int, int]:
    return starts[m.line - 1] + m.col, starts[m.end_line - 1] + m.end_col


def apply_mutations(source: str, mutations: Sequence[Mutation]) -> str:
    """``source`` with every mutation applied (all of one file). Raises ``ValueError`` on a mismatch."""
    data = source.encode()
    starts = _offsets(data)
    spans = sorted(((*_span(starts, m), m) for m in mutations), key=lambda t: t[0], reverse=True)
    for (a, b, m), nxt in zip(spans, [None, *spans[:-1]], strict=True):
        if nxt is not None and b > nxt[0]:
            raise ValueError(f"mutations overlap at {m.file}:{m.line}")
        if data[a:b].decode() != m.before:
            raise ValueError(f"{m.file}:{m.line}: expected {m.before!r}, found {data[a:b].decode()!r}")
        data = data[:a] + m.after.encode() + data[b:]
    return data.decode()


def revert_mutations(mutated: str, mutations: Sequence[Mutation], original_starts: str) -> str:
    """Undo `apply_mutations` on ``mutated`` given the original source (for its line offsets)."""
    starts = _offsets(original_starts.encode())
    data = mutated.encode()
    ordered = sorted(mutations, key=lambda m: _span(starts, m)[0])
    shift = 0
    pieces: list[tuple[int, int, Mutation]] = []
    for m in ordered:
        a, b = _span(starts, m)
        pieces.append((a + shift, a + shift + len(m.after.encode()), m))
        shift += len(m.after.encode()) - (b - a)
    for a, b, m in reversed(pieces):
        if data[a:b].decode() != m.after:
            raise ValueError(f"{m.file}:{m.line}: the mutated text is not where it was planted")
        data = data[:a] + m.before.encode() + data[b:]
    return data.decode()


class _Site:
    """A candidate: where to edit, the edit, and how the tree should change (internal)."""

    def __init__(
        self, op: str, a: tuple[int, int], b: tuple[int, int], after: str, change: Any, node: ast.AST
    ) -> None:
        self.op, self.a, self.b, self.after, self.change, self.node = op, a, b, after, change, node


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield prefix + child.name, child
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, prefix + child.name + ".")

    yield from visit(tree, "")


def _path(root: ast.AST, target: ast.AST) -> list[tuple[str, int | None]] | None:
    """The field/index steps from ``root`` to ``target`` (so a deep copy can be edited alike)."""
    for name, value in ast.iter_fields(root):
        if isinstance(value, ast.AST):
            if value is target:
                return [(name, None)]
            sub = _path(value, target)
            if sub is not None:
                return [(name, None), *sub]
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if item is target:
                    return [(name, i)]
                if isinstance(item, ast.AST):
                    sub = _path(item, target)
                    if sub is not None:
                        return [(name, i), *sub]
    return None


def _follow(root: ast.AST, path: list[tuple[str, int | None]]) -> Any:
    node: Any = root
    for name, index in path:
        node = getattr(node, name)
        if index is not None:
            node = node[index]
    return node


def _between(lines: list[bytes], a: Any, b: Any) -> tuple[tuple[int, int], str]:
    """The text between the end of ``a`` and the start of ``b`` and where it begins."""
    start = (a.end_lineno or a.lineno, a.end_col_offset or 0)
    text = _text(lines, start, (b.lineno, b.col_offset))
    return start, text


def _text(lines: list[bytes], a: tuple[int, int], b: tuple[int, int]) -> str:
    if a[0] == b[0]:
        return lines[a[0] - 1][a[1] : b[1]].decode()
    parts = [lines[a[0] - 1][a[1] :], *lines[a[0] : b[0] - 1], lines[b[0] - 1][: b[1]]]
    return b"".join(parts).decode()


def _advance(lines: list[bytes], start: tuple[int, int], text: str) -> tuple[int, int]:
    """Position reached from ``start`` after ``text`` (as `ast` counts positions)."""
    chunk = text.encode()
    line, col = start
    newlines = chunk.count(b"\n")
    if not newlines:
        return line, col + len(chunk)
    return line + newlines, len(chunk) - chunk.rfind(b"\n") - 1


def _token_site(
    lines: list[bytes],
    op: str,
    left: ast.AST,
    right: ast.AST,
    pattern: str,
    after: str,
    change: Any,
    node: ast.AST,
) -> _Site | None:
    start, between = _between(lines, left, right)
    found = list(re.finditer(pattern, between))
    if len(found) != 1:
        return None
    m = found[0]
    return _Site(
        op,
        _advance(lines, start, between[: m.start()]),
        _advance(lines, start, between[: m.end()]),
        after,
        change,
        node,
    )


def _node_span(node: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    return (node.lineno, node.col_offset), (node.end_lineno or node.lineno, node.end_col_offset or 0)


def _sites(func: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[bytes]) -> Iterator[_Site]:
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # the docstring is not code
    nodes: list[ast.AST] = []
    for stmt in body:
        nodes.extend(ast.walk(stmt))
    for node in nodes:
        if isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in _BINOPS:
            sym, new_op, text = _BINOPS[type(node.op)]
            left, right = (
                (node.left, node.right) if isinstance(node, ast.BinOp) else (node.target, node.value)
            )
            sym = re.escape(sym) + ("=" if isinstance(node, ast.AugAssign) else "")
            pattern = r"(?<![*/<>])" + sym + r"(?![*/<>=])" if not isinstance(node, ast.AugAssign) else sym
            text += "=" if isinstance(node, ast.AugAssign) else ""

            def change(n: Any, new_op: type[ast.operator] = new_op) -> Any:
                n.op = new_op()
                return n

            site = _token_site(lines, "arithmetic_swap", left, right, pattern, text, change, node)
            if site:
                yield site
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, cmp in enumerate(node.ops):
                if type(cmp) not in _CMPOPS:
                    continue
                pattern, new_cmp, text = _CMPOPS[type(cmp)]

                def change_cmp(n: Any, i: int = i, new_cmp: type[ast.cmpop] = new_cmp) -> Any:
                    n.ops[i] = new_cmp()
                    return n

                site = _token_site(
                    lines, "comparison_swap", operands[i], operands[i + 1], pattern, text, change_cmp, node
                )
                if site:
                    yield site
        elif isinstance(node, ast.BoolOp) and len(node.values) == 2:
            word, other, new_op2 = (
                ("and", "or", ast.Or) if isinstance(node.op, ast.And) else ("or", "and", ast.And)
            )

            def change_bool(n: Any, new_op2: type[ast.boolop] = new_op2) -> Any:
                n.op = new_op2()
                return n

            site = _token_site(
                lines,
                "boolean_swap",
                node.values[0],
                node.values[1],
                rf"\b{word}\b",
                other,
                change_bool,
                node,
            )
            if site:
                yield site
        elif isinstance(node, ast.Constant) and type(node.value) is int and 0 <= node.value < 1000:
            a, b = _node_span(node)
            if _text(lines, a, b) == str(node.value):
                new = node.value + 1 if node.value in (0, 1) or node.value % 2 else node.value - 1

                def change_int(n: Any, new: int = new) -> Any:
                    n.value = new
                    return n

                yield _Site("off_by_one", a, b, str(new), change_int, node)
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            a, b = _node_span(node)

            def change_bool_const(n: Any) -> Any:
                n.value = not n.value
                return n

            yield _Site("wrong_constant", a, b, str(not node.value), change_bool_const, node)
        elif isinstance(node, ast.If | ast.While | ast.IfExp):
            test = node.test
            a, b = _node_span(test)
            text = _text(lines, a, b)
            if "\n" in text:
                continue
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                inner = _text(lines, *_node_span(test.operand))
                after = (
                    inner
                    if isinstance(test.operand, ast.Name | ast.Call | ast.Attribute | ast.Subscript)
                    else f"({inner})"
                )

                def change_test(n: Any) -> Any:
                    n.test = n.test.operand
                    return n
            else:
                after = (
                    f"not {text}"
                    if isinstance(test, ast.Name | ast.Call | ast.Attribute | ast.Subscript | ast.Constant)
                    else f"not ({text})"
                )

                def change_test(n: Any) -> Any:
                    n.test = ast.UnaryOp(op=ast.Not(), operand=n.test)
                    return n

            yield _Site("negated_condition", a, b, after, change_test, node)
        elif (
            isinstance(node, ast.Call)
            and len(node.args) >= 2
            and not any(isinstance(x, ast.Starred) for x in node.args[:2])
        ):
            first, second = node.args[0], node.args[1]
            a, _ = _node_span(first)
            _, b = _node_span(second)
            t1, t2 = _text(lines, *_node_span(first)), _text(lines, *_node_span(second))
            if t1 == t2 or "\n" in t1 + t2:
                continue
            _, mid = _between(lines, first, second)

            def change_args(n: Any) -> Any:
                n.args[0], n.args[1] = n.args[1], n.args[0]
                return n

            yield _Site("swapped_arguments", a, b, t2 + mid + t1, change_args, node)
        elif isinstance(node, ast.Return) and node.value is not None:
            if isinstance(node.value, ast.Constant) and node.value.value is None:
                continue
            a, b = _node_span(node.value)

            def change_return(n: Any) -> Any:
                n.value = ast.Constant(value=None)
                return n

            yield _Site("wrong_return", a, b, "None", change_return, node)
    for node in nodes:
        if (
            isinstance(node, ast.If)
            and node.orelse
            and not (
                len(node.orelse) == 1
                and isinstance(node.orelse[0], ast.If)
                and _is_elif(lines, node.orelse[0])
            )
        ):
            else_line = node.orelse[0].lineno - 1
            while else_line > node.lineno and not lines[else_line - 1].strip().startswith(b"else"):
                else_line -= 1
            if not lines[else_line - 1].strip().startswith(b"else:"):
                continue
            last = node.orelse[-1].end_lineno or node.orelse[-1].lineno

            def change_drop_else(n: Any) -> Any:
                n.orelse = []
                return n

            yield _Site("dropped_branch", (else_line, 0), (last + 1, 0), "", change_drop_else, node)


def _is_elif(lines: list[bytes], node: ast.If) -> bool:
    return lines[node.lineno - 1][node.col_offset :].startswith(b"elif")


def _dropped_guards(
    func: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[bytes]
) -> Iterator[tuple[ast.AST, _Site]]:
    """``if cond: <one simple statement>`` removed from a block that keeps other statements."""
    for parent in ast.walk(func):
        for field in ("body", "orelse"):
            block = getattr(parent, field, None)
            if not isinstance(block, list) or len(block) < 2:
                continue
            for i, stmt in enumerate(block):
                if not (
                    isinstance(stmt, ast.If)
                    and not stmt.orelse
                    and len(stmt.body) == 1
                    and isinstance(stmt.body[0], _TERMINAL)
                ):
                    continue
                first = lines[stmt.lineno - 1]
                if first[: stmt.col_offset].strip():
                    continue
                last = stmt.end_lineno or stmt.lineno

                def change(p: Any, field: str = field, i: int = i) -> Any:
                    del getattr(p, field)[i]
                    return p

                yield parent, _Site("dropped_branch", (stmt.lineno, 0), (last + 1, 0), "", change, parent)


def _dump(tree: ast.AST) -> str:
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def find_mutations(
    path: str, source: str, *, rng: random.Random | None = None, limit: int | None = None
) -> list[Mutation]:
    """Checked mutations of the functions in ``source`` (the module at ``path``).

    In source order by default; with ``rng``, the candidates are shuffled by it first and the
    first ``limit`` that pass the re-parse check are returned (checking is the costly part, so
    a sample is cheaper than the whole list).
    """
    tree = ast.parse(source)
    lines = source.encode().split(b"\n")
    lines = [line + b"\n" for line in lines[:-1]] + [lines[-1]]
    candidates: list[tuple[ast.AST, ast.AST, _Site]] = []
    for _, func in _functions(tree):
        candidates.extend((func, site.node, site) for site in _sites(func, lines))
        candidates.extend((func, owner, site) for owner, site in _dropped_guards(func, lines))
    names = {id(func): name for name, func in _functions(tree)}
    if rng is not None:  # shuffled, then dealt round-robin across operators
        rng.shuffle(candidates)
        rank: dict[str, int] = {}
        order = []
        for c in candidates:
            rank[c[2].op] = rank.get(c[2].op, -1) + 1
            order.append((rank[c[2].op], OPERATORS.index(c[2].op)))
        candidates = [c for _, c in sorted(zip(order, candidates, strict=True), key=lambda t: t[0])]
    out: list[Mutation] = []
    seen: set[tuple[str, int, int, int, int]] = set()
    for fn, owner, site in candidates:
        if limit is not None and len(out) >= limit:
            break
        key = (site.op, *site.a, *site.b)
        if key in seen:
            continue
        before = _text(lines, site.a, site.b)
        m = Mutation(path, names[id(fn)], site.op, *site.a, *site.b, before, site.after)
        if m.before == m.after or not _checks(tree, fn, source, owner, site, m):
            continue
        seen.add(key)
        out.append(m)
    return out


def _checks(tree: ast.Module, func: ast.AST, source: str, owner: ast.AST, site: _Site, m: Mutation) -> bool:
    func_path = _path(tree, func)
    path = [] if owner is func else _path(func, owner)
    if func_path is None or path is None:
        return False
    expected = copy.deepcopy(func)
    site.change(_follow(expected, path))
    try:
        mutated = ast.parse(apply_mutations(source, [m]))
        got = _follow(mutated, func_path)
    except (SyntaxError, ValueError, AttributeError, IndexError):
        return False
    return _dump(got) == _dump(expected)
