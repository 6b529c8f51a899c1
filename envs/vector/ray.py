"""`RayVectorEnv`: a Gymnasium `VectorEnv` whose sub-envs live in Ray actors.

Each sub-env is one actor; ``reset`` and ``step`` call all of them at once and gather the
results, which come back exactly as Gymnasium's own vector envs return them (observations as
a tuple of ``str`` for text envs, ``info`` values as arrays, one entry per env).

**A worker that dies is replaced.** The vector env keeps, for each sub-env, the current
episode: the ``reset`` arguments and the actions since. When an actor dies (its node goes
away, its process is killed), a new actor is started, the episode is replayed into it, and
the failed call is retried, up to ``max_restarts`` times per sub-env. Replay is exact for
seeded resets and for the tasks of assay envs (a reset with ``seed=None`` is replayed by its
``task_id``); an env whose state depends on anything else (wall-clock, external services)
is replayed only as far as that allows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from copy import deepcopy
from typing import Any

import numpy as np
from gymnasium import Env
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate

from assay.envs.vector._ray import require_ray

__all__ = ["RayVectorEnv"]


class _EnvWorker:
    """Holds one env (runs inside a Ray actor)."""

    def __init__(self, env_fn: Callable[[], Env[Any, Any]]) -> None:
        self.env = env_fn()

    def describe(self) -> tuple[Any, Any, dict[str, Any], str | None]:
        return (
            self.env.observation_space,
            self.env.action_space,
            dict(self.env.metadata),
            self.env.render_mode,
        )

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, float(reward), bool(terminated), bool(truncated), info

    def replay(self, log: list[tuple[str, Any, Any]]) -> None:
        for kind, a, b in log:
            if kind == "reset":
                self.env.reset(seed=a, options=b)
            else:
                self.env.step(a)

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        attr = self.env.get_wrapper_attr(name)
        return attr(*args, **kwargs) if callable(attr) else attr

    def set_attr(self, name: str, value: Any) -> None:
        self.env.set_wrapper_attr(name, value)

    def pid(self) -> int:
        import os

        return os.getpid()

    def close(self) -> None:
        self.env.close()


class RayVectorEnv(VectorEnv[Any, Any, Any]):
    """``len(env_fns)`` sub-envs, one per Ray actor (see the module docstring).

    Args:
        env_fns: Zero-argument callables that build each sub-env (run inside the actors, so
            they must be picklable and import what they need).
        autoreset_mode: Gymnasium's autoreset mode (default ``DISABLED``: reset explicitly).
        max_restarts: How many times each sub-env's actor may be replaced after dying.
        actor_options: Passed to ``ray.remote`` for each actor (e.g. ``{"num_cpus": 1}``;
            default ``{"num_cpus": 0}``: actors hold no CPU reservation, like Ray's default for
            a running actor).
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], Env[Any, Any]]],
        *,
        autoreset_mode: AutoresetMode = AutoresetMode.DISABLED,
        max_restarts: int = 3,
        actor_options: dict[str, Any] | None = None,
    ) -> None:
        ray = require_ray()
        if not env_fns:
            raise ValueError("need at least one env_fn")
        self._ray = ray
        self._actor_cls = ray.remote(**(actor_options or {"num_cpus": 0}))(_EnvWorker)
        self.env_fns = list(env_fns)
        self.num_envs = len(env_fns)
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.max_restarts = max_restarts
        self.restarts = [0] * self.num_envs
        """How many times each sub-env's actor was replaced."""
        self.workers = [self._actor_cls.remote(fn) for fn in self.env_fns]
        obs_space, act_space, metadata, render_mode = ray.get(self.workers[0].describe.remote())
        self.single_observation_space = obs_space
        self.single_action_space = act_space
        self.observation_space = batch_space(obs_space, self.num_envs)
        self.action_space = batch_space(act_space, self.num_envs)
        self.metadata = {**metadata, "autoreset_mode": self.autoreset_mode}
        self.render_mode = render_mode
        self._logs: list[list[tuple[str, Any, Any]]] = [[] for _ in range(self.num_envs)]
        self._autoreset = np.zeros(self.num_envs, dtype=np.bool_)
        self._observations: Any = create_empty_array(obs_space, n=self.num_envs, fn=np.zeros)
        self.closed = False

    # -- fault tolerance -------------------------------------------------------------------------

    def _respawn(self, i: int, error: BaseException) -> None:
        if self.restarts[i] >= self.max_restarts:
            raise RuntimeError(f"sub-env {i}: its Ray actor died {self.restarts[i] + 1} times") from error
        self.restarts[i] += 1
        with contextlib.suppress(Exception):  # the actor is already gone
            self._ray.kill(self.workers[i], no_restart=True)
        self.workers[i] = self._actor_cls.remote(self.env_fns[i])
        self._ray.get(self.workers[i].replay.remote(self._logs[i]))

    def _gather(self, calls: dict[int, tuple[str, tuple[Any, ...]]]) -> dict[int, Any]:
        """Call ``method(*args)`` on the given sub-envs at once; retry on replaced actors."""
        refs = {i: getattr(self.workers[i], m).remote(*args) for i, (m, args) in calls.items()}
        out: dict[int, Any] = {}
        for i, ref in refs.items():
            while True:
                try:
                    out[i] = self._ray.get(ref)
                    break
                except self._ray.exceptions.RayActorError as e:
                    self._respawn(i, e)
                    m, args = calls[i]
                    ref = getattr(self.workers[i], m).remote(*args)
        return out

    def _record_reset(
        self, i: int, seed: int | None, options: dict[str, Any] | None, info: dict[str, Any]
    ) -> None:
        if seed is None and not options and "task_id" in info:
            options = {"task_id": info["task_id"]}  # replay the same task, not a fresh random one
        self._logs[i] = [("reset", seed, deepcopy(options))]

    # -- the VectorEnv API ---------------------------------------------------------------------

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for num_envs={self.num_envs}")
        options = dict(options) if options is not None else None
        mask = np.ones(self.num_envs, dtype=np.bool_)
        if options is not None and "reset_mask" in options:
            mask = np.asarray(options.pop("reset_mask"), dtype=np.bool_)
            if mask.shape != (self.num_envs,) or not mask.any():
                raise ValueError(f"reset_mask must be a bool array of shape ({self.num_envs},) with a True")
        picked = [i for i in range(self.num_envs) if mask[i]]
        done = self._gather({i: ("reset", (seeds[i], options)) for i in picked})
        obs = list(iterate(self.observation_space, self._observations))
        infos: dict[str, Any] = {}
        for i in picked:
            obs[i], info = done[i]
            self._record_reset(i, seeds[i], options, info)
            self._autoreset[i] = False
            infos = self._add_info(infos, info, i)
        self._observations = concatenate(self.single_observation_space, obs, self._observations)
        return deepcopy(self._observations), infos

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        acts = list(iterate(self.action_space, actions))
        calls: dict[int, tuple[str, tuple[Any, ...]]] = {}
        for i, a in enumerate(acts):
            if self.autoreset_mode is AutoresetMode.NEXT_STEP and self._autoreset[i]:
                calls[i] = ("reset", (None, None))
            else:
                calls[i] = ("step", (a,))
        done = self._gather(calls)
        obs: list[Any] = [None] * self.num_envs
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terms = np.zeros(self.num_envs, dtype=np.bool_)
        truncs = np.zeros(self.num_envs, dtype=np.bool_)
        infos: dict[str, Any] = {}
        finished: list[int] = []
        for i in range(self.num_envs):
            if calls[i][0] == "reset":
                obs[i], info = done[i]
                self._record_reset(i, None, None, info)
            else:
                obs[i], rewards[i], terms[i], truncs[i], info = done[i]
                self._logs[i].append(("step", acts[i], None))
                if terms[i] or truncs[i]:
                    finished.append(i)
            if self.autoreset_mode is AutoresetMode.SAME_STEP and (terms[i] or truncs[i]):
                infos = self._add_info(infos, {"final_obs": obs[i], "final_info": info}, i)
            else:
                infos = self._add_info(infos, info, i)
        if self.autoreset_mode is AutoresetMode.SAME_STEP and finished:
            again = self._gather({i: ("reset", (None, None)) for i in finished})
            for i in finished:
                obs[i], info = again[i]
                self._record_reset(i, None, None, info)
                infos = self._add_info(infos, info, i)
        self._autoreset = terms | truncs
        self._observations = concatenate(self.single_observation_space, obs, self._observations)
        return deepcopy(self._observations), rewards, terms, truncs, infos

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call (or read) ``name`` on every sub-env."""
        done = self._gather({i: ("call", (name, args, kwargs)) for i in range(self.num_envs)})
        return tuple(done[i] for i in range(self.num_envs))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """The attribute ``name`` of every sub-env."""
        return self.call(name)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        """Set ``name`` on every sub-env (one value for all, or one per sub-env)."""
        if not isinstance(values, list | tuple):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"need {self.num_envs} values, got {len(values)}")
        self._gather({i: ("set_attr", (name, values[i])) for i in range(self.num_envs)})

    def worker_pids(self) -> list[int]:
        """The process id of each sub-env's actor (for monitoring and fault-injection tests)."""
        done = self._gather({i: ("pid", ()) for i in range(self.num_envs)})
        return [int(done[i]) for i in range(self.num_envs)]

    def close_extras(self, **kwargs: Any) -> None:
        if self.closed:
            return
        for w in self.workers:
            with contextlib.suppress(Exception):  # closing a dead actor: nothing left to close
                self._ray.get(w.close.remote(), timeout=10)
            self._ray.kill(w, no_restart=True)
