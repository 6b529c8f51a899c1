"""Trajectory records: what the policy saw and did, turn by turn, serialisable to JSONL.

A `Trajectory` holds the whole conversation (``messages``, in the OpenAI API's form), the tool
schemas offered, and one `Turn` per step: the action, the observation, the step's reward and its
terms, the tool calls and results, and the token ids and log-probs when the policy returned
them. `rollout` plays one episode with a policy; `ScriptedPolicy` replays fixed actions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from assay.envs.base import TextEnv
from assay.verifiers.base import Verdict

__all__ = ["Policy", "ScriptedPolicy", "Trajectory", "Turn", "read_jsonl", "rollout", "write_jsonl"]

Policy = Callable[[list[dict[str, Any]]], Any]
"""``policy(messages) -> str`` or an object with ``.text`` (and optionally ``.token_ids``,
``.logprobs``), such as a sampler's ``Sample``."""


@dataclass
class Turn:
    """One step of an episode."""

    action: str
    observation: str
    reward: float
    reward_terms: dict[str, float] = field(default_factory=dict)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_results: list[dict[str, Any]] = field(default_factory=list)
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None


@dataclass
class Trajectory:
    """One episode, as recorded by `rollout`."""

    task_id: str
    messages: list[dict[str, Any]]
    turns: list[Turn]
    total_reward: float
    terminated: bool
    truncated: bool
    verdict: dict[str, Any] | None
    tools: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trajectory:
        fields = dict(data)
        fields["turns"] = [Turn(**t) for t in data["turns"]]
        return cls(**fields)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Trajectory:
        return cls.from_dict(json.loads(line))


def write_jsonl(path: str | Path, trajectories: Iterable[Trajectory]) -> None:
    """One trajectory a line (UTF-8)."""
    with Path(path).open("w", encoding="utf-8") as f:
        f.writelines(t.to_json() + "\n" for t in trajectories)


def read_jsonl(path: str | Path) -> list[Trajectory]:
    """Inverse of `write_jsonl`."""
    with Path(path).open(encoding="utf-8") as f:
        return [Trajectory.from_json(line) for line in f if line.strip()]


class ScriptedPolicy:
    """A policy that returns fixed actions in order (for tests and demos).

    The actions are strings, or objects with ``.text`` (and token data) as a sampler returns.
    """

    def __init__(self, actions: Sequence[Any]) -> None:
        self.actions = list(actions)
        self.position = 0

    def __call__(self, messages: list[dict[str, Any]]) -> Any:
        if self.position >= len(self.actions):
            raise RuntimeError(f"the script has only {len(self.actions)} actions")
        self.position += 1
        return self.actions[self.position - 1]


def _conversation(base: TextEnv) -> list[dict[str, Any]]:
    chat = getattr(base, "chat", None)
    return chat() if callable(chat) else [dict(m) for m in base.transcript]


def rollout(
    env: gym.Env[Any, Any],
    policy: Policy,
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
) -> Trajectory:
    """Play one episode of ``env`` with ``policy`` and record it."""
    base = env.unwrapped
    if not isinstance(base, TextEnv):
        raise TypeError(f"rollout needs a TextEnv, got {type(base).__name__}")
    _, info = env.reset(seed=seed, options=options)
    tools = list(info.get("tools", []))
    turns: list[Turn] = []
    total, terminated, truncated = 0.0, False, False
    while not (terminated or truncated):
        out = policy(_conversation(base))
        text = out if isinstance(out, str) else out.text
        observation, reward, terminated, truncated, info = env.step(text)
        total += float(reward)
        turns.append(
            Turn(
                action=text,
                observation=observation if isinstance(observation, str) else json.dumps(observation),
                reward=float(reward),
                reward_terms={k: float(v) for k, v in info.get("reward_terms", {}).items()},
                tool_calls=list(info.get("tool_calls", [])),
                tool_results=list(info.get("tool_results", [])),
                token_ids=None if isinstance(out, str) else _list(getattr(out, "token_ids", None), int),
                logprobs=None if isinstance(out, str) else _list(getattr(out, "logprobs", None), float),
            )
        )
    verdict = info.get("verdict")
    return Trajectory(
        task_id=str(info["task_id"]),
        messages=_conversation(base),
        turns=turns,
        total_reward=total,
        terminated=bool(terminated),
        truncated=bool(truncated),
        verdict=verdict.to_dict() if isinstance(verdict, Verdict) else None,
        tools=tools,
    )


def _list(values: Any, kind: type) -> Any:
    return None if values is None else [kind(v) for v in values]
