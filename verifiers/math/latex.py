"""Cleaning and tokenizing answer text (LaTeX or ASCII).

`clean` removes presentation noise that never changes a value: math delimiters, ``\\left``/
``\\right``, spacing commands, font switches, ``\\dfrac`` -> ``\\frac``, thousands separators
written as ``{,}`` or ``,\\!``, doubled backslashes from over-escaped strings, Unicode math
symbols. `tokenize` splits the result into `Tok`s. Both are linear in the input (every regex
here is free of nested quantifiers) and never evaluate anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from assay.verifiers.extract import braced
from assay.verifiers.math.errors import ParseError, TooComplex

__all__ = ["FUNCTIONS", "GREEK", "KNOWN_COMMANDS", "Tok", "clean", "tokenize"]

MAX_TEXT_DEPTH = 8
"""How deeply ``\\mathrm{\\mathbf{...}}`` font groups may nest before the answer is refused."""

FUNCTIONS = frozenset(
    {
        "sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "arcsec", "arccsc",
        "arccot", "sinh", "cosh", "tanh", "coth", "sech", "csch", "arsinh", "arcosh", "artanh",
        "ln", "log", "lg", "exp", "sqrt", "abs", "max", "min", "gcd", "lcm", "det", "sgn",
    }
)  # fmt: skip
"""Function names accepted as ``\\name`` and, in ASCII answers, as a bare word."""

GREEK = frozenset(
    {
        "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
        "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "rho", "varrho",
        "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta",
        "Theta", "Lambda", "Xi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
    }
)  # fmt: skip

_TEXT_CMDS = frozenset({"text", "textbf", "textit", "textrm", "textnormal", "textup", "texttt", "textsf", "mbox", "emph", "hbox"})  # fmt: skip
_FONT_CMDS = frozenset({"mathrm", "mathbf", "mathit", "mathsf", "mathtt", "mathcal", "mathscr", "boldsymbol", "bm", "mathnormal", "pmb", "mathfrak"})  # fmt: skip
_DECORATIONS = frozenset({"overline", "underline", "vec", "hat", "bar", "widehat", "tilde", "widetilde", "overrightarrow", "overleftarrow", "overleftrightarrow", "dot", "ddot", "check", "acute", "grave", "breve", "mathring"})  # fmt: skip
_OTHER_COMMANDS = frozenset(
    {
        "frac", "sqrt", "binom", "boxed", "fbox", "pi", "infty", "cdot", "times", "div", "pm", "mp",
        "le", "leq", "ge", "geq", "lt", "gt", "ne", "neq", "approx", "in", "notin", "cup", "cap",
        "setminus", "left", "right", "begin", "end", "sum", "prod", "lfloor", "rfloor", "lceil",
        "rceil", "langle", "rangle", "emptyset", "varnothing", "operatorname", "mathbb", "circ",
        "quad", "qquad", "lvert", "rvert", "vert", "mid", "ldots", "cdots", "dots", "land",
        "lor", "wedge", "vee", "to", "rightarrow", "Rightarrow", "implies", "iff", "equiv",
        "leqslant", "geqslant", "neg", "degree", "choose", "dfrac", "tfrac", "cfrac", "dbinom",
        "tbinom", "displaystyle", "lbrace", "rbrace", "colon", "ast", "star",
    }
)  # fmt: skip
KNOWN_COMMANDS = FUNCTIONS | GREEK | _TEXT_CMDS | _FONT_CMDS | _DECORATIONS | _OTHER_COMMANDS
"""Every command name the parser understands (others make the answer unparseable)."""

_UNICODE = str.maketrans(
    {
        "\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": r"\times ", "\u00b7": r"\cdot ",
        "\u22c5": r"\cdot ", "\u2219": r"\cdot ", "\u00f7": "/", "\u221a": r"\sqrt ",
        "\u03c0": r"\pi ", "\u221e": r"\infty ", "\u2264": "<=", "\u2265": ">=", "\u2260": "!=",
        "\u2248": r"\approx ", "\u2208": r"\in ", "\u222a": r"\cup ", "\u2229": r"\cap ",
        "\u00b1": r"\pm ", "\u2213": r"\mp ", "\u00b0": "\u00b0", "\u00b2": "^2", "\u00b3": "^3",
        "\u00b9": "^1", "\u2074": "^4", "\u00bd": "(1/2)", "\u00bc": "(1/4)", "\u00be": "(3/4)",
        "\u03b8": r"\theta ", "\u03b1": r"\alpha ", "\u03b2": r"\beta ", "\u03b3": r"\gamma ",
        "\u03b4": r"\delta ", "\u03bb": r"\lambda ", "\u03bc": r"\mu ", "\u03c3": r"\sigma ",
        "\u03c6": r"\phi ", "\u03c9": r"\omega ", "\u211d": r"\mathbb{R}", "\u2205": r"\emptyset ",
        "\u27e8": r"\langle ", "\u27e9": r"\rangle ", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
        "\u2002": " ", "\u2003": " ", "\uff0c": ",", "\uff1a": ":", "\uff08": "(", "\uff09": ")",
        "\u3002": ".", "\u2032": "'", "\u2026": r"\ldots ", "\u22c3": r"\cup ",
    }
)  # fmt: skip

_DOUBLE_BACKSLASH = re.compile(
    r"(?<!\\)\\\\(?=(?:"
    + "|".join(sorted((re.escape(c) for c in KNOWN_COMMANDS - {"left", "right"}), key=len, reverse=True))
    + r"|left|right)(?![A-Za-z]))"
)
_LEFT_RIGHT_DOT = re.compile(r"\\(?:left|right)\s*\.")
_SIZING = re.compile(
    r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg)(?![A-Za-z])"
)
_THOUSANDS_BRACE = re.compile(r"(\d)\s*\{\s*,\s*\}\s*(?=\d)")
_THOUSANDS_COMMA_THIN = re.compile(r"(?<=\d),\s*\\[!,]\s*(?=\d{3}(?!\d))")
_THOUSANDS_THIN = re.compile(r"(?<=\d)\\[,!]\s*(?=\d{3}(?!\d))")
_QUAD = re.compile(r"\\q?quad")
_SPACING = re.compile(
    r"(\\\\)|\\[,!;: ]|~|\\(?:enspace|thinspace|medspace|thickspace|negthinspace|negmedspace|displaystyle|"
    r"textstyle|scriptstyle|nonumber|notag|hfill|relax|limits|nolimits)(?![A-Za-z])"
    r"|\\(?:hspace|vspace|phantom|hphantom|vphantom)\*?\{[^{}]*\}"
)
_FRAC_VARIANT = re.compile(r"\\[dtc]frac(?![A-Za-z])")
_BINOM_VARIANT = re.compile(r"\\[dt]binom(?![A-Za-z])")
_DEGREE = re.compile(
    r"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![A-Za-z])|\\degree(?![A-Za-z])|\^\s*\{\s*\\text\{\s*o\s*\}\s*\}"
)
_DELIMS = re.compile(r"(\\\\|\\\$)|\$|\\\(|\\\)|\\\[|\\\]")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*(?=\{)")
_REPEATING = re.compile(r"(\d*)\.(\d*)\\overline\{(\d{1,30})\}")
_SPACES = re.compile(r"\s+")
_TRAILING = re.compile(r"(?:[.,;:]|\\\\)+$")
_QUOTES = re.compile(r'\\"|^["\'`]+|["\'`]+$')


def _repeating(m: re.Match[str]) -> str:
    whole, fixed, period = m.group(1) or "0", m.group(2), m.group(3)
    value = Fraction(
        int(whole + fixed + period) - int(whole + fixed), 10 ** len(fixed) * (10 ** len(period) - 1)
    )
    return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def _keep_row_break(m: re.Match[str]) -> str:
    return m.group(1) or " "


def clean(text: str) -> str:
    """Strip presentation noise from an answer (see the module docstring). Linear time."""
    s = text.translate(_UNICODE)
    s = _DOUBLE_BACKSLASH.sub(r"\\", s)
    s = _REPEATING.sub(_repeating, s)
    s = _LEFT_RIGHT_DOT.sub(" ", s)
    s = _SIZING.sub("", s)
    s = _THOUSANDS_BRACE.sub(r"\1,", s)
    s = _THOUSANDS_COMMA_THIN.sub(",", s)
    s = _THOUSANDS_THIN.sub("", s)
    s = _QUAD.sub(" ", s)
    s = _SPACING.sub(_keep_row_break, s)
    s = _FRAC_VARIANT.sub(r"\\frac", s)
    s = _BINOM_VARIANT.sub(r"\\binom", s)
    s = _DEGREE.sub("\u00b0", s)
    s = s.replace("\\%", "%")
    s = _DELIMS.sub(_keep_row_break, s)
    s = _BOXED.sub("", s)
    s = _SPACES.sub(" ", s).strip()
    s = _QUOTES.sub("", s).strip()
    s = _TRAILING.sub("", s).strip()
    s = s.lstrip(":= ").strip()
    return s


@dataclass(slots=True)
class Tok:
    """One token. ``kind``: ``num``, ``id`` (a letter run), ``cmd`` (``\\name`` or ``\\`` plus a
    symbol), ``text`` (the inside of ``\\text{}``), ``op`` (a symbol), ``begin``/``end``
    (environments). ``sp``: whitespace came before it."""

    kind: str
    text: str
    sp: bool = False


_NUM = re.compile(
    r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?(?![\d])"  # 1,234,567.89
    r"|\d{1,3}(?: \d{3})+(?![\d.,/])"  # 1 000 000
    r"|\d*\.\d+(?:[eE][-+]?\d+(?![\d.]))?"  # 0.5, .5, 1.5e-3
    r"|\d+(?:[eE][-+]?\d+(?![\d.]))?"  # 12, 3e8
)
_ID = re.compile(r"[A-Za-z]+")
_GLUED_CONNECTOR = re.compile(r"(or|and)([A-Z][A-Za-z]*)$")
_CMD = re.compile(r"\\([A-Za-z]+|.)", re.DOTALL)
_OPS2 = ("<=", ">=", "!=", "=<", "==", ":=", "->", "=>", "...", "\u00b0")
_MAX_TOKENS = 20_000


def _group(s: str, start: int) -> tuple[str, int]:
    """``s[start] == '{'``: the content of the balanced group and the index after it."""
    found = braced(s, start)
    if found is None:
        raise ParseError("unbalanced braces")
    return found


def tokenize(s: str, _depth: int = 0) -> list[Tok]:
    """Split cleaned text into tokens. Raises `ParseError` on unbalanced groups."""
    if _depth > MAX_TEXT_DEPTH:
        raise TooComplex("font groups nested too deeply")
    toks: list[Tok] = []
    i, n = 0, len(s)
    sp = False
    while i < n:
        if len(toks) > _MAX_TOKENS:
            raise TooComplex("too many tokens")
        c = s[i]
        if c.isspace():
            sp = True
            i += 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and s[i + 1].isdigit()):
            m = _NUM.match(s, i)
            if m is None:  # pragma: no cover - the pattern accepts any digit
                raise ParseError(f"bad number at {i}")
            toks.append(Tok("num", m.group(0).replace(",", "").replace(" ", ""), sp))
            i = m.end()
        elif c.isalpha() and c.isascii():
            m = _ID.match(s, i)
            assert m is not None
            word = m.group(0)
            glued = _GLUED_CONNECTOR.match(word)
            if glued:  # "1orW(x)": a connector glued to a capitalised name
                toks.append(Tok("id", glued.group(1), sp))
                toks.append(Tok("id", glued.group(2), False))
            else:
                toks.append(Tok("id", word, sp))
            i = m.end()
        elif c == "\\":
            m = _CMD.match(s, i)
            if m is None:
                raise ParseError("lone backslash at the end")
            name = m.group(1)
            i = m.end()
            if (
                name in _TEXT_CMDS
                or name in _FONT_CMDS
                or name in _DECORATIONS
                or name in ("operatorname", "mathbb")
            ):
                j = i
                while j < n and s[j] == " ":
                    j += 1
                if j < n and s[j] == "{":
                    inner, i = _group(s, j)
                    if name in _TEXT_CMDS:
                        toks.append(Tok("text", inner.strip(), sp))
                    elif name == "operatorname":
                        toks.append(Tok("id", inner.strip().replace(" ", ""), sp))
                    elif name == "mathbb":
                        toks.append(Tok("cmd", "mathbb:" + inner.strip(), sp))
                    else:
                        sub = tokenize(inner, _depth + 1)
                        if sub:
                            sub[0].sp = sp
                            # \overline{AB} names one thing: keep its letters together
                            if name in _DECORATIONS and len(sub) > 1 and all(t.kind == "id" for t in sub):
                                sub = [Tok("id", "".join(t.text for t in sub), sp)]
                            toks.extend(sub)
                elif name in _TEXT_CMDS or name == "operatorname":
                    raise ParseError(f"\\{name} without a group")
                # a decoration or font without braces applies to the next token: drop it
            elif name in ("begin", "end"):
                j = i
                while j < n and s[j] == " ":
                    j += 1
                if j >= n or s[j] != "{":
                    raise ParseError(f"\\{name} without an environment name")
                env, i = _group(s, j)
                env = env.strip().rstrip("*")
                toks.append(Tok(name, env, sp))
                if name == "begin" and env in ("array", "tabular"):
                    while i < n and s[i] == " ":
                        i += 1
                    if i < n and s[i] == "{":
                        _, i = _group(s, i)
            else:
                toks.append(Tok("cmd", name, sp))
        else:
            two = s[i : i + 3] if s.startswith("...", i) else s[i : i + 2]
            if two in _OPS2:
                toks.append(Tok("op", two, sp))
                i += len(two)
            else:
                toks.append(Tok("op", c, sp))
                i += 1
        sp = False
    return toks
