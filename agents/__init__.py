"""Agents: samplers, rollouts, trainers (GRPO, PPO, the preference family) and evaluation.

`evaluate` is the one evaluation entry point (`assay.agents.evaluation.evaluate`: an
`EvalConfig`, a sampler and a JSONL log path in, a `Summary` of pass@k, maj@k, best@k and mean
reward out; ``assay eval``). `spot_check` is the quick greedy verdict count used after training.

Training and evaluation only: the HTTP service is `assay.serve`, vector envs (in-process and
Ray) are `assay.envs.vector`. The names below import torch (the ``train`` extra) when first
used; importing the package, or its torch-free subpackage ``assay.agents.evaluation``, does
not. ``import assay`` alone never does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.agents.config import GRPOConfig, PPOConfig, RunConfig, load_config
    from assay.agents.evaluation.runner import EvalConfig, evaluate
    from assay.agents.grpo import GRPO
    from assay.agents.ppo import PPO
    from assay.agents.rollout import Batch, Episode, collect_episodes, to_batch
    from assay.agents.sampler import HFSampler, OpenAISampler, Sample, Sampler, ScriptedSampler, VLLMSampler
    from assay.agents.spot_check import EvalResult, spot_check
    from assay.agents.tiny import init_tiny

_HOME = {
    "GRPOConfig": "config",
    "PPOConfig": "config",
    "RunConfig": "config",
    "load_config": "config",
    "EvalConfig": "evaluation.runner",
    "evaluate": "evaluation.runner",
    "EvalResult": "spot_check",
    "spot_check": "spot_check",
    "GRPO": "grpo",
    "PPO": "ppo",
    "Batch": "rollout",
    "Episode": "rollout",
    "collect_episodes": "rollout",
    "to_batch": "rollout",
    "HFSampler": "sampler",
    "OpenAISampler": "sampler",
    "Sample": "sampler",
    "Sampler": "sampler",
    "ScriptedSampler": "sampler",
    "VLLMSampler": "sampler",
    "init_tiny": "tiny",
}


def __getattr__(name: str) -> Any:  # PEP 562: import a name's module on first use
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'assay.agents' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"assay.agents.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "GRPO",
    "PPO",
    "Batch",
    "Episode",
    "EvalConfig",
    "EvalResult",
    "GRPOConfig",
    "HFSampler",
    "OpenAISampler",
    "PPOConfig",
    "RunConfig",
    "Sample",
    "Sampler",
    "ScriptedSampler",
    "VLLMSampler",
    "collect_episodes",
    "evaluate",
    "init_tiny",
    "load_config",
    "spot_check",
    "to_batch",
]
