"""`PuzzleEnv`: the base of the procedural logic families (Sudoku, Zebra, SAT, ...).

A family subclasses `PuzzleEnv` and supplies three things:

- ``LEVELS``: named difficulty levels, each a dict of knob values (ordered easy to hard);
- ``configure(cfg)``: validate the knobs and store them as attributes;
- ``generate(rng) -> Puzzle``: build one puzzle from a `numpy.random.Generator`;
- ``check(answer, task) -> Verdict``: judge the text inside ``<answer>...</answer>`` by exact
  constraint checking (every valid answer is accepted, not only the stored one).

Determinism. ``task_at(index)`` draws from the generator
``Generator(Philox(SeedSequence(salt, spawn_key=(index,))))`` (`puzzle_rng`; `SeedStream` builds
it in a fraction of numpy's time) where ``salt`` is a hash of the family and its knob values: the
same (config, index) gives the same puzzle in every process and on every machine, and
neighbouring indices (or seeds, which `TextEnv.reset` turns into indices) share no stream.
Nothing here uses Python's ``hash`` or iterates over a set of strings.

Speed. Most puzzles take tens of microseconds, so per-call overheads matter: a family draws its
numbers in one ``rng.random(k)`` call (or from `Draws`) and makes its choices in plain Python,
prebuilds in ``configure`` what does not depend on the draws, and assembles the prompt from
prebuilt pieces (``benchmarks/logic.py`` measures it beside reasoning-gym).

Task ids are ``<family>/<level>/<index>`` for a named level and ``<family>/c<hash>/<index>``
for a custom knob setting; `task_by_id` rebuilds any named-level task whatever the env's current
level, so a task id is enough to replay a puzzle.

Difficulty can move during training: `set_level` switches the knobs to another named level (the
curriculum wrappers in `assay.envs.curriculum` call it, also through a vector env's ``call``).

Partial credit is off by default. With ``partial_credit=True`` a family that defines it (see its
docstring) scores a well-formed wrong answer in ``(0, 1)`` as ``Verdict(INCORRECT, score=...)``
and the env's rubric becomes `PARTIAL` (the score of a CORRECT or INCORRECT verdict), so the
status still says "wrong".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np

from assay.envs.base import SingleTurnEnv
from assay.envs.logic.seeding import SeedStream, puzzle_rng
from assay.errors import UnknownTask
from assay.rewards.base import CORRECTNESS, Rubric, Term
from assay.verifiers.base import Status, Task, Verdict

__all__ = [
    "MAX_ANSWER_CHARS",
    "PARTIAL",
    "Draws",
    "Puzzle",
    "PuzzleEnv",
    "PuzzleVerifier",
    "atom_masks",
    "extract_answer",
    "puzzle_rng",
    "sample",
]

MAX_ANSWER_CHARS = 20_000
"""An ``<answer>`` longer than this is NO_ANSWER without parsing."""

T = TypeVar("T")

ANSWER_FORMAT = "Put your final answer inside <answer></answer> tags"


def _partial(completion: str, task: Task, verdict: Verdict) -> float:
    return verdict.score if verdict.status in (Status.CORRECT, Status.INCORRECT) else 0.0


PARTIAL = Rubric([Term("score", _partial)])
"""The verdict's score for a judged answer (right or partly right), 0 otherwise. Range [0, 1]."""


def extract_answer(completion: str) -> str | None:
    """The text of the last ``<answer>...</answer>`` span (stripped), or None."""
    end = completion.rfind("</answer>")
    if end == -1:
        return None
    start = completion.rfind("<answer>", 0, end)
    if start == -1:
        return None
    return completion[start + 8 : end].strip()


def sample(items: Sequence[T], k: int, u: Sequence[float]) -> list[T]:
    """``k`` distinct elements of ``items`` in random order, from ``k`` uniform draws ``u``.

    A partial Fisher-Yates shuffle in plain Python: with the draws from one ``rng.random(k)``
    call this is several times cheaper than ``rng.choice(items, k, replace=False)``.
    """
    pool = list(items)
    n = len(pool)
    for t in range(k):
        j = t + int(u[t] * (n - t))
        pool[t], pool[j] = pool[j], pool[t]
    return pool[:k]


