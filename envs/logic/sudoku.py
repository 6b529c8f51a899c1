"""Sudoku: fill an n x n grid (n = 4, 6 or 9) so every row, column and box holds 1..n once.

``assay/Sudoku-v0``. A full grid is drawn by relabelling the digits of a base pattern and
shuffling rows within bands, bands, columns within stacks and stacks (each draw is a valid
grid); then cells are blanked at random until ``clues`` remain.

Uniqueness is *not* claimed by default: the checker accepts every valid completion consistent
with the givens, so a puzzle with several completions is still fair. With ``unique=True`` cells
are blanked only while a solver (bitmask backtracking, counting up to two solutions) still finds
exactly one completion, so ``clues`` becomes a floor that may not be reached.

Answer: the completed grid, one row per line, digits only (separators such as spaces or ``|``
are ignored). Partial credit (opt-in): the fraction of rows, columns and boxes that hold every
digit once, 0 if a given was changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from assay.envs.logic.puzzle import Puzzle, PuzzleEnv
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["SudokuEnv", "count_solutions", "units"]

BOXES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}
"""Grid size -> (box height, box width)."""

PROMPT = (
    "Solve this {n}x{n} Sudoku: fill every empty cell (shown as .) with a digit 1-{n} so that each "
    "row, each column and each {bh}x{bw} box contains every digit 1-{n} exactly once.\n\n"
    "{grid}\n\n"
    "Put your final answer inside <answer></answer> tags: the completed grid, one row per line, "
    "digits only, e.g. <answer>\n{example}\n...\n</answer>"
)


def units(n: int) -> list[list[int]]:
    """The cell indices (row-major) of every row, column and box of an n x n grid."""
    bh, bw = BOXES[n]
    rows = [[r * n + c for c in range(n)] for r in range(n)]
    cols = [[r * n + c for r in range(n)] for c in range(n)]
    boxes = [
        [(br + r) * n + bc + c for r in range(bh) for c in range(bw)]
        for br in range(0, n, bh)
        for bc in range(0, n, bw)
    ]
    return rows + cols + boxes


def count_solutions(grid: Sequence[int], n: int, limit: int = 2) -> int:
    """Completions of ``grid`` (row-major, 0 = empty), counted up to ``limit``."""
    bh, bw = BOXES[n]
    full = (1 << (n + 1)) - 2
    rows, cols, boxes = [0] * n, [0] * n, [0] * n
    empty = []
    for i, v in enumerate(grid):
        r, c = divmod(i, n)
        b = (r // bh) * (n // bw) + c // bw
        if v:
            bit = 1 << v
            if rows[r] & bit or cols[c] & bit or boxes[b] & bit:
                return 0
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
        else:
            empty.append((r, c, b))
    count = 0

    def solve(todo: list[tuple[int, int, int]]) -> bool:
        nonlocal count
        if not todo:
            count += 1
            return count >= limit
        best, best_free, best_n = 0, 0, n + 1
        for k, (r, c, b) in enumerate(todo):  # most constrained cell first
            free = full & ~(rows[r] | cols[c] | boxes[b])
            cnt = free.bit_count()
            if cnt < best_n:
                best, best_free, best_n = k, free, cnt
                if cnt <= 1:
                    break
        if best_n == 0:
            return False
        r, c, b = todo[best]
        rest = todo[:best] + todo[best + 1 :]
        free = best_free
        while free:
            bit = free & -free
            free ^= bit
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
            done = solve(rest)
            rows[r] ^= bit
            cols[c] ^= bit
            boxes[b] ^= bit
            if done:
                return True
        return False

    solve(empty)
    return count


def _render(grid: Sequence[int], n: int) -> str:
    return "\n".join(" ".join(str(v) if v else "." for v in grid[r * n : (r + 1) * n]) for r in range(n))


class SudokuEnv(PuzzleEnv):
    """Sudoku with ``size`` 4, 6 or 9 and ``clues`` givens; any valid completion is accepted.

    Args:
        level: ``easy`` (4x4, 8 clues), ``medium`` (6x6, 18), ``hard`` (9x9, 36),
            ``expert`` (9x9, 28).
        size: 4, 6 or 9.
        clues: Givens left in the grid.
        unique: Blank cells only while the completion stays unique (a solver checks).
        partial_credit: See the module docstring.
        **kwargs: See `PuzzleEnv`.
    """

    family = "sudoku"
    HAS_PARTIAL_CREDIT = True
    LEVELS = {  # noqa: RUF012 - read-only table
        "easy": {"size": 4, "clues": 8, "unique": False},
        "medium": {"size": 6, "clues": 18, "unique": False},
        "hard": {"size": 9, "clues": 36, "unique": False},
        "expert": {"size": 9, "clues": 28, "unique": False},
    }

    def __init__(
        self,
        level: str | None = None,
        *,
        size: int | None = None,
        clues: int | None = None,
        unique: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(level, knobs={"size": size, "clues": clues, "unique": unique}, **kwargs)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        self.size, self.clues, self.unique = int(cfg["size"]), int(cfg["clues"]), bool(cfg["unique"])
        if self.size not in BOXES:
            raise ValueError(f"size must be one of {sorted(BOXES)}, got {self.size}")
        if not 0 <= self.clues <= self.size**2:
            raise ValueError(f"clues must be in 0..{self.size**2}, got {self.clues}")
        self._units = units(self.size)

    def _full_grid(self, rng: np.random.Generator) -> np.ndarray:
        n = self.size
        bh, bw = BOXES[n]
        r = np.arange(n)[:, None]
        c = np.arange(n)[None, :]
        base = (bw * (r % bh) + r // bh + c) % n  # a valid grid with digits 0..n-1
        bands = rng.permutation(n // bh)
        row_order = np.concatenate([b * bh + rng.permutation(bh) for b in bands])
        stacks = rng.permutation(n // bw)
        col_order = np.concatenate([s * bw + rng.permutation(bw) for s in stacks])
        digits = rng.permutation(n) + 1
        grid = digits[base[row_order][:, col_order]]
        if bh == bw and rng.random() < 0.5:
            grid = grid.T
        flat: np.ndarray = grid.ravel()
        return flat

    def generate(self, rng: np.random.Generator) -> Puzzle:
        n = self.size
        solution = [int(v) for v in self._full_grid(rng)]
        order = rng.permutation(n * n).tolist()
        grid = list(solution)
        if self.unique:
            left = n * n
            for i in order:
                if left <= self.clues:
                    break
                grid[i] = 0
                if count_solutions(grid, n) != 1:
                    grid[i] = solution[i]
                else:
                    left -= 1
        else:
            for i in order[: n * n - self.clues]:
                grid[i] = 0
        bh, bw = BOXES[n]
        answer = "\n".join("".join(str(v) for v in solution[r * n : (r + 1) * n]) for r in range(n))
        prompt = PROMPT.format(
            n=n, bh=bh, bw=bw, grid=_render(grid, n), example="".join(map(str, range(1, n + 1)))
        )
        return Puzzle(prompt, answer, {"size": n, "givens": grid})

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        n = int(task.meta["size"])
        givens: list[int] = list(task.meta["givens"])
        digits = [ch for ch in answer if not (ch.isspace() or ch in "|,-+")]
        if len(digits) != n * n or not all(ch.isdigit() and "1" <= ch <= str(n) for ch in digits):
            return Verdict(Status.NO_ANSWER, reason=f"answer is not an {n}x{n} grid of digits 1-{n}")
        grid = [int(ch) for ch in digits]
        changed = sum(1 for g, v in zip(givens, grid, strict=True) if g and g != v)
        if changed:
            return Verdict(Status.INCORRECT, reason=f"{changed} given(s) changed")
        want = set(range(1, n + 1))
        good = sum(1 for unit in units(n) if {grid[i] for i in unit} == want)
        total = 3 * n
        if good == total:
            return Verdict(Status.CORRECT, 1.0, reason="a valid completion of the givens")
        return Verdict(
            Status.INCORRECT, good / total, reason=f"{total - good} of {total} units break the rules"
        )
