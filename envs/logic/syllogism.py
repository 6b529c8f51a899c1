"""Syllogisms: does a categorical conclusion follow from a chain of premises?

``assay/Syllogism-v0``. Terms T0, T1, ..., Tk are linked by premises about consecutive terms
(``All``, ``No``, ``Some``, ``Some ... are not``, either way round) and the question asks about
a statement relating T0 and Tk. The answer (``yes``/``no``) is decided by model checking: with
t terms there are ``2**t`` regions of the Venn diagram, a model is the set of non-empty regions
(``2**(2**t)`` models), and the conclusion follows when it is true in every model of the
premises. Statements are read without existential import ("All A are B" does not say that any
A exists), as the prompt states. Each label is drawn with probability 1/2 from the valid and the
invalid forms of the chain.

Answer: ``yes`` or ``no``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

import numpy as np

from assay.envs.logic.puzzle import Puzzle, PuzzleEnv, sample
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["FORMS", "SyllogismEnv", "statement_models"]

FORMS = ("all", "no", "some", "some_not")

NOUNS = (
    "artists", "bakers", "cats", "dancers", "engineers", "farmers", "gardeners", "hikers",
    "inventors", "judges", "knights", "lawyers", "musicians", "nurses", "owls", "painters",
    "quilters", "runners", "sailors", "teachers", "umpires", "violinists", "writers", "zebras",
)  # fmt: skip

_HEAD = "Assume these premises are true:\n"
_MIDDLE = "\n\nDoes it follow necessarily that "
_TAIL = (
    "? Read 'All X are Y' and 'No X are Y' without assuming that any X exist; 'Some X are Y' "
    "means at least one X is a Y.\n"
    "Put your final answer inside <answer></answer> tags: <answer>yes</answer> or <answer>no</answer>."
)

Statement = tuple[str, int, int]  # (form, subject term, predicate term)


@lru_cache(maxsize=256)
def statement_models(terms: int, statement: Statement) -> int:
    """The bitset of models (bit m: regions in the binary expansion of m are non-empty) in which
    ``statement`` is true, for ``terms`` terms."""
    form, x, y = statement
    regions = 1 << terms
    region_ids = np.arange(regions)
    in_x, in_y = (region_ids >> x) & 1 == 1, (region_ids >> y) & 1 == 1
    sel = in_x & (in_y if form in ("no", "some") else ~in_y)
    region_mask = int(np.sum(1 << region_ids[sel].astype(np.uint64))) if sel.any() else 0
    models = np.arange(1 << regions, dtype=np.uint64)
    hit = (models & np.uint64(region_mask)) != 0
    true = ~hit if form in ("all", "no") else hit
    return int.from_bytes(np.packbits(true, bitorder="little").tobytes(), "little")


@lru_cache(maxsize=8)
def _forms(terms: int) -> tuple[list[tuple[Statement, ...]], list[tuple[Statement, ...]]]:
    """Every (premises..., conclusion) of a chain over ``terms`` terms, split into valid, invalid."""
    links = [[(f, i, i + 1) for f in FORMS] + [(f, i + 1, i) for f in FORMS] for i in range(terms - 1)]
    conclusions = [(f, 0, terms - 1) for f in FORMS] + [(f, terms - 1, 0) for f in FORMS]
    valid: list[tuple[Statement, ...]] = []
    invalid: list[tuple[Statement, ...]] = []

    def walk(i: int, chosen: list[Statement], models: int) -> None:
        if i == terms - 1:
            for c in conclusions:
                follows = models & ~statement_models(terms, c) == 0
                (valid if follows else invalid).append((*chosen, c))
            return
        for s in links[i]:
            walk(i + 1, [*chosen, s], models & statement_models(terms, s))

    walk(0, [], (1 << (1 << (1 << terms))) - 1)
    return valid, invalid


_WORDS = {
    "all": ("all ", " are "),
    "no": ("no ", " are "),
    "some": ("some ", " are "),
    "some_not": ("some ", " are not "),
}
"""How each form is said: the quantifier and the copula around the two terms."""


def _say(statement: Statement, names: Sequence[str]) -> str:
    quantifier, copula = _WORDS[statement[0]]
    return quantifier + names[statement[1]] + copula + names[statement[2]]


def _template(premises: tuple[Statement, ...], conclusion: Statement) -> tuple[str, Callable[[Any], Any]]:
    """The prompt with ``%s`` where names go, and a function from the term names to those names."""
    terms: list[int] = []
    for s in [*premises, conclusion]:
        terms += [s[1], s[2]]
    slots = ["%s"] * (len(premises) + 1)
    lines = "\n".join(f"{i}. {_say(s, slots).capitalize()}." for i, s in enumerate(premises, start=1))
    head, middle, tail = (text.replace("%", "%%") for text in (_HEAD, _MIDDLE, _TAIL))  # literal
    return head + lines + middle + _say(conclusion, slots) + tail, itemgetter(*terms)


Question = tuple[tuple[Statement, ...], Statement, str, Callable[[Any], Any]]
"""The premises in the order shown, the conclusion, the prompt with ``%s`` where names go, and a
function from the term names to the tuple of names in the order of the ``%s`` (`_template`)."""


class _Questions:
    """Every question of a chain over ``terms`` terms, picked by (label, form, premise order).

    A question's prompt template is built once and kept, up to `KEEP` of them; when there are no
    more than that (two premises: 512 forms in 2 orders) all are built up front, once per process.
    """

    KEEP = 4096

    def __init__(self, terms: int, shuffle: bool) -> None:
        self.terms, self.shuffle = terms, shuffle
        self.pools = _forms(terms)  # (conclusion follows, does not)
        order = tuple(range(terms - 1))
        self.orders = list(itertools.permutations(order)) if shuffle else [order]
        # question (form f, order o) of each label at [f * len(orders) + o], None until built
        self._kept: tuple[list[Question | None], ...] = tuple(
            [None] * (len(pool) * len(self.orders)) for pool in self.pools
        )
        self._count = 0
        if sum(map(len, self._kept)) <= self.KEEP:
            for label, kept in enumerate(self._kept):
                for slot in range(len(kept)):
                    self._build(label, slot)

    def __reduce__(self) -> tuple[Any, ...]:  # a pickled env carries the key, not the table
        return (_questions, (self.terms, self.shuffle))

    def pick(self, follows: bool, u_form: float, u_order: float) -> Question:
        """A valid (``follows``) or invalid question: form and premise order from two uniforms."""
        label = 0 if follows else 1
        kept = self._kept[label]
        slot = int(u_form * len(self.pools[label])) * len(self.orders) + int(u_order * len(self.orders))
        return kept[slot] or self._build(label, slot)

    def _build(self, label: int, slot: int) -> Question:
        form, order = divmod(slot, len(self.orders))
        chain = self.pools[label][form]
        premises = tuple([chain[i] for i in self.orders[order]])
        question = (premises, chain[-1], *_template(premises, chain[-1]))
        if self._count < self.KEEP:
            self._kept[label][slot] = question
            self._count += 1
        return question


@lru_cache(maxsize=8)
def _questions(terms: int, shuffle: bool) -> _Questions:
    return _Questions(terms, shuffle)


class SyllogismEnv(PuzzleEnv):
    """Categorical syllogisms and chains (yes/no), decided by exhaustive model checking.

    Args:
        level: ``easy``/``medium`` (two premises, three terms), ``hard`` (three premises).
        premises: Premises in the chain (2-3).
        **kwargs: See `PuzzleEnv`.
    """

    family = "syllogism"
    LEVELS = {  # noqa: RUF012 - read-only table
        "easy": {"premises": 2, "shuffle": False},
        "medium": {"premises": 2, "shuffle": True},
        "hard": {"premises": 3, "shuffle": True},
    }

    def __init__(
        self,
        level: str | None = None,
        *,
        premises: int | None = None,
        shuffle: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(level, knobs={"premises": premises, "shuffle": shuffle}, **kwargs)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        self.premises, self.shuffle = int(cfg["premises"]), bool(cfg["shuffle"])
        if not 2 <= self.premises <= 3:
            raise ValueError(f"premises must be 2 or 3, got {self.premises}")
        self._questions = _questions(self.premises + 1, self.shuffle)

    def generate(self, rng: np.random.Generator) -> Puzzle:
        terms = self.premises + 1
        u = rng.random(3 + terms).tolist()
        follows = u[0] < 0.5
        premises, conclusion, template, slots = self._questions.pick(follows, u[1], u[2])
        names = sample(NOUNS, terms, u[3:])
        prompt = template % slots(names)
        meta = {"terms": terms, "names": names, "premises": premises, "conclusion": conclusion}
        return Puzzle(prompt, "yes" if follows else "no", meta)

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        return check_yes_no(answer, task)


def check_yes_no(answer: str, task: Task) -> Verdict:
    """A yes/no answer against ``task.answer``."""
    said = answer.strip().strip(".!*").strip().casefold()
    if said not in ("yes", "no"):
        return Verdict(Status.NO_ANSWER, reason="the answer must be yes or no")
    if said == task.answer:
        return Verdict(Status.CORRECT, 1.0, said, reason="right")
    return Verdict(Status.INCORRECT, 0.0, said, reason=f"the answer is {task.answer}")
