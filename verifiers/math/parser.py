"""Recursive-descent parser: answer text -> `nodes.Node`.

Grammar (loosest first)::

    answer  := list (';' list)*
    list    := item ((',' | 'and' | 'or') item)*
    item    := setexpr (relop setexpr)*              = < > <= >= != \\approx \\in
    setexpr := unitexpr (('\\cup' | '\\cap' | '\\setminus') unitexpr)*
    unitexpr:= expr (percent | degree | multiplier | unit)*
    expr    := ['-' | '+' | '\\pm'] term (('+' | '-' | '\\pm' | '\\mp') term)*
    term    := factor (('*' | '/' | implicit) factor)*  with mixed numbers (2\\frac12, 7 3/4)
    factor  := ('-' | '+') factor | power
    power   := postfix ['^' exponent]
    postfix := atom ('!' | '_' sub | "'" | '%' | degree)*
    atom    := number | letter | \\frac | \\sqrt | \\binom | function | constant | (..) | [..]
               | {..} | \\{..\\} | |..| | \\lfloor..\\rfloor | \\langle..\\rangle | matrix | \\sum | text

Only whitelisted names are accepted (`latex.KNOWN_COMMANDS`, `latex.FUNCTIONS`); unknown
commands or words make the answer unparseable. Nesting is limited to `MAX_DEPTH` levels, so
100k nested braces raise `TooComplex` instead of exhausting the stack.
"""

from __future__ import annotations

from fractions import Fraction

from assay.verifiers.math.errors import ParseError, TooComplex
from assay.verifiers.math.latex import FUNCTIONS, GREEK, Tok, clean, tokenize
from assay.verifiers.math.nodes import (
    BigOp,
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
)

__all__ = ["MAX_DEPTH", "UNIT_WORDS", "is_wordy", "parse", "parse_tokens"]

MAX_DEPTH = 40
"""Deepest nesting of groups accepted (real answers stay far below)."""

MAX_DIGITS = 2_000
"""Longest number literal accepted."""

CONNECTORS = frozenset({"and", "or"})
CALL_LETTERS = frozenset({"f", "g", "h", "F", "G", "H", "P", "Q"})
"""Letters read as function names before ``(``: ``f(3)`` names a value; ``x(x+1)`` multiplies."""
PERCENT_WORDS = frozenset({"percent", "pct", "percentage", "percents", "perc"})
DEGREE_WORDS = frozenset({"degree", "degrees", "deg"})
MULTIPLIERS = {"thousand": 3, "million": 6, "billion": 9, "trillion": 12}
UNIT_WORDS = frozenset(
    {
        "cm", "mm", "km", "ft", "yd", "mi", "kg", "mg", "lb", "lbs", "oz", "hr", "hrs", "min",
        "mins", "sec", "secs", "mph", "kph", "ml", "cc", "sq", "nm", "ms", "hz", "kw", "kj", "cal",
        "day", "yr", "yrs", "gal", "qt", "usd", "cu", "kmh", "km/h",
    }
)  # fmt: skip
"""Units of three letters or fewer (longer unknown words after a value are units anyway)."""
_CONST_WORDS = {"pi": "pi", "inf": "inf", "infty": "inf", "infinity": "inf"}
_RELOPS = {
    "=": "=",
    "==": "=",
    ":=": "=",
    "<": "<",
    ">": ">",
    "<=": "<=",
    "=<": "<=",
    ">=": ">=",
    "!=": "!=",
}
_CMD_RELOPS = {
    "le": "<=",
    "leq": "<=",
    "leqslant": "<=",
    "ge": ">=",
    "geq": ">=",
    "geqslant": ">=",
    "lt": "<",
    "gt": ">",
    "ne": "!=",
    "neq": "!=",
    "approx": "~",
    "equiv": "=",
    "in": "in",
}
_SETOPS = {"cup": "union", "cap": "inter", "setminus": "minus"}
_MATRIX_ENVS = frozenset(
    {"pmatrix", "bmatrix", "Bmatrix", "vmatrix", "Vmatrix", "matrix", "smallmatrix", "array", "psmallmatrix", "bsmallmatrix"}
)  # fmt: skip
_LIST_ENVS = frozenset(
    {"cases", "aligned", "align", "gather", "gathered", "equation", "eqnarray", "split", "alignat"}
)
_INVERSE_TRIG = {
    "sin": "arcsin",
    "cos": "arccos",
    "tan": "arctan",
    "sec": "arcsec",
    "csc": "arccsc",
    "cot": "arccot",
}
_CLOSERS = frozenset({")", "]", "}", "|"})


