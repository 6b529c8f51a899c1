"""Propositional entailment: do the premises logically imply the conclusion?

``assay/Entailment-v0``. Premises and a conclusion are random formulas over ``atoms``
propositional letters with not, and, or, implies, iff. The label is decided by a truth table
over all ``2**atoms`` assignments (bitsets, see `assay.envs.logic.puzzle.atom_masks`): the
conclusion follows when it is true under every assignment that makes all premises true. Premises
are always jointly satisfiable (so "yes" never comes from a contradiction) and conclusions are
never tautologies; the label is drawn yes/no with probability 1/2 where the random draws allow.

Answer: ``yes`` or ``no``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from assay.envs.logic.puzzle import Puzzle, PuzzleEnv, atom_masks
from assay.envs.logic.syllogism import check_yes_no
from assay.verifiers.base import Task, Verdict

__all__ = ["EntailmentEnv", "evaluate_formula", "render_formula"]

LETTERS = "pqrstuvw"
BINARY = {"and": "∧", "or": "∨", "implies": "→", "iff": "↔"}

PROMPT = (
    "Premises:\n{premises}\n\nConclusion: {conclusion}\n\n"
    "Here ¬ is not, ∧ is and, ∨ is (inclusive) or, → is implies and ↔ is if and only if. Does the "
    "conclusion follow logically from the premises, that is, is it true under every assignment "
    "of truth values that makes all the premises true?\n"
    "Put your final answer inside <answer></answer> tags: <answer>yes</answer> or <answer>no</answer>."
)

Formula = tuple[Any, ...]  # ("atom", j) | ("not", f) | (op, f, g)


def evaluate_formula(f: Sequence[Any], values: Sequence[bool]) -> bool:
    """The truth value of formula ``f`` when atom j has value ``values[j]``."""
    op = f[0]
    if op == "atom":
        return bool(values[f[1]])
    if op == "not":
        return not evaluate_formula(f[1], values)
    a, b = evaluate_formula(f[1], values), evaluate_formula(f[2], values)
    return {"and": a and b, "or": a or b, "implies": (not a) or b, "iff": a == b}[op]


def _mask(f: Formula, masks: Sequence[int], full: int) -> int:
    op = f[0]
    if op == "atom":
        return masks[f[1]]
    if op == "not":
        return _mask(f[1], masks, full) ^ full
    a, b = _mask(f[1], masks, full), _mask(f[2], masks, full)
    if op == "and":
        return a & b
    if op == "or":
        return a | b
    if op == "implies":
        return (a ^ full) | b
    return (a ^ b) ^ full


def render_formula(f: Sequence[Any], top: bool = True) -> str:
    """``f`` in symbols, with parentheses around every inner binary formula."""
    op = f[0]
    if op == "atom":
        return LETTERS[f[1]]
    if op == "not":
        return "¬" + render_formula(f[1], top=False)
    text = f"{render_formula(f[1], False)} {BINARY[op]} {render_formula(f[2], False)}"
    return text if top else f"({text})"


class EntailmentEnv(PuzzleEnv):
    """Propositional entailment (yes/no) decided by a truth table.

    Args:
        level: ``easy`` (2 atoms, 1 premise), ``medium`` (3 atoms, 2 premises), ``hard``
            (4 atoms, 3 premises, deeper formulas).
        atoms: Propositional letters (2-8).
        premises: Number of premises (1-6).
        depth: Largest nesting depth of a formula (1-3).
        **kwargs: See `PuzzleEnv`.
    """

    family = "entailment"
    LEVELS = {  # noqa: RUF012 - read-only table
        "easy": {"atoms": 2, "premises": 1, "depth": 1},
        "medium": {"atoms": 3, "premises": 2, "depth": 2},
        "hard": {"atoms": 4, "premises": 3, "depth": 2},
        "expert": {"atoms": 5, "premises": 4, "depth": 3},
    }

    def __init__(
        self,
        level: str | None = None,
        *,
        atoms: int | None = None,
        premises: int | None = None,
        depth: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(level, knobs={"atoms": atoms, "premises": premises, "depth": depth}, **kwargs)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        self.atoms, self.premises, self.depth = int(cfg["atoms"]), int(cfg["premises"]), int(cfg["depth"])
        if not 2 <= self.atoms <= len(LETTERS):
            raise ValueError(f"atoms must be in 2..{len(LETTERS)}, got {self.atoms}")
        if not 1 <= self.premises <= 6 or not 1 <= self.depth <= 3:
            raise ValueError("premises must be in 1..6 and depth in 1..3")

    def _formula(self, u: list[float], depth: int) -> Formula:
        """A random formula of depth <= ``depth``, consuming draws from the end of ``u``."""
        x = u.pop()
        if depth == 0 or x < 0.25:
            atom: Formula = ("atom", int(u.pop() * self.atoms))
            return ("not", atom) if u.pop() < 0.3 else atom
        if x < 0.35:
            return ("not", self._formula(u, depth - 1))
        op = ("and", "or", "implies", "iff")[int(u.pop() * 4)]
        return (op, self._formula(u, depth - 1), self._formula(u, depth - 1))

    def generate(self, rng: np.random.Generator) -> Puzzle:
        masks, full = atom_masks(self.atoms)
        want = bool(rng.random() < 0.5)
        chosen: tuple[list[Formula], Formula, bool] | None = None
        for _ in range(200):
            u = rng.random(64 * (self.premises + 1) * 2**self.depth).tolist()
            premises = [self._formula(u, self.depth) for _ in range(self.premises)]
            both = full
            for p in premises:
                both &= _mask(p, masks, full)
            if not both:
                continue
            for _ in range(8):
                if len(u) < 32 * 2**self.depth:
                    break
                c = self._formula(u, self.depth)
                cm = _mask(c, masks, full)
                if cm == full or cm == 0:
                    continue
                follows = both & (cm ^ full) == 0
                if chosen is None:
                    chosen = (premises, c, follows)
                if follows == want:
                    chosen = (premises, c, follows)
                    break
            if chosen is not None and chosen[2] == want:
                break
        if chosen is None:  # pragma: no cover - the loop finds a draw long before its bound
            raise RuntimeError("no entailment puzzle found")
        premises, conclusion, follows = chosen
        lines = "\n".join(f"{i + 1}. {render_formula(p)}" for i, p in enumerate(premises))
        prompt = PROMPT.format(premises=lines, conclusion=render_formula(conclusion))
        meta = {"atoms": self.atoms, "premises": premises, "conclusion": conclusion}
        return Puzzle(prompt, "yes" if follows else "no", meta)

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        return check_yes_no(answer, task)
