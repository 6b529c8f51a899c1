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

__all__ = ["MazeEnv", "bfs_layers"]

MOVES = {"U": (-1, 0), "D": (1, 0), "L": (0, -1), "R": (0, 1)}

_HEAD = (
    "Find a shortest path from S to G in this maze. '#' is a wall, '.' is open; you move one "
    "cell up, down, left or right per step and cannot leave the grid or enter a wall.\n\n"
)
_TAIL = (
    "\n\nPut your final answer inside <answer></answer> tags as the sequence of moves, using U, D, "
    "L and R, e.g. <answer>RRDL</answer>."
)

_BITS = str.maketrans(".#S\n", "1010")
"""Grid text to binary digits: an open cell (or S) is 1, a wall or a line break 0."""


def bfs_layers(open_bits: int, start: int, width: int) -> list[int]:
    """Breadth-first search on a bitset grid: ``layers[d]`` has the cells ``d`` steps from ``start``.

    Cell (r, c) is bit ``r * width + c``, as it is character ``r * width + c`` of the grid text:
    ``width`` is the number of columns plus one, for the line break, whose bit is never open, so
    a step left or right cannot wrap to another row. ``open_bits`` has the open cells.
    """
    frontier = 1 << start
    layers = [frontier]
    unseen = open_bits & ~frontier
    while True:
        frontier = (frontier << 1 | frontier >> 1 | frontier << width | frontier >> width) & unseen
        if not frontier:
            return layers
        unseen ^= frontier
        layers.append(frontier)


def _route(layers: list[int], width: int, goal: int, distance: int) -> str:
    """One shortest route, walked back from ``goal`` through the BFS layers of `bfs_layers`.

    At each step the previous cell is the first of (the cell one came from by moving) up, down,
    left, right that lies in the previous layer.
    """
    moves = []
    cell = goal
    for d in range(distance - 1, -1, -1):
        layer = layers[d]
        if layer >> (cell + width) & 1:  # bits past the grid are in no layer
            moves.append("U")
            cell += width
        elif cell >= width and layer >> (cell - width) & 1:
            moves.append("D")
            cell -= width
        elif layer >> (cell + 1) & 1:
            moves.append("L")
            cell += 1
        else:  # a cell of layer d + 1 has a neighbour in layer d
            moves.append("R")
            cell -= 1
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

    def generate(self, rng: np.random.Generator) -> Puzzle:
        rows, cols = self.rows, self.cols
        size, width = rows * cols, cols + 1  # in the grid text (and its bits) a row ends in "\n"
        wall = self.wall_prob
        while True:
            u = rng.random(size + 2).tolist()
            start = int(u[size] * size)
            cells = ["." if x >= wall else "#" for x in u[:size]]
            cells[start] = "S"
            grid = "\n".join(["".join(cells[i : i + cols]) for i in range(0, size, cols)])
            layers = bfs_layers(int(grid[::-1].translate(_BITS), 2), start + start // cols, width)
            if len(layers) > self.min_distance:
                break
        far = 0  # the cells at least min_distance steps away
        for layer in layers[self.min_distance :]:
            far |= layer
        for _ in range(int(u[size + 1] * far.bit_count())):  # the goal: a random one of them
            far &= far - 1
        goal = (far & -far).bit_length() - 1
        distance = self.min_distance
        while not layers[distance] >> goal & 1:
            distance += 1
        grid = grid[:goal] + "G" + grid[goal + 1 :]
        return Puzzle(
            _HEAD + grid + _TAIL,
            _route(layers, width, goal, distance),
            {"grid": grid, "start": start, "goal": goal - goal // width, "distance": distance},
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
