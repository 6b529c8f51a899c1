"""`ToolChat`: observations as an OpenAI chat request, ``{"messages": [...], "tools": [...]}``.

Wrap a `ToolEnv` and each observation is exactly the keyword arguments of a chat-completions
call: the conversation so far (`ToolEnv.chat`: assistant ``tool_calls`` as structured objects in
JSON format, one ``tool`` message per result) and the tool schemas. Actions stay strings.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Space

from assay.envs.tools.env import ToolEnv

__all__ = ["ChatRequest", "ToolChat"]

_ROLES = frozenset({"system", "user", "assistant", "tool"})


class ChatRequest(Space[dict[str, Any]]):
    """A space of ``{"messages": [{"role", ...}], "tools": [...]}`` dicts."""

    def __init__(self, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        if not isinstance(x, dict) or set(x) != {"messages", "tools"}:
            return False
        messages, tools = x["messages"], x["tools"]
        return (
            isinstance(messages, list)
            and all(isinstance(m, dict) and m.get("role") in _ROLES for m in messages)
            and isinstance(tools, list)
            and all(isinstance(t, dict) and t.get("type") == "function" for t in tools)
        )

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": "hello"}], "tools": []}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChatRequest)

    def __hash__(self) -> int:
        return hash(ChatRequest)


class ToolChat(gym.ObservationWrapper[dict[str, Any], str, str]):
    """Observations become ``{"messages": env.chat(), "tools": env.tool_schemas()}``."""

    def __init__(self, env: gym.Env[str, str]) -> None:
        super().__init__(env)
        if not isinstance(env.unwrapped, ToolEnv):
            raise TypeError(f"ToolChat wraps a ToolEnv, got {type(env.unwrapped).__name__}")
        self.observation_space = ChatRequest()

    def observation(self, observation: str) -> dict[str, Any]:
        base = self.env.unwrapped
        assert isinstance(base, ToolEnv)  # checked in __init__
        return {"messages": base.chat(), "tools": base.tool_schemas()}

    def step(self, action: str) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        return super().step(action)
