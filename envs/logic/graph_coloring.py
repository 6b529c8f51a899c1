"""Graph colouring: colour the vertices so that no edge joins two vertices of the same colour.

``assay/GraphColoring-v0``. A colouring with ``colors`` colours is planted first and only edges
between differently coloured vertices are drawn (each with probability ``edge_prob``), so every
graph is colourable. The checker accepts *every* proper colouring with colours ``1..colors``,
not only the planted one.

Answer: the colours of vertices 0, 1, ..., n-1 in order, comma-separated (``1, 2, 1, 3``), or
``vertex: colour`` pairs in any order. Partial credit (opt-in): the fraction of edges whose ends
differ, for an answer that colours every vertex with an allowed colour.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from assay.envs.logic.puzzle import Puzzle, PuzzleEnv
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["GraphColoringEnv", "parse_coloring"]

PROMPT = (
    "Colour the vertices of this graph with the colours 1 to {k} so that no edge joins two "
    "vertices of the same colour.\nVertices: 0 to {last}\nEdges: {{edges}}\n"
    "Put your final answer inside <answer></answer> tags: the colours of vertices 0, 1, ..., "
    "{last} in order, comma-separated, e.g. <answer>{example}</answer>."
)

_PAIR = re.compile(r"(\d{1,9})\s*[:=]\s*(\d{1,9})")
_INT = re.compile(r"\d+")


VECTOR_PAIRS = 1000
"""From this many vertex pairs on (about 45 vertices), edges are drawn with numpy (faster there)."""


def _split(prompt: str) -> tuple[str, str]:
    before, _, after = prompt.partition("{edges}")
    return before, after


def parse_coloring(answer: str, n: int) -> list[int] | str:
    """The colour of each of ``n`` vertices, or a reason the answer cannot be read."""
    if ":" in answer or "=" in answer:
        colours: dict[int, int] = {}
        for m in _PAIR.finditer(answer):
            v, c = int(m.group(1)), int(m.group(2))
            if v >= n or colours.get(v, c) != c:
                return f"vertex {v} is out of range or coloured twice"
            colours[v] = c
        if len(colours) != n:
            return f"expected a colour for each of {n} vertices, got {len(colours)}"
        return [colours[v] for v in range(n)]
    found = _INT.findall(answer)
    if len(found) != n or any(len(x) > 9 for x in found):
        return f"expected {n} colours, got {len(found)} numbers"
    return [int(x) for x in found]


class GraphColoringEnv(PuzzleEnv):
    """Colour a planted-colourable random graph; any proper colouring is accepted.

    Args:
        level: ``easy`` (6 vertices, 3 colours), ``medium`` (10, 3), ``hard`` (15, 4),
            ``expert`` (25, 4).
        vertices: Number of vertices (2-200).
        colors: Number of colours allowed (2-9).
        edge_prob: Probability of each edge between differently coloured planted vertices.
        partial_credit: See the module docstring.
        **kwargs: See `PuzzleEnv`.
    """

    family = "graph_coloring"
    HAS_PARTIAL_CREDIT = True
    LEVELS = {  # noqa: RUF012 - read-only table
        "easy": {"vertices": 6, "colors": 3, "edge_prob": 0.4},
        "medium": {"vertices": 10, "colors": 3, "edge_prob": 0.4},
        "hard": {"vertices": 15, "colors": 4, "edge_prob": 0.5},
        "expert": {"vertices": 25, "colors": 4, "edge_prob": 0.6},
    }

    def __init__(
        self,
        level: str | None = None,
        *,
        vertices: int | None = None,
        colors: int | None = None,
        edge_prob: float | None = None,
        **kwargs: Any,
    ) -> None:
        knobs = {"vertices": vertices, "colors": colors, "edge_prob": edge_prob}
        super().__init__(level, knobs=knobs, **kwargs)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        self.vertices, self.colors = int(cfg["vertices"]), int(cfg["colors"])
        self.edge_prob = float(cfg["edge_prob"])
        if not 2 <= self.vertices <= 200:
            raise ValueError(f"vertices must be in 2..200, got {self.vertices}")
        if not 2 <= self.colors <= 9:
            raise ValueError(f"colors must be in 2..9, got {self.colors}")
        if not 0.0 < self.edge_prob <= 1.0:
            raise ValueError(f"edge_prob must be in (0, 1], got {self.edge_prob}")
        n = self.vertices
        self._pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
        self._pair_text = [f"{a}-{b}" for a, b in self._pairs]
        self._ends = np.array(self._pairs, dtype=np.intp).reshape(-1, 2).T  # for large graphs
        example = ", ".join(str(1 + v % self.colors) for v in range(min(n, 4))) + (", ..." if n > 4 else "")
        self._prompt = _split(PROMPT.format(k=self.colors, last=n - 1, example=example))

    def generate(self, rng: np.random.Generator) -> Puzzle:
        n, k, p = self.vertices, self.colors, self.edge_prob
        while True:
            u = rng.random(n + len(self._pairs))
            if len(self._pairs) > VECTOR_PAIRS:  # the same choices, made by numpy
                planted = (u[:n] * k).astype(np.intp)
                a, b = self._ends
                kept = np.flatnonzero((u[n:] < p) & (planted[a] != planted[b])).tolist()
                colour = planted.tolist()
            else:
                draws = u.tolist()
                colour = [int(x * k) for x in draws[:n]]  # the planted colouring, 0-based
                kept = [
                    t
                    for t, ((a, b), x) in enumerate(zip(self._pairs, draws[n:], strict=True))
                    if x < p and colour[a] != colour[b]
                ]
            if kept:
                break
        edges = [self._pairs[t] for t in kept]
        prompt = self._prompt[0] + ", ".join([self._pair_text[t] for t in kept]) + self._prompt[1]
        answer = ", ".join([str(c + 1) for c in colour])
        return Puzzle(prompt, answer, {"vertices": n, "colors": k, "edges": edges})

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        n, k = int(task.meta["vertices"]), int(task.meta["colors"])
        colours = parse_coloring(answer, n)
        if isinstance(colours, str):
            return Verdict(Status.NO_ANSWER, reason=colours)
        if not all(1 <= c <= k for c in colours):
            return Verdict(Status.INCORRECT, reason=f"colours must be in 1..{k}")
        edges = task.meta["edges"]
        bad = [(a, b) for a, b in edges if colours[a] == colours[b]]
        if bad:
            a, b = bad[0]
            score = 1.0 - len(bad) / len(edges)
            return Verdict(
                Status.INCORRECT, score, reason=f"{len(bad)} edge(s) join equal colours, e.g. {a}-{b}"
            )
        return Verdict(Status.CORRECT, 1.0, reason="a proper colouring")
