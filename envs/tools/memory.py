"""A key-value memory for one episode: ``remember(key, value)`` and ``recall(key)``.

The store is per-episode state: `ToolEnv` clears it at every reset.
"""

from __future__ import annotations

from assay.envs.tools.tool import Tool

__all__ = ["Memory"]


class Memory:
    """The store behind the memory tools (at most ``max_keys`` keys of ``max_chars`` each)."""

    def __init__(self, *, max_keys: int = 64, max_chars: int = 2_000) -> None:
        self.max_keys, self.max_chars = max_keys, max_chars
        self.data: dict[str, str] = {}

    def remember(self, key: str, value: str) -> str:
        """Store a value under a key (replacing any earlier value), for later turns of this episode.

        Args:
            key: A short name, e.g. ``founder``.
            value: The text to keep.
        """
        if not key.strip():
            raise ValueError("the key must not be empty")
        if len(key) > 100 or len(value) > self.max_chars:
            raise ValueError(f"keys hold up to 100 characters and values up to {self.max_chars}")
        if key not in self.data and len(self.data) >= self.max_keys:
            raise ValueError(f"memory is full ({self.max_keys} keys)")
        self.data[key] = value
        return f"stored {key!r}"

    def recall(self, key: str) -> str:
        """The value stored under a key (an empty key lists the keys).

        Args:
            key: The key given to remember.
        """
        if not key:
            return ", ".join(sorted(self.data)) or "(memory is empty)"
        if key not in self.data:
            known = ", ".join(sorted(self.data)) or "none"
            raise KeyError(f"nothing stored under {key!r}; keys: {known}")
        return self.data[key]

    def reset(self) -> None:
        self.data.clear()

    def close(self) -> None:
        self.data.clear()

    def tools(self) -> list[Tool]:
        """``remember`` and ``recall``, sharing this store."""
        return [
            Tool.from_function(self.remember, name="remember", isolation="inline", state=self),
            Tool.from_function(self.recall, name="recall", isolation="inline", state=self),
        ]
