"""Zebra (Einstein) puzzles: deduce who lives where from a list of clues.

``assay/Zebra-v0``. ``houses`` houses in a row (numbered 1.. from the left) each have one value
of each of ``attributes`` attributes (colour, nationality, pet, ...), every value used once.

Uniqueness is guaranteed by a solver. An attribute's arrangement is one of the ``houses!``
permutations; a unary clue filters one attribute's permutations and a binary clue is a boolean
compatibility matrix between two attributes' permutations; `count_solutions` counts consistent
combinations by backtracking over attributes (numpy row intersections), up to a limit. Clues
true of a hidden solution are added until exactly one solution remains, then each clue is
dropped again if the solution stays unique without it.

Answer: one line per house, ``<house>: <value>, <value>, ...`` with the values in the order of
the attributes listed in the prompt (any line order, any case). The checker tests that the
table is a valid arrangement and satisfies every clue (exact constraint checking); partial
credit (opt-in) is the fraction of cells that match the unique solution.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from assay.envs.logic.puzzle import Puzzle, PuzzleEnv
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["CLUE_KINDS", "ZebraEnv", "clue_holds", "count_solutions"]

ATTRIBUTES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # (name, phrase template for "the person who ___", values)
    ("colour", "lives in the {} house", ("red", "green", "blue", "yellow", "white", "black")),
    ("nationality", "is the {}", ("Brit", "Swede", "Dane", "German", "Norwegian", "Spaniard")),
    ("drink", "drinks {}", ("tea", "coffee", "milk", "water", "juice", "cocoa")),
    ("pet", "keeps a {}", ("dog", "cat", "bird", "horse", "fish", "rabbit")),
    ("hobby", "enjoys {}", ("chess", "painting", "hiking", "cooking", "reading", "gardening")),
    ("car", "drives a {}", ("Ford", "Toyota", "Volvo", "Honda", "Fiat", "Tesla")),
)

CLUE_KINDS = ("at", "not_at", "same", "not_same", "left", "next", "before")
"""at: in house h; same: same house; left: directly left of; next: neighbours; before: somewhere left."""

_FEW = 24
"""Once at most this many solutions remain, generation tracks them explicitly."""

Item = tuple[int, int]  # (attribute, value)
Clue = tuple[str, Item, Item | int]  # (kind, item, other item or a house index)

PROMPT = (
    "{n} houses stand in a row, numbered 1 to {n} from left to right. Each house has one "
    "{attr_list}, and no two houses share any of them. The values are:\n{values}\n\n"
    "Clues:\n{clues}\n\n"
    "Exactly one arrangement satisfies all the clues. Put your final answer inside "
    "<answer></answer> tags, one line per house: the house number, a colon, then its "
    "{attr_list} in that order, e.g.\n<answer>\n{example}\n...\n</answer>"
)


def clue_holds(clue: Clue, houses: Sequence[Sequence[int]]) -> bool:
    """Whether ``clue`` holds when ``houses[a][v]`` is the house (0-based) of value v of attribute a."""
    kind, (a, v), other = clue
    h = houses[a][v]
    if kind == "at":
        return h == other
    if kind == "not_at":
        return h != other
    assert isinstance(other, tuple)
    g = houses[other[0]][other[1]]
    return _RELATIONS[kind](h, g)


_RELATIONS: dict[str, Callable[[int, int], bool]] = {
    "same": lambda h, g: h == g,
    "not_same": lambda h, g: h != g,
    "left": lambda h, g: h + 1 == g,
    "next": lambda h, g: abs(h - g) == 1,
    "before": lambda h, g: h < g,
}


@lru_cache(maxsize=8)
def _perms(n: int) -> tuple[list[tuple[int, ...]], list[list[int]]]:
    """All permutations of range(n) (``perms[p][v]`` is the house of value v) and, as bitsets
    over permutation indices, ``at[v][h]``: the permutations that put value v in house h."""
    perms = list(itertools.permutations(range(n)))
    at = [[0] * n for _ in range(n)]
    for p, perm in enumerate(perms):
        for v, h in enumerate(perm):
            at[v][h] |= 1 << p
    return perms, at


def count_solutions(n: int, m: int, clues: Sequence[Clue], limit: int = 2) -> int:
    """Arrangements of ``m`` attributes over ``n`` houses satisfying ``clues``, up to ``limit``."""
    return len(solve(n, m, clues, limit))


def solve(n: int, m: int, clues: Sequence[Clue], limit: int = 2) -> list[list[tuple[int, ...]]]:
    """Up to ``limit`` arrangements satisfying ``clues`` (each ``houses[a][v]``: the house of
    value v of attribute a).

    Each attribute's domain is a bitset over the ``n!`` permutations. A clue between attributes
    a and b becomes two arcs, ``(a, v, b, table)`` with ``table[h]`` the bitset of b's
    permutations allowed when a's value v is in house h (and the mirror arc). The search fixes
    one attribute at a time (smallest domain first) and filters every other attribute's domain
    through the fixed one's arcs (forward checking), so each clue is checked once both of its
    attributes are fixed.
    """
    perms, at = _perms(n)
    full = (1 << len(perms)) - 1
    doms = [full] * m
    arcs: list[tuple[int, int, int, list[int]]] = []
    for kind, (a, v), other in clues:
        if kind == "at" or kind == "not_at":
            assert isinstance(other, int)
            doms[a] &= at[v][other] if kind == "at" else full ^ at[v][other]
            continue
        assert isinstance(other, tuple)
        b, w = other
        same, forward, backward = _tables(n, kind, v, w)
        if a == b:
            doms[a] &= same
        else:
            arcs.append((a, v, b, forward))
            arcs.append((b, w, a, backward))
    out: list[list[tuple[int, int, list[int]]]] = [[] for _ in range(m)]
    for a, v, b, table in arcs:
        out[a].append((v, b, table))
    found: list[list[tuple[int, ...]]] = []

    def fix(doms: list[int], k: int) -> bool:
        """Filter every attribute through the arcs of k, whose domain is one permutation."""
        perm = perms[doms[k].bit_length() - 1]
        for v, b, table in out[k]:
            nb = doms[b] & table[perm[v]]
            if not nb:
                return False
            doms[b] = nb
        return True

    def search(doms: list[int], todo: list[int]) -> bool:
        while True:  # fix the attributes that are down to one permutation
            singles = [j for j in todo if doms[j] & (doms[j] - 1) == 0]
            if not singles:
                break
            for k in singles:
                if not fix(doms, k):
                    return False
            todo = [j for j in todo if j not in singles]
        if not todo:  # every attribute fixed, every arc checked when its later end was fixed
            found.append([perms[d.bit_length() - 1] for d in doms])
            return len(found) >= limit
        k = min(todo, key=lambda j: doms[j].bit_count())  # branch on the smallest domain
        d = doms[k]
        while d:
            low = d & -d
            d ^= low
            nxt = list(doms)
            nxt[k] = low
            if search(nxt, todo):
                return True
        return False

    if all(doms):
        search(list(doms), list(range(m)))
    return found


@lru_cache(maxsize=4096)
def _tables(n: int, kind: str, v: int, w: int) -> tuple[int, list[int], list[int]]:
    """For a clue ``kind`` between value v (of one attribute) and value w (of another, or the same):
    the same-attribute permutation mask, and the arc tables in both directions."""
    _, at = _perms(n)
    rel = _RELATIONS[kind]
    same = 0
    for h in range(n):
        for g in range(n):
            if rel(h, g):
                same |= at[v][h] & at[w][g]
    forward = [_union(at[w][g] for g in range(n) if rel(h, g)) for h in range(n)]
    backward = [_union(at[v][h] for h in range(n) if rel(h, g)) for g in range(n)]
    return same, forward, backward


def _union(masks: Any) -> int:
    out = 0
    for x in masks:
        out |= x
    return out


class ZebraEnv(PuzzleEnv):
    """Zebra puzzles with a unique solution; ``houses``, ``attributes`` and clue ``kinds`` knobs.

    Args:
        level: ``easy`` (3 houses x 3 attributes), ``medium`` (4x4), ``hard`` (5x5),
            ``expert`` (6x6).
        houses: Houses in the row (2-6).
        attributes: Attributes per house (2-6).
        kinds: Clue kinds to draw from, a subset of `CLUE_KINDS`.
        partial_credit: See the module docstring.
        **kwargs: See `PuzzleEnv`.
    """

    family = "zebra"
    HAS_PARTIAL_CREDIT = True
    LEVELS = {  # noqa: RUF012 - read-only table
        "easy": {"houses": 3, "attributes": 3, "kinds": CLUE_KINDS},
        "medium": {"houses": 4, "attributes": 4, "kinds": CLUE_KINDS},
        "hard": {"houses": 5, "attributes": 5, "kinds": CLUE_KINDS},
        "expert": {"houses": 6, "attributes": 6, "kinds": CLUE_KINDS},
    }

    def __init__(
        self,
        level: str | None = None,
        *,
        houses: int | None = None,
        attributes: int | None = None,
        kinds: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        knobs = {"houses": houses, "attributes": attributes, "kinds": tuple(kinds) if kinds else None}
        super().__init__(level, knobs=knobs, **kwargs)

    def configure(self, cfg: Mapping[str, Any]) -> None:
        self.houses, self.attributes = int(cfg["houses"]), int(cfg["attributes"])
        self.kinds = tuple(cfg["kinds"])
        if not 2 <= self.houses <= 6:
            raise ValueError(f"houses must be in 2..6, got {self.houses}")
        if not 2 <= self.attributes <= len(ATTRIBUTES):
            raise ValueError(f"attributes must be in 2..{len(ATTRIBUTES)}, got {self.attributes}")
        if not self.kinds or set(self.kinds) - set(CLUE_KINDS):
            raise ValueError(f"kinds must be a non-empty subset of {CLUE_KINDS}, got {self.kinds}")

    def _clue(self, u: list[float], houses: list[list[int]]) -> Clue:
        n, m = self.houses, self.attributes
        kind = self.kinds[int(u[0] * len(self.kinds))]
        a, v = int(u[1] * m), int(u[2] * n)
        h = houses[a][v]
        if kind == "at":
            return kind, (a, v), h
        if kind == "not_at":
            return kind, (a, v), (h + 1 + int(u[3] * (n - 1))) % n
        b = int(u[4] * m)
        if b == a and kind in ("same", "not_same"):  # same attribute: trivially true or false
            b = (a + 1) % m
        inverse = {hh: vv for vv, hh in enumerate(houses[b])}
        if kind == "same":
            return kind, (a, v), (b, inverse[h])
        if kind == "left" and h + 1 < n:
            return kind, (a, v), (b, inverse[h + 1])
        if kind == "next":
            options = [x for x in (h - 1, h + 1) if 0 <= x < n]
            return kind, (a, v), (b, inverse[options[int(u[3] * len(options))]])
        if kind == "before" and h + 1 < n:
            return kind, (a, v), (b, inverse[h + 1 + int(u[3] * (n - 1 - h))])
        if kind == "not_same" or h + 1 >= n:
            if b == a:
                b = (a + 1) % m
                inverse = {hh: vv for vv, hh in enumerate(houses[b])}
            return "not_same", (a, v), (b, (inverse[h] + 1 + int(u[3] * (n - 1))) % n)
        raise AssertionError(kind)  # pragma: no cover

    def generate(self, rng: np.random.Generator) -> Puzzle:
        n, m = self.houses, self.attributes
        houses = [[int(x) for x in rng.permutation(n)] for _ in range(m)]  # houses[a][v] = house
        picks = [sorted(int(x) for x in rng.permutation(len(ATTRIBUTES[a][2]))[:n]) for a in range(m)]
        values = [[ATTRIBUTES[a][2][i] for i in picks[a]] for a in range(m)]
        clues: list[Clue] = []
        blind = 0  # clues added before the solutions were tracked (may be redundant)
        left: list[list[tuple[int, ...]]] | None = None  # every remaining solution, once few
        draws = rng.random((8 * n * m, 5)).tolist()
        k = 0
        while True:
            if k == len(draws):
                draws += rng.random((8 * n * m, 5)).tolist()
            clue = self._clue(draws[k], houses)
            k += 1
            if clue in clues:
                continue
            if left is not None:  # filter the known solutions; skip clues that rule none out
                keep = [sol for sol in left if clue_holds(clue, sol)]
                if len(keep) == len(left):
                    continue
                clues.append(clue)
                left = keep
            else:
                clues.append(clue)
                blind += 1
                if len(clues) >= n * m // 2:
                    found = solve(n, m, clues, limit=_FEW)
                    left = found if len(found) < _FEW else None
            if left is not None and len(left) == 1:
                break
        # drop unneeded clues among the blind ones (each later clue ruled out a solution when added)
        for clue in [clues[i] for i in rng.permutation(blind).tolist()]:
            trial = [c for c in clues if c != clue]
            if count_solutions(n, m, trial) == 1:
                clues = trial
        order = rng.permutation(len(clues)).tolist()
        clues = [clues[i] for i in order]
        return self._puzzle(houses, values, clues)

    def _puzzle(self, houses: list[list[int]], values: list[list[str]], clues: list[Clue]) -> Puzzle:
        n, m = self.houses, self.attributes
        names = [ATTRIBUTES[a][0] for a in range(m)]
        at = [[values[a][houses[a].index(h)] for a in range(m)] for h in range(n)]
        answer = "\n".join(f"{h + 1}: " + ", ".join(at[h]) for h in range(n))
        attr_list = ", ".join(names[:-1]) + " and " + names[-1]
        value_lines = "\n".join(f"- {names[a]}: {', '.join(values[a])}" for a in range(m))
        clue_lines = "\n".join(f"{i + 1}. {_say(c, values)}" for i, c in enumerate(clues))
        example = "1: " + ", ".join(values[a][0] for a in range(m))
        prompt = PROMPT.format(
            n=n, attr_list=attr_list, values=value_lines, clues=clue_lines, example=example
        )
        meta = {
            "values": values,
            "clues": [[k, list(item), list(o) if isinstance(o, tuple) else o] for k, item, o in clues],
            "solution": houses,
        }
        return Puzzle(prompt, answer, meta)

    @staticmethod
    def check(answer: str, task: Task) -> Verdict:
        values: list[list[str]] = [list(v) for v in task.meta["values"]]
        m, n = len(values), len(values[0])
        lookup = [{v.casefold(): i for i, v in enumerate(vals)} for vals in values]
        houses = [[-1] * n for _ in range(m)]
        seen: set[int] = set()
        for line in answer.splitlines():
            line = line.strip()
            if not line:
                continue
            match = _LINE.fullmatch(line)
            if match is None:
                return Verdict(Status.NO_ANSWER, reason=f"cannot read line {line[:80]!r}")
            h = int(match.group(1)) - 1
            cells = [c.strip().casefold() for c in match.group(2).split(",")]
            if not 0 <= h < n or h in seen:
                return Verdict(Status.NO_ANSWER, reason=f"bad or repeated house number {h + 1}")
            if len(cells) != m:
                return Verdict(
                    Status.NO_ANSWER, reason=f"house {h + 1} has {len(cells)} values, expected {m}"
                )
            seen.add(h)
            for a, cell in enumerate(cells):
                v = lookup[a].get(cell)
                if v is None:
                    return Verdict(Status.NO_ANSWER, reason=f"{cell!r} is not a value of attribute {a + 1}")
                if houses[a][v] != -1:
                    return Verdict(Status.INCORRECT, reason=f"{values[a][v]} is used twice")
                houses[a][v] = h
        if len(seen) != n:
            return Verdict(Status.NO_ANSWER, reason=f"expected {n} houses, got {len(seen)}")
        solution = task.meta["solution"]
        right = sum(houses[a][v] == solution[a][v] for a in range(m) for v in range(n))
        for i, (kind, item, other) in enumerate(task.meta["clues"]):
            clue = (
                str(kind),
                (int(item[0]), int(item[1])),
                tuple(other) if isinstance(other, list) else other,
            )
            if not clue_holds(clue, houses):  # type: ignore[arg-type]
                return Verdict(Status.INCORRECT, right / (n * m), reason=f"clue {i + 1} is violated")
        return Verdict(Status.CORRECT, 1.0, reason="the arrangement satisfies every clue")


_LINE = re.compile(r"(?:house\s*)?(\d{1,2})\s*[:.)-]\s*(.*)", re.IGNORECASE)


def _the(a: int, v: int, values: list[list[str]]) -> str:
    return "the person who " + ATTRIBUTES[a][1].format(values[a][v])


def _say(clue: Clue, values: list[list[str]]) -> str:
    kind, (a, v), other = clue
    subject = _the(a, v, values)
    if kind == "at":
        text = f"{subject} lives in house {int(other) + 1}"  # type: ignore[arg-type]
    elif kind == "not_at":
        text = f"{subject} does not live in house {int(other) + 1}"  # type: ignore[arg-type]
    else:
        assert isinstance(other, tuple)
        obj = _the(other[0], other[1], values)
        text = {
            "same": f"{subject} is {obj}",
            "not_same": f"{subject} is not {obj}",
            "left": f"{subject} lives directly left of {obj}",
            "next": f"{subject} lives next to {obj}",
            "before": f"{subject} lives somewhere to the left of {obj}",
        }[kind]
    return text[0].upper() + text[1:] + "."
