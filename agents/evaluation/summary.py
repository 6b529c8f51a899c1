"""Turn an eval log into metrics: `summarize` (pure, from the JSONL records alone)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.agents.evaluation.metrics import (
    Estimate,
    best_at_k,
    majority_at_k,
    mean_ci,
    pass_at_k,
)

__all__ = ["Summary", "TaskResult", "metric_values", "summarize", "task_results"]


@dataclass(frozen=True)
class TaskResult:
    """The ``n`` samples of one task, reduced to what the metrics need (in sample order)."""

    task_index: int
    task_id: str
    correct: list[bool]
    rewards: list[float]
    classes: list[int | None]
    select_scores: list[float | None]

    @property
    def n(self) -> int:
        """Number of samples."""
        return len(self.correct)


def task_results(samples: Sequence[Mapping[str, Any]], n: int) -> tuple[list[TaskResult], int]:
    """Group sample records by task; return the tasks with all ``n`` samples and the count of
    incomplete ones (an interrupted run that was not resumed)."""
    by_task: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for r in samples:
        by_task[int(r["task_index"])].append(r)
    out: list[TaskResult] = []
    incomplete = 0
    for t in sorted(by_task):
        rs = sorted(by_task[t], key=lambda r: int(r["sample_index"]))
        if [int(r["sample_index"]) for r in rs] != list(range(n)):
            incomplete += 1
            continue
        out.append(
            TaskResult(
                task_index=t,
                task_id=str(rs[0]["task_id"]),
                correct=[r["verdict"]["status"] == "correct" for r in rs],
                rewards=[float(r["reward"]) for r in rs],
                classes=[None if r.get("answer_class") is None else int(r["answer_class"]) for r in rs],
                select_scores=[
                    None if r.get("select_score") is None else float(r["select_score"]) for r in rs
                ],
            )
        )
    return out, incomplete


def metric_values(
    tasks: Sequence[TaskResult],
    n: int,
    ks: Sequence[int],
    *,
    reward_bounds: tuple[float, float] | None = None,
) -> dict[str, tuple[list[float], tuple[float, float] | None]]:
    """Per metric (``pass@k``, ``maj@k``, ``best@k`` when scored, ``reward``): one value per
    task, and the metric's range (for clipping CIs)."""
    out: dict[str, tuple[list[float], tuple[float, float] | None]] = {}
    has_select = any(s is not None for t in tasks for s in t.select_scores)
    unit = (0.0, 1.0)
    for k in sorted({int(k) for k in ks if 1 <= int(k) <= n}):
        out[f"pass@{k}"] = ([pass_at_k(n, sum(t.correct), k) for t in tasks], unit)
        out[f"maj@{k}"] = ([majority_at_k(t.classes, t.correct, k) for t in tasks], unit)
        if has_select:
            out[f"best@{k}"] = ([best_at_k(t.select_scores, t.correct, k) for t in tasks], unit)
    out["reward"] = ([sum(t.rewards) / n for t in tasks], reward_bounds)
    return out


@dataclass(frozen=True)
class Summary:
    """The metrics of one run. ``metrics`` maps ``"pass@1"``, ``"maj@4"``, ``"best@4"``,
    ``"reward"`` ... to an `Estimate` over tasks (mean and 95% CI)."""

    num_tasks: int
    n: int
    metrics: dict[str, Estimate]
    status: dict[str, int]
    incomplete_tasks: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    reward_bounds: tuple[float, float] | None = None
    """The range the reward's CI is clipped to (the env's rubric bounds), when known."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "num_tasks": self.num_tasks,
            "n": self.n,
            "incomplete_tasks": self.incomplete_tasks,
            "status": self.status,
            "metrics": {k: e._asdict() for k, e in self.metrics.items()},
            "config": self.config,
            "reward_bounds": None if self.reward_bounds is None else list(self.reward_bounds),
        }


def summarize(
    samples: Sequence[Mapping[str, Any]],
    *,
    n: int,
    ks: Sequence[int],
    config: Mapping[str, Any] | None = None,
    reward_bounds: Sequence[float] | None = None,
) -> Summary:
    """Metrics of a run from its sample records alone.

    For each ``k`` in ``ks`` (those ``<= n``): ``pass@k`` (unbiased), ``maj@k`` (from the
    records' ``answer_class``), ``best@k`` (when records carry ``select_score``); and
    ``reward`` (mean reward). Each is averaged per task first, then over tasks, with a 95% CI
    over tasks. Only tasks with all ``n`` samples count. ``reward_bounds`` (the rubric's range)
    clips the reward's CI.
    """
    tasks, incomplete = task_results(samples, n)
    status = Counter(str(r["verdict"]["status"]) for r in samples)
    bounds = None if reward_bounds is None else (float(reward_bounds[0]), float(reward_bounds[1]))
    values = metric_values(tasks, n, ks, reward_bounds=bounds)
    metrics = {name: mean_ci(xs, b) for name, (xs, b) in values.items()}
    return Summary(
        num_tasks=len(tasks),
        n=n,
        metrics=metrics,
        status=dict(sorted(status.items())),
        incomplete_tasks=incomplete,
        config=dict(config or {}),
        reward_bounds=bounds,
    )
