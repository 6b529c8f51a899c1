"""Knights and Knaves: knights always tell the truth, knaves always lie. Who is which?

``assay/KnightsKnaves-v0``. Each of ``people`` islanders makes one statement built from literals
("Bob is a knight", "I am a knave") joined by *and*, inclusive *or*, *if and only if*, or negated
("it is not the case that both ... and ...", "it is not the case that either ... or ...").

Uniqueness is guaranteed by a solver: all ``2**people`` assignments are evaluated at once as
bitsets (bit ``r`` of a mask is the truth value under assignment ``r``) and a puzzle is kept
only when exactly one assignment makes every knight's statement true and every knave's false.

Answer: ``<answer>Alice: knight, Bob: knave</answer>`` (every islander once, any order, any
case). The checker evaluates each statement under the proposed roles (exact constraint
checking); with a unique solution that accepts exactly the solution.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from assay.envs.logic.puzzle import Puzzle, PuzzleEnv, atom_masks
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["KnightsKnavesEnv", "evaluate_statement", "render_statement"]

NAMES = (
    "Alice", "Ben", "Carla", "David", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jack",
    "Kira", "Liam", "Maya", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Sam", "Tara",
)  # fmt: skip

OPS = ("lit", "and", "or", "iff", "nand", "nor")
"""Statement forms: one literal, a conjunction, a disjunction, a biconditional, and two negations."""

Literal = tuple[int, bool]  # (person, claims that person is a knight)
Statement = tuple[str, tuple[Literal, ...]]

PROMPT = (
    "On an island every inhabitant is either a knight, who always tells the truth, or a knave, "
    "who always lies. You meet {n} inhabitants: {names}.\n{lines}\n"
    "'or' is inclusive. Exactly one assignment of roles is consistent with these statements.\n"
    "Who is a knight and who is a knave? Put your final answer inside <answer></answer> tags "
    "as a comma-separated list of name: role, e.g. <answer>{example}</answer>."
)


def evaluate_statement(statement: Statement, knights: Sequence[bool]) -> bool:
    """The truth value of ``statement`` when ``knights[j]`` says whether person j is a knight."""
    op, lits = statement
    vals = [knights[p] == claim for p, claim in lits]
    if op == "lit":
        return vals[0]
    if op == "and":
        return all(vals)
    if op == "or":
        return any(vals)
    if op == "iff":
        return vals[0] == vals[1]
    if op == "nand":
        return not all(vals)
    if op == "nor":
        return not any(vals)
    raise ValueError(f"unknown statement form {op!r}")


def _mask(statement: Statement, masks: Sequence[int], full: int) -> int:
    op, lits = statement
    vals = [masks[p] if claim else masks[p] ^ full for p, claim in lits]
    if op == "lit":
        return vals[0]
    if op in ("and", "nand"):
        out = full
        for v in vals:
            out &= v
    elif op in ("or", "nor"):
        out = 0
        for v in vals:
            out |= v
    else:  # iff
        out = ~(vals[0] ^ vals[1]) & full
    return out ^ full if op in ("nand", "nor") else out


def _literal(speaker: int, lit: Literal, names: Sequence[str]) -> str:
    p, claim = lit
    role = "knight" if claim else "knave"
    return f"I am a {role}" if p == speaker else f"{names[p]} is a {role}"


def render_statement(speaker: int, statement: Statement, names: Sequence[str]) -> str:
    """The English sentence for ``statement`` said by ``speaker``."""
    op, lits = statement
    parts = [_literal(speaker, lit, names) for lit in lits]
    if op == "lit":
        text = parts[0]
    elif op == "and":
        text = " and ".join(parts)
    elif op == "or":
        text = " or ".join(parts)
    elif op == "iff":
        text = f"{parts[0]} if and only if {parts[1]}"
    elif op == "nand":
        text = "it is not the case that both " + " and ".join(parts)
    else:
        text = "it is not the case that either " + " or ".join(parts)
    return text[0].upper() + text[1:]


class KnightsKnavesEnv(PuzzleEnv):
    """Knights and Knaves with a unique solution; ``people``, ``max_literals``, ``forms`` knobs.

    Args:
        level: ``easy`` (2 people), ``medium`` (3), ``hard`` (4), ``expert`` (6).
        people: Number of islanders (2-10).
        max_literals: Literals in a compound statement (2-3; ``iff`` always has 2).
        forms: Statement forms to draw from, a subset of `OPS`.
        **kwargs: See `PuzzleEnv`.
    """

    family = "knights_knaves"
    LEVELS = {  # noqa: RUF012 - read-only table
        "easy": {"people": 2, "max_literals": 2, "forms": ("lit", "and", "or")},
        "medium": {"people": 3, "max_literals": 2, "forms": OPS},
        "hard": {"people": 4, "max_literals": 3, "forms": OPS},
        "expert": {"people": 6, "max_literals": 3, "forms": OPS},
    }

    def __init__(
        self,
        level: str | None = None,
        *,
        people: int | None = None,
        max_literals: int | None = None,
        forms: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        knobs = {"people": people, "max_literals": max_literals, "forms": tuple(forms) if forms else None}
        super().__init__(level, knobs=knobs, **kwargs)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        self.people, self.max_literals = int(cfg["people"]), int(cfg["max_literals"])
        self.forms = tuple(cfg["forms"])
        if not 2 <= self.people <= 10:
            raise ValueError(f"people must be in 2..10, got {self.people}")
        if not 2 <= self.max_literals <= 3:
            raise ValueError(f"max_literals must be 2 or 3, got {self.max_literals}")
        if not self.forms or set(self.forms) - set(OPS):
            raise ValueError(f"forms must be a non-empty subset of {OPS}, got {self.forms}")

    def _statement(self, u: list[float]) -> Statement:
        """A random statement from 9 uniform draws ``u``: form, size, people, claims."""
        n = self.people
        op = self.forms[int(u[0] * len(self.forms))]
        k = 1 if op == "lit" else 2 if op == "iff" else 2 + int(u[1] * (self.max_literals - 1))
        k = min(k, n)
        pool = list(range(n))
        for t in range(k):  # partial Fisher-Yates: k distinct people
            j = t + int(u[2 + t] * (n - t))
            pool[t], pool[j] = pool[j], pool[t]
        return op, tuple((pool[t], u[5 + t] < 0.5) for t in range(k))

    def generate(self, rng: np.random.Generator) -> Puzzle:
        n = self.people
        masks, full = atom_masks(n)
        names = [NAMES[int(j)] for j in rng.permutation(len(NAMES))[:n]]
        for _ in range(2_000):
            statements = []
            consistent = full
            draws = rng.random((n, 9)).tolist()
            for i in range(n):
                s = self._statement(draws[i])
                statements.append(s)
                consistent &= ~(masks[i] ^ _mask(s, masks, full)) & full
                if not consistent:
                    break
            if consistent and consistent & (consistent - 1) == 0:
                break
        else:  # pragma: no cover - the bound is far above what any level needs
            raise RuntimeError("no uniquely solvable Knights and Knaves puzzle found")
        r = consistent.bit_length() - 1
        knights = [bool(r >> j & 1) for j in range(n)]
        lines = "\n".join(
            f'{names[i]} says: "{render_statement(i, s, names)}."' for i, s in enumerate(statements)
        )
        answer = ", ".join(f"{names[j]}: {'knight' if knights[j] else 'knave'}" for j in range(n))
        example = ", ".join(f"{nm}: {'knight' if j % 2 == 0 else 'knave'}" for j, nm in enumerate(names))
        prompt = PROMPT.format(n=n, names=", ".join(names), lines=lines, example=example)
        return Puzzle(
            prompt,
            answer,
            {"names": names, "statements": [[op, [list(lit) for lit in lits]] for op, lits in statements]},
        )

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        names: list[str] = list(task.meta["names"])
        index = {nm.casefold(): j for j, nm in enumerate(names)}
        roles: dict[int, bool] = {}
        for m in _ROLE.finditer(answer):
            j = index.get(m.group(1).casefold())
            if j is None:
                return Verdict(Status.NO_ANSWER, reason=f"unknown name {m.group(1)!r}")
            role = m.group(2).casefold() == "knight"
            if roles.get(j, role) != role:
                return Verdict(Status.NO_ANSWER, reason=f"{names[j]} is given two roles")
            roles[j] = role
        missing = [names[j] for j in range(len(names)) if j not in roles]
        if missing:
            return Verdict(Status.NO_ANSWER, reason=f"no role given for {', '.join(missing)}")
        knights = [roles[j] for j in range(len(names))]
        for i, (op, lits) in enumerate(task.meta["statements"]):
            statement = (str(op), tuple((int(p), bool(c)) for p, c in lits))
            if evaluate_statement(statement, knights) != knights[i]:
                role = "knight" if knights[i] else "knave"
                return Verdict(
                    Status.INCORRECT, reason=f"{names[i]}'s statement contradicts {names[i]} being a {role}"
                )
        return Verdict(Status.CORRECT, 1.0, reason="every statement is consistent with the roles")


_ROLE = re.compile(r"([A-Za-z]+)\s*(?::|=|-|\bis\s+an?\b|\bis\b)?\s*\b(knight|knave)s?\b", re.IGNORECASE)
