"""`write_issue`: the bug report an agent gets, written from what the failing tests reported.

It is made from the failing tests' names, their exception text (for a failed ``assert``,
pytest's explanation with the values compared) and the library frames of their tracebacks,
as a user would paste them. The test file itself is never quoted beyond that, nor the mutation.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["write_issue"]

_TITLES = (
    "{name} fails",
    "Regression: {name} is broken",
    "Bug: {name} gives the wrong result",
    "{name} no longer passes",
)
_OPENINGS = (
    "Running the test suite of {pkg} on this checkout, `{test}` fails.",
    "After the latest change, `{test}` in {pkg} fails.",
    "`{test}` fails on {pkg}; it used to pass.",
)
_CLOSINGS = (
    "Please fix the library code so that the tests pass again.",
    "The tests are right; the library is wrong. Please fix it.",
    "Expected: the whole test suite passes.",
)
MAX_EXCEPTION_LINES = 12


def _humane(node_id: str) -> str:
    name = node_id.split("::")[-1].split("[")[0]
    return name.removeprefix("test_").replace("_", " ").strip() or name


def _exception(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) > MAX_EXCEPTION_LINES:
        lines = [*lines[:MAX_EXCEPTION_LINES], "..."]
    return "\n".join("    " + line[:300] for line in lines)


def write_issue(
    package: str,
    failures: Mapping[str, Mapping[str, Any]],
    failing: Sequence[str],
    test_paths: Sequence[str],
    rng: random.Random,
) -> str:
    """An issue for ``package`` (``name-version``) from its failing tests' reports.

    Args:
        package: The package as the issue names it.
        failures: Node id -> ``{"exception": ..., "frames": [[path, line, function], ...]}``.
        failing: Every failing node id (the first with a report leads the issue).
        test_paths: Test files and folders: their frames are left out of the traceback summary.
        rng: Chooses the wording (the issue is a function of the reports and this generator).
    """
    if not failing:
        raise ValueError("an issue needs at least one failing test")
    lead = next((f for f in failing if f in failures), failing[0])
    report = failures.get(lead, {})
    title = rng.choice(_TITLES).format(name=f"`{_humane(lead)}`")
    parts = [f"Title: {title}", "", rng.choice(_OPENINGS).format(pkg=package, test=lead)]
    exc = str(report.get("exception", "")).strip()
    if exc:
        parts += ["", "The error:", "", _exception(exc)]
    frames = [f for f in report.get("frames", []) if not any(str(f[0]).startswith(t) for t in test_paths)]
    if frames:
        where = "; then ".join(f"`{f[2]}` ({f[0]}, line {f[1]})" for f in frames[-4:])
        parts += ["", f"The traceback goes through {where}."]
    others = [f for f in failing if f != lead]
    if others:
        shown = ", ".join(f"`{o}`" for o in others[:4])
        more = f" and {len(others) - 4} more" if len(others) > 4 else ""
        parts += ["", f"Also failing: {shown}{more}."]
    parts += ["", rng.choice(_CLOSINGS)]
    return "\n".join(parts)
