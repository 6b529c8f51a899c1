"""An assay tool env's tools as verl agent-loop tools (verl >= 0.9, ``verl.tools.base_tool.BaseTool``).

verl's ``ToolAgentLoop`` reads a tool config file (``actor_rollout_ref.rollout.multi_turn.
tool_config_path``), builds one tool object per entry (``class_name``, ``config``,
``tool_schema``), and for every call the model makes runs ``create(create_kwargs=...)``,
``execute(instance_id, arguments, agent_data=...)``, ``release(instance_id)``; each dataset row's
``extra_info.tools_kwargs[tool_name].create_kwargs`` reaches ``create``.

- `verl_tool_config(env_id, **env_kwargs)` is that config for an assay `ToolEnv` (every tool,
  ``final_answer`` included, as an `AssayVerlTool` entry with the tool's own JSON schema);
  `write_verl_tool_config` writes it (JSON, which verl's YAML loader reads).
- `verl_dataset(env_id, n)` gives rows for verl's ``RLHFDataset``: ``prompt`` (the env's
  conversation), ``agent_name="tool_agent"``, ``data_source``, ``reward_model.ground_truth`` and
  ``extra_info`` with the ``task_id`` and the ``tools_kwargs`` that pin every call of the
  trajectory to that task.
- `AssayVerlTool` keeps one assay env per trajectory (verl's ``agent_data.request_id``; without
  it, the ``session`` create kwarg), reset on the row's task at its first call. A call runs
  through the env's own `ToolRunner` (same isolation, limits and error texts as ``env.step``);
  ``final_answer`` is scored by the env's verifier and rubric exactly as ``env.step`` scores it,
  its reward is the call's tool reward and `calc_reward` of any later instance of the trajectory,
  and the trajectory's env is closed. Score the final text with
  `assay.rewards.adapters.to_verl` for verl's reward manager.

Not guaranteed: trajectories that never call ``final_answer`` keep their env until
``max_sessions`` newer ones push it out (oldest first) or `AssayVerlTool.close_all` runs; each
env holds its tools' worker process. verl's trainer (GPU, Ray) is not exercised by the tests, which
call verl's own config loader and the tool lifecycle as its agent loop does.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any, ClassVar
from uuid import uuid4

from assay.envs.tools.calls import ToolCall
from assay.envs.tools.env import FINAL_ANSWER, ToolEnv
from assay.errors import AssayError
from assay.registry import make

try:  # verl is optional: without it the class is a plain object with the same methods
    from verl.tools.base_tool import BaseTool as _Base
except ImportError:  # pragma: no cover - depends on the venv
    _Base = object

__all__ = ["AssayVerlTool", "verl_dataset", "verl_tool_config", "write_verl_tool_config"]

CLASS_NAME = f"{__name__}.AssayVerlTool"


def _tool_env(env_id: str, env_kwargs: dict[str, Any]) -> tuple[Any, ToolEnv]:
    env = make(env_id, **env_kwargs)
    inner = env.unwrapped
    if not isinstance(inner, ToolEnv):
        env.close()
        raise AssayError(f"{env_id!r} is not a ToolEnv: verl tools need an env with tools")
    return env, inner


def verl_tool_config(env_id: str, **env_kwargs: Any) -> dict[str, Any]:
    """verl's tool config (``{"tools": [...]}``) for every tool of assay tool env ``env_id``."""
    env, inner = _tool_env(env_id, env_kwargs)
    try:
        return {
            "tools": [
                {
                    "class_name": CLASS_NAME,
                    "config": {"type": "native", "env_id": env_id, "env_kwargs": dict(env_kwargs)},
                    "tool_schema": schema,
                }
                for schema in inner.tool_schemas()
            ]
        }
    finally:
        env.close()


def write_verl_tool_config(path: str | Path, env_id: str, **env_kwargs: Any) -> Path:
    """Write `verl_tool_config` to ``path`` (JSON, a subset of YAML) and return the path."""
    path = Path(path)
    path.write_text(json.dumps(verl_tool_config(env_id, **env_kwargs), indent=2) + "\n", encoding="utf-8")
    return path


def verl_dataset(env_id: str, n: int, *, seed: int = 0, **env_kwargs: Any) -> list[dict[str, Any]]:
    """``n`` rows (tasks of seeds ``seed .. seed+n-1``) for verl's ``RLHFDataset`` with the tool agent."""
    env, inner = _tool_env(env_id, env_kwargs)
    names = [s["function"]["name"] for s in inner.tool_schemas()]
    rows = []
    try:
        for i in range(n):
            _, info = env.reset(seed=seed + i)
            task = inner.current_task()
            create = {"task_id": task.id}
            rows.append(
                {
                    "data_source": env_id,
                    "prompt": [dict(m) for m in inner.transcript],
                    "agent_name": "tool_agent",
                    "reward_model": {"style": "rule", "ground_truth": task.answer},
                    "extra_info": {
                        "task_id": info["task_id"],
                        "tools_kwargs": {name: {"create_kwargs": dict(create)} for name in names},
                    },
                }
            )
    finally:
        env.close()
    return rows


