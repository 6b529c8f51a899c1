"""The front door: `make`, `make_vec`, `register`, `list_envs`, on Gymnasium's own registry.

assay keeps no registry of its own: `register` is `gymnasium.register`, so every assay env is
also reachable as ``gymnasium.make("assay/<Name>-v<N>")``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any, Literal

import gymnasium as gym
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, VectorEnv

__all__ = ["describe", "group_seeds", "list_envs", "make", "make_vec", "register"]

NAMESPACE = "assay"


def register(id: str, entry_point: str | Callable[..., gym.Env[Any, Any]], **kwargs: Any) -> None:
    """Register an env with Gymnasium (``id`` like ``"assay/MyTask-v0"``; kwargs as gymnasium's)."""
    if id in gym.registry:
        raise ValueError(f"{id!r} is already registered; bump its version (-v1) for a new behaviour")
    gym.register(id=id, entry_point=entry_point, **kwargs)


def make(id: str, **kwargs: Any) -> gym.Env[Any, Any]:
    """``gymnasium.make(id, **kwargs)``: the env with Gymnasium's standard wrappers."""
    return gym.make(id, **kwargs)


def _env_fn(id: str, kwargs: dict[str, Any]) -> Callable[[], gym.Env[Any, Any]]:
    def fn() -> gym.Env[Any, Any]:
        import assay  # noqa: F401 - registers assay/* in a spawned worker

        return gym.make(id, **kwargs)

    return fn


def make_vec(
    id: str,
    num_envs: int,
    *,
    vectorization_mode: Literal["sync", "async"] = "async",
    autoreset_mode: AutoresetMode = AutoresetMode.DISABLED,
    backend: Literal["gymnasium", "ray"] = "gymnasium",
    **kwargs: Any,
) -> VectorEnv[Any, Any, Any]:
    """A vector of ``num_envs`` copies of env ``id`` (each built with ``kwargs``).

    ``"async"`` (default) steps each env in its own worker process, so verification (the costly
    part) runs in parallel; ``"sync"`` steps them in this process (a `assay.vector.TextSyncVectorEnv`:
    Gymnasium's ``SyncVectorEnv`` with cheaper per-sub-env bookkeeping, same results). Observations are tuples of
    ``str`` and arrive intact in both modes (no shared memory: text is pickled).

    Autoreset is off by default: reset explicitly, as RL rollouts over text do. For GRPO groups
    pass ``reset(seed=group_seeds(seed, num_prompts, group_size))``, which puts G copies of each
    task side by side, or ``reset(options={"task_id": ...})`` for G copies of one task.

    ``backend="ray"`` puts each env in a Ray actor instead (`assay.agents.distributed.RayVectorEnv`:
    the envs spread over a cluster, and a dead worker is replaced and its episode replayed);
    ``vectorization_mode`` is then ignored. Call ``ray.init`` first: assay never starts Ray.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    fns = [_env_fn(id, kwargs) for _ in range(num_envs)]
    if backend == "ray":
        from assay.agents.distributed.vector import RayVectorEnv

        return RayVectorEnv(fns, autoreset_mode=autoreset_mode)
    if backend != "gymnasium":
        raise ValueError(f"backend must be 'gymnasium' or 'ray', got {backend!r}")
    if vectorization_mode == "sync":
        from assay.vector import TextSyncVectorEnv

        return TextSyncVectorEnv(fns, autoreset_mode=autoreset_mode)
    if vectorization_mode == "async":
        return AsyncVectorEnv(fns, shared_memory=False, autoreset_mode=autoreset_mode)
    raise ValueError(f"vectorization_mode must be 'sync' or 'async', got {vectorization_mode!r}")


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
