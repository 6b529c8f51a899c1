"""`UserSimEnv`: the agent serves a simulated user, with tools over a small world (tau-bench style).

One episode::

    reset    -> the user's opening message (the task prompt); the world (e.g. a shop's orders)
                is set from ``task.meta["world"]``; the user's goal is hidden from the agent
    step(a)  a calls tools -> the results (the tools read and change the world)
             a is a message (no call) -> the simulated user's reply, or the end of the
                conversation when the user stops (``###STOP###``)
    end      the world as it is then, never the transcript, is checked against the expected
             world (``task.answer``); max_turns without the user stopping -> truncated, NO_ANSWER

Who plays the user (``user=``): a `ScriptedUser` (the default: each task's ``meta["user_script"]``,
replies revealed only when the agent asks for them, then the stop), or a `SamplerUser`, which asks
any `assay.verifiers.sampler.Sampler` (an LLM) to play the customer from the hidden goal
(``meta["user_goal"]``). A subclass supplies `task_at` and the world's tools (`world_tools`).

Guarantees: the reward depends only on the final world, so an agent that talks the user into
stopping without doing the work earns nothing, and one that does extra harm (a second order
cancelled) fails the match. The world is per episode (deep-copied from the task at reset).
Non-guarantees: a `SamplerUser` is as faithful to its goal as the model playing it (tau-bench's
known weakness); its replies are seeded from the env's RNG but a sampler may not be deterministic.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from assay.envs.base import Reply
from assay.envs.tools.env import ToolEnv
from assay.envs.tools.tool import Tool
from assay.rewards.base import CORRECTNESS, Rubric
from assay.verifiers.base import Status, Task, Verdict
from assay.verifiers.sampler import Sampler

__all__ = ["STOP", "SamplerUser", "ScriptedUser", "SimulatedUser", "UserSimEnv", "WorldMatch"]

STOP = "###STOP###"
"""What a simulated user says to end the conversation."""


class SimulatedUser(Protocol):
    """The other side of the conversation."""

    def reply(self, task: Task, conversation: Sequence[Mapping[str, Any]], rng: np.random.Generator) -> str:
        """The user's next message (containing `STOP` to end), given the conversation so far.

        ``conversation`` holds ``{"role": "user" | "assistant", "content"}`` messages, the
        opening user message first and the agent's latest message last; tool traffic is left out
        (the user does not see it).
        """
        ...


@dataclass(frozen=True)
class ScriptedUser:
    """Replies from ``task.meta["user_script"]``: a list of ``{"when": [words], "say": text}``.

    To each agent message it says the first unused entry one of whose words the message contains
    (case-insensitive); when none matches it says ``fallback``; once every entry was said, it
    stops. Deterministic.
    """

    fallback: str = "Sorry, I'm not sure what you need from me. Can you help with my request?"

    def reply(self, task: Task, conversation: Sequence[Mapping[str, Any]], rng: np.random.Generator) -> str:
        script = list(task.meta.get("user_script", ()))
        said = {m["content"] for m in conversation if m["role"] == "user"}
        left = [entry for entry in script if entry["say"] not in said]
        if not left:
            return STOP
        last = str(conversation[-1]["content"]).lower() if conversation else ""
        for entry in left:
            if any(word.lower() in last for word in entry["when"]):
                return str(entry["say"])
        return self.fallback


_USER_PROMPT = """You are playing a customer talking to a customer-service agent. Stay in character.
Your goal (never reveal it all at once; answer only what the agent asks):
{goal}

When your goal is met, or the agent cannot help, reply with exactly {stop}.

