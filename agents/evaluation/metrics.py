"""The metrics of an evaluation, as pure functions over per-task samples.

- `pass_at_k`: the unbiased estimator of Chen et al. (2021), "Evaluating Large Language Models
  Trained on Code": with ``n`` samples of which ``c`` are correct,
  ``pass@k = 1 - C(n - c, k) / C(n, k)``, computed as a product so that it neither overflows
  nor loses precision for large ``n``.
- `majority_at_k`: majority voting over answers grouped by *equivalence* (the env's verifier
  decides whether two answers are the same), not by string equality.
- `best_at_k`: the sample a selector (a reward model, a judge, the mean log-prob) ranks highest.
- `mean_ci`: a mean with a normal-approximation 95% confidence interval.
- `weighted_mean_ci`: a weighted mean of several groups' means (a suite's combined score), with
  the CI of that weighted sum of independent means.

`maj@k` and `best@k` with ``k < n`` average over the ``n // k`` disjoint blocks of ``k``
consecutive samples of each task. Samples are i.i.d. draws, so every block is an unbiased draw
of ``k`` samples; using all blocks lowers the variance over "the first k only" and keeps the
result deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import NamedTuple, TypeVar

import numpy as np

__all__ = [
    "Estimate",
    "best_at_k",
    "cluster_answers",
    "majority_at_k",
    "majority_vote",
    "mean_ci",
    "pass_at_k",
    "weighted_mean_ci",
]

Z_95 = 1.959963984540054
"""The 97.5th percentile of the standard normal distribution."""

A = TypeVar("A")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task: ``1 - C(n-c, k) / C(n, k)``.

    Computed as ``1 - prod_{i=n-c+1}^{n} (1 - k / i)``, which equals the ratio of binomials
    (Chen et al. 2021, figure 3) without forming huge integers. ``k`` must not exceed ``n``.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


class Estimate(NamedTuple):
    """A mean over tasks with its 95% confidence interval."""

    mean: float
    low: float
    high: float
    size: int
    """How many values (tasks) the mean is over."""


def mean_ci(values: Sequence[float], bounds: tuple[float, float] | None = None) -> Estimate:
    """The mean of ``values`` and its normal-approximation 95% CI (``mean ± 1.96·s/√m``).

    ``bounds`` clips the interval to the metric's range (e.g. ``(0, 1)`` for a rate).

    Pass one value per *task* (e.g. a task's mean reward over its samples): the samples of one
    task are correlated, so treating them as independent would make the interval too narrow.
    With fewer than two values the interval is the single point.
    """
    if len(values) == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return Estimate(mean, mean, mean, len(x))
    half = Z_95 * float(x.std(ddof=1)) / math.sqrt(len(x))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Estimate(mean, low, high, len(x))


def weighted_mean_ci(
    groups: Sequence[tuple[float, Sequence[float]]], bounds: tuple[float, float] | None = None
) -> Estimate:
    """``sum_i w_i * mean_i / sum_i w_i`` over groups ``(w_i, values_i)`` (a macro average), with
    the normal-approximation 95% CI of that combination: the groups are independent samples, so
    ``var = sum_i (w_i / W)^2 * s_i^2 / m_i`` (``s_i`` the sample std of group i, ``m_i`` its
    size; a group of one value adds no variance). Empty groups and zero weights are left out;
    ``size`` is the total number of values. ``bounds`` clips the interval.
    """
    kept = [(float(w), np.asarray(v, dtype=np.float64)) for w, v in groups if w > 0 and len(v) > 0]
    if any(w < 0 for w, _ in groups):
        raise ValueError("weights must be >= 0")
    if not kept:
        return Estimate(math.nan, math.nan, math.nan, 0)
    total = sum(w for w, _ in kept)
    mean = sum(w * float(x.mean()) for w, x in kept) / total
    var = sum((w / total) ** 2 * (float(x.var(ddof=1)) / len(x) if len(x) > 1 else 0.0) for w, x in kept)
    half = Z_95 * math.sqrt(var)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Estimate(mean, low, high, sum(len(x) for _, x in kept))


def cluster_answers(
    answers: Sequence[A],
    same: Callable[[A, A], bool],
    key: Callable[[A], Hashable] | None = None,
) -> list[int]:
    """Label each answer with the index of its equivalence class (in order of first appearance).

    ``same(representative, answer)`` decides membership; each answer joins the first class whose
    representative (the class's first member) it matches. Equivalence as judged by a verifier is
    not always transitive, so comparing against representatives keeps the result deterministic,
    and the label of an answer depends only on the answers before it. Answers with equal
    ``key`` (e.g. the same normalised string) share a class without calling ``same``.
    """
    labels: list[int] = []
    reps: list[A] = []
    seen: dict[Hashable, int] = {}
    for a in answers:
        k = key(a) if key is not None else None
        if k is not None and k in seen:
            labels.append(seen[k])
            continue
        for j, rep in enumerate(reps):
            if same(rep, a):
                label = j
                break
        else:
            label = len(reps)
            reps.append(a)
        if k is not None:
            seen[k] = label
        labels.append(label)
    return labels


def majority_vote(labels: Sequence[int | None], correct: Sequence[bool]) -> float:
    """The expected correctness of a majority vote with ties broken uniformly at random.

    ``labels[i]`` is sample i's answer class (None: no answer, which does not vote) and
    ``correct[i]`` whether it is right. Returns 1 (or 1/t when t classes tie for the most votes
    and one of them is right) or 0. With no votes at all the result is 0.
    """
    if len(labels) != len(correct):
        raise ValueError("labels and correct must have the same length")
    votes: dict[int, int] = {}
    right: dict[int, bool] = {}
    for label, ok in zip(labels, correct, strict=True):
        if label is None:
            continue
        votes[label] = votes.get(label, 0) + 1
        right[label] = right.get(label, False) or ok
    if not votes:
        return 0.0
    top = max(votes.values())
    winners = [label for label, v in votes.items() if v == top]
    return sum(right[w] for w in winners) / len(winners)


def _blocks(n: int, k: int) -> list[range]:
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    return [range(b * k, (b + 1) * k) for b in range(n // k)]


def majority_at_k(labels: Sequence[int | None], correct: Sequence[bool], k: int) -> float:
    """maj@k for one task: the mean of `majority_vote` over the disjoint blocks of ``k`` samples."""
    blocks = _blocks(len(labels), k)
    return sum(majority_vote([labels[i] for i in b], [correct[i] for i in b]) for b in blocks) / len(blocks)


def best_at_k(scores: Sequence[float | None], correct: Sequence[bool], k: int) -> float:
    """best@k (best-of-N) for one task: is the top-scored sample of each block correct?

    ``scores[i]`` is the selector's score of sample i (None: not scorable, never chosen over a
    scored one). Ties for the top score count as the mean correctness of the tied samples (a
    uniformly random pick). Averaged over the disjoint blocks of ``k`` samples.
    """
    if len(scores) != len(correct):
        raise ValueError("scores and correct must have the same length")
    total = 0.0
    blocks = _blocks(len(scores), k)
    for b in blocks:
        pool: list[tuple[float, bool]] = []
        for i in b:
            s = scores[i]
            if s is not None and not math.isnan(s):
                pool.append((float(s), correct[i]))
        pool = pool or [(0.0, correct[i]) for i in b]
        top = max(s for s, _ in pool)
        tied = [ok for s, ok in pool if s == top]
        total += sum(tied) / len(tied)
    return total / len(blocks)
