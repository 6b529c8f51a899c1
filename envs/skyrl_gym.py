"""`to_skyrl`: an assay env as a SkyRL-Gym env (``pip install skyrl-gym``).

SkyRL's generator (``SkyRLGymGenerator``) drives an env by name: ``skyrl_gym.make(env_class,
env_config=..., extras=row)`` where ``row`` is the dataset row without its prompt, then
``env.init(prompt_messages)``, then ``env.step(completion)`` until ``done``, then
``env.get_metrics()`` and ``env.close()``. ``to_skyrl("assay/Arithmetic-v0", level="easy")``
registers such a name in SkyRL-Gym's registry (by default the assay id itself) whose envs wrap
``assay.make(env_id, **kwargs)``:

- ``init`` resets the assay env on the row's task (``extras["extra_info"]["task_id"]`` or
  ``extras["task_id"]``; else ``seed`` there; else an unseeded reset) and returns the env's own
  conversation (its system prompt, with a tool env's tag instructions, then the task prompt): the
  dataset prompt is ignored, so a stale prompt cannot pair with another task's answer. The
  metadata holds ``task_id`` and, for tool envs, ``tools`` (the OpenAI tool schemas to pass to
  the chat template).
- ``step`` is the assay env's ``step``: ``reward`` is assay's reward for that step (the rubric's
  total on the final step; per-turn terms otherwise), ``done`` is ``terminated or truncated``,
  ``observations`` are the transcript entries the step added after the assistant message (a tool
  env's ``{"role": "tool", ...}`` results, or a ``{"role": "user", ...}`` reply), and
  ``metadata`` carries the verdict's status, score and reason and the reward terms.
- ``get_metrics`` gives ``turns``, ``correct`` (1.0 when the final verdict is CORRECT) and
  ``score`` (the verdict's score) once the episode has ended.

`skyrl_dataset` writes rows in SkyRL's dataset layout (``prompt``, ``env_class``,
``reward_spec``, ``extra_info``) for an env's tasks. Stepping an env after ``done`` raises, as
Gymnasium's order checks do; SkyRL never does.

Not guaranteed: SkyRL's trainer itself (``skyrl-train``, GPU and Ray) is not exercised here; the
tests drive the env through ``skyrl_gym.make`` and the init/step/close contract its generator
follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assay.envs.base import TextEnv
from assay.errors import AssayError
from assay.registry import make
from assay.verifiers.base import Status, Verdict

__all__ = ["SkyRLEnv", "skyrl_dataset", "to_skyrl"]


def _text_env(env: Any, env_id: str) -> TextEnv:
    inner = env.unwrapped
    if not isinstance(inner, TextEnv):
        raise AssayError(f"{env_id!r} is not an assay TextEnv ({type(inner).__name__})")
    return inner


def _task_choice(extras: Mapping[str, Any]) -> tuple[str | None, int | None]:
    info = extras.get("extra_info") or {}
    if not isinstance(info, Mapping):
        info = {}
    task_id = info.get("task_id", extras.get("task_id"))
    seed = info.get("seed", extras.get("seed"))
    return (None if task_id is None else str(task_id)), (None if seed is None else int(seed))


class SkyRLEnv:
    """One assay env behind SkyRL-Gym's ``BaseTextEnv`` contract (see the module docstring).

    `to_skyrl` registers a subclass that also derives from ``skyrl_gym``'s ``BaseTextEnv``; this
    class holds the behaviour and needs no SkyRL import.
    """

    def __init__(
        self,
        env_config: Any = None,
        extras: Mapping[str, Any] | None = None,
        *,
        assay_id: str,
        assay_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.env_config = env_config
        self.extras: dict[str, Any] = dict(extras or {})
        self.env = make(assay_id, **dict(assay_kwargs or {}))
        self.assay_id = assay_id
        self.inner = _text_env(self.env, assay_id)
        self.turns = 0
        self.max_turns = int(getattr(self.env.unwrapped, "max_turns", 1))
        self.tool_groups: list[Any] = []
        self.tool_to_toolgroup: dict[str, Any] = {}
        self._verdict: Verdict | None = None
        self._started = False

    def init(self, prompt: Any = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Reset on the row's task; return the env's conversation and ``{"task_id", "tools"?}``."""
        task_id, seed = _task_choice(self.extras)
        options = {"task_id": task_id} if task_id is not None else None
        _, info = self.env.reset(seed=seed, options=options)
        inner = self.inner
        self.turns = 0
        self._verdict = None
        self._started = True
        conversation = [dict(m) for m in inner.transcript]
        metadata: dict[str, Any] = {"task_id": info.get("task_id")}
        if "tools" in info:
            metadata["tools"] = info["tools"]
        return conversation, metadata

    def step(self, action: str) -> dict[str, Any]:
        """One assay ``step``, as SkyRL's ``BaseTextEnvStepOutput`` (a plain dict)."""
        if not self._started:
            raise AssayError(f"{self.assay_id}: call init() before step()")
        inner = self.inner
        before = len(inner.transcript)
        _, reward, terminated, truncated, info = self.env.step(action)
        self.turns += 1
        added = [dict(m) for m in inner.transcript[before:]]
        if added and added[0].get("role") == "assistant":
            added = added[1:]
        done = bool(terminated or truncated)
        verdict = info.get("verdict")
        metadata: dict[str, Any] = {
            "task_id": info.get("task_id"),
            "turn": self.turns,
            "terminated": bool(terminated),
            "truncated": bool(truncated),
            "reward_terms": dict(info.get("reward_terms") or {}),
        }
        if isinstance(verdict, Verdict):
            metadata.update(status=verdict.status.value, score=verdict.score, reason=verdict.reason)
            if done:
                self._verdict = verdict
        if done:
            self._started = False
        return {
            "observations": [] if done else added,
            "reward": float(reward),
            "done": done,
            "metadata": metadata,
            "postprocessed_action": None,
        }

    def get_metrics(self) -> dict[str, Any]:
        """``turns``, and once the episode has ended ``correct`` and ``score`` of its verdict."""
        metrics: dict[str, Any] = {"turns": self.turns}
        if self._verdict is not None:
            metrics["correct"] = float(self._verdict.status is Status.CORRECT)
            metrics["score"] = float(self._verdict.score)
        return metrics

    @staticmethod
    def aggregate_metrics(metrics: list[dict[str, Any]]) -> dict[str, Any]:
        """Mean of each numeric metric over the episodes that report it."""
        keys = sorted({k for m in metrics for k, v in m.items() if isinstance(v, (int, float))})
        out: dict[str, Any] = {}
        for k in keys:
            values = [float(m[k]) for m in metrics if isinstance(m.get(k), (int, float))]
            out[f"avg_{k}"] = sum(values) / len(values)
        return out

    def close(self) -> None:
        self.env.close()


