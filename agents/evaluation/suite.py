"""Suites: several envs in one evaluation, each with its own arguments, limit and weight.

A suite file (YAML or JSON)::

    name: agentic            # optional; names the output folder
    n: 4                     # optional defaults for every entry (command-line values otherwise)
    limit: 20
    envs:
      - id: assay/MultiHopQA-v0
        args: {max_turns: 6}
        weight: 2
      - id: assay/GuessNumber-v0
        limit: 10
        n: 1

Entries may set ``args``, ``limit``, ``n``, ``split`` and ``weight`` (default 1). The combined
score of a metric is the weighted mean of the envs' means (a macro average: each env counts by
its weight, not by its number of tasks), with the CI of `weighted_mean_ci`; it covers the
metrics every env reports. `load_suite` reads a file; `suite_from_envs` makes a suite of
repeated ``--env`` values; `combine` computes the combined row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.agents.evaluation.metrics import Estimate, weighted_mean_ci
from assay.agents.evaluation.summary import metric_values, task_results
from assay.errors import AssayError

__all__ = ["Suite", "SuiteEntry", "SuiteError", "combine", "load_suite", "suite_from_envs"]

_ENTRY_KEYS = frozenset({"id", "args", "limit", "n", "split", "weight"})


class SuiteError(AssayError, ValueError):
    """A suite file that cannot be read or says something impossible."""


@dataclass(frozen=True)
class SuiteEntry:
    """One env of a suite (None fields: the run's defaults)."""

    id: str
    args: Mapping[str, Any] = field(default_factory=dict)
    limit: int | None = None
    n: int | None = None
    split: str | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.id:
            raise SuiteError("every suite entry needs an id")
        if self.weight < 0:
            raise SuiteError(f"{self.id}: weight must be >= 0, got {self.weight}")
        if self.limit is not None and self.limit < 1:
            raise SuiteError(f"{self.id}: limit must be >= 1, got {self.limit}")
        if self.n is not None and self.n < 1:
            raise SuiteError(f"{self.id}: n must be >= 1, got {self.n}")


@dataclass(frozen=True)
class Suite:
    """Envs to evaluate together; ``n``/``limit`` are defaults for the entries."""

    entries: tuple[SuiteEntry, ...]
    name: str = ""
    n: int | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if not self.entries:
            raise SuiteError("a suite needs at least one env")

    def labels(self) -> list[str]:
        """One distinct label per entry (``id``, then ``id#2``... for repeats)."""
        seen: dict[str, int] = {}
        out = []
        for e in self.entries:
            seen[e.id] = seen.get(e.id, 0) + 1
            out.append(e.id if seen[e.id] == 1 else f"{e.id}#{seen[e.id]}")
        return out


def _entry(raw: Any, where: str) -> SuiteEntry:
    if isinstance(raw, str):
        return SuiteEntry(raw)
    if not isinstance(raw, Mapping):
        raise SuiteError(f"{where}: an entry is an env id or a mapping with 'id', got {raw!r}")
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise SuiteError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(_ENTRY_KEYS)})")
    args = raw.get("args") or {}
    if not isinstance(args, Mapping):
        raise SuiteError(f"{where}: args must be a mapping, got {args!r}")
    try:
        return SuiteEntry(
            id=str(raw.get("id") or ""),
            args=dict(args),
            limit=None if raw.get("limit") is None else int(raw["limit"]),
            n=None if raw.get("n") is None else int(raw["n"]),
            split=None if raw.get("split") is None else str(raw["split"]),
            weight=float(raw.get("weight", 1.0)),
        )
    except (TypeError, ValueError) as e:
        if isinstance(e, SuiteError):
            raise
        raise SuiteError(f"{where}: {e}") from None


def load_suite(path: str | Path) -> Suite:
    """Read a suite file (``.yaml``/``.yml`` or ``.json``; see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SuiteError(f"cannot read suite file {path}: {e}") from None
    kind = "YAML" if path.suffix.lower() in (".yaml", ".yml") else "JSON"
    try:
        if kind == "YAML":
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # noqa: BLE001 - any parse error is a bad file, said in one line
        raise SuiteError(f"{path}: not valid {kind}: {e}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("envs"), list):
        raise SuiteError(f"{path}: a suite is a mapping with an 'envs' list")
    unknown = set(data) - {"name", "n", "limit", "envs"}
    if unknown:
        raise SuiteError(f"{path}: unknown keys {sorted(unknown)} (allowed: envs, limit, n, name)")
    entries = tuple(_entry(raw, f"{path}: envs[{i}]") for i, raw in enumerate(data["envs"]))
    return Suite(
        entries,
        name=str(data.get("name") or path.stem),
        n=None if data.get("n") is None else int(data["n"]),
        limit=None if data.get("limit") is None else int(data["limit"]),
    )


def suite_from_envs(ids: Sequence[str], args: Mapping[str, Any] | None = None) -> Suite:
    """A suite of ``ids`` (repeated ``--env``), each with ``args`` and weight 1."""
    return Suite(tuple(SuiteEntry(i, dict(args or {})) for i in ids))


def combine(
    runs: Sequence[tuple[float, Sequence[Mapping[str, Any]], int, Sequence[int], tuple[float, float] | None]],
) -> dict[str, Estimate]:
    """The combined row of a suite.

    ``runs`` holds, per env, ``(weight, sample records, n, ks, reward bounds)``. For each metric
    every env reports, the weighted mean of the envs' per-task means with its 95% CI
    (`weighted_mean_ci`, clipped to the metric's range when all envs agree on it).
    """
    per_env = []
    for weight, samples, n, ks, bounds in runs:
        tasks, _ = task_results(samples, n)
        per_env.append((weight, metric_values(tasks, n, ks, reward_bounds=bounds)))
    if not per_env:
        return {}
    common = [m for m in per_env[0][1] if all(m in values for _, values in per_env)]
    out: dict[str, Estimate] = {}
    for metric in common:
        ranges = {values[metric][1] for _, values in per_env}
        bounds = next(iter(ranges)) if len(ranges) == 1 else None
        out[metric] = weighted_mean_ci([(w, values[metric][0]) for w, values in per_env], bounds)
    return out
