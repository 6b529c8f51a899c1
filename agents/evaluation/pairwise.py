"""`pairwise_win_rate`: two runs on the same tasks, compared by a `PairwiseJudge`.

For every task both runs logged, sample ``j`` of run A is compared with sample ``j`` of run B
(``j < min(n_A, n_B)``), each pair judged in both orders (A first, then B first); a preference
counts only when both orders agree, otherwise the pair is a tie (position bias), and a pair the
judge could not decide is left out and counted. What the judge sees of a sample is its prompt
and its final answer (``completion``: for tool episodes, what the verifier judged).

The win rate of A is ``(wins + ties / 2) / decided`` averaged per task first, then over tasks,
with a 95% CI over tasks (`mean_ci`), so tasks with more samples do not weigh more.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.agents.evaluation.metrics import Estimate, mean_ci
from assay.rewards.judge.pairwise import PairwiseJudge

__all__ = ["PairwiseResult", "pairwise_win_rate"]


@dataclass(frozen=True)
class PairwiseResult:
    """The outcome of `pairwise_win_rate`.

    Attributes:
        win_rate_a: A's win rate (ties count half), mean and 95% CI over tasks.
        counts: ``a``, ``b``, ``tie``, ``inconsistent`` (ties from orders that disagree),
            ``undecided`` (left out).
        tasks: Tasks compared.
        pairs: One dict per comparison (task id, sample index, winner, consistent).
    """

    win_rate_a: Estimate
    counts: dict[str, int]
    tasks: int
    pairs: list[dict[str, Any]] = field(default_factory=list)


def _by_task(samples: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, Mapping[str, Any]]]:
    out: dict[str, dict[int, Mapping[str, Any]]] = defaultdict(dict)
    for r in samples:
        out[str(r["task_id"])][int(r["sample_index"])] = r
    return out


def pairwise_win_rate(
    a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], judge: PairwiseJudge
) -> PairwiseResult:
    """Compare runs ``a`` and ``b`` (their sample records) with ``judge`` (module docstring)."""
    if not judge.both_orders:
        raise ValueError("pairwise evaluation judges both orders: use PairwiseJudge(both_orders=True)")
    ta, tb = _by_task(a), _by_task(b)
    common = [t for t in ta if t in tb]
    keys: list[tuple[str, int]] = []
    items: list[tuple[str, str, str]] = []
    for t in common:
        for j in sorted(set(ta[t]) & set(tb[t])):
            ra, rb = ta[t][j], tb[t][j]
            keys.append((t, j))
            items.append(
                (str(ra.get("prompt", "")), str(ra.get("completion", "")), str(rb.get("completion", "")))
            )
    prefs = judge.compare_many(items) if items else []
    counts: Counter[str] = Counter()
    per_task: dict[str, list[float]] = defaultdict(list)
    pairs = []
    for (t, j), p in zip(keys, prefs, strict=True):
        pairs.append({"task_id": t, "sample_index": j, "winner": p.winner, "consistent": p.consistent})
        if p.winner is None:
            counts["undecided"] += 1
            continue
        counts[p.winner] += 1
        if p.winner == "tie" and not p.consistent:
            counts["inconsistent"] += 1
        per_task[t].append(1.0 if p.winner == "a" else 0.5 if p.winner == "tie" else 0.0)
    rates = [sum(v) / len(v) for v in per_task.values()]
    full = {k: counts.get(k, 0) for k in ("a", "b", "tie", "inconsistent", "undecided")}
    return PairwiseResult(mean_ci(rates, (0.0, 1.0)), full, len(common), pairs)
