"""SAT: find an assignment that satisfies every clause of a CNF formula.

``assay/SAT-v0``. A random assignment is planted first; each clause draws ``clause_size``
distinct variables with random signs, and a clause the planted assignment falsifies gets one
literal flipped, so every formula is satisfiable (planted instances are somewhat easier than
uniform random k-SAT at the same ratio). The checker accepts *every* satisfying assignment.

Answer: ``x1=1, x2=0, ...`` (every variable once; values 1/0, true/false or T/F). Partial credit
(opt-in): the fraction of clauses satisfied by a complete assignment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from assay.envs.logic.puzzle import Puzzle, PuzzleEnv
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["SatEnv", "parse_assignment"]

PROMPT = (
    "Find values for the boolean variables {names} that make this formula true. Each line is "
    "a clause; a clause is true when at least one of its literals is true, and every clause "
    "must be true.\n{clauses}\n"
    "Put your final answer inside <answer></answer> tags, assigning every variable 1 (true) or "
    "0 (false), e.g. <answer>{example}</answer>."
)

_ASSIGN = re.compile(r"x(\d{1,9})\s*(?:=|:|is)\s*(1|0|true|false|t|f)\b", re.IGNORECASE)


def parse_assignment(answer: str, n: int) -> list[bool] | str:
    """The value of each of ``n`` variables, or a reason the answer cannot be read."""
    values: dict[int, bool] = {}
    for m in _ASSIGN.finditer(answer):
        v, val = int(m.group(1)), m.group(2).casefold() in ("1", "true", "t")
        if not 1 <= v <= n or values.get(v, val) != val:
            return f"x{v} is out of range or given two values"
        values[v] = val
    if len(values) != n:
        missing = [f"x{v}" for v in range(1, n + 1) if v not in values][:5]
        return f"no value for {', '.join(missing)}" if missing else "malformed assignment"
    return [values[v] for v in range(1, n + 1)]


def _literal(v: int, positive: bool) -> str:
    return f"x{v + 1}" if positive else f"NOT x{v + 1}"


class SatEnv(PuzzleEnv):
    """Satisfy a planted random k-CNF formula; any satisfying assignment is accepted.

    Args:
        level: ``easy`` (4 variables, 8 2-clauses), ``medium`` (6 variables, 20 3-clauses),
            ``hard`` (10, 42), ``expert`` (16, 68).
        variables: Number of variables (2-60).
        clauses: Number of clauses.
        clause_size: Literals per clause (1-5, at most ``variables``).
        partial_credit: See the module docstring.
        **kwargs: See `PuzzleEnv`.
    """

    family = "sat"
    HAS_PARTIAL_CREDIT = True
    LEVELS = {  # noqa: RUF012 - read-only table
        "easy": {"variables": 4, "clauses": 8, "clause_size": 2},
        "medium": {"variables": 6, "clauses": 20, "clause_size": 3},
        "hard": {"variables": 10, "clauses": 42, "clause_size": 3},
        "expert": {"variables": 16, "clauses": 68, "clause_size": 3},
    }

    def __init__(
        self,
        level: str | None = None,
        *,
        variables: int | None = None,
        clauses: int | None = None,
        clause_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        knobs = {"variables": variables, "clauses": clauses, "clause_size": clause_size}
        super().__init__(level, knobs=knobs, **kwargs)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        self.variables, self.clauses = int(cfg["variables"]), int(cfg["clauses"])
        self.clause_size = int(cfg["clause_size"])
        if not 2 <= self.variables <= 60:
            raise ValueError(f"variables must be in 2..60, got {self.variables}")
        if not 1 <= self.clauses <= 500:
            raise ValueError(f"clauses must be in 1..500, got {self.clauses}")
        if not 1 <= self.clause_size <= min(5, self.variables):
            raise ValueError(f"clause_size must be in 1..{min(5, self.variables)}, got {self.clause_size}")

    def generate(self, rng: np.random.Generator) -> Puzzle:
        n, m, k = self.variables, self.clauses, self.clause_size
        planted = rng.random(n) < 0.5
        var = np.argsort(rng.random((m, n)), axis=1)[:, :k]
        sign = rng.random((m, k)) < 0.5
        dead = ~(sign == planted[var]).any(axis=1)  # clauses the planted assignment falsifies
        flip = rng.integers(k, size=m)
        rows = np.flatnonzero(dead)
        sign[rows, flip[rows]] = ~sign[rows, flip[rows]]
        clauses = [list(zip(vs, ss, strict=True)) for vs, ss in zip(var.tolist(), sign.tolist(), strict=True)]
        lines = "\n".join("(" + " OR ".join(_literal(v, s) for v, s in c) + ")" for c in clauses)
        names = ", ".join(f"x{v}" for v in range(1, n + 1))
        answer = ", ".join(f"x{v + 1}={int(b)}" for v, b in enumerate(planted.tolist()))
        example = ", ".join(f"x{v}={v % 2}" for v in range(1, min(n, 3) + 1)) + (", ..." if n > 3 else "")
        return Puzzle(
            PROMPT.format(names=names, clauses=lines, example=example),
            answer,
            {"variables": n, "clauses": [[[int(v), bool(s)] for v, s in c] for c in clauses]},
        )

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        n = int(task.meta["variables"])
        values = parse_assignment(answer, n)
        if isinstance(values, str):
            return Verdict(Status.NO_ANSWER, reason=values)
        clauses = task.meta["clauses"]
        false = [i for i, c in enumerate(clauses) if not any(values[v] == s for v, s in c)]
        if false:
            score = 1.0 - len(false) / len(clauses)
            return Verdict(
                Status.INCORRECT, score, reason=f"{len(false)} clause(s) false, e.g. clause {false[0] + 1}"
            )
        return Verdict(Status.CORRECT, 1.0, reason="every clause is satisfied")
