"""Cryptarithm: each letter stands for a different digit; find digits that make the sum true.

``assay/Cryptarithm-v0``. The addends are drawn as numbers (no leading zeros), summed, and their
distinct digits mapped to random distinct letters, so every puzzle has a solution. Uniqueness is
*not* claimed: the checker accepts *every* assignment that makes the addition true with distinct
digits and no word starting with 0.

Answer: ``A=1, B=2, ...``, one digit for every letter in the puzzle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from assay.envs.logic.puzzle import Puzzle, PuzzleEnv, sample
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["CryptarithmEnv"]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_HEAD = (
    "Solve this cryptarithm: each letter stands for a digit, different letters for different "
    "digits, and no number starts with 0.\n\n"
)
_TAIL = (
    "\n\nPut your final answer inside <answer></answer> tags, giving the digit of every letter, e.g. <answer>"
)
_NOT_DIGITS: list[str | None] = [None] * ord("0")
"""With 10 letters appended, a `str.translate` table from the digits 0-9 to those letters."""

_PAIR = re.compile(r"([A-Za-z])\s*(?:=|:|->)\s*(\d)\b")


class CryptarithmEnv(PuzzleEnv):
    """Letter-sum puzzles (``SEND + MORE = MONEY`` style); any valid assignment is accepted.

    Args:
        level: ``easy`` (2 addends of 2-3 digits), ``medium`` (2 of 3-4), ``hard`` (3 of 3-5).
        addends: Number of words added (2-5).
        min_digits: Shortest addend.
        max_digits: Longest addend (at most 8).
        **kwargs: See `PuzzleEnv`.
    """

    family = "cryptarithm"
    LEVELS = {  # noqa: RUF012 - read-only table
        "easy": {"addends": 2, "min_digits": 2, "max_digits": 3},
        "medium": {"addends": 2, "min_digits": 3, "max_digits": 4},
        "hard": {"addends": 3, "min_digits": 3, "max_digits": 5},
    }

    def __init__(
        self,
        level: str | None = None,
        *,
        addends: int | None = None,
        min_digits: int | None = None,
        max_digits: int | None = None,
        **kwargs: Any,
    ) -> None:
        knobs = {"addends": addends, "min_digits": min_digits, "max_digits": max_digits}
        super().__init__(level, knobs=knobs, **kwargs)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        self.addends, self.min_digits = int(cfg["addends"]), int(cfg["min_digits"])
        self.max_digits = int(cfg["max_digits"])
        if not 2 <= self.addends <= 5:
            raise ValueError(f"addends must be in 2..5, got {self.addends}")
        if not 1 <= self.min_digits <= self.max_digits <= 8:
            raise ValueError("need 1 <= min_digits <= max_digits <= 8")
        # (smallest number, how many numbers) of each addend length
        self._ranges = [
            (10 ** (d - 1) if d > 1 else 0, 10**d - (10 ** (d - 1) if d > 1 else 0))
            for d in range(self.min_digits, self.max_digits + 1)
        ]

    def generate(self, rng: np.random.Generator) -> Puzzle:
        k = self.addends
        u = rng.random(2 * k + 10).tolist()
        ranges = self._ranges
        numbers = []
        for i in range(k):
            low, count = ranges[int(u[i] * len(ranges))]
            numbers.append(low + int(u[k + i] * count))
        letters = sample(LETTERS, 10, u[2 * k :])  # digit d -> letters[d]
        table = _NOT_DIGITS + letters
        words = [str(x).translate(table) for x in numbers]
        result = str(sum(numbers)).translate(table)
        width = len(result) + 2
        lines = [w.rjust(width) for w in words[:-1]]
        lines += ["+ " + words[-1].rjust(width - 2), "-" * width, result.rjust(width)]
        used = sorted(set("".join(words) + result))
        answer = ", ".join([f"{ch}={letters.index(ch)}" for ch in used])
        example = f"{used[0]}=0, {used[1]}=1, ...</answer>." if len(used) > 1 else f"{used[0]}=0</answer>."
        return Puzzle(
            _HEAD + "\n".join(lines) + _TAIL + example,
            answer,
            {"words": words, "result": result, "letters": used},
        )

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        letters: list[str] = list(task.meta["letters"])
        digits: dict[str, int] = {}
        for m in _PAIR.finditer(answer):
            ch, d = m.group(1).upper(), int(m.group(2))
            if digits.get(ch, d) != d:
                return Verdict(Status.NO_ANSWER, reason=f"{ch} is given two digits")
            digits[ch] = d
        missing = [ch for ch in letters if ch not in digits]
        if missing:
            return Verdict(Status.NO_ANSWER, reason=f"no digit for {', '.join(missing)}")
        extra = sorted(set(digits) - set(letters))
        if extra:
            return Verdict(Status.INCORRECT, reason=f"letters not in the puzzle: {', '.join(extra)}")
        if len(set(digits.values())) != len(digits):
            return Verdict(Status.INCORRECT, reason="two letters share a digit")
        words: list[str] = [*task.meta["words"], task.meta["result"]]
        if any(len(w) > 1 and digits[w[0]] == 0 for w in words):
            return Verdict(Status.INCORRECT, reason="a number starts with 0")

        def value(w: str) -> int:
            return int("".join(str(digits[ch]) for ch in w))

        lhs = sum(value(w) for w in task.meta["words"])
        if lhs != value(task.meta["result"]):
            return Verdict(
                Status.INCORRECT, reason=f"the addends sum to {lhs}, not {value(task.meta['result'])}"
            )
        return Verdict(Status.CORRECT, 1.0, reason="the sum holds")