Conversation so far:
{conversation}
Customer:"""


@dataclass(frozen=True)
class SamplerUser:
    """A language model plays the user from ``task.meta["user_goal"]`` (tau-bench's user simulator).

    Attributes:
        sampler: Any `Sampler` (an `OpenAISampler` on a served model, an `HFSampler`, ...).
        max_new_tokens: Length cap of one user message.
        temperature: Sampling temperature.
    """

    sampler: Sampler
    max_new_tokens: int = 128
    temperature: float = 0.0

    def reply(self, task: Task, conversation: Sequence[Mapping[str, Any]], rng: np.random.Generator) -> str:
        lines = [f"{'Customer' if m['role'] == 'user' else 'Agent'}: {m['content']}" for m in conversation]
        prompt = _USER_PROMPT.format(
            goal=task.meta.get("user_goal", task.prompt), stop=STOP, conversation="\n".join(lines)
        )
        seed = int(rng.integers(2**31))
        out = self.sampler.sample(
            [prompt], n=1, max_new_tokens=self.max_new_tokens, temperature=self.temperature, seed=seed
        )
        text = out[0][0].text.strip()
        return text.split("\nAgent:")[0].strip() or STOP


@dataclass(frozen=True)
class WorldMatch:
    """Correct when the final world (the completion, JSON) equals the expected one (``task.answer``).

    Keys listed in ``task.meta["ignore_keys"]`` are dropped from both sides first (none by default).
    """

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        if task.answer is None:
            return Verdict(Status.ERROR, reason=f"task {task.id!r} has no expected world")
        try:
            got = json.loads(completion)
        except ValueError:
            return Verdict(Status.NO_ANSWER, reason="no world state")
        want = json.loads(task.answer)
        if got == want:
            return Verdict(Status.CORRECT, 1.0, None, "the world matches the goal")
        return Verdict(Status.INCORRECT, 0.0, None, "the world does not match the goal")


class UserSimEnv(ToolEnv):
    """An agent talks to a simulated user and acts on a world with tools (module docstring).

    Args:
        user: Who plays the user (default: `ScriptedUser`).
        rubric: Scores the verdict of the final world.
        max_turns: Agent actions per episode (tool calls and messages alike).
        **kwargs: `ToolEnv`'s (``call_format``, ``max_output_chars``, ...).
    """

    def __init__(
        self,
        *,
        user: SimulatedUser | None = None,
        rubric: Rubric = CORRECTNESS,
        max_turns: int = 16,
        **kwargs: Any,
    ) -> None:
        self.world: dict[str, Any] = {}
        self.dialogue: list[dict[str, Any]] = []
        """The conversation the user sees: its messages and the agent's, without tool traffic."""
        self.user: SimulatedUser = user if user is not None else ScriptedUser()
        super().__init__(
            self.world_tools(),
            WorldMatch(),
            rubric=rubric,
            max_turns=max_turns,
            final_answer_tool=False,
            **kwargs,
        )

    def world_tools(self) -> list[Tool]:
        """The agent's tools; they read and change ``self.world`` (subclasses implement it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement world_tools()")

    def on_reset(self, task: Task) -> None:
        super().on_reset(task)
        self.world.clear()
        self.world.update(copy.deepcopy(dict(task.meta.get("world", {}))))
        self.dialogue = [{"role": "user", "content": task.prompt}]

    def final_world(self) -> str:
        """The world as the verifier sees it (canonical JSON)."""
        return json.dumps(self.world, sort_keys=True)

    def respond(self, action: str) -> Reply:
        parsed = self.call_format.parse(action, self.turn)
        if not parsed.final:
            return super().respond(action)  # tool calls (or an unreadable call): ToolEnv runs them
        self._chat.append({"role": "assistant", "content": parsed.content})
        self.dialogue.append({"role": "assistant", "content": parsed.content})
        said = self.user.reply(self.current_task(), copy.deepcopy(self.dialogue), self.np_random)
        if STOP in said:
            return Reply(final=True, answer=self.final_world())
        self._chat.append({"role": "user", "content": said})
        self.dialogue.append({"role": "user", "content": said})
        return Reply(said, messages=[{"role": "user", "content": said}])

    def gold_actions(self, task: Task) -> list[str]:
        """``task.meta["gold_turns"]``: each ``{"calls": [[name, args], ...]}`` or ``{"say": text}``."""
        actions = []
        for i, turn in enumerate(task.meta.get("gold_turns", ())):
            if "calls" in turn:
                calls = [(str(name), dict(args)) for name, args in turn["calls"]]
                actions.append(self.call_format.render_calls(calls, turn=i + 1))
            else:
                actions.append(str(turn["say"]))
        return actions

    def gold(self, task: Task) -> str:
        turns = task.meta.get("gold_turns", ())
        return str(turns[-1]["say"]) if turns and "say" in turns[-1] else ""