class Draws:
    """Uniform numbers in ``[0, 1)`` for one puzzle, served from blocks of ``rng.random(block)``.

    Each numpy call costs about a microsecond however few numbers it returns, so a generator
    that makes many small choices draws them from here: one ``rng.random(block)`` call (refilled
    with another when used up) and plain-Python arithmetic per choice. The numbers are the
    generator's own, in order, so a puzzle stays a function of its (config, index).

    An integer choice is ``int(u * n)``: with 53-bit uniforms its bias is below ``n / 2**53``.
    """

    __slots__ = ("_block", "_next", "_rng", "_size")

    def __init__(self, rng: np.random.Generator, block: int = 16) -> None:
        self._rng, self._size = rng, block
        self._block: list[float] = rng.random(block).tolist()
        self._next = 0

    def uniform(self) -> float:
        """The next number in ``[0, 1)``."""
        i = self._next
        if i == len(self._block):
            self._block, i = self._rng.random(self._size).tolist(), 0
        self._next = i + 1
        return self._block[i]

    def below(self, n: int) -> int:
        """An integer in ``[0, n)``."""
        return int(self.uniform() * n)

    def between(self, low: int, high: int) -> int:
        """An integer in ``[low, high]`` (both ends included)."""
        return low + int(self.uniform() * (high - low + 1))

    def take(self, k: int) -> list[float]:
        """The next ``k`` numbers."""
        i = self._next
        if i + k > len(self._block):
            self._block, i = self._block[i:] + self._rng.random(max(k, self._size)).tolist(), 0
        self._next = i + k
        return self._block[i : i + k]


@lru_cache(maxsize=32)
def atom_masks(n: int) -> tuple[tuple[int, ...], int]:
    """Truth tables of ``n`` boolean atoms as bitsets, and the all-true bitset.

    Bit ``r`` of ``masks[j]`` is atom j's value under assignment ``r`` (atom j is bit j of r), so
    ``&``, ``|`` and ``^ full`` evaluate a formula under all ``2**n`` assignments at once.
    """
    size = 1 << n
    masks = []
    for j in range(n):
        m = 0
        for r in range(size):
            if r >> j & 1:
                m |= 1 << r
        masks.append(m)
    return tuple(masks), (1 << size) - 1


class Puzzle(NamedTuple):
    """What a family's ``generate`` returns: the prompt, a reference answer, and checker data.

    A named tuple (immutable, and cheaper to build than a frozen dataclass).
    """

    prompt: str
    answer: str
    meta: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PuzzleVerifier:
    """Extract the ``<answer>`` and hand it to the family's checker.

    A missing or over-long answer is NO_ANSWER with a reason. Without ``partial_credit`` an
    INCORRECT verdict's score is forced to 0.
    """

    check: Any
    partial_credit: bool = False

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        found = extract_answer(completion)
        if found is None:
            return Verdict(Status.NO_ANSWER, reason="no <answer>...</answer> found")
        if len(found) > MAX_ANSWER_CHARS:
            return Verdict(Status.NO_ANSWER, reason=f"answer longer than {MAX_ANSWER_CHARS} chars")
        verdict: Verdict = self.check(found, task)
        if verdict.extracted is None:
            verdict = Verdict(verdict.status, verdict.score, found[:500], verdict.reason, verdict.details)
        if verdict.status is Status.INCORRECT and verdict.score and not self.partial_credit:
            verdict = Verdict(verdict.status, 0.0, verdict.extracted, verdict.reason, verdict.details)
        return verdict