class _Session:
    """One trajectory's env, reset on its task, and the reward once ``final_answer`` is scored."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], task_id: str | None) -> None:
        self.env, self.inner = _tool_env(env_id, env_kwargs)
        self.env.reset(options={"task_id": task_id} if task_id is not None else None)
        self.reward: float | None = None


class AssayVerlTool(_Base):  # type: ignore[misc,valid-type]
    """One tool of an assay tool env as a verl ``BaseTool`` (see the module docstring).

    ``config``: ``{"type": "native", "env_id": ..., "env_kwargs": {...}}``; ``tool_schema``:
    verl's ``OpenAIFunctionToolSchema`` (or None: the env's own schema for ``config["name"]``).
    """

    max_sessions: ClassVar[int] = 4096
    _sessions: ClassVar[OrderedDict[tuple[str, str], _Session]] = OrderedDict()

    def __init__(self, config: dict[str, Any], tool_schema: Any = None) -> None:
        self.config = dict(config)
        self.env_id = str(self.config["env_id"])
        self.env_kwargs: dict[str, Any] = dict(self.config.get("env_kwargs") or {})
        self._key = json.dumps([self.env_id, self.env_kwargs], sort_keys=True, default=str)
        if tool_schema is None:
            schema = next(
                s
                for s in verl_tool_config(self.env_id, **self.env_kwargs)["tools"]
                if s["tool_schema"]["function"]["name"] == self.config["name"]
            )["tool_schema"]
            from verl.tools.schemas import OpenAIFunctionToolSchema

            tool_schema = OpenAIFunctionToolSchema.model_validate(schema)
        self.tool_schema = tool_schema
        self.name: str = tool_schema.function.name
        self._instances: dict[str, dict[str, Any]] = {}

    def get_openai_tool_schema(self) -> Any:
        return self.tool_schema

    async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, Any]:
        """Record the call's ``create_kwargs`` (``task_id``, optional ``session``)."""
        from verl.tools.schemas import ToolResponse

        instance_id = instance_id or str(uuid4())
        self._instances[instance_id] = dict(kwargs.get("create_kwargs") or {})
        return instance_id, ToolResponse()

    def _session(self, instance_id: str, agent_data: Any) -> tuple[tuple[str, str], _Session]:
        create = self._instances.get(instance_id, {})
        trajectory = getattr(agent_data, "request_id", None) or create.get("session") or instance_id
        key = (self._key, str(trajectory))
        session = self._sessions.get(key)
        if session is None:
            task_id = create.get("task_id")
            session = _Session(self.env_id, self.env_kwargs, None if task_id is None else str(task_id))
            self._sessions[key] = session
            while len(self._sessions) > self.max_sessions:
                _, old = self._sessions.popitem(last=False)
                old.env.close()
        else:
            self._sessions.move_to_end(key)
        return key, session

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[Any, float, dict[str, Any]]:
        """Run the call in the trajectory's env; ``final_answer`` returns the env's reward."""
        from verl.tools.schemas import ToolResponse

        key, session = self._session(instance_id, kwargs.get("agent_data"))
        inner = session.inner
        if session.reward is not None:
            return ToolResponse(text="error: the episode has ended"), 0.0, {"ok": False}
        if self.name == FINAL_ANSWER and session.inner.final_answer_tool:
            problems = session.inner.tool_list[-1].validate(parameters)
            if problems:
                return ToolResponse(text="error: " + "; ".join(problems)), 0.0, {"ok": False}
            completion = session.inner.answer_completion(str(parameters["answer"]))
            verdict, reward = inner.score(completion, inner.current_task())
            session.reward = float(reward.total)
            session.env.close()
            metrics = {"ok": True, "status": verdict.status.value, "score": verdict.score}
            return ToolResponse(text=str(parameters["answer"])), session.reward, metrics
        result = session.inner.runner.run(
            ToolCall(id=instance_id, name=self.name, arguments=dict(parameters))
        )
        return ToolResponse(text=result.content), 0.0, {"ok": result.ok}

    async def calc_reward(self, instance_id: str, **kwargs: Any) -> float:
        """The trajectory's ``final_answer`` reward (0.0 before it has answered)."""
        _, session = self._session(instance_id, kwargs.get("agent_data"))
        return 0.0 if session.reward is None else session.reward

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        """Forget the call; a trajectory whose answer has been scored also closes its env."""
        self._instances.pop(instance_id, None)

    @classmethod
    def close_session(cls, request_id: str) -> None:
        """Close the env of trajectory ``request_id`` (every env id)."""
        for key in [k for k in cls._sessions if k[1] == request_id]:
            cls._sessions.pop(key).env.close()

    @classmethod
    def close_all(cls) -> None:
        """Close every trajectory's env."""
        while cls._sessions:
            _, session = cls._sessions.popitem()
            session.env.close()
