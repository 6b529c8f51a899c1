"""`spot_check`: a quick look at a policy, greedy by default: play episodes on an env and count
the verdicts (after training, or before and after, as in ``examples/train_arithmetic.py``).

Multi-turn envs are played as in training (`collect_episodes`). Nothing is logged, resumed or
estimated with a confidence interval; for pass@k, maj@k, best-of-N and a resumable JSONL log use
`assay.agents.evaluation.evaluate` (``assay eval``), which runs single-turn envs only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.agents.rollout import Episode, collect_episodes
from assay.envs.vector import make_vec
from assay.verifiers.sampler import Sampler

__all__ = ["EvalResult", "spot_check"]


@dataclass(frozen=True)
class EvalResult:
    """The outcome of `spot_check`.

    Attributes:
        episodes: One per task, in order.
        mean_reward: Mean episode reward.
        counts: Episodes per verdict status (``"correct"``, ``"incorrect"``, ...).
    """

    episodes: list[Episode]
    mean_reward: float
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """Fraction of episodes judged correct."""
        return self.counts.get("correct", 0) / max(len(self.episodes), 1)


def spot_check(
    env_id: str,
    sampler: Sampler,
    tokenizer: Any,
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    num_tasks: int = 64,
    seed: int = 0,
    temperature: float = 0.0,
    max_new_tokens: int = 64,
    max_turns: int = 16,
) -> EvalResult:
    """Play ``num_tasks`` episodes (tasks drawn with ``seed``; greedy by default) and count verdicts."""
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    seeds = [int(s) for s in np.random.SeedSequence([seed, 0xE7A1]).generate_state(num_tasks)]
    envs = make_vec(env_id, num_envs=num_tasks, vectorization_mode="sync", **dict(env_kwargs or {}))
    try:
        episodes = collect_episodes(
            envs,
            sampler,
            tokenizer,
            seeds=seeds,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
            max_turns=max_turns,
        )
    finally:
        envs.close()
    counts = Counter(e.status or "unfinished" for e in episodes)
    return EvalResult(episodes, float(np.mean([e.reward for e in episodes])), dict(counts))
