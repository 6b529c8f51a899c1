"""Vector envs over text: `make_vec`, the in-process `TextSyncVectorEnv` and the Ray `RayVectorEnv`.

``make_vec`` is re-exported as ``assay.make_vec``. ``sync.py`` is a fast path (Gymnasium's
``SyncVectorEnv`` with cheaper per-sub-env bookkeeping, tested call by call against it);
``ray.py`` spreads envs over a Ray cluster (the ``ray`` extra; ray is imported only when used).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import gymnasium as gym
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, VectorEnv

from assay.envs.vector.ray import RayVectorEnv
from assay.envs.vector.sync import TextSyncVectorEnv

__all__ = ["RayVectorEnv", "TextSyncVectorEnv", "make_vec"]


def _env_fn(id: str, kwargs: dict[str, Any]) -> Callable[[], gym.Env[Any, Any]]:
    def fn() -> gym.Env[Any, Any]:
        import assay.envs  # noqa: F401 - registers assay/* in a spawned worker
        from assay.registry import make

        return make(id, **kwargs)  # env packages (entry points) load here too

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
    part) runs in parallel; ``"sync"`` steps them in this process (a `TextSyncVectorEnv`:
    Gymnasium's ``SyncVectorEnv`` with cheaper per-sub-env bookkeeping, same results). Observations are tuples of
    ``str`` and arrive intact in both modes (no shared memory: text is pickled).

    Autoreset is off by default: reset explicitly, as RL rollouts over text do. For GRPO groups
    pass ``reset(seed=group_seeds(seed, num_prompts, group_size))``, which puts G copies of each
    task side by side, or ``reset(options={"task_id": ...})`` for G copies of one task.

    ``backend="ray"`` puts each env in a Ray actor instead (`RayVectorEnv`:
    the envs spread over a cluster, and a dead worker is replaced and its episode replayed);
    ``vectorization_mode`` is then ignored. Call ``ray.init`` first: assay never starts Ray.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    fns = [_env_fn(id, kwargs) for _ in range(num_envs)]
    if backend == "ray":
        return RayVectorEnv(fns, autoreset_mode=autoreset_mode)
    if backend != "gymnasium":
        raise ValueError(f"backend must be 'gymnasium' or 'ray', got {backend!r}")
    if vectorization_mode == "sync":
        return TextSyncVectorEnv(fns, autoreset_mode=autoreset_mode)
    if vectorization_mode == "async":
        return AsyncVectorEnv(fns, shared_memory=False, autoreset_mode=autoreset_mode)
    raise ValueError(f"vectorization_mode must be 'sync' or 'async', got {vectorization_mode!r}")
