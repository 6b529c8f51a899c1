"""Countdown: combine the given numbers with + - * / and parentheses to reach a target.

``assay/Countdown-v0``. A target is made by combining a random subset of the numbers (all of
them when ``use_all``) with random operations whose intermediate results are positive integers,
so every puzzle has a solution; the checker accepts *any* expression that reaches the target
under the rules, not only the stored one.

The answer expression is read by `assay.verifiers.arithmetic.parse_arithmetic` (a whitelisted
syntax tree computed over exact fractions; never ``eval``). Rules checked: every number used
is one of the given numbers and no number is used more often than given (exactly as given with
``use_all``); the value equals the target. Intermediate fractions are allowed; unary minus is
not. A text after ``=`` (e.g. ``(3 + 5) * 4 = 32``) is ignored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from assay.envs.logic.puzzle import Puzzle, PuzzleEnv
from assay.verifiers.arithmetic import ExpressionError, parse_arithmetic
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["CountdownEnv"]

PROMPT = (
    "Using the numbers {numbers}, make {target}. You may use +, -, *, / and parentheses; "
    "{rule}. Intermediate results may be fractions.\n"
    "Put your final answer inside <answer></answer> tags as a single expression, "
    "e.g. <answer>(1 + 2) * 3</answer>."
)


class CountdownEnv(PuzzleEnv):
    """Reach a target from ``count`` numbers; any valid expression is accepted.

    Args:
        level: ``easy`` (3 numbers up to 10, use all), ``medium`` (4 numbers up to 25),
            ``hard`` (6 numbers up to 100, target 100-999).
        count: How many numbers are given (2-8).
        max_number: Numbers are drawn from 1..max_number.
        min_target: Smallest target.
        max_target: Largest target.
        use_all: Every number must be used exactly once (else: each at most once).
        **kwargs: See `PuzzleEnv`.
    """

    family = "countdown"
    LEVELS = {  # noqa: RUF012 - read-only table
        "easy": {"count": 3, "max_number": 10, "min_target": 2, "max_target": 100, "use_all": True},
        "medium": {"count": 4, "max_number": 25, "min_target": 10, "max_target": 500, "use_all": False},
        "hard": {"count": 6, "max_number": 100, "min_target": 100, "max_target": 999, "use_all": False},
    }

    def __init__(
        self,
        level: str | None = None,
        *,
        count: int | None = None,
        max_number: int | None = None,
        min_target: int | None = None,
        max_target: int | None = None,
        use_all: bool | None = None,
        **kwargs: Any,
    ) -> None:
        knobs = {
            "count": count,
            "max_number": max_number,
            "min_target": min_target,
            "max_target": max_target,
            "use_all": use_all,
        }
        super().__init__(level, knobs=knobs, **kwargs)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        self.count, self.max_number = int(cfg["count"]), int(cfg["max_number"])
        self.min_target, self.max_target = int(cfg["min_target"]), int(cfg["max_target"])
        self.use_all = bool(cfg["use_all"])
        if not 2 <= self.count <= 8:
            raise ValueError(f"count must be in 2..8, got {self.count}")
        if not 2 <= self.max_number <= 1000:
            raise ValueError(f"max_number must be in 2..1000, got {self.max_number}")
        if not 1 <= self.min_target <= self.max_target:
            raise ValueError("need 1 <= min_target <= max_target")

    @staticmethod
    def _combine(items: list[tuple[int, str]], u: list[float]) -> tuple[int, str]:
        """Join two random items with a random valid operation (positive integer results)."""
        i = int(u[0] * len(items))
        a = items.pop(i)
        j = int(u[1] * len(items))
        b = items.pop(j)
        if a[0] < b[0]:
            a, b = b, a
        options = (
            ["+", "*"] + (["-"] if a[0] > b[0] else []) + (["/"] if b[0] > 1 and a[0] % b[0] == 0 else [])
        )
        if b[0] == 1:  # no "* 1" or "/ 1"
            options = ["+", "-"] if a[0] > 1 else ["+"]
        op = options[int(u[2] * len(options))]
        value = {"+": a[0] + b[0], "-": a[0] - b[0], "*": a[0] * b[0], "/": a[0] // max(b[0], 1)}[op]
        return value, f"({a[1]} {op} {b[1]})"

    def generate(self, rng: np.random.Generator) -> Puzzle:
        for _ in range(1_000):
            numbers = [int(x) for x in rng.integers(1, self.max_number + 1, size=self.count)]
            draws = rng.random((self.count, 4)).tolist()
            used = self.count if self.use_all else 2 + int(draws[0][3] * (self.count - 1))
            pick = rng.permutation(self.count)[:used].tolist()
            items = [(numbers[i], str(numbers[i])) for i in pick]
            k = 0
            while len(items) > 1:
                items.append(self._combine(items, draws[k]))
                k += 1
            target, expr = items[0]
            if self.min_target <= target <= self.max_target and target not in numbers:
                break
        else:  # pragma: no cover - far above what any level needs
            raise RuntimeError("no Countdown target in range")
        shown = ", ".join(map(str, numbers))
        rule = "use every number exactly once" if self.use_all else "use each number at most once"
        return Puzzle(
            PROMPT.format(numbers=shown, target=target, rule=rule),
            expr[1:-1] if expr.startswith("(") else expr,
            {"numbers": numbers, "target": target, "use_all": self.use_all},
        )

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        text = answer.split("=", 1)[0].strip().strip("$").strip()
        try:
            parsed = parse_arithmetic(text)
        except ZeroDivisionError:
            return Verdict(Status.INCORRECT, extracted=text, reason="the expression divides by zero")
        except ExpressionError as e:
            return Verdict(Status.NO_ANSWER, extracted=text[:200], reason=f"not an expression: {e}")
        given = Counter(int(x) for x in task.meta["numbers"])
        used = Counter(parsed.numbers)
        extra = used - given
        if extra:
            return Verdict(
                Status.INCORRECT,
                extracted=text,
                reason=f"uses numbers not available: {sorted(extra.elements())}",
            )
        if task.meta["use_all"] and used != given:
            return Verdict(
                Status.INCORRECT, extracted=text, reason=f"does not use all of {sorted(given.elements())}"
            )
        target = int(task.meta["target"])
        if parsed.value != target:
            return Verdict(
                Status.INCORRECT, extracted=text, reason=f"the expression equals {parsed.value}, not {target}"
            )
        return Verdict(Status.CORRECT, 1.0, text, reason=f"reaches {target} by the rules")
