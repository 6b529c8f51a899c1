"""`TextSyncVectorEnv`: Gymnasium's `SyncVectorEnv` with cheaper bookkeeping, for text envs.

A GRPO step resets and steps a vector of many one-shot text envs; the env work per sub-env is a
few microseconds, so Gymnasium's per-sub-env bookkeeping was a large share of the cost:
`VectorEnv._add_info` allocated a fresh mask array for every key of every sub-env's ``info`` (to
use as a ``dict.get`` default) and built a list per value to check its type; ``step`` indexed numpy
arrays one element at a time to read the autoreset flags; and ``copy=True`` deep-copied the tuple
of observations, which for a tuple of ``str`` returns that same tuple after visiting every string.

`TextSyncVectorEnv` is a `gymnasium.vector.SyncVectorEnv` (construction, spaces, ``call``,
``get_attr``, ``set_attr``, ``render``, ``close`` are inherited) whose ``reset``, ``step`` and
``_add_info`` do the same work in the same order without that overhead: the same observations,
rewards, flags and ``info`` arrays (dtypes, ``_key`` masks, key order, nested dicts,
``final_obs``/``final_info``), every autoreset mode and ``reset_mask``, the same errors for bad
seeds, masks and actions. Tests compare it with `SyncVectorEnv` call by call. The one visible
difference is its name in ``repr``.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import concatenate, iterate

__all__ = ["TextSyncVectorEnv"]

_SCALAR_TYPES = (int, float, bool)


def _copy_observations(observations: Any) -> Any:
    """``deepcopy(observations)``, short-cut for a tuple of ``str`` (which deepcopy returns as is)."""
    if type(observations) is tuple and all(type(o) is str for o in observations):
        return observations
    return deepcopy(observations)


class TextSyncVectorEnv(SyncVectorEnv[Any, Any]):
    """`gymnasium.vector.SyncVectorEnv`, with the same results at a lower cost per sub-env.

    Built by ``assay.make_vec(..., vectorization_mode="sync")``; takes `SyncVectorEnv`'s arguments.
    """

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        n = self.num_envs
        if seed is None:
            seed = [None] * n
        elif isinstance(seed, int):
            seed = [seed + i for i in range(n)]
        if len(seed) != n:
            raise ValueError(
                f"If seeds are passed as a list the length must match num_envs={n} but got length={len(seed)}."
            )
        infos: dict[str, Any] = {}
        env_obs = self._env_obs
        if options is not None and "reset_mask" in options:
            reset_mask = options.pop("reset_mask")  # as SyncVectorEnv: the caller's dict loses it
            if not isinstance(reset_mask, np.ndarray):
                raise TypeError(f"`options['reset_mask']` must be a numpy array, got {type(reset_mask)}")
            if reset_mask.shape != (n,):
                raise ValueError(f"`options['reset_mask']` must have shape `({n},)`, got {reset_mask.shape}")
            if reset_mask.dtype != np.bool_:
                raise TypeError(f"`options['reset_mask']` must have `dtype=np.bool_`, got {reset_mask.dtype}")
            if not np.any(reset_mask):
                raise ValueError(
                    "`options['reset_mask']` must contain a boolean array with at least one True "
                    f"value, got reset_mask={reset_mask}"
                )
            self._terminations[reset_mask] = False
            self._truncations[reset_mask] = False
            self._autoreset_envs[reset_mask] = False
            for i, (env, single_seed, env_mask) in enumerate(
                zip(self.envs, seed, reset_mask.tolist(), strict=True)
            ):
                if env_mask:
                    env_obs[i], env_info = env.reset(seed=single_seed, options=options)
                    infos = self._add_info(infos, env_info, i)
        else:
            self._terminations = np.zeros((n,), dtype=np.bool_)
            self._truncations = np.zeros((n,), dtype=np.bool_)
            self._autoreset_envs = np.zeros((n,), dtype=np.bool_)
            for i, (env, single_seed) in enumerate(zip(self.envs, seed, strict=True)):
                env_obs[i], env_info = env.reset(seed=single_seed, options=options)
                infos = self._add_info(infos, env_info, i)
        self._observations = concatenate(self.single_observation_space, env_obs, self._observations)
        return _copy_observations(self._observations) if self.copy else self._observations, infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions_iter = iterate(self.action_space, actions)
        mode = self.autoreset_mode
        envs, env_obs = self.envs, self._env_obs
        rewards, terminations, truncations = self._rewards, self._terminations, self._truncations
        autoreset = self._autoreset_envs.tolist()
        infos: dict[str, Any] = {}
        for i, (action, _) in enumerate(zip(actions_iter, envs, strict=True)):
            env = envs[i]
            if mode == AutoresetMode.NEXT_STEP:
                if autoreset[i]:
                    env_obs[i], env_info = env.reset()
                    rewards[i] = 0.0
                    terminations[i] = False
                    truncations[i] = False
                else:
                    env_obs[i], rewards[i], terminations[i], truncations[i], env_info = env.step(action)
            elif mode == AutoresetMode.DISABLED:
                assert not autoreset[i], f"self._autoreset_envs={self._autoreset_envs!r}"
                env_obs[i], rewards[i], terminations[i], truncations[i], env_info = env.step(action)
            elif mode == AutoresetMode.SAME_STEP:
                env_obs[i], rewards[i], terminations[i], truncations[i], env_info = env.step(action)
                if terminations[i] or truncations[i]:
                    infos = self._add_info(infos, {"final_obs": env_obs[i], "final_info": env_info}, i)
                    env_obs[i], env_info = env.reset()
            else:
                raise ValueError(f"Unexpected autoreset mode, {mode}")
            infos = self._add_info(infos, env_info, i)
        self._observations = concatenate(self.single_observation_space, env_obs, self._observations)
        self._autoreset_envs = np.logical_or(terminations, truncations)
        return (
            _copy_observations(self._observations) if self.copy else self._observations,
            np.copy(rewards),
            np.copy(terminations),
            np.copy(truncations),
            infos,
        )

    def _add_info(
        self, vector_infos: dict[str, Any], env_info: dict[str, Any], env_num: int
    ) -> dict[str, Any]:
        """`VectorEnv._add_info` (the same arrays, masks and key order), without its per-key waste."""
        n = self.num_envs
        for key, value in env_info.items():
            if key == "final_obs":
                if "final_obs" in vector_infos:
                    array = vector_infos["final_obs"]
                else:
                    array = np.full(n, fill_value=None, dtype=object)
                array[env_num] = value
            elif isinstance(value, dict):
                array = self._add_info(vector_infos.get(key, {}), value, env_num)
            else:
                if key in vector_infos:
                    array = vector_infos[key]
                else:
                    kind = type(value)
                    if kind in _SCALAR_TYPES or issubclass(kind, np.number):
                        array = np.zeros(n, dtype=kind)
                    elif isinstance(value, np.ndarray):
                        array = np.zeros((n, *value.shape), dtype=value.dtype)
                    else:
                        array = np.full(n, fill_value=None, dtype=object)
                array[env_num] = value
            mask_key = f"_{key}"
            mask = vector_infos[mask_key] if mask_key in vector_infos else np.zeros(n, dtype=np.bool_)
            mask[env_num] = True
            vector_infos[key], vector_infos[mask_key] = array, mask
        return vector_infos
