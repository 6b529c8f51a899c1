"""The registry: `make`, `register`, `list_envs`, on Gymnasium's own registry.

assay keeps no registry of its own: `register` is `gymnasium.register`, so every assay env is
also reachable as ``gymnasium.make("assay/<Name>-v<N>")``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import gymnasium as gym

__all__ = ["describe", "group_seeds", "list_envs", "make", "register"]

NAMESPACE = "assay"


def register(id: str, entry_point: str | Callable[..., gym.Env[Any, Any]], **kwargs: Any) -> None:
    """Register an env with Gymnasium (``id`` like ``"assay/MyTask-v0"``; kwargs as gymnasium's)."""
    if id in gym.registry:
        raise ValueError(f"{id!r} is already registered; bump its version (-v1) for a new behaviour")
    gym.register(id=id, entry_point=entry_point, **kwargs)


def make(id: str, **kwargs: Any) -> gym.Env[Any, Any]:
    """``gymnasium.make(id, **kwargs)``: the env with Gymnasium's standard wrappers."""
    return gym.make(id, **kwargs)


def group_seeds(seed: int, num_prompts: int, group_size: int) -> list[int]:
    """Seeds for a vector reset that yields ``num_prompts`` groups of ``group_size`` copies.

    ``[s0]*G + [s1]*G + ...`` with ``s_i`` derived from ``seed`` (distinct across prompts).
    """
    if num_prompts < 1 or group_size < 1:
        raise ValueError("num_prompts and group_size must be >= 1")
    import numpy as np

    seeds = np.random.SeedSequence(seed).generate_state(num_prompts, dtype=np.uint32)
    return [int(s) for s in seeds for _ in range(group_size)]


def list_envs(namespace: str = NAMESPACE) -> list[str]:
    """The ids of every registered env in ``namespace``, sorted."""
    return sorted(i for i, spec in gym.registry.items() if spec.namespace == namespace)


def describe(id: str) -> str:
    """The first line of the env class's docstring (imports the env's module)."""
    entry = gym.spec(id).entry_point
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    doc = inspect.getdoc(entry) or ""
    return doc.strip().splitlines()[0].replace("``", "`") if doc.strip() else ""
