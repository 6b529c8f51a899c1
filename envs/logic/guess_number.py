"""GuessNumber: find a hidden integer by bisection, with "higher"/"lower" feedback.

``assay/GuessNumber-v0``, the smallest multi-turn task: each action is a guess; a wrong guess
gets "higher" or "lower" as the observation; a right guess ends the episode with reward 1. With
``max_turns >= ceil(log2(high))`` an optimal policy always wins.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from assay.envs.base import MultiTurnEnv, Reply
from assay.verifiers.base import Task
from assay.verifiers.extract import first_of, last_boxed, last_number, tagged
from assay.verifiers.match import NumberMatch

__all__ = ["GuessNumberEnv"]

_EXTRACT = first_of(last_boxed, tagged("answer"), last_number)
_INT = re.compile(r"[+-]?\d{1,12}")

PROMPT = (
    "I am thinking of an integer between 1 and {high} inclusive. Guess it: reply with one "
    "integer per turn, e.g. <answer>7</answer>. I will say 'higher' or 'lower' after each "
    "wrong guess. You have {turns} guesses."
)


class GuessNumberEnv(MultiTurnEnv):
    """Guess an integer in ``[1, high]`` within ``max_turns`` guesses.

    Args:
        high: The largest possible number.
        max_turns: Guesses allowed; the episode is truncated after the last one.
    """

    def __init__(self, high: int = 100, max_turns: int = 8, **kwargs: Any) -> None:
        if high < 1:
            raise ValueError(f"high must be >= 1, got {high}")
        super().__init__(NumberMatch(extract=_EXTRACT), max_turns=max_turns, **kwargs)
        self.high = high
        self._prefix = f"guess_number/h{high}"

    def task_at(self, index: int) -> Task:
        rng = np.random.default_rng(np.random.SeedSequence([self.high, index]))
        secret = int(rng.integers(1, self.high + 1))
        return Task(
            id=f"{self._prefix}/{index}",
            prompt=PROMPT.format(high=self.high, turns=self.max_turns),
            answer=str(secret),
        )

    def respond(self, action: str) -> Reply:
        found = _EXTRACT(action)
        if found is None or not _INT.fullmatch(found.strip()):
            return Reply("Please answer with one integer, e.g. <answer>7</answer>.")
        guess = int(found)
        secret = int(self.current_task().answer or 0)
        if guess == secret:
            return Reply(final=True)
        return Reply("higher" if guess < secret else "lower")

    def gold(self, task: Task) -> str:
        return f"<answer>{task.answer}</answer>"
