"""Another library's episode behind the assay interface, scored by that library's own reward.

`PeerEpisodeEnv` is the base of the ``from_*`` wrappers (`assay.envs.from_textarena`,
`assay.envs.from_openenv`): the other side owns the episode (its prompt, its replies, its reward),
assay owns the Gymnasium contract (text spaces, seeding, ``reset`` options, turn limits, verdicts).

- ``reset(seed=s)`` draws a task index from the env's generator (or takes ``options["index"]`` /
  ``options["task_id"]``) and starts one peer episode with that index as the peer's seed
  (`start`); the prompt is the peer's first observation. Task ids are ``<prefix>/<index>``.
- Each ``step(action)`` passes the text to the peer (`advance`). While the peer's episode runs,
  its reply is the observation; when it ends, the peer's final reward becomes a `Verdict` by
  `PeerOutcome`: ``score = (reward - low) / (high - low)`` clipped to [0, 1], CORRECT when the
  reward reaches ``high`` (the peer's best), else INCORRECT. Rewards the peer pays on a
  non-final turn are kept in ``info["peer_rewards"]`` and not paid out.
- ``max_turns`` ends an episode the peer has not ended with ``truncated=True`` (NO_ANSWER).

Not guaranteed: that the peer is deterministic for a seed (TextArena and OpenEnv envs decide);
that a peer which reseeds Python's global ``random`` (TextArena does) leaves it alone.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from assay.envs.base import MultiTurnEnv, Reply
from assay.envs.logic.puzzle import PARTIAL
from assay.rewards.base import CORRECTNESS
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["PeerEpisodeEnv", "PeerOutcome", "PeerStep"]


@dataclass(frozen=True, slots=True)
class PeerStep:
    """The peer's answer to one action: its observation, whether it ended, and its reward."""

    observation: str
    done: bool
    reward: float | None = None


@dataclass(frozen=True, slots=True)
class PeerOutcome:
    """Verifier: the peer's final reward (held by ``env``) as a verdict on the episode."""

    env: PeerEpisodeEnv

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        reward = self.env.final_reward
        if reward is None or not math.isfinite(reward):
            return Verdict(Status.NO_ANSWER, reason="the peer's episode ended without a reward")
        low, high = self.env.reward_range_peer
        score = min(max((reward - low) / (high - low), 0.0), 1.0)
        status = Status.CORRECT if reward >= high else Status.INCORRECT
        return Verdict(status, score, completion[:500], reason=f"peer reward {reward:g}")


class PeerEpisodeEnv(MultiTurnEnv):
    """Base for envs whose episodes run in another library (module docstring).

    Subclasses implement `start` and `advance`, and set ``prefix`` (task ids).

    Args:
        reward_range: The peer's (worst, best) final reward.
        partial_credit: Pay the normalised score of a peer reward below its best (`PARTIAL`);
            otherwise only the best pays (1.0).
        max_turns: Turns before the episode is truncated.
        env_kwargs: Passed to `MultiTurnEnv` (``max_chars``, ``system_prompt``...).
    """

    prefix = "peer"

    def __init__(
        self,
        *,
        reward_range: tuple[float, float] = (0.0, 1.0),
        partial_credit: bool = False,
        max_turns: int = 32,
        **env_kwargs: Any,
    ) -> None:
        low, high = (float(v) for v in reward_range)
        if not high > low:
            raise ValueError(f"reward_range must be (low, high) with high > low, got {reward_range}")
        super().__init__(
            PeerOutcome(self),
            rubric=PARTIAL if partial_credit else CORRECTNESS,
            max_turns=max_turns,
            **env_kwargs,
        )
        self.reward_range_peer = (low, high)
        self.final_reward: float | None = None
        self.peer_rewards: list[float] = []

    # -- what a subclass provides ------------------------------------------------------

    def start(self, seed: int) -> str:
        """Start a peer episode seeded with ``seed``; its first observation (the prompt)."""
        raise NotImplementedError(f"{type(self).__name__} must implement start()")

    def advance(self, action: str) -> PeerStep:
        """Pass ``action`` to the running peer episode."""
        raise NotImplementedError(f"{type(self).__name__} must implement advance()")

    # -- the assay side ----------------------------------------------------------------

    def task_at(self, index: int) -> Task:
        """Task ``index``: the peer episode seeded with ``index`` (its prompt is filled by reset)."""
        return Task(id=f"{self.prefix}/{index}", prompt="", meta={"seed": index})

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Pick the task (as `TextEnv.reset` does) and start its peer episode."""
        gym.Env.reset(self, seed=seed)
        task = self._pick_task(options or {})
        seed_of = task.meta.get("seed")
        if not isinstance(seed_of, int):
            raise ValueError(f"task {task.id!r} has no integer meta['seed'] for the peer")
        self.final_reward, self.peer_rewards = None, []
        prompt = self.start(seed_of)
        if len(prompt) > self.max_chars:
            raise ValueError(f"the peer's prompt has {len(prompt)} chars, more than max_chars")
        task = dataclasses.replace(task, prompt=prompt)
        self.task = task
        self.transcript = self.messages(task)
        self.on_reset(task)
        return prompt, {"task_id": task.id}

    def respond(self, action: str) -> Reply:
        """The peer's reply; final (and verified by `PeerOutcome`) when its episode ends."""
        got = self.advance(action)
        if got.done:
            self.final_reward = None if got.reward is None else float(got.reward)
            return Reply(final=True)
        if got.reward is not None:
            self.peer_rewards.append(float(got.reward))
        return Reply(observation=got.observation)

    def step(self, action: str) -> tuple[str, Any, bool, bool, dict[str, Any]]:
        """`MultiTurnEnv.step`, with the peer's non-final rewards in ``info["peer_rewards"]``."""
        observation, reward, terminated, truncated, info = super().step(action)
        info["peer_rewards"] = list(self.peer_rewards)
        return observation, reward, terminated, truncated, info

    def gold_actions(self, task: Task) -> list[str]:
        """No known winning line for a peer's game."""
        raise NotImplementedError(f"{type(self).__name__} has no gold actions")
