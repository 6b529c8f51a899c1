"""Text environments: `TextEnv`, `SingleTurnEnv`, `MultiTurnEnv`.

Observations and actions are plain ``str`` (spaces: `Utf8Text`). The observation of `reset` is
the task's prompt; the observation of a later step is the environment's reply to the last action
(empty when the episode ends). `ChatObservation` turns observations into chat messages
(``[{"role": ..., "content": ...}]``, the whole conversation so far) for chat-template policies.

Each env is an indexed collection of tasks: `task_at(i)` for ``i`` in ``range(num_tasks)``
(``num_tasks is None`` for procedural envs, where any ``i >= 0`` works). ``reset(seed=s)`` draws an
index from the env's own RNG (never the global one), so the same seed gives the same task on any
machine. ``options`` pins a task: ``{"task_id": str}``, ``{"index": int}`` or ``{"task": Task}``.

``step`` always returns the same ``info`` keys (see `STEP_INFO_KEYS`): ``task_id``, ``turn``,
``verdict`` (a `Verdict` on the final step, else None), ``reward_terms`` (the per-term breakdown of
the reward, empty on non-final steps without turn rewards).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from assay.envs.seed_cache import RecurringSeeds
from assay.envs.spaces import Utf8Text, is_utf8_text
from assay.errors import UnknownTask
from assay.rewards.base import CORRECTNESS, Reward, Rubric
from assay.verifiers.base import Status, Task, Verdict, Verifier

__all__ = [
    "RESET_INFO_KEYS",
    "STEP_INFO_KEYS",
    "MultiTurnEnv",
    "Reply",
    "SingleTurnEnv",
    "TextEnv",
]

RESET_INFO_KEYS = ("task_id",)
STEP_INFO_KEYS = ("task_id", "turn", "verdict", "reward_terms")

Message = dict[str, str]


class TextEnv(RecurringSeeds, gym.Env[str, str]):
    """Base of every assay environment: one task per episode, text in, text out.

    Subclasses implement `task_at` (and set `num_tasks` when finite) and `step`.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 1}  # noqa: RUF012 - gymnasium's type

    num_tasks: int | None = None
    """How many tasks `task_at` accepts; None means unbounded (procedural)."""

    def __init__(
        self,
        *,
        max_chars: int = 32_768,
        system_prompt: str | None = None,
        render_mode: str | None = None,
    ) -> None:
        if max_chars < 1:
            raise ValueError(f"max_chars must be >= 1, got {max_chars}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.max_chars = max_chars
        self.system_prompt = system_prompt
        self.render_mode = render_mode
        self.observation_space = Utf8Text(max_chars)
        self.action_space = Utf8Text(max_chars)
        self.task: Task | None = None
        self.transcript: list[Message] = []

    # -- the task collection -------------------------------------------------------------

    def task_at(self, index: int) -> Task:
        """The task at ``index`` (deterministic: the same index gives the same task)."""
        raise NotImplementedError(f"{type(self).__name__} must implement task_at()")

    def task_by_id(self, task_id: str) -> Task:
        """The task whose ``id`` is ``task_id``. Default: ids end in ``/<index>``."""
        head, _, tail = task_id.rpartition("/")
        if head and tail.isdigit():
            task = self._task_at_checked(int(tail))
            if task.id == task_id:
                return task
        raise UnknownTask(f"{type(self).__name__} has no task with id {task_id!r}")

    def sample_task(self, rng: np.random.Generator) -> Task:
        """Draw a task with ``rng`` (the env's own generator, seeded by ``reset``)."""
        high = self.num_tasks if self.num_tasks is not None else 2**31
        if high == 0:
            raise UnknownTask(f"{type(self).__name__} has no tasks")
        return self.task_at(int(rng.integers(high)))

    def gold(self, task: Task) -> str:
        """A completion that earns the maximum reward for ``task``."""
        return task.answer or ""

    def gold_actions(self, task: Task) -> list[str]:
        """The sequence of actions of a full-reward episode (one action for single-turn envs)."""
        return [self.gold(task)]

    def _task_at_checked(self, index: int) -> Task:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise TypeError(f"task index must be an int, got {type(index).__name__}")
        index = int(index)
        if index < 0 or (self.num_tasks is not None and index >= self.num_tasks):
            raise UnknownTask(
                f"{type(self).__name__}: index {index} out of range (num_tasks={self.num_tasks})"
            )
        return self.task_at(index)

    # -- the episode -------------------------------------------------------------------

    def messages(self, task: Task) -> list[Message]:
        """The chat form of ``task``'s prompt (optional system message, then the user turn)."""
        head = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*head, {"role": "user", "content": task.prompt}]

    def current_task(self) -> Task:
        """The task of the running episode; raises `gymnasium.error.ResetNeeded` before reset."""
        if self.task is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        return self.task

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start an episode: seed the env's generator, pick a task, return its prompt.

        Args:
            seed: Seeds ``self.np_random`` as `gymnasium.Env.reset` does; None keeps drawing from
                the generator as it is (seeded once from OS entropy if it never was).
            options: At most one of ``{"task_id": str}``, ``{"index": int}``, ``{"task": Task}``
                to pin the task; None or empty draws one with `sample_task`.

        Returns:
            ``(prompt, {"task_id": id})`` (see `RESET_INFO_KEYS`). ``self.task`` and
            ``self.transcript`` are set and `on_reset` has run.

        Raises:
            UnknownTask: a pinned task does not exist, or the env has no tasks.
            ValueError: unknown options, or a prompt longer than ``max_chars``.
            TypeError: ``options["task"]`` is not a `Task`, or ``options["index"]`` not an int.

        The same seed gives the same task and generator on every machine. A seed seen before takes
        `RecurringSeeds`' fast path (envs/seed_cache.py), which gives exactly the same results.
        """
        task = self._task_on_record(seed, options, TextEnv)
        if task is None:
            super().reset(seed=seed)
            task = self._pick_task(options or {})
        self.task = task
        if len(task.prompt) > self.max_chars:
            raise ValueError(
                f"task {task.id!r}: prompt has {len(task.prompt)} chars, more than max_chars={self.max_chars}"
            )
        self.transcript = self.messages(task)
        self.on_reset(task)
        return task.prompt, {"task_id": task.id}

    def on_reset(self, task: Task) -> None:
        """Hook: set up per-episode state. Called by `reset` after the task is chosen."""

    def _pick_task(self, options: Mapping[str, Any]) -> Task:
        if not options:
            return self.sample_task(self.np_random)
        unknown = set(options) - {"task", "task_id", "index"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; use task, task_id or index")
        if len(options) > 1:
            raise ValueError(f"give at most one of task, task_id, index; got {sorted(options)}")
        if "task" in options:
            task = options["task"]
            if not isinstance(task, Task):
                raise TypeError(f"options['task'] must be a Task, got {type(task).__name__}")
            return task
        if "task_id" in options:
            return self.task_by_id(str(options["task_id"]))
        if "index" in options:
            return self._task_at_checked(options["index"])
        return self.sample_task(self.np_random)

    def invalid_action(self, action: Any) -> Verdict | None:
        """A NO_ANSWER verdict with a reason if ``action`` is not an acceptable string."""
        if type(action) is str and action.isascii() and len(action) <= self.max_chars:
            return None  # the common case: ASCII always encodes as UTF-8
        if not isinstance(action, str):
            return Verdict(Status.NO_ANSWER, reason=f"action must be str, got {type(action).__name__}")
        if len(action) > self.max_chars:
            return Verdict(
                Status.NO_ANSWER,
                reason=f"action has {len(action)} chars, more than max_chars={self.max_chars}",
            )
        if not is_utf8_text(action, self.max_chars):
            return Verdict(Status.NO_ANSWER, reason="action is not valid UTF-8 text")
        return None

    def render(self) -> str | None:  # type: ignore[override]
        """The transcript so far as text (``[role]`` then content, per message) in ``"ansi"`` mode.

        None for any other ``render_mode``; the transcript is not copied or trimmed.
        """
        if self.render_mode != "ansi":
            return None
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self.transcript)


class SingleTurnEnv(TextEnv):
    """One prompt, one completion, one verdict. The episode terminates after the first step."""

    def __init__(self, verifier: Verifier, rubric: Rubric = CORRECTNESS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verifier = verifier
        self.rubric = rubric

    def score(self, action: Any, task: Task) -> tuple[Verdict, Reward]:
        """Verify ``action`` against ``task`` and apply the rubric (never raises on bad text)."""
        verdict = self.invalid_action(action)
        completion = action if verdict is None else ""
        if verdict is None:
            try:
                verdict = self.verifier(action, task)
            except Exception as e:  # noqa: BLE001 - a broken verifier is ERROR, not a crash
                verdict = Verdict(Status.ERROR, reason=f"verifier raised {type(e).__name__}: {e}")
        return verdict, self.rubric(completion, task, verdict)

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        """Verify ``action`` and end the episode: ``("", reward, True, False, info)``.

        ``info`` has the `STEP_INFO_KEYS` (``turn`` is 1). A non-string or over-long action is a
        NO_ANSWER verdict, a verifier that raises an ERROR verdict: neither raises here. Raises
        `gymnasium.error.ResetNeeded` before the first `reset`; stepping again after the end is
        not checked here (Gymnasium's ``OrderEnforcing``/``PassiveEnvChecker`` wrappers do).
        """
        task = self.current_task()
        verdict, reward = self.score(action, task)
        if isinstance(action, str):
            self.transcript.append({"role": "assistant", "content": action})
        info = {"task_id": task.id, "turn": 1, "verdict": verdict, "reward_terms": reward.terms}
        return "", float(reward.total), True, False, info


@dataclass(frozen=True, slots=True)
class Reply:
    """What a `MultiTurnEnv` answers to one action.

    Attributes:
        observation: The environment's message to the policy (tool output, feedback, ...).
        final: True when this action ends the episode and should be verified.
        answer: The completion to verify when ``final`` (default: the action itself).
        reward_terms: Per-turn reward terms (added to this step's reward).
        messages: The transcript entries for this reply (e.g. one ``{"role": "tool", ...}``
            message per tool result); None means one user message holding ``observation``.
    """

    observation: str = ""
    final: bool = False
    answer: str | None = None
    reward_terms: Mapping[str, float] = field(default_factory=dict)
    messages: Sequence[Message] | None = None


class MultiTurnEnv(SingleTurnEnv):
    """Several turns: the env replies to each action until a final answer or ``max_turns``.

    Subclasses implement `respond`. The final answer is verified with the verifier and scored
    with the rubric; reaching ``max_turns`` without one ends the episode with ``truncated=True``
    (Gymnasium's meaning: a limit outside the task), a NO_ANSWER verdict and the rubric's reward
    for it.
    """

    def __init__(self, verifier: Verifier, *, max_turns: int = 8, **kwargs: Any) -> None:
        super().__init__(verifier, **kwargs)
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        self.max_turns = max_turns
        self.turn = 0

    def on_reset(self, task: Task) -> None:
        """Start the turn count at 0 (a subclass that overrides this calls ``super().on_reset``)."""
        self.turn = 0

    def respond(self, action: str) -> Reply:
        """The environment's reply to one (valid) action."""
        raise NotImplementedError(f"{type(self).__name__} must implement respond()")

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        """One turn: `respond` to ``action``, and verify the answer when the reply is final.

        Returns ``(observation, reward, terminated, truncated, info)``: the reply (cut to
        ``max_chars``) and its per-turn reward while the episode runs; ``("", total, True, False,
        ...)`` on a final answer; ``truncated=True`` with a NO_ANSWER verdict when ``max_turns``
        ends it first. An invalid action gets an ``error: ...`` observation and uses up a turn; a
        `respond` that raises ends the episode with an ERROR verdict. ``info`` has the
        `STEP_INFO_KEYS`. Raises `gymnasium.error.ResetNeeded` before `reset` or after the end.
        """
        task = self.current_task()
        if self.turn >= self.max_turns:
            raise gym.error.ResetNeeded("episode is over: call reset()")
        self.turn += 1
        info: dict[str, Any] = {"task_id": task.id, "turn": self.turn}
        bad = self.invalid_action(action)
        if bad is None:
            self.transcript.append({"role": "assistant", "content": action})
            try:
                reply = self.respond(action)
            except Exception as e:  # noqa: BLE001 - the env's own failure ends the episode as ERROR
                verdict = Verdict(Status.ERROR, reason=f"respond() raised {type(e).__name__}: {e}")
                reward = self.rubric("", task, verdict)
                self.turn = self.max_turns
                return (
                    "",
                    reward.total,
                    True,
                    False,
                    {**info, "verdict": verdict, "reward_terms": reward.terms},
                )
        else:
            reply = Reply(observation=f"error: {bad.reason}")
        turn_terms = {k: float(v) for k, v in reply.reward_terms.items()}
        turn_reward = sum(turn_terms.values())
        if reply.final:
            answer = action if reply.answer is None else reply.answer
            verdict, reward = self.score(answer, task)
            self.turn = self.max_turns  # no step after the end
            terms = {**reward.terms, **turn_terms}
            return (
                "",
                reward.total + turn_reward,
                True,
                False,
                {**info, "verdict": verdict, "reward_terms": terms},
            )
        if self.turn >= self.max_turns:
            verdict = Verdict(Status.NO_ANSWER, reason=f"no final answer within max_turns={self.max_turns}")
            reward = self.rubric("", task, verdict)
            terms = {**reward.terms, **turn_terms}
            return (
                "",
                reward.total + turn_reward,
                False,
                True,
                {**info, "verdict": verdict, "reward_terms": terms},
            )
        observation = reply.observation[: self.max_chars]
        if reply.messages is None:
            self.transcript.append({"role": "user", "content": observation})
        else:
            self.transcript.extend(dict(m) for m in reply.messages)
        return observation, turn_reward, False, False, {**info, "verdict": None, "reward_terms": turn_terms}
