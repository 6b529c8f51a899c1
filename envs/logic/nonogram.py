"""Nonogram: shade cells so that every row and column shows the runs its clue lists.

``assay/Nonogram-v0``. A random grid (each cell shaded with probability ``density``) gives the
clues: the lengths of the runs of shaded cells in each row (left to right) and column (top to
bottom), ``0`` for an empty line. Uniqueness is *not* claimed: the checker accepts *every* grid
whose rows and columns match all the clues.

Answer: the grid, one row per line, ``#`` for shaded and ``.`` for empty (``1``/``0`` and
``X``/``-`` also work; spaces are ignored). Partial credit (opt-in): the fraction of rows and
columns whose runs match their clue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from assay.envs.logic.puzzle import Puzzle, PuzzleEnv
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["NonogramEnv", "runs"]

PROMPT = (
    "Solve this {rows}x{cols} nonogram. Each clue lists, in order, the lengths of the runs of "
    "shaded cells in that row (left to right) or column (top to bottom); 0 means the line is "
    "empty.\nRow clues (top to bottom):\n{row_clues}\nColumn clues (left to right):\n{col_clues}\n"
    "Put your final answer inside <answer></answer> tags: the grid, one row per line, # for a "
    "shaded cell and . for an empty one, e.g. <answer>\n{example}\n...\n</answer>"
)

_SHADED = {"#": True, "1": True, "X": True, "x": True, ".": False, "0": False, "-": False, "_": False}


def runs(line: Sequence[bool]) -> list[int]:
    """Lengths of the runs of True in ``line`` (``[0]`` when there are none)."""
    out: list[int] = []
    count = 0
    for cell in line:
        if cell:
            count += 1
        elif count:
            out.append(count)
            count = 0
    if count:
        out.append(count)
    return out or [0]


class NonogramEnv(PuzzleEnv):
    """Nonograms from random grids; any grid matching every clue is accepted.

    Args:
        level: ``easy`` (4x4), ``medium`` (5x5), ``hard`` (8x8), ``expert`` (10x10).
        rows: Grid height (2-30).
        cols: Grid width (2-30).
        density: Probability that a cell is shaded.
        partial_credit: See the module docstring.
        **kwargs: See `PuzzleEnv`.
    """

    family = "nonogram"
    HAS_PARTIAL_CREDIT = True
    LEVELS = {  # noqa: RUF012 - read-only table
        "easy": {"rows": 4, "cols": 4, "density": 0.55},
        "medium": {"rows": 5, "cols": 5, "density": 0.55},
        "hard": {"rows": 8, "cols": 8, "density": 0.55},
        "expert": {"rows": 10, "cols": 10, "density": 0.5},
    }

    def __init__(
        self,
        level: str | None = None,
        *,
        rows: int | None = None,
        cols: int | None = None,
        density: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(level, knobs={"rows": rows, "cols": cols, "density": density}, **kwargs)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        self.rows, self.cols, self.density = int(cfg["rows"]), int(cfg["cols"]), float(cfg["density"])
        if not (2 <= self.rows <= 30 and 2 <= self.cols <= 30):
            raise ValueError(f"rows and cols must be in 2..30, got {self.rows}x{self.cols}")
        if not 0.0 < self.density < 1.0:
            raise ValueError(f"density must be in (0, 1), got {self.density}")

    def generate(self, rng: np.random.Generator) -> Puzzle:
        grid = (rng.random((self.rows, self.cols)) < self.density).tolist()
        row_clues = [runs(r) for r in grid]
        col_clues = [runs(c) for c in zip(*grid, strict=True)]
        answer = "\n".join("".join("#" if x else "." for x in r) for r in grid)
        prompt = PROMPT.format(
            rows=self.rows,
            cols=self.cols,
            row_clues="\n".join(" ".join(map(str, c)) for c in row_clues),
            col_clues="\n".join(" ".join(map(str, c)) for c in col_clues),
            example="#." * (self.cols // 2) + "#" * (self.cols % 2),
        )
        return Puzzle(prompt, answer, {"rows": row_clues, "cols": col_clues})

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        row_clues, col_clues = task.meta["rows"], task.meta["cols"]
        lines = ["".join(line.split()) for line in answer.splitlines() if line.strip()]
        if len(lines) != len(row_clues) or any(len(line) != len(col_clues) for line in lines):
            return Verdict(
                Status.NO_ANSWER, reason=f"expected {len(row_clues)} rows of {len(col_clues)} cells"
            )
        if any(ch not in _SHADED for line in lines for ch in line):
            return Verdict(Status.NO_ANSWER, reason="cells must be # or .")
        grid = [[_SHADED[ch] for ch in line] for line in lines]
        good = sum(runs(r) == list(c) for r, c in zip(grid, row_clues, strict=True))
        good += sum(runs(col) == list(c) for col, c in zip(zip(*grid, strict=True), col_clues, strict=True))
        total = len(row_clues) + len(col_clues)
        if good == total:
            return Verdict(Status.CORRECT, 1.0, reason="every row and column matches its clue")
        return Verdict(
            Status.INCORRECT, good / total, reason=f"{total - good} of {total} lines break their clue"
        )
