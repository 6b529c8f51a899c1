"""Agents: samplers, rollouts and trainers (GRPO, PPO) that consume assay environments.

Importing this package imports torch (the ``train`` extra); ``import assay`` alone does not.
"""

from assay.agents.config import GRPOConfig, PPOConfig, RunConfig, load_config
from assay.agents.evaluate import EvalResult, evaluate
from assay.agents.grpo import GRPO
from assay.agents.ppo import PPO
from assay.agents.rollout import Batch, Episode, collect_episodes, to_batch
from assay.agents.sampler import HFSampler, OpenAISampler, Sample, Sampler, ScriptedSampler, VLLMSampler
from assay.agents.tiny import init_tiny

__all__ = [
    "GRPO",
    "PPO",
    "Batch",
    "Episode",
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
    "to_batch",
]
