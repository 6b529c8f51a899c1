"""The learning-rate schedule of the RL trainers: linear warmup, then constant, linear or cosine.

The factor is a pure function of the trainer's step (one rollout batch), so a resumed run gets
the same learning rate as the uninterrupted one without any scheduler state in the checkpoint,
and a step whose update is skipped (no reward variance) still advances the schedule, as the
wall clock does.
"""

from __future__ import annotations

import math
from typing import Literal

__all__ = ["LRSchedule", "lr_factor", "warmup_steps"]

LRSchedule = Literal["constant", "linear", "cosine"]


def warmup_steps(total: int, *, steps: int = 0, ratio: float = 0.0) -> int:
    """Warmup length: ``steps`` if it is set (> 0), else ``ceil(ratio * total)`` (TRL's
    ``warmup_steps`` wins over ``warmup_ratio`` the same way)."""
    if steps < 0 or not 0.0 <= ratio <= 1.0:
        raise ValueError(f"need warmup steps >= 0 and ratio in [0, 1], got {steps}, {ratio}")
    return steps if steps > 0 else math.ceil(ratio * total)


def lr_factor(
    step: int, total: int, *, kind: LRSchedule = "constant", warmup: int = 0, min_ratio: float = 0.0
) -> float:
    """The multiplier of the peak learning rate at ``step`` (0-based) of a ``total``-step run.

    - Warmup, ``step < warmup``: ``(step + 1) / warmup`` (the first step already learns: the
      factor is never 0).
    - After it, with progress ``p = (step - warmup) / max(1, total - warmup)`` in ``[0, 1]``:
      ``"constant"``: 1; ``"linear"``: ``1 - (1 - min_ratio) * p``; ``"cosine"``:
      ``min_ratio + (1 - min_ratio) * (1 + cos(pi * p)) / 2``.

    So ``"linear"`` and ``"cosine"`` reach ``min_ratio`` only at ``step == total``, which is never
    run: the last step (``total - 1``) still trains, with a small positive rate when
    ``min_ratio`` is 0. Steps beyond ``total`` keep the end value.
    """
    if total < 0 or warmup < 0 or step < 0:
        raise ValueError(f"need step, total, warmup >= 0, got {step}, {total}, {warmup}")
    if not 0.0 <= min_ratio <= 1.0:
        raise ValueError(f"min_ratio must be in [0, 1], got {min_ratio}")
    if step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    if kind == "linear":
        return 1.0 - (1.0 - min_ratio) * p
    if kind == "cosine":
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * p))
    raise ValueError(f"kind must be 'constant', 'linear' or 'cosine', got {kind!r}")