class _Creator:
    """The entry point `to_skyrl` registers: builds a `SkyRLEnv` that is also a ``BaseTextEnv``."""

    def __init__(self, env_id: str, kwargs: Mapping[str, Any], base: type) -> None:
        self.env_id = env_id
        self.kwargs = dict(kwargs)
        self.cls = type("AssaySkyRLEnv", (SkyRLEnv, base), {"__module__": __name__})

    def __call__(self, env_config: Any = None, extras: Mapping[str, Any] | None = None, **_: Any) -> Any:
        return self.cls(env_config, extras, assay_id=self.env_id, assay_kwargs=self.kwargs)


def to_skyrl(env_id: str, *, name: str | None = None, **kwargs: Any) -> str:
    """Register assay env ``env_id`` (built with ``kwargs``) in SkyRL-Gym's registry; return its name.

    ``name`` defaults to ``env_id``; registering a name twice replaces the first (so kwargs can
    change). Use the name as the dataset's ``env_class`` (see `skyrl_dataset`). Raises
    `AssayError` when ``skyrl_gym`` is not installed or ``env_id`` is not an assay env.
    """
    try:
        import skyrl_gym
        from skyrl_gym.envs.base_text_env import BaseTextEnv
        from skyrl_gym.envs.registration import registry
    except ImportError as e:
        raise AssayError("to_skyrl needs skyrl-gym: pip install skyrl-gym") from e
    import assay.envs  # noqa: F401 - registers assay/*
    from assay.registry import list_envs

    if env_id not in list_envs():
        raise AssayError(f"{env_id!r} is not a registered assay env")
    name = name or env_id
    registry.pop(name, None)
    skyrl_gym.register(id=name, entry_point=_Creator(env_id, kwargs, BaseTextEnv))
    return name


def skyrl_dataset(
    env_id: str, n: int, *, name: str | None = None, seed: int = 0, **kwargs: Any
) -> list[dict[str, Any]]:
    """``n`` rows in SkyRL's dataset layout for env ``env_id``'s tasks (seeds ``seed .. seed+n-1``).

    Each row: ``prompt`` (the env's conversation), ``env_class`` (``name`` or ``env_id``),
    ``reward_spec`` (``{"method": "rule", "ground_truth": task.answer}``, for SkyRL's logging;
    the env scores with its own verifier) and ``extra_info`` (``{"task_id", "seed"}``, which
    `SkyRLEnv.init` reads). Write it with ``datasets.Dataset.from_list(rows).to_parquet(...)``.
    """
    env = make(env_id, **kwargs)
    rows = []
    try:
        for i in range(n):
            _, info = env.reset(seed=seed + i)
            inner = _text_env(env, env_id)
            task = inner.current_task()
            rows.append(
                {
                    "prompt": [dict(m) for m in inner.transcript],
                    "env_class": name or env_id,
                    "reward_spec": {"method": "rule", "ground_truth": task.answer},
                    "extra_info": {"task_id": info["task_id"], "seed": seed + i},
                }
            )
    finally:
        env.close()
    return rows
