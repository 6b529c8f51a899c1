"""Process rewards: split a response into steps, score each step, aggregate.

``process_reward(score_steps, split=..., aggregate=...)`` is a `Term`:

1. ``split`` cuts the response into steps (`split_steps`: numbered steps such as "Step 2:" or
   "2." when present, else paragraphs when there are blank lines, else lines; or a regex, or any
   callable). At most ``max_steps`` steps are scored (the rest are dropped and counted).
2. ``score_steps(steps, task)`` returns one score in ``[0, 1]`` per step, or None for a step it
   cannot judge (a `StepScorer`: `verify_each` wraps a per-step function; an LLM judge's
   ``step_scorer()`` judges steps; `arithmetic_steps` checks the equations in each step).
3. ``aggregate`` folds the applicable scores: ``"min"`` (a chain is as good as its worst step:
   the usual PRM choice), ``"mean"``, ``"last"`` or ``"product"``. No applicable step: None.

Details carry the steps' scores.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Literal

from assay.rewards.base import Scored, Term
from assay.verifiers.base import Task, Verdict

__all__ = [
    "StepScorer",
    "arithmetic_steps",
    "check_equation",
    "process_reward",
    "split_steps",
    "verify_each",
]

StepScorer = Callable[[Sequence[str], Task], Sequence[float | None]]
"""``(steps, task) -> one score in [0, 1] (or None: cannot judge) per step``."""

Aggregate = Literal["min", "mean", "last", "product"]

_NUMBERED = re.compile(
    r"^[ \t]*(?:#+[ \t]*)?(?:\*\*)?(?:step[ \t]*\d+|\d+[.)])", re.IGNORECASE | re.MULTILINE
)
_BLANK = re.compile(r"\n[ \t]*\n")


def split_steps(text: str, mode: Literal["auto", "numbered", "paragraphs", "lines"] = "auto") -> list[str]:
    """The non-empty steps of ``text``.

    ``"numbered"``: a step starts at each line beginning with "Step N" or "N." / "N)" (text
    before the first marker is a step of its own); ``"paragraphs"``: split at blank lines;
    ``"lines"``: one step per line; ``"auto"``: numbered if there are at least two markers, else
    paragraphs if there is a blank line, else lines.
    """
    if mode == "auto":
        if len(_NUMBERED.findall(text)) >= 2:
            mode = "numbered"
        elif _BLANK.search(text):
            mode = "paragraphs"
        else:
            mode = "lines"
    if mode == "numbered":
        starts = [m.start() for m in _NUMBERED.finditer(text)]
        bounds = [0, *starts, len(text)] if starts else [0, len(text)]
        parts = [text[a:b] for a, b in itertools.pairwise(bounds)]
    elif mode == "paragraphs":
        parts = _BLANK.split(text)
    elif mode == "lines":
        parts = text.split("\n")
    else:
        raise ValueError(f"unknown split mode {mode!r}")
    return [p.strip() for p in parts if p.strip()]


def _aggregate(scores: Sequence[float], how: Aggregate) -> float:
    if how == "min":
        return min(scores)
    if how == "mean":
        return math.fsum(scores) / len(scores)
    if how == "last":
        return scores[-1]
    return math.prod(scores)


class _Process:
    def __init__(
        self,
        score_steps: StepScorer,
        split: Callable[[str], list[str]],
        aggregate: Aggregate,
        max_steps: int,
    ) -> None:
        self.score_steps, self.split, self.aggregate, self.max_steps = (
            score_steps,
            split,
            aggregate,
            max_steps,
        )

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> Scored | None:
        steps = self.split(completion)
        dropped = max(0, len(steps) - self.max_steps)
        steps = steps[: self.max_steps]
        if not steps:
            return None
        raw = list(self.score_steps(steps, task))
        if len(raw) != len(steps):
            raise ValueError(f"step scorer returned {len(raw)} scores for {len(steps)} steps")
        scores = [None if s is None or math.isnan(s) else min(max(float(s), 0.0), 1.0) for s in raw]
        present = [s for s in scores if s is not None]
        info = {"steps": len(steps), "scores": scores, "dropped": dropped}
        if not present:
            return Scored(None, info)
        return Scored(_aggregate(present, self.aggregate), info)


def process_reward(
    score_steps: StepScorer,
    *,
    split: Literal["auto", "numbered", "paragraphs", "lines"]
    | str
    | re.Pattern[str]
    | Callable[[str], list[str]] = "auto",
    aggregate: Aggregate = "min",
    max_steps: int = 64,
    name: str = "process",
    weight: float = 1.0,
) -> Term:
    """Split, score each step, aggregate (module docstring). Range ``[0, 1]``."""
    if aggregate not in ("min", "mean", "last", "product"):
        raise ValueError(f"aggregate must be min, mean, last or product, got {aggregate!r}")
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    splitter: Callable[[str], list[str]]
    if callable(split) and not isinstance(split, re.Pattern):
        splitter = split
    elif isinstance(split, re.Pattern) or split not in ("auto", "numbered", "paragraphs", "lines"):
        pattern = split if isinstance(split, re.Pattern) else re.compile(split)

        def splitter(text: str) -> list[str]:
            return [p.strip() for p in pattern.split(text) if p and p.strip()]

    else:
        mode = split

        def splitter(text: str) -> list[str]:
            return split_steps(text, mode)  # type: ignore[arg-type]

    return Term(name, _Process(score_steps, splitter, aggregate, max_steps), weight, 0.0, 1.0)


def verify_each(check: Callable[[str, Task, Sequence[str]], float | None]) -> StepScorer:
    """A `StepScorer` from a per-step function ``check(step, task, previous_steps)``."""

    def score(steps: Sequence[str], task: Task) -> list[float | None]:
        return [check(step, task, steps[:i]) for i, step in enumerate(steps)]

    return score


# -- a real per-step verifier: arithmetic equations ------------------------------------------

_NUM = r"\d{1,30}(?:\.\d{1,30})?"
_RESULT = re.compile(rf" *= *(-?{_NUM})(?![\d.]| *[-+*/×÷·] *\d)")
_LHS_CHARS = frozenset("0123456789.+-*/×÷·() ")
_MAX_LHS = 200
_TOKEN = re.compile(rf"\s*(?:({_NUM})|(.))")


def _evaluate(expr: str) -> Fraction | None:
    """Exact value of ``+ - * /`` and parentheses over decimals; None when it does not parse.

    A tiny recursive-descent parser: no eval, no sympy.
    """
    tokens: list[str | Fraction] = []
    for m in _TOKEN.finditer(expr.replace("×", "*").replace("·", "*").replace("÷", "/")):
        if m.group(1):
            tokens.append(Fraction(m.group(1)))
        elif m.group(2) and not m.group(2).isspace():
            if m.group(2) not in "+-*/()":
                return None
            tokens.append(m.group(2))
    pos = 0

    def peek() -> str | Fraction | None:
        return tokens[pos] if pos < len(tokens) else None

    def atom() -> Fraction | None:
        nonlocal pos
        tok = peek()
        if isinstance(tok, Fraction):
            pos += 1
            return tok
        if tok == "-":
            pos += 1
            inner = atom()
            return None if inner is None else -inner
        if tok == "(":
            pos += 1
            inner = expression()
            if inner is None or peek() != ")":
                return None
            pos += 1
            return inner
        return None

    def term() -> Fraction | None:
        nonlocal pos
        value = atom()
        while value is not None and peek() in ("*", "/"):
            op = peek()
            pos += 1
            rhs = atom()
            if rhs is None or (op == "/" and rhs == 0):
                return None
            value = value * rhs if op == "*" else value / rhs
        return value

    def expression() -> Fraction | None:
        nonlocal pos
        value = term()
        while value is not None and peek() in ("+", "-"):
            op = peek()
            pos += 1
            rhs = term()
            if rhs is None:
                return None
            value = value + rhs if op == "+" else value - rhs
        return value

    if len(tokens) > 200:
        return None
    result = expression()
    return result if pos == len(tokens) else None


def check_equation(lhs: str, rhs: str) -> bool | None:
    """Whether ``lhs`` evaluates exactly to ``rhs`` (None when ``lhs`` does not parse)."""
    value = _evaluate(lhs)
    if value is None:
        return None
    return value == Fraction(rhs)


def _equations(text: str) -> list[tuple[str, str]]:
    """``(lhs, rhs)`` for each ``<expression> = <number>``: from each ``=``, the left side is the
    run of arithmetic characters before it (at most 200), so the scan is linear in the text."""
    out = []
    for m in _RESULT.finditer(text):
        i = j = m.start()
        while j > 0 and i - j < _MAX_LHS and text[j - 1] in _LHS_CHARS:
            j -= 1
        lhs = text[j:i].strip()
        if any(op in lhs.lstrip("-(") for op in "+-*/×÷·"):
            out.append((lhs, m.group(1)))
    return out


def _arithmetic(steps: Sequence[str], task: Task) -> list[float | None]:
    out: list[float | None] = []
    for step in steps:
        results = [check_equation(lhs, rhs) for lhs, rhs in _equations(step[:10_000])]
        judged = [r for r in results if r is not None]
        out.append(sum(judged) / len(judged) if judged else None)
    return out


arithmetic_steps: StepScorer = _arithmetic
"""Scores each step by the fraction of its equations ``<expr> = <number>`` (``+ - * / × ÷``,
parentheses, decimals) that hold exactly; a step with no equation is not applicable."""
