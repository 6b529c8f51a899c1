"""`ToolEnv`: the multi-turn env where each action calls tools or gives the final answer.

One episode::

    reset  -> the task prompt (tag formats: the tool instructions first), info["tools"] (the
              OpenAI ``tools=[...]`` list) and info["system_prompt"] (tag formats)
    step(a) a calls tools -> the results as the observation (reward: the turn's terms, 0 by default)
            a makes no call, or calls final_answer -> verified; terminated=True, the rubric's reward
            max_turns reached -> truncated=True, NO_ANSWER

A call that cannot be read, names an unknown tool, breaks the schema, raises, or overruns its
timeout comes back as an ``error: ...`` result and the episode goes on; so does an action that
cannot be read at all. Every step's ``info`` also carries ``tool_calls`` and ``tool_results``
(lists of dicts; empty when there were none), so trajectories can be recorded through vector envs.

The transcript (`ChatObservation`) holds one ``{"role": "tool", "tool_call_id", "name",
"content"}`` message per result; `chat` gives the conversation in the OpenAI API's form, with
assistant ``tool_calls`` as structured objects in JSON format.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import Any, SupportsFloat

from assay.envs.base import Message, MultiTurnEnv, Reply
from assay.envs.tools.calls import CallFormat, JsonCalls, ParsedAction, ToolCall, ToolResult
from assay.envs.tools.calls import call_format as _call_format
from assay.envs.tools.runner import ToolRunner, cap_output
from assay.envs.tools.tool import Stateful, Tool
from assay.rewards.base import CORRECTNESS, Rubric
from assay.verifiers.base import Task, Verifier

__all__ = ["FINAL_ANSWER", "ToolEnv", "final_answer_tool"]

FINAL_ANSWER = "final_answer"

ToolSpec = Tool | Callable[..., Any]
Plan = list[list[tuple[str, dict[str, Any]]]]


def _final_answer(answer: str) -> str:
    """Submit your final answer and end the episode.

    Args:
        answer: The final answer, exactly as it should be graded.
    """
    return answer


def final_answer_tool() -> Tool:
    """The ``final_answer(answer)`` tool: calling it ends the episode with ``answer``."""
    return Tool.from_function(_final_answer, name=FINAL_ANSWER, isolation="inline")


class ToolEnv(MultiTurnEnv):
    """A multi-turn env in which the policy calls tools, then answers (see the module docstring).

    Args:
        tools: `Tool`s, or plain typed functions (made into ``process``-isolated tools).
        verifier: Judges the final answer.
        rubric: Scores the verdict.
        call_format: ``"json"`` (OpenAI function calls), ``"tag"`` (``<tool_call>`` blocks) or a
            `CallFormat` such as ``TagCalls(call_open="<function_call>", ...)``.
        max_turns: Actions per episode; the last one that is not final truncates.
        max_calls_per_turn: Further calls in one action get an error result.
        max_output_chars: Cap of one tool result.
        final_answer_tool: Offer ``final_answer(answer)``, which ends the episode with
            `answer_completion` of its argument. A message without calls is final either way.
        tool_error_penalty: Per-turn reward term ``tool_errors`` of ``-penalty`` per failed
            call (default 0: off; when on, rewards may go below the rubric's minimum).
        memory_mb: Memory cap of the process-tool worker.
        mcp_servers: MCP servers whose tools join ``tools`` (`MCPServerConfig`s, mappings of its
            fields, or URLs; ``pip install "assay[mcp]"``); see `assay.envs.tools.mcp_client`.
    """

    def __init__(
        self,
        tools: Sequence[ToolSpec],
        verifier: Verifier,
        *,
        rubric: Rubric = CORRECTNESS,
        call_format: str | CallFormat = "json",
        max_turns: int = 8,
        max_calls_per_turn: int = 8,
        max_output_chars: int = 4_000,
        final_answer_tool: bool = True,
        tool_error_penalty: float = 0.0,
        memory_mb: int = 2_048,
        mcp_servers: Sequence[Any] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(verifier, rubric=rubric, max_turns=max_turns, **kwargs)
        if max_calls_per_turn < 1:
            raise ValueError(f"max_calls_per_turn must be >= 1, got {max_calls_per_turn}")
        if tool_error_penalty < 0:
            raise ValueError(f"tool_error_penalty must be >= 0, got {tool_error_penalty}")
        made = [t if isinstance(t, Tool) else Tool.from_function(t) for t in tools]
        if mcp_servers:
            from assay.envs.tools.mcp_client import mcp_tools

            made += [t for server in mcp_servers for t in mcp_tools(server)]
        if final_answer_tool:
            made.append(Tool.from_function(_final_answer, name=FINAL_ANSWER, isolation="inline"))
        self.tool_list: tuple[Tool, ...] = tuple(made)
        self.call_format: CallFormat = _call_format(call_format)
        self.max_calls_per_turn = max_calls_per_turn
        self.max_output_chars = max_output_chars
        self.final_answer_tool = final_answer_tool
        self.tool_error_penalty = tool_error_penalty
        self.runner = ToolRunner(made, max_output_chars=max_output_chars, memory_mb=memory_mb)
        states: dict[int, Stateful] = {}
        for t in made:
            if t.state is not None:
                states.setdefault(id(t.state), t.state)
        self._states = list(states.values())
        self.tools_prompt = self.call_format.system_prompt(self.tool_list)
        """The tool instructions of tag formats (None for JSON: the schemas go in ``tools=``)."""
        self._chat: list[dict[str, Any]] = []
        self._last: tuple[list[ToolCall], list[ToolResult]] = ([], [])

    # -- what the policy sees first -------------------------------------------------------

    def tool_schemas(self) -> list[dict[str, Any]]:
        """The OpenAI ``tools=[...]`` list."""
        return [t.openai() for t in self.tool_list]

    def messages(self, task: Task) -> list[Message]:
        system = "\n\n".join(p for p in (self.system_prompt, self.tools_prompt) if p)
        return [
            *([{"role": "system", "content": system}] if system else []),
            {"role": "user", "content": task.prompt},
        ]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        prompt, info = super().reset(seed=seed, options=options)
        observation = f"{self.tools_prompt}\n\n{prompt}" if self.tools_prompt else prompt
        if len(observation) > self.max_chars:
            raise ValueError(
                f"task {info['task_id']!r}: tool instructions and prompt have {len(observation)} chars, "
                f"more than max_chars={self.max_chars}"
            )
        self._chat = copy.deepcopy(self.transcript)
        self._last = ([], [])
        info["tools"] = self.tool_schemas()
        info["system_prompt"] = (
            self.transcript[0]["content"] if self.transcript[0]["role"] == "system" else ""
        )
        return observation, info

    def on_reset(self, task: Task) -> None:
        super().on_reset(task)
        for state in self._states:
            state.reset()

    def chat(self) -> list[dict[str, Any]]:
        """The conversation so far in the OpenAI API's message form (a copy)."""
        return copy.deepcopy(self._chat)

    # -- one turn -------------------------------------------------------------------------

    def answer_completion(self, answer: str) -> str:
        """The completion the verifier sees for ``final_answer(answer)``."""
        return f"<answer>{answer}</answer>"

    def respond(self, action: str) -> Reply:
        parsed = self.call_format.parse(action, self.turn)
        self._chat.append(self._assistant_message(action, parsed))
        if parsed.error is not None:
            message = f"error: {parsed.error}"
            self._chat.append({"role": "user", "content": message})
            return Reply(
                message, messages=[{"role": "user", "content": message}], reward_terms=self._penalty(1)
            )
        if parsed.final:
            return Reply(final=True, answer=parsed.content)
        calls, results = list(parsed.calls), []
        for i, call in enumerate(calls):
            if i >= self.max_calls_per_turn:
                results.append(
                    self._refuse(call, f"more than {self.max_calls_per_turn} calls in one message")
                )
            elif self.final_answer_tool and call.name == FINAL_ANSWER and call.error is None:
                final = self.tool_list[-1]
                problems = final.validate(call.arguments)
                if problems:
                    results.append(
                        self._refuse(call, f"invalid arguments for {FINAL_ANSWER}: " + "; ".join(problems))
                    )
                    continue
                self._last = (calls[: i + 1], results)
                return Reply(final=True, answer=self.answer_completion(call.arguments["answer"]))
            else:
                results.append(self.runner.run(call))
        results = self._fit(results)
        self._last = (calls, results)
        tool_messages: list[Message] = [
            {"role": "tool", "tool_call_id": r.call_id, "name": r.name, "content": r.content} for r in results
        ]
        self._chat.extend(dict(m) for m in tool_messages)
        return Reply(
            self.call_format.render_results(results),
            messages=tool_messages,
            reward_terms=self._penalty(sum(not r.ok for r in results)),
        )

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        self._last = ([], [])
        observation, reward, terminated, truncated, info = super().step(action)
        calls, results = self._last
        info["tool_calls"] = [c.to_dict() for c in calls]
        info["tool_results"] = [r.to_dict() for r in results]
        return observation, reward, terminated, truncated, info

    def _refuse(self, call: ToolCall, why: str) -> ToolResult:
        return ToolResult(call.id, call.name, cap_output(f"error: {why}", self.max_output_chars), ok=False)

    def _penalty(self, failures: int) -> dict[str, float]:
        if not self.tool_error_penalty or not failures:
            return {}
        return {"tool_errors": -self.tool_error_penalty * failures}

    def _fit(self, results: list[ToolResult]) -> list[ToolResult]:
        """Shrink the results until their rendering fits in ``max_chars``."""
        for _ in range(8):
            size = len(self.call_format.render_results(results))
            if size <= self.max_chars:
                return results
            scale = self.max_chars / size * 0.9
            results = [
                ToolResult(
                    r.call_id, r.name, cap_output(r.content, max(0, int(len(r.content) * scale) - 60)), r.ok
                )
                for r in results
            ]
        return [ToolResult(r.call_id, r.name, "error: output too large", False) for r in results]

    def _assistant_message(self, action: str, parsed: ParsedAction) -> dict[str, Any]:
        if not isinstance(self.call_format, JsonCalls) or not parsed.calls:
            return {"role": "assistant", "content": action}
        return {
            "role": "assistant",
            "content": parsed.content or None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {
                        "name": c.name,
                        "arguments": json.dumps(c.arguments if c.arguments is not None else {}),
                    },
                }
                for c in parsed.calls
            ],
        }

    # -- gold and lifecycle -----------------------------------------------------------------

    def gold_plan(self, task: Task) -> Plan:
        """The tool calls of a full-reward episode, one list per turn.

        Default: ``task.meta["gold_plan"]``, a list of turns, each a list of ``[name, arguments]``.
        """
        return [[(str(name), dict(args)) for name, args in turn] for turn in task.meta.get("gold_plan", [])]

    def gold(self, task: Task) -> str:
        return f"<answer>{task.answer}</answer>"

    def gold_actions(self, task: Task) -> list[str]:
        """`gold_plan` rendered in this env's call format, then `gold`."""
        plan = self.gold_plan(task)
        return [self.call_format.render_calls(calls, turn=i + 1) for i, calls in enumerate(plan)] + [
            self.gold(task)
        ]

    def close(self) -> None:
        self.runner.close()
        for state in self._states:
            state.close()
        super().close()
