"""Date tools: ``days_between``, ``add_days``, ``weekday`` (proleptic Gregorian, ISO dates)."""

from __future__ import annotations

import datetime as dt

from assay.envs.tools.tool import Tool

__all__ = ["add_days", "date_tools", "days_between", "parse_date", "weekday"]


def parse_date(text: str) -> dt.date:
    """A ``YYYY-MM-DD`` date; `ValueError` with a clear message otherwise."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a date in YYYY-MM-DD form") from None


def days_between(start: str, end: str) -> int:
    """The number of days from one date to another (negative if ``end`` comes first).

    Args:
        start: A date, YYYY-MM-DD.
        end: A date, YYYY-MM-DD.
    """
    return (parse_date(end) - parse_date(start)).days


def add_days(date: str, days: int) -> str:
    """The date a number of days after (or, if negative, before) a date.

    Args:
        date: A date, YYYY-MM-DD.
        days: How many days to add.
    """
    try:
        return (parse_date(date) + dt.timedelta(days=days)).isoformat()
    except OverflowError:
        raise ValueError("the result is outside years 1 to 9999") from None


def weekday(date: str) -> str:
    """The day of the week of a date, e.g. ``Monday``.

    Args:
        date: A date, YYYY-MM-DD.
    """
    return parse_date(date).strftime("%A")


def date_tools() -> list[Tool]:
    """``days_between``, ``add_days`` and ``weekday`` (in-process: each call is O(1))."""
    return [Tool.from_function(fn, isolation="inline") for fn in (days_between, add_days, weekday)]
