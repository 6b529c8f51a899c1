"""Maze: the shortest route from S to G through a grid with walls.

``assay/Maze-v0``. Walls are drawn independently with probability ``wall_prob``; a breadth-first
search from S fixes the goal G among the open cells at least ``min_distance`` steps away and
gives the optimal length. Random-obstacle grids usually have several shortest routes: the
checker accepts *every* route of optimal length (it replays the moves), not only the stored one.

Answer: the moves as letters U (up), D (down), L (left), R (right), e.g. ``RRDDL`` (spaces and
commas are ignored). A route that is valid but longer than the shortest is INCORRECT.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from assay.envs.logic.puzzle import Puzzle, PuzzleEnv
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["MazeEnv", "bfs_distances", "neighbours"]

MOVES = {"U": (-1, 0), "D": (1, 0), "L": (0, -1), "R": (0, 1)}

PROMPT = (
    "Find a shortest path from S to G in this maze. '#' is a wall, '.' is open; you move one "
    "cell up, down, left or right per step and cannot leave the grid or enter a wall.\n\n"
    "{grid}\n\n"
    "Put your final answer inside <answer></answer> tags as the sequence of moves, using U, D, "
    "L and R, e.g. <answer>RRDL</answer>."
)


def neighbours(rows: int, cols: int) -> list[list[int]]:
    """For each cell (row-major), the cells one step up, down, left or right of it."""
    out = []
    for cell in range(rows * cols):
        r, c = divmod(cell, cols)
        out.append(
            [
                x
                for x, ok in (
                    (cell - cols, r > 0),
                    (cell + cols, r + 1 < rows),
                    (cell - 1, c > 0),
                    (cell + 1, c + 1 < cols),
                )
                if ok
            ]
        )
    return out


def bfs_distances(open_cells: list[bool], nbrs: list[list[int]], start: int) -> list[int]:
    """Steps from ``start`` to each cell, -1 where unreachable (``nbrs`` from `neighbours`)."""
    dist = [-1] * len(open_cells)
    dist[start] = 0
    frontier = [start]
    d = 0
    while frontier:
        d += 1
        nxt = []
        for cell in frontier:
            for other in nbrs[cell]:
                if dist[other] < 0 and open_cells[other]:
                    dist[other] = d
                    nxt.append(other)
        frontier = nxt
    return dist


def _route(dist: list[int], cols: int, goal: int) -> str:
    """One shortest route, walked back from ``goal`` along decreasing distances."""
    moves = []
    cell = goal
    rows = len(dist) // cols
    while dist[cell] > 0:
        r, c = divmod(cell, cols)
        for letter, (dr, dc) in MOVES.items():
            pr, pc = r - dr, c - dc
            if 0 <= pr < rows and 0 <= pc < cols and dist[pr * cols + pc] == dist[cell] - 1:
                moves.append(letter)
                cell = pr * cols + pc
                break
    return "".join(reversed(moves))


class MazeEnv(PuzzleEnv):
    """Shortest path in a random grid maze; every optimal route is accepted.

    Args:
        level: ``easy`` (5x5), ``medium`` (7x7), ``hard`` (10x10), ``expert`` (15x15).
        rows: Grid height (2-40).
        cols: Grid width (2-40).
        wall_prob: Probability that a cell is a wall.
        min_distance: Smallest number of steps from S to G.
        **kwargs: See `PuzzleEnv`.
    """

    family = "maze"
    LEVELS = {  # noqa: RUF012 - read-only table
        "easy": {"rows": 5, "cols": 5, "wall_prob": 0.25, "min_distance": 3},
        "medium": {"rows": 7, "cols": 7, "wall_prob": 0.3, "min_distance": 6},
        "hard": {"rows": 10, "cols": 10, "wall_prob": 0.3, "min_distance": 10},
        "expert": {"rows": 15, "cols": 15, "wall_prob": 0.35, "min_distance": 16},
    }

    def __init__(
        self,
        level: str | None = None,
        *,
        rows: int | None = None,
        cols: int | None = None,
        wall_prob: float | None = None,
        min_distance: int | None = None,
        **kwargs: Any,
    ) -> None:
        knobs = {"rows": rows, "cols": cols, "wall_prob": wall_prob, "min_distance": min_distance}
        super().__init__(level, knobs=knobs, **kwargs)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        self.rows, self.cols = int(cfg["rows"]), int(cfg["cols"])
        self.wall_prob, self.min_distance = float(cfg["wall_prob"]), int(cfg["min_distance"])
        if not (2 <= self.rows <= 40 and 2 <= self.cols <= 40):
            raise ValueError(f"rows and cols must be in 2..40, got {self.rows}x{self.cols}")
        if not 0.0 <= self.wall_prob < 0.6:
            raise ValueError(f"wall_prob must be in [0, 0.6), got {self.wall_prob}")
        if not 1 <= self.min_distance <= self.rows + self.cols - 2:
            raise ValueError(f"min_distance must be in 1..{self.rows + self.cols - 2}")
        self._nbrs = neighbours(self.rows, self.cols)

    def generate(self, rng: np.random.Generator) -> Puzzle:
        rows, cols = self.rows, self.cols
        size = rows * cols
        while True:
            u = rng.random(size + 2).tolist()
            wall = self.wall_prob
            open_cells = [x >= wall for x in u[:size]]
            start = int(u[size] * size)
            open_cells[start] = True
            dist = bfs_distances(open_cells, self._nbrs, start)
            least = self.min_distance
            far = [i for i, d in enumerate(dist) if d >= least]
            if far:
                break
        goal = far[int(u[size + 1] * len(far))]
        chars = ["." if o else "#" for o in open_cells]
        chars[start], chars[goal] = "S", "G"
        grid = "\n".join("".join(chars[r * cols : (r + 1) * cols]) for r in range(rows))
        return Puzzle(
            PROMPT.format(grid=grid),
            _route(dist, cols, goal),
            {"grid": grid, "start": start, "goal": goal, "distance": dist[goal]},
        )

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        moves = [ch for ch in answer.upper() if not (ch.isspace() or ch in ",;-")]
        if not moves or any(ch not in MOVES for ch in moves):
            return Verdict(Status.NO_ANSWER, reason="the answer must be a sequence of U, D, L, R")
        lines = str(task.meta["grid"]).split("\n")
        rows, cols = len(lines), len(lines[0])
        r, c = divmod(int(task.meta["start"]), cols)
        for i, ch in enumerate(moves):
            dr, dc = MOVES[ch]
            r, c = r + dr, c + dc
            if not (0 <= r < rows and 0 <= c < cols) or lines[r][c] == "#":
                return Verdict(Status.INCORRECT, reason=f"move {i + 1} ({ch}) leaves the grid or hits a wall")
        if r * cols + c != int(task.meta["goal"]):
            return Verdict(Status.INCORRECT, reason="the route does not end at G")
        best = int(task.meta["distance"])
        if len(moves) != best:
            return Verdict(
                Status.INCORRECT, reason=f"the route has {len(moves)} moves; the shortest has {best}"
            )
        return Verdict(Status.CORRECT, 1.0, reason="a shortest route")
