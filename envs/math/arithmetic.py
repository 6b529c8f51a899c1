"""Arithmetic: evaluate a procedurally generated integer expression.

``assay/Arithmetic-v0``. Each task is an expression of ``num_operands`` integers of up to
``digits`` digits joined by ``operations`` (``+ - *``, and ``/`` whose result may be a fraction),
with the usual precedence. The gold answer is computed exactly with `fractions.Fraction`. The
policy answers in ``\\boxed{}``, ``<answer>`` tags, "the answer is", or with a completion that is
the bare answer and nothing else (``7``; no number is picked out of prose, and reasoning blocks
are never the answer: `assay.verifiers.match.DEFAULT_EXTRACT`); `NumberMatch` accepts every way
of writing the same rational (``0.5``, ``1/2``, ``\\frac{1}{2}``).
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from assay.envs.base import SingleTurnEnv
from assay.verifiers.base import Task
from assay.verifiers.match import NumberMatch

__all__ = ["LEVELS", "ArithmeticEnv", "evaluate"]

LEVELS: dict[str, dict[str, Any]] = {
    "easy": {"digits": 1, "num_operands": 2, "operations": "+-"},
    "medium": {"digits": 2, "num_operands": 3, "operations": "+-*"},
    "hard": {"digits": 3, "num_operands": 4, "operations": "+-*/"},
}

PROMPT = "Compute {expr}.\nPut your final answer in \\boxed{{}}."


def evaluate(numbers: list[int], ops: list[str]) -> Fraction:
    """Evaluate ``n0 op0 n1 op1 n2 ...`` with * and / before + and -, exactly."""
    if len(ops) != len(numbers) - 1:
        raise ValueError("need one operator between each pair of numbers")
    terms: list[Fraction] = [Fraction(numbers[0])]
    signs: list[int] = [1]
    for op, n in zip(ops, numbers[1:], strict=True):
        if op == "*":
            terms[-1] *= n
        elif op == "/":
            terms[-1] /= n
        elif op in "+-":
            terms.append(Fraction(n))
            signs.append(1 if op == "+" else -1)
        else:
            raise ValueError(f"unknown operator {op!r}")
    return sum((s * t for s, t in zip(signs, terms, strict=True)), Fraction(0))


def _format(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


@lru_cache(maxsize=4096)
def _make_task(
    prefix: str,
    salt: int,
    digits: int,
    num_operands: int,
    operations: str,
    high: int,
    template: str,
    index: int,
) -> Task:
    """Task ``index`` of one configuration. Memoised: the sub-envs of a GRPO group (separate
    instances in one process) reset to the same index, and a `Task` is immutable."""
    rng = np.random.default_rng(np.random.SeedSequence([salt, index]))
    numbers = [int(x) for x in rng.integers(0, high, size=num_operands)]
    ops = [str(operations[int(i)]) for i in rng.integers(0, len(operations), size=num_operands - 1)]
    for i, op in enumerate(ops):  # no division by zero
        if op == "/" and numbers[i + 1] == 0:
            numbers[i + 1] = 1 + int(rng.integers(0, max(high - 1, 1)))
    expr = " ".join(f"{n} {op}" for n, op in zip(numbers, ops, strict=False)) + f" {numbers[-1]}"
    return Task(
        id=f"{prefix}/{index}",
        prompt=template.format(expr=expr),
        answer=_format(evaluate(numbers, ops)),
        meta={"expression": expr, "digits": digits, "num_operands": num_operands},
    )


class ArithmeticEnv(SingleTurnEnv):
    """Evaluate an integer expression such as ``37 + 12 * 4``.

    Args:
        level: ``"easy"``, ``"medium"`` or ``"hard"`` (see `LEVELS`); explicit arguments
            override the level's values.
        digits: Maximum digits per operand (1-9).
        num_operands: Numbers in the expression (2-8).
        operations: Operators to draw from, any of ``+-*/``.
        max_operand: Draw operands from ``[0, max_operand)`` instead of ``[0, 10**digits)``
            (e.g. 5 for the tiny-model addition task); None keeps the level's range.
        prompt_template: The prompt as a ``str.format`` template with ``{expr}`` where the
            expression goes (default `PROMPT`; ``"{expr}="`` suits a tiny model trained from
            scratch).
        **kwargs: Passed to `SingleTurnEnv` (``max_chars``, ``system_prompt``, ``rubric``...).
    """

    def __init__(
        self,
        level: str = "medium",
        *,
        digits: int | None = None,
        num_operands: int | None = None,
        operations: str | None = None,
        max_operand: int | None = None,
        prompt_template: str = PROMPT,
        **kwargs: Any,
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {sorted(LEVELS)}, got {level!r}")
        cfg = {**LEVELS[level]}
        for key, value in (("digits", digits), ("num_operands", num_operands), ("operations", operations)):
            if value is not None:
                cfg[key] = value
        self.digits, self.num_operands, self.operations = (
            int(cfg["digits"]),
            int(cfg["num_operands"]),
            str(cfg["operations"]),
        )
        if not 1 <= self.digits <= 9:
            raise ValueError(f"digits must be in 1..9, got {self.digits}")
        if not 2 <= self.num_operands <= 8:
            raise ValueError(f"num_operands must be in 2..8, got {self.num_operands}")
        if not self.operations or set(self.operations) - set("+-*/"):
            raise ValueError(f"operations must be a non-empty subset of '+-*/', got {self.operations!r}")
        if max_operand is not None and not 1 <= max_operand <= 10**self.digits:
            raise ValueError(f"max_operand must be in 1..10**digits, got {max_operand}")
        self.max_operand = max_operand
        if "{expr}" not in prompt_template or prompt_template.format(expr="") == prompt_template:
            raise ValueError("prompt_template must be a str.format template with an '{expr}' field")
        self.prompt_template = prompt_template
        kwargs.setdefault("verifier", NumberMatch())
        super().__init__(**kwargs)
        config = f"{self.digits}|{self.num_operands}|{self.operations}"
        self._prefix = f"arithmetic/d{self.digits}n{self.num_operands}{self.operations}"
        if max_operand is not None:  # ids and tasks of the default ranges stay as they were
            config += f"|m{max_operand}"
            self._prefix += f"m{max_operand}"
        self._salt = int.from_bytes(hashlib.sha256(config.encode()).digest()[:4], "little")

    def task_at(self, index: int) -> Task:
        high = 10**self.digits if self.max_operand is None else self.max_operand
        return _make_task(
            self._prefix, self._salt, self.digits, self.num_operands, self.operations, high,
            self.prompt_template, int(index),
        )  # fmt: skip

    def gold(self, task: Task) -> str:
        return f"The result is \\boxed{{{task.answer}}}."
