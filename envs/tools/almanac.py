"""Almanac: date arithmetic, unit conversion and table lookups, each with the tool that does it.

``assay/Almanac-v0``, procedural and seed-deterministic. Kinds (``kinds=`` selects):

- ``days_between``: days from one date to another, decades apart;
- ``add_days``: the date thousands of days after a date;
- ``weekday``: the day of the week of a date centuries away;
- ``convert``: a quantity in other units, rounded to 3 decimals;
- ``mass``: grams of a volume of a mineral (density from the minerals table, then a product);
- ``discovery_gap``: years between the discoveries of two minerals (two lookups, one turn).

Tools: ``days_between``, ``add_days``, ``weekday``, ``convert``, ``lookup`` (the minerals table
shipped in ``minerals.json``), ``calculator``, ``final_answer``. Numbers are checked with
`NumberMatch` (exact rationals), dates and names with `ExactMatch`, both on ``<answer>`` tags
outside reasoning blocks.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from assay.envs.tools.calculator import calculator_tool
from assay.envs.tools.dates import date_tools
from assay.envs.tools.env import ToolEnv
from assay.envs.tools.table import Table, lookup_tool
from assay.envs.tools.units import convert_exact, units_tool
from assay.envs.tools.world import DATA_DIR, MINERALS_FILE
from assay.verifiers.arithmetic import terminating_decimal
from assay.verifiers.base import Task, Verdict
from assay.verifiers.extract import after_reasoning, tagged
from assay.verifiers.match import ExactMatch, NumberMatch

__all__ = ["KINDS", "AlmanacEnv", "MetaMatch"]

KINDS = ("days_between", "add_days", "weekday", "convert", "mass", "discovery_gap")

_UNIT_PAIRS = (  # (from, to, prompt names)
    ("mi", "km", "miles", "kilometres"),
    ("km", "mi", "kilometres", "miles"),
    ("ft", "m", "feet", "metres"),
    ("in", "cm", "inches", "centimetres"),
    ("nmi", "km", "nautical miles", "kilometres"),
    ("lb", "kg", "pounds", "kilograms"),
    ("kg", "lb", "kilograms", "pounds"),
    ("oz", "g", "ounces", "grams"),
    ("st", "kg", "stone", "kilograms"),
    ("gal", "l", "US gallons", "litres"),
    ("l", "floz", "litres", "US fluid ounces"),
    ("week", "min", "weeks", "minutes"),
    ("f", "c", "degrees Fahrenheit", "degrees Celsius"),
    ("c", "f", "degrees Celsius", "degrees Fahrenheit"),
)
_ANSWER = " Reply with just the {what} in <answer></answer> tags."


@dataclass(frozen=True, slots=True)
class MetaMatch:
    """`NumberMatch` when ``task.meta["match"] == "number"``, else `ExactMatch` (``<answer>`` tags)."""

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        extract = after_reasoning(tagged("answer"))
        if task.meta.get("match") == "number":
            return NumberMatch(extract=extract)(completion, task)
        return ExactMatch(extract=extract)(completion, task)


def _round_half_up(x: Fraction, places: int) -> str:
    scaled = math.floor(abs(x) * 10**places + Fraction(1, 2))
    digits = str(scaled).rjust(places + 1, "0")
    return f"{'-' if x < 0 and scaled else ''}{digits[:-places]}.{digits[-places:]}"


@functools.lru_cache(maxsize=1)
def _minerals() -> Table:
    return Table.from_file(DATA_DIR / MINERALS_FILE, key="mineral", name="minerals")


def _date(rng: np.random.Generator, first: int, last: int) -> dt.date:
    lo, hi = dt.date(first, 1, 1).toordinal(), dt.date(last, 12, 31).toordinal()
    return dt.date.fromordinal(int(rng.integers(lo, hi + 1)))


class AlmanacEnv(ToolEnv):
    """Date arithmetic, unit conversion and table lookups that call for tools.

    Args:
        kinds: Which task kinds to draw (default: all, in turn by index).
        call_format: ``"json"`` or ``"tag"`` (see `ToolEnv`).
        max_turns: Actions per episode.
        **kwargs: Passed on to `ToolEnv`.
    """

    def __init__(
        self, kinds: Sequence[str] = KINDS, *, call_format: str = "json", max_turns: int = 6, **kwargs: Any
    ) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown or not kinds:
            raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {list(kinds)}")
        self.kinds = tuple(kinds)
        self.table = _minerals()
        tools = [*date_tools(), units_tool(), lookup_tool(self.table), calculator_tool()]
        super().__init__(tools, MetaMatch(), call_format=call_format, max_turns=max_turns, **kwargs)
        self._prefix = "almanac/" + "-".join(self.kinds) if self.kinds != KINDS else "almanac"

    def task_at(self, index: int) -> Task:
        kind = self.kinds[index % len(self.kinds)]
        rng = np.random.default_rng(np.random.SeedSequence([KINDS.index(kind), index]))
        prompt, answer, match, plan = getattr(self, f"_{kind}")(rng)
        return Task(
            id=f"{self._prefix}/{index}",
            prompt=prompt,
            answer=answer,
            meta={"kind": kind, "match": match, "gold_plan": plan},
        )

    # Each kind: (prompt, answer, "number" | "text", gold plan).

    def _days_between(self, rng: np.random.Generator) -> tuple[str, str, str, Any]:
        a, b = sorted((_date(rng, 1700, 2200), _date(rng, 1700, 2200)))
        prompt = f"How many days are there from {a} to {b}? (From 2020-01-01 to 2020-01-02 is 1 day.)"
        plan = [[["days_between", {"start": str(a), "end": str(b)}]]]
        return prompt + _ANSWER.format(what="number"), str((b - a).days), "number", plan

    def _add_days(self, rng: np.random.Generator) -> tuple[str, str, str, Any]:
        start, days = _date(rng, 1800, 2100), int(rng.integers(1_000, 40_000))
        prompt = f"What date is {days} days after {start}?"
        answer = (start + dt.timedelta(days=days)).isoformat()
        plan = [[["add_days", {"date": str(start), "days": days}]]]
        return prompt + _ANSWER.format(what="date as YYYY-MM-DD"), answer, "text", plan

    def _weekday(self, rng: np.random.Generator) -> tuple[str, str, str, Any]:
        day = _date(rng, 1600, 2400)
        prompt = f"On which day of the week does {day} fall (proleptic Gregorian calendar)?"
        plan = [[["weekday", {"date": str(day)}]]]
        return prompt + _ANSWER.format(what="English name of the day"), day.strftime("%A"), "text", plan

    def _convert(self, rng: np.random.Generator) -> tuple[str, str, str, Any]:
        src, dst, src_name, dst_name = _UNIT_PAIRS[int(rng.integers(len(_UNIT_PAIRS)))]
        value = Fraction(int(rng.integers(10, 100_000)), 10)
        text = terminating_decimal(value) or str(value)
        exact = convert_exact(value, src, dst)
        prompt = f"Convert {text} {src_name} to {dst_name}, rounded to 3 decimal places."
        plan = [[["convert", {"value": float(value), "from_unit": src, "to_unit": dst}]]]
        return prompt + _ANSWER.format(what="number"), _round_half_up(exact, 3), "number", plan

    def _mass(self, rng: np.random.Generator) -> tuple[str, str, str, Any]:
        names = sorted(self.table.rows)
        row = self.table.rows[names[int(rng.integers(len(names)))]]
        volume = int(rng.integers(2, 5_000))
        density = str(row["density_g_cm3"])
        prompt = (
            f"What is the mass in grams of {volume} cm³ of {row['mineral']}? The minerals table lists "
            "each mineral's density in g/cm³."
        )
        answer = terminating_decimal(Fraction(density) * volume) or ""
        plan = [
            [["lookup", {"item": row["mineral"], "column": "density_g_cm3"}]],
            [["calculator", {"expression": f"{density} * {volume}"}]],
        ]
        return prompt + _ANSWER.format(what="number"), answer, "number", plan

    def _discovery_gap(self, rng: np.random.Generator) -> tuple[str, str, str, Any]:
        names = sorted(self.table.rows)
        i, j = (int(k) for k in rng.choice(len(names), size=2, replace=False))
        a, b = self.table.rows[names[i]], self.table.rows[names[j]]
        prompt = (
            f"How many years passed between the discovery of {a['mineral']} and that of "
            f"{b['mineral']}? The minerals table lists the year each was discovered."
        )
        answer = str(abs(int(a["discovered"]) - int(b["discovered"])))
        plan = [
            [
                ["lookup", {"item": a["mineral"], "column": "discovered"}],
                ["lookup", {"item": b["mineral"], "column": "discovered"}],
            ]
        ]
        return prompt + _ANSWER.format(what="number of years"), answer, "number", plan
