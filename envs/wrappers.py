"""Wrappers for text envs: `ChatObservation` (observations as chat messages)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Space

from assay.envs.base import TextEnv
from assay.envs.spaces import is_utf8_text

__all__ = ["ChatObservation", "Messages"]

_ROLES = frozenset({"system", "user", "assistant", "tool"})


class Messages(Space[list[dict[str, str]]]):
    """A space of chat transcripts: lists of ``{"role": str, "content": str}``."""

    def __init__(self, max_chars: int, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)
        self.max_chars = max_chars

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        if not isinstance(x, Sequence) or isinstance(x, str):
            return False
        return all(
            isinstance(m, dict) and m.get("role") in _ROLES and is_utf8_text(m.get("content"), self.max_chars)
            for m in x
        )

    def sample(self, mask: Any = None, probability: Any = None) -> list[dict[str, str]]:
        n = int(self.np_random.integers(1, 20))
        text = "".join(chr(int(c)) for c in self.np_random.integers(32, 127, size=n))
        return [{"role": "user", "content": text}]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Messages) and other.max_chars == self.max_chars

    def __hash__(self) -> int:
        return hash((Messages, self.max_chars))


class ChatObservation(gym.ObservationWrapper[list[dict[str, str]], str, str]):
    """Observations become the conversation so far, as OpenAI-style chat messages.

    ``reset`` returns ``[system?, user prompt]``; each later step returns the whole transcript
    including the policy's own turns and the environment's replies. Actions stay plain strings
    (the assistant's next message).
    """

    def __init__(self, env: gym.Env[str, str]) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not isinstance(base, TextEnv):
            raise TypeError(f"ChatObservation wraps a TextEnv, got {type(base).__name__}")
        self.observation_space = Messages(base.max_chars)

    def observation(self, observation: str) -> list[dict[str, str]]:
        base = self.env.unwrapped
        assert isinstance(base, TextEnv)  # checked in __init__
        return [dict(m) for m in base.transcript]

    def step(self, action: str) -> tuple[list[dict[str, str]], SupportsFloat, bool, bool, dict[str, Any]]:
        return super().step(action)