def _num(text: str) -> Num:
    if len(text) > MAX_DIGITS:
        raise TooComplex(f"number with {len(text)} digits")
    mantissa, _, exponent = text.lower().partition("e")
    whole, dot, frac = mantissa.partition(".")
    value = Fraction(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac))
    if exponent:
        e = int(exponent)
        if abs(e) > MAX_DIGITS:
            raise TooComplex(f"exponent {e} in {text!r}")
        value *= Fraction(10) ** e
        return Num(value, -1)
    return Num(value, len(frac) if dot else -1)


def _mul(a: Node, b: Node) -> Node:
    left = a.args if isinstance(a, Op) and a.op == "*" else (a,)
    right = b.args if isinstance(b, Op) and b.op == "*" else (b,)
    return Op("*", left + right)


def _add(a: Node, b: Node) -> Node:
    left = a.args if isinstance(a, Op) and a.op == "+" else (a,)
    right = b.args if isinstance(b, Op) and b.op == "+" else (b,)
    return Op("+", left + right)


def _neg(a: Node) -> Node:
    if isinstance(a, Num):
        return Num(-a.value, a.decimals)
    return Op("neg", (a,))


class _Parser:
    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.abs_depth = 0

    # -- token helpers ------------------------------------------------------------------

    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def at(self, kind: str, text: str | None = None) -> bool:
        t = self.peek()
        return t is not None and t.kind == kind and (text is None or t.text == text)

    def at_op(self, *texts: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "op" and t.text in texts

    def at_cmd(self, *names: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "cmd" and t.text in names

    def take(self) -> Tok:
        t = self.peek()
        if t is None:
            raise ParseError("unexpected end of answer")
        self.i += 1
        return t

    def expect_op(self, text: str) -> None:
        if not self.at_op(text):
            t = self.peek()
            raise ParseError(f"expected {text!r}, got {t.text if t else 'end'!r}")
        self.i += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TooComplex(f"nested deeper than {MAX_DEPTH} levels")

    def leave(self) -> None:
        self.depth -= 1

    def word(self) -> str | None:
        """The lowercase letter run at the cursor (an ``id`` token), else None."""
        t = self.peek()
        return t.text.lower() if t is not None and t.kind == "id" else None

    def at_connector(self) -> bool:
        t = self.peek()
        if t is None:
            return False
        if t.kind == "id":
            return t.text.lower() in CONNECTORS
        if t.kind == "text":
            words = t.text.lower().replace(",", " ").split()
            return bool(words) and all(w in CONNECTORS for w in words)
        if t.kind == "cmd":
            return t.text in ("land", "lor", "wedge", "vee")
        return False

    def split_letters(self) -> None:
        """Replace the ``id`` token at the cursor by one token per letter (``xy`` -> x y)."""
        t = self.toks[self.i]
        letters = [Tok("id", ch, t.sp if k == 0 else False) for k, ch in enumerate(t.text)]
        self.toks[self.i : self.i + 1] = letters

    # -- grammar ------------------------------------------------------------------------

    def answer(self) -> Node:
        groups = [self.listexpr()]
        while self.at_op(";"):
            self.take()
            if self.peek() is None:
                break
            groups.append(self.listexpr())
        return groups[0] if len(groups) == 1 else Seq("semi", tuple(groups))

    def listexpr(self) -> Node:
        self.enter()
        items = [self.item()]
        while True:
            separated = False
            while self.at_op(",") or self.at_connector():
                self.take()
                separated = True
            if not separated:
                break
            t = self.peek()
            if t is None or (t.kind == "op" and t.text in _CLOSERS) or t.kind == "end" or self.at_op(";"):
                break
            items.append(self.item())
        self.leave()
        return items[0] if len(items) == 1 else Seq("list", tuple(items))

    def relop(self) -> str | None:
        t = self.peek()
        if t is None:
            return None
        if t.kind == "op" and t.text in _RELOPS:
            return _RELOPS[t.text]
        if t.kind == "cmd":
            if t.text in _CMD_RELOPS:
                return _CMD_RELOPS[t.text]
            if t.text == "not":  # \not= , \not\in
                nxt = self.peek(1)
                if nxt is not None and nxt.text in ("=", "in"):
                    return "!=" if nxt.text == "=" else "notin"
        return None

    def item(self) -> Node:
        args = [self.setexpr()]
        ops: list[str] = []
        while (op := self.relop()) is not None:
            if self.at_cmd("not"):
                self.take()
            self.take()
            ops.append(op)
            args.append(self.setexpr())
        return Rel(tuple(ops), tuple(args)) if ops else args[0]

    def setexpr(self) -> Node:
        node = self.ratio()
        while self.at("cmd") and self.toks[self.i].text in _SETOPS:
            op = _SETOPS[self.take().text]
            node = SetOp(op, (node, self.ratio()))
        return node

    def ratio(self) -> Node:
        """``a : b`` (a ratio, or a clock time ``12:30``)."""
        parts = [self.unitexpr()]
        while self.at_op(":") or self.at_cmd("colon"):
            self.take()
            parts.append(self.unitexpr())
        return parts[0] if len(parts) == 1 else Func("ratio", tuple(parts))

    def unit_text(self) -> str | None:
        """The unit at the cursor (consumed), e.g. ``cm^2``, ``square units``, ``km/h``."""
        parts: list[str] = []
        while True:
            t = self.peek()
            if t is None:
                break
            if t.kind == "text":
                words = t.text.lower().split()
                if not words or any(w in CONNECTORS for w in words) or not _unit_like(t.text):
                    break
                parts.append(t.text.strip())
                self.take()
            elif t.kind == "id" and _is_unit_word(t.text):
                parts.append(t.text)
                self.take()
            elif parts and t.kind == "op" and t.text == "^":
                self.take()
                e = self.take()
                if e.kind == "op" and e.text == "{":
                    inner = self.take()
                    self.expect_op("}")
                    e = inner
                parts.append("^" + e.text)
            elif parts and t.kind == "op" and t.text == "/":
                nxt = self.peek(1)
                if nxt is not None and (nxt.kind == "text" or (nxt.kind == "id" and _is_unit_word(nxt.text))):
                    self.take()
                    parts.append("/")
                else:
                    break
            else:
                break
        return " ".join(parts) if parts else None

    def unitexpr(self) -> Node:
        node: Node
        if self.at_cmd("$"):  # \$5: a currency prefix
            self.take()
            node = Wrap("unit", self.expr(), "$")
        else:
            node = self.expr()
        while True:
            w = self.word()
            if self.at_op("%") or w in PERCENT_WORDS:
                self.take()
                node = Wrap("percent", node)
            elif self.at_op("\u00b0") or w in DEGREE_WORDS:
                self.take()
                node = Wrap("degree", node)
            elif w in MULTIPLIERS:
                self.take()
                node = _mul(node, Num(Fraction(10) ** MULTIPLIERS[w]))
            elif self.at_cmd("$"):
                self.take()
                if not (isinstance(node, Wrap) and node.kind == "unit"):
                    node = Wrap("unit", node, "$")
            else:
                unit = self.unit_text()
                if unit is None:
                    break
                node = Wrap("unit", node, unit)
        return node

    def signed_term(self) -> Node:
        if self.at_op("-"):
            self.take()
            return _neg(self.term())
        if self.at_op("+"):
            self.take()
            return self.term()
        if self.at_cmd("pm", "mp"):
            op = self.take().text
            return Op(op, (self.term(),))
        return self.term()

    def expr(self) -> Node:
        self.enter()
        node = self.signed_term()
        while True:
            if self.at_op("+"):
                self.take()
                node = _add(node, self.signed_term())
            elif self.at_op("-"):
                self.take()
                node = _add(node, _neg(self.term()))
            elif self.at_cmd("pm", "mp"):
                op = self.take().text
                node = Op(op, (node, self.term()))
            else:
                break
        self.leave()
        return node

    def starts_atom(self) -> bool:
        """Whether the token at the cursor can begin an implicitly multiplied factor."""
        t = self.peek()
        if t is None:
            return False
        if t.kind in ("num", "begin"):
            return True
        if t.kind == "id":
            w = t.text.lower()
            return not (
                w in CONNECTORS
                or w in PERCENT_WORDS
                or w in DEGREE_WORDS
                or w in MULTIPLIERS
                or _is_unit_word(t.text)
            )
        if t.kind == "cmd":
            return (
                t.text in _ATOM_CMDS or t.text in FUNCTIONS or t.text in GREEK or t.text.startswith("mathbb:")
            )
        if t.kind == "op":
            if t.text == "|":
                return self.abs_depth == 0
            return t.text in ("(",)
        return False

    def term(self) -> Node:
        self.enter()
        first = self.peek()
        node = self.factor()
        integer_literal = (
            first is not None
            and first.kind == "num"
            and isinstance(node, Num)
            and node.decimals < 0
            and node.value >= 0
        )
        mixed = self._mixed_fraction() if integer_literal else None
        if mixed is not None and isinstance(node, Num):
            node = Num(node.value + mixed)
        while True:
            if self.at_op("*") or self.at_cmd("cdot", "times", "ast"):
                self.take()
                node = _mul(node, self.factor())
            elif self.at_op("/") or self.at_cmd("div"):
                self.take()
                node = Op("/", (node, self.factor()))
            elif self.starts_atom():
                node = _mul(node, self.factor())
            else:
                break
        self.leave()
        return node

    def _mixed_fraction(self) -> Fraction | None:
        """A proper fraction right after an integer: ``2\\frac{1}{2}`` or ``7 3/4``."""
        t = self.peek()
        if t is None:
            return None
        if t.kind == "cmd" and t.text == "frac":
            save = self.i
            self.take()
            try:
                a, b = self.arg(), self.arg()
            except ParseError:
                self.i = save
                return None
            proper = (
                isinstance(a, Num)
                and isinstance(b, Num)
                and a.decimals < 0
                and b.decimals < 0
                and a.value.denominator == 1
                and b.value.denominator == 1
                and 0 < a.value < b.value
            )
            if proper and not self.starts_atom() and not self.at_op("^"):
                assert isinstance(a, Num) and isinstance(b, Num)
                return a.value / b.value
            self.i = save
            return None
        if t.kind == "num" and t.sp and "." not in t.text:
            t1, t2 = self.peek(1), self.peek(2)
            if t1 is not None and t1.kind == "op" and t1.text == "/" and t2 is not None and t2.kind == "num":
                t3 = self.peek(3)
                if "." not in t2.text and (t3 is None or not (t3.kind in ("num", "id") and not t3.sp)):
                    top, bottom = int(t.text), int(t2.text)
                    if 0 < top < bottom:
                        self.i += 3
                        return Fraction(top, bottom)
        return None

    def factor(self) -> Node:
        if self.at_op("-"):
            self.take()
            self.enter()
            node = _neg(self.factor())
            self.leave()
            return node
        if self.at_op("+"):
            self.take()
            return self.factor()
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        if self.at_op("^"):
            self.take()
            self.enter()
            exponent = self.exponent()
            if self.at_op("^"):  # right-associative towers: a^b^c = a^(b^c)
                self.take()
                exponent = Op("^", (exponent, self.exponent()))
            self.leave()
            base = Op("^", (base, exponent))
            base = self.postfix_ops(base)
        return base

    def exponent(self) -> Node:
        """The exponent after ``^``: a group, a signed atom, a whole number, a letter."""
        t = self.peek()
        if t is None:
            raise ParseError("missing exponent")
        if t.kind == "op" and t.text in ("-", "+"):
            self.take()
            inner = self.exponent()
            return _neg(inner) if t.text == "-" else inner
        if t.kind == "num":
            self.take()
            return _num(t.text)
        if t.kind == "id":
            return self.letter()
        if t.kind == "op" and t.text == "{":
            return self.brace_group()
        return self.atom()

    def postfix(self) -> Node:
        return self.postfix_ops(self.atom())

    def postfix_ops(self, node: Node) -> Node:
        while True:
            t = self.peek()
            if t is None or t.kind != "op":
                break
            if t.text == "!" and not t.sp:
                self.take()
                if self.at_op("!"):  # double factorial: refuse rather than misread
                    raise ParseError("double factorial")
                node = Func("fact", (node,))
            elif t.text == "_":
                self.take()
                node = self.subscript(node)
            elif t.text == "'" and isinstance(node, Sym):
                self.take()
                node = Sym(node.name + "'")
            elif t.text == "%":
                self.take()
                node = Wrap("percent", node)
            elif t.text == "\u00b0":
                self.take()
                node = Wrap("degree", node)
            else:
                break
        return node

    def call_text(self) -> str:
        """``f(x + 1)``: the text between the parentheses, which names a value (``f(x+1)``)."""
        self.expect_op("(")
        start = self.i
        depth = 1
        while depth:
            u = self.take()
            if u.kind == "op" and u.text in ("(", "["):
                depth += 1
            elif u.kind == "op" and u.text in (")", "]"):
                depth -= 1
        inner = self.toks[start : self.i - 1]
        if not inner:
            raise ParseError("empty call")
        return "".join(tok.text for tok in inner)

    def subscript_text(self) -> str:
        t = self.take()
        if t.kind == "op" and t.text == "{":
            start = self.i
            depth = 1
            while depth:
                u = self.take()
                if u.kind == "op" and u.text == "{":
                    depth += 1
                elif u.kind == "op" and u.text == "}":
                    depth -= 1
            return "".join(tok.text for tok in self.toks[start : self.i - 1])
        if t.kind == "num" and len(t.text) > 1 and not t.text.isdigit():
            raise ParseError("bad subscript")
        return t.text

    def subscript(self, node: Node) -> Node:
        text = self.subscript_text()
        if isinstance(node, Sym):
            return Sym(f"{node.name}_{text}")
        if isinstance(node, Num) and node.decimals < 0 and node.value.denominator == 1 and text.isdigit():
            base = int(text)
            digits = str(node.value.numerator)
            if not 2 <= base <= 36 or any(int(d, 36) >= base for d in digits):
                raise ParseError(f"{digits} is not a base-{base} number")
            return Func("base", (node, Num(Fraction(base))))
        raise ParseError("subscript on a non-variable")

    def letter(self) -> Node:
        """One letter (splitting a longer unknown run first)."""
        t = self.peek()
        assert t is not None and t.kind == "id"
        if len(t.text) > 1:
            self.split_letters()
        t = self.take()
        if t.text == "e":
            return Const("e")
        if t.text == "i":
            return Const("i")
        return Sym(t.text)

    def arg(self) -> Node:
        """A command argument: a braced group, or a single digit, letter or command."""
        t = self.peek()
        if t is None:
            raise ParseError("missing argument")
        if t.kind == "op" and t.text == "{":
            return self.brace_group()
        if t.kind == "num":
            if len(t.text) > 1 and t.text[0].isdigit():
                self.toks[self.i : self.i + 1] = [Tok("num", t.text[0], t.sp), Tok("num", t.text[1:], False)]
            return _num(self.take().text)
        if t.kind == "id":
            if len(t.text) > 1 and t.text.lower() not in _CONST_WORDS:
                self.split_letters()
            return self.atom()
        return self.atom()

    def brace_group(self) -> Node:
        self.expect_op("{")
        self.enter()
        if self.at_op("}"):
            raise ParseError("empty group")
        inner = self.answer()
        self.expect_op("}")
        self.leave()
        if isinstance(inner, Seq) and inner.kind == "list":
            return Seq("set", inner.items)
        return inner

    def function(self, name: str) -> Node:
        power: Node | None = None
        base: Node | None = None
        if self.at_op("_") and name == "log":
            self.take()
            base = self.arg()
        if self.at_op("^"):
            self.take()
            power = self.exponent()
        if self.at_op("_") and name == "log" and base is None:
            self.take()
            base = self.arg()
        if self.at_op("("):
            self.take()
            self.enter()
            inner = self.answer()
            self.expect_op(")")
            self.leave()
            args = inner.items if isinstance(inner, Seq) and inner.kind == "list" else (inner,)
        else:
            args = (self.bare_argument(),)
        if name in ("sqrt",) and len(args) == 1:
            node: Node = Func("sqrt", args)
        elif name == "log" or name == "lg":
            if len(args) != 1:
                raise ParseError("log takes one argument")
            node = Func("log", (args[0], base if base is not None else Const("e")))
        elif name == "ln":
            node = Func("log", (args[0], Const("e")))
        elif name == "exp":
            node = Op("^", (Const("e"), args[0]))
        else:
            node = Func(name, args)
        if power is not None:
            if isinstance(power, Num) and power.value == -1 and name in _INVERSE_TRIG:
                return Func(_INVERSE_TRIG[name], args)
            return Op("^", (node, power))
        return node

    def bare_argument(self) -> Node:
        """``\\sin 2x`` -> ``2x``: implicit products up to an operator or another function."""
        self.enter()
        node = self.power()
        while self.starts_atom() and not self._at_function():
            node = _mul(node, self.power())
        self.leave()
        return node

    def _at_function(self) -> bool:
        t = self.peek()
        if t is None:
            return False
        if t.kind == "cmd":
            return t.text in FUNCTIONS or t.text in ("frac", "sum", "prod")
        return t.kind == "id" and t.text.lower() in FUNCTIONS

    def bracket(self, open_: str) -> Node:
        self.take()
        self.enter()
        saved_abs = self.abs_depth
        self.abs_depth = 0
        if self.at_op(")", "]"):
            raise ParseError("empty brackets")
        inner = self.answer()
        if isinstance(inner, Seq) and inner.kind == "semi":  # (0; -2; 6): semicolons separate coordinates
            inner = Seq("list", inner.items)
        self.abs_depth = saved_abs
        t = self.take()
        if not (t.kind == "op" and t.text in (")", "]")):
            raise ParseError(f"unclosed {open_!r}")
        self.leave()
        items = inner.items if isinstance(inner, Seq) and inner.kind == "list" else (inner,)
        if len(items) == 1 and open_ == "(" and t.text == ")":
            return items[0]
        if len(items) == 1 and open_ == "[" and t.text == "]" and not isinstance(items[0], Seq):
            return items[0]
        return Seq("group", tuple(items), open_, t.text)

    def delimited(self, closer: str) -> Node:
        self.enter()
        inner = self.listexpr()
        if not self.at_cmd(closer):
            raise ParseError(f"missing \\{closer}")
        self.take()
        self.leave()
        return inner

    def environment(self, env: str) -> Node:
        self.enter()
        rows: list[list[Node]] = [[]]
        while True:
            t = self.peek()
            if t is None:
                raise ParseError(f"unclosed environment {env}")
            if t.kind == "end":
                self.take()
                break
            if t.kind == "op" and t.text == "&":
                self.take()
                if env in _MATRIX_ENVS and not rows[-1]:
                    raise ParseError("empty matrix cell")
                continue
            if t.kind == "cmd" and t.text == "\\":
                self.take()
                rows.append([])
                continue
            rows[-1].append(self.item())
        self.leave()
        rows = [r for r in rows if r]
        if not rows:
            raise ParseError(f"empty {env}")
        if env in _MATRIX_ENVS:
            width = len(rows[0])
            if any(len(r) != width for r in rows):
                raise ParseError("ragged matrix")
            return Matrix(tuple(tuple(r) for r in rows))
        if env in _LIST_ENVS:
            items = tuple(x for r in rows for x in r)
            return items[0] if len(items) == 1 else Seq("list", items)
        raise ParseError(f"unknown environment {env}")

    def bigop(self, kind: str) -> Node:
        if not self.at_op("_"):
            raise ParseError(f"\\{kind} without limits")
        self.take()
        self.expect_op("{")
        var = self.take()
        if var.kind != "id" or len(var.text) != 1:
            raise ParseError("bad summation variable")
        self.expect_op("=")
        lo = self.answer()
        self.expect_op("}")
        self.expect_op("^")
        hi = self.exponent()
        body = self.bare_argument() if not self.at_op("(") else self.power()
        while self.starts_atom() and not self._at_function():
            body = _mul(body, self.power())
        return BigOp(kind, var.text, lo, hi, body)

    def atom(self) -> Node:
        t = self.peek()
        if t is None:
            raise ParseError("unexpected end of answer")
        self.enter()
        try:
            return self._atom(t)
        finally:
            self.leave()

    def _atom(self, t: Tok) -> Node:
        if t.kind == "num":
            self.take()
            return _num(t.text)
        if t.kind == "id":
            w = t.text.lower()
            if t.text in _CONST_WORDS or w in ("infinity", "infty"):
                self.take()
                return Const(_CONST_WORDS.get(t.text, "inf"))
            if w in FUNCTIONS and (len(w) > 3 or self._next_is_open()):
                self.take()
                return self.function(w)
            if w in CONNECTORS or w in PERCENT_WORDS or w in MULTIPLIERS:
                raise ParseError(f"unexpected {t.text!r}")
            if len(t.text) > 3:
                raise ParseError(f"unknown word {t.text!r}")
            node = self.letter()
            if (
                isinstance(node, Sym)
                and node.name in CALL_LETTERS
                and self.at_op("(")
                and not self.toks[self.i].sp
            ):
                return Sym(f"{node.name}({self.call_text()})")
            return node
        if t.kind == "text":
            self.take()
            inner = t.text.strip()
            if not inner or inner.lower() in CONNECTORS:
                raise ParseError("unexpected text")
            return Text(inner)
        if t.kind == "begin":
            self.take()
            return self.environment(t.text)
        if t.kind == "op":
            if t.text in ("(", "["):
                return self.bracket(t.text)
            if t.text == "{":
                return self.brace_group()
            if t.text == "|" and self.abs_depth == 0:
                self.take()
                self.abs_depth += 1
                body = self.expr()
                self.abs_depth -= 1
                self.expect_op("|")
                return Func("abs", (body,))
            raise ParseError(f"unexpected {t.text!r}")
        if t.kind == "cmd":
            return self._command(t)
        raise ParseError(f"unexpected {t.kind} {t.text!r}")

    def _next_is_open(self) -> bool:
        t = self.peek(1)
        return t is not None and t.kind == "op" and t.text == "("

    def _command(self, t: Tok) -> Node:
        name = t.text
        self.take()
        if name == "frac":
            a = self.arg()
            return Op("/", (a, self.arg()))
        if name == "sqrt":
            if self.at_op("["):
                self.take()
                index = self.expr()
                self.expect_op("]")
                return Func("root", (self.arg(), index))
            return Func("sqrt", (self.arg(),))
        if name == "binom":
            a = self.arg()
            return Func("binom", (a, self.arg()))
        if name in FUNCTIONS:
            return self.function(name)
        if name == "pi":
            return Const("pi")
        if name == "infty":
            return Const("inf")
        if name in ("emptyset", "varnothing"):
            return Seq("set", ())
        if name.startswith("mathbb:"):
            letter = name.split(":", 1)[1]
            if letter in ("R",):
                return Seq("group", (_neg(Const("inf")), Const("inf")), "(", ")")
            raise ParseError(f"\\mathbb{{{letter}}}")
        if name in GREEK:
            return Sym(name)
        if name in ("lfloor", "lceil"):
            inner = self.delimited("rfloor" if name == "lfloor" else "rceil")
            return Func("floor" if name == "lfloor" else "ceil", (inner,))
        if name in ("lvert", "vert"):
            self.abs_depth += 1
            inner = self.expr()
            self.abs_depth -= 1
            if not (self.at_cmd("rvert", "vert") or self.at_op("|")):
                raise ParseError("unclosed absolute value")
            self.take()
            return Func("abs", (inner,))
        if name == "langle":
            inner = self.delimited("rangle")
            items = inner.items if isinstance(inner, Seq) and inner.kind == "list" else (inner,)
            return Seq("group", items, "(", ")")
        if name in ("{", "lbrace"):
            if self.at_cmd("}", "rbrace"):
                self.take()
                return Seq("set", ())
            self.enter()
            inner = self.listexpr()
            if not self.at_cmd("}", "rbrace"):
                raise ParseError("unclosed set")
            self.take()
            self.leave()
            items = inner.items if isinstance(inner, Seq) and inner.kind == "list" else (inner,)
            return Seq("set", items)
        if name in ("sum", "prod"):
            return self.bigop(name)
        raise ParseError(f"unsupported command \\{name}")


_ATOM_CMDS = frozenset(
    {"frac", "sqrt", "binom", "pi", "infty", "lfloor", "lceil", "langle", "lvert", "vert", "{", "lbrace", "sum", "prod", "emptyset", "varnothing"}
)  # fmt: skip


def _is_unit_word(word: str) -> bool:
    w = word.lower()
    if w in UNIT_WORDS:
        return True
    if len(w) <= 3:
        return False
    return w not in FUNCTIONS and w not in CONNECTORS and w not in _CONST_WORDS and w not in GREEK


def _unit_like(text: str) -> bool:
    """``\\text{...}`` content that reads as a unit: words (and ^, /, digits for powers)."""
    return all(ch.isalpha() or ch in " ^/.-{}()" or ch.isdigit() for ch in text) and any(
        ch.isalpha() for ch in text
    )


def parse_tokens(toks: list[Tok]) -> Node:
    """Parse a token list (see `parse`)."""
    if not toks:
        raise ParseError("empty answer")
    p = _Parser(toks)
    node = p.answer()
    if p.peek() is not None:
        t = p.peek()
        assert t is not None
        raise ParseError(f"unexpected {t.text!r} after the answer")
    return node


_WORD_PUNCT = frozenset(" .,;:!?'\"-()/&")


def is_wordy(text: str) -> bool:
    """Whether ``text`` is a plain word answer (letters and punctuation, at least one letter
    run of two or more), e.g. ``Evelyn``, ``odd``, ``(C)``, ``no solution``."""
    return any(c.isalpha() for c in text) and all(
        c.isalpha() or c in _WORD_PUNCT or c.isdigit() for c in text
    )


def parse(text: str) -> Node:
    """Parse one answer. Raises `ParseError` (not an answer) or `TooComplex` (over a limit).

    A whole answer made only of words (``\\text{Evelyn}``, ``odd``, ``no solution``) is a `Text`.
    """
    s = clean(text)
    toks = tokenize(s)
    try:
        return parse_tokens(toks)
    except ParseError:
        words = " ".join(t.text for t in toks) if all(t.kind in ("id", "text", "op") for t in toks) else ""
        if words and is_wordy(words):
            return Text(words)
        raise
