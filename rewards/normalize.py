"""Per-group and per-batch normalisation of rewards (advantages for GRPO-style training).

These act on a batch of rewards, not on one completion, so they live beside the rubric rather
than inside it. Normalised values are advantages: they no longer have the terms' declared
bounds. ``None`` (not applicable) is left out of every statistic and stays ``None``.

Formulas, for the applicable values ``r_1..r_k`` of one group (or of the whole batch):

- centred: ``a_i = r_i - mean(r)``;
- scaled (default): ``a_i = (r_i - mean(r)) / (std(r) + eps)``, with the sample standard
  deviation (``ddof=1``, as TRL's GRPO and torch's ``std`` default); a group with one
  applicable value gets 0.

`group_normalize_terms` normalises each term within its group before the weighted sum (so a
rarely varying term is not drowned by a noisy one), as in multi-reward GRPO variants.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

from assay.rewards.base import Reward

__all__ = ["batch_normalize", "group_ids", "group_normalize", "group_normalize_terms"]


def group_ids(n: int, group_size: int) -> list[int]:
    """Contiguous groups: ``[0]*G + [1]*G + ...`` for ``n`` items (GRPO's layout)."""
    if group_size < 1 or n % group_size:
        raise ValueError(f"{n} items do not split into groups of {group_size}")
    return [i // group_size for i in range(n)]


def _normalize(values: Sequence[float | None], scale: bool, eps: float, ddof: int) -> list[float | None]:
    present = [float(v) for v in values if v is not None]
    k = len(present)
    if k == 0:
        return [None] * len(values)
    mean = math.fsum(present) / k
    std = 0.0 if k <= ddof else math.sqrt(math.fsum((v - mean) ** 2 for v in present) / (k - ddof))
    out: list[float | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif k == 1 or (scale and std + eps == 0.0):
            out.append(0.0)
        else:
            centred = float(v) - mean
            out.append(centred / (std + eps) if scale else centred)
    return out


def batch_normalize(
    values: Sequence[float | None], *, scale: bool = True, eps: float = 1e-6, ddof: int = 1
) -> list[float | None]:
    """Normalise over the whole batch (REINFORCE++-style baseline)."""
    return _normalize(values, scale, eps, ddof)


def group_normalize(
    values: Sequence[float | None],
    groups: Sequence[Hashable] | int,
    *,
    scale: bool = True,
    eps: float = 1e-6,
    ddof: int = 1,
) -> list[float | None]:
    """Normalise within groups: ``groups`` gives each value's group id, or is the group size
    of contiguous groups (GRPO's ``G`` completions per prompt)."""
    ids = group_ids(len(values), groups) if isinstance(groups, int) else list(groups)
    if len(ids) != len(values):
        raise ValueError(f"{len(values)} values but {len(ids)} group ids")
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(ids):
        members.setdefault(g, []).append(i)
    out: list[float | None] = [None] * len(values)
    for idx in members.values():
        for i, a in zip(idx, _normalize([values[i] for i in idx], scale, eps, ddof), strict=True):
            out[i] = a
    return out


def group_normalize_terms(
    rewards: Sequence[Reward],
    weights: Mapping[str, float],
    groups: Sequence[Hashable] | int,
    *,
    scale: bool = True,
    eps: float = 1e-6,
) -> list[float]:
    """``sum_k w_k * group_normalize(term_k)``: each term normalised in its group, then summed.

    ``weights`` names the terms to use (e.g. ``{t.name: t.weight for t in rubric.terms}``); a
    term that does not apply to a completion contributes 0 to that completion.
    """
    totals = [0.0] * len(rewards)
    for name, w in weights.items():
        column = [r.terms.get(name) for r in rewards]
        for i, a in enumerate(group_normalize(column, groups, scale=scale, eps=eps)):
            if a is not None:
                totals[i] += w * a
    return totals