class PuzzleEnv(SingleTurnEnv):
    """A procedural logic puzzle family (see the module docstring for what a family supplies).

    Args:
        level: A named level of ``LEVELS``; explicit knob arguments override its values.
        partial_credit: Score well-formed wrong answers in ``(0, 1)`` where the family defines
            it (`PARTIAL` rubric). Off by default.
        **kwargs: Passed to `SingleTurnEnv` (``max_chars``, ``system_prompt``, ``rubric``...).
    """

    family: ClassVar[str] = ""
    LEVELS: ClassVar[dict[str, dict[str, Any]]] = {}
    DEFAULT_LEVEL: ClassVar[str] = "medium"
    HAS_PARTIAL_CREDIT: ClassVar[bool] = False

    def __init__(
        self,
        level: str | None = None,
        *,
        knobs: Mapping[str, Any] | None = None,
        partial_credit: bool = False,
        **kwargs: Any,
    ) -> None:
        if partial_credit and not self.HAS_PARTIAL_CREDIT:
            raise ValueError(f"{type(self).__name__} defines no partial credit")
        kwargs.setdefault("verifier", PuzzleVerifier(type(self).check, partial_credit))
        kwargs.setdefault("rubric", PARTIAL if partial_credit else CORRECTNESS)
        super().__init__(**kwargs)
        self.partial_credit = partial_credit
        self.level = ""
        self.config: dict[str, Any] = {}
        self._salt = 0
        self._seeds = SeedStream(0)
        self._tag = ""
        self._apply(level or self.DEFAULT_LEVEL, dict(knobs or {}))

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def level_names(cls) -> list[str]:
        """The named levels, easiest first."""
        return list(cls.LEVELS)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        """Validate the knob values in ``cfg`` and store them as attributes."""
        raise NotImplementedError

    def set_level(self, level: str | int) -> str:
        """Switch to a named level (a name or its position in `level_names`); returns its name.

        The level's own knob values replace any overrides given to the constructor.
        """
        if isinstance(level, int | np.integer) and not isinstance(level, bool):
            names = self.level_names()
            level = names[min(max(int(level), 0), len(names) - 1)]
        self._apply(str(level), {})
        return self.level

    def _apply(self, level: str, overrides: dict[str, Any]) -> None:
        if level not in self.LEVELS:
            raise ValueError(f"level must be one of {self.level_names()}, got {level!r}")
        overrides = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(overrides) - set(self.LEVELS[level])
        if unknown:
            raise ValueError(f"unknown knobs {sorted(unknown)} for {type(self).__name__}")
        cfg = {**self.LEVELS[level], **overrides}
        self.configure(cfg)
        self.level, self.config = level, cfg
        custom = cfg != self.LEVELS[level]
        self._tag = "c" + _digest(self.family, cfg)[:8] if custom else level
        self._salt = int(_digest(self.family, cfg)[:8], 16)
        self._seeds = SeedStream(self._salt)

    def _tag_config(self, tag: str) -> dict[str, Any] | None:
        if tag == self._tag:
            return self.config
        return dict(self.LEVELS[tag]) if tag in self.LEVELS else None

    # -- tasks ---------------------------------------------------------------------------

    def generate(self, rng: np.random.Generator) -> Puzzle:
        """One puzzle drawn with ``rng``."""
        raise NotImplementedError

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        """Judge ``answer`` (the text inside the answer tags) against ``task``'s constraints."""
        raise NotImplementedError

    def task_at(self, index: int) -> Task:
        prompt, answer, meta = self.generate(self._seeds(index))
        # a read-only view of the fresh meta dict (Task would otherwise copy it)
        return Task(f"{self.family}/{self._tag}/{index}", prompt, answer, MappingProxyType(meta))

    def task_by_id(self, task_id: str) -> Task:
        head, _, tail = task_id.rpartition("/")
        family, _, tag = head.partition("/")
        cfg = self._tag_config(tag) if family == self.family and tail.isdigit() else None
        if cfg is None:
            raise UnknownTask(f"{type(self).__name__} has no task with id {task_id!r}")
        if tag == self._tag:
            return self.task_at(int(tail))
        saved = (self.level, dict(self.config))
        try:
            self._apply(tag, {})
            return self.task_at(int(tail))
        finally:
            self._apply(saved[0], {k: v for k, v in saved[1].items() if v != self.LEVELS[saved[0]].get(k)})

    def gold(self, task: Task) -> str:
        return f"<answer>{task.answer}</answer>"


def _digest(family: str, cfg: Mapping[str, Any]) -> str:
    text = family + "|" + "|".join(f"{k}={cfg[k]!r}" for k in sorted(cfg))
    return hashlib.sha256(text.encode()).hexdigest()
