"""Chat policies: what plays an episode in agentic evaluation, one assistant turn at a time.

A `ChatPolicy` gets the conversation so far (OpenAI message form) and the tool schemas and
returns an `Action`: the assistant's text and native tool calls, the env action they make (see
`action_text`), and the token counts.

- `EndpointPolicy`: an OpenAI-compatible chat endpoint through `assay.verifiers.chat_client`
  (the ``openai`` SDK's async client; tools go as ``tools=[...]``, calls come back typed).
- `SamplerPolicy`: any `Sampler` (`HFSampler`, `VLLMSampler`, a custom one from ``import:``).
  The conversation is rendered by `assay.agents.chat.ChatFormat` (the tokenizer's chat template,
  ``tools=`` passed to it; the same renderer the trainers and single-turn eval use) when
  ``prompt_format`` resolves to chat, else with a plain fallback that lists the tools in the
  Hermes style; a sampler that takes token ids gets the template's ids, so no text is
  re-tokenised. Tool calls
  are read back from ``<tool_call>{...}</tool_call>`` blocks in the output (as vLLM's ``hermes``
  tool parser does), so JSON-format tool envs work with text models too. One sampler call per
  turn, batch of one, seeded per turn: an episode's outcome does not depend on what else runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from assay.agents.chat import ChatFormat, chat_format
from assay.envs.tools.calls import TagCalls
from assay.verifiers.chat_client import ChatClient, ChatSampling

__all__ = ["Action", "ChatPolicy", "EndpointPolicy", "SamplerPolicy", "action_text", "render_plain"]


@dataclass(frozen=True, slots=True)
class Action:
    """One assistant turn as the env and the log see it.

    Attributes:
        content: The assistant's text.
        tool_calls: Native calls, ``{"id", "type", "function": {"name", "arguments"}}``.
        finish_reason: Why the turn ended, as the backend says.
        prompt_tokens: Tokens of the rendered conversation (0 when unknown).
        completion_tokens: Tokens generated (0 when unknown).
    """

    content: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def text(self) -> str:
        """The env action: `action_text`."""
        return action_text(self.content, self.tool_calls)


def action_text(content: str, tool_calls: Sequence[Mapping[str, Any]]) -> str:
    """The action a JSON-format `ToolEnv` reads: the assistant message as JSON when it calls
    tools, else the plain text (a final answer)."""
    if not tool_calls:
        return content
    return json.dumps(
        {"role": "assistant", "content": content or None, "tool_calls": [dict(c) for c in tool_calls]},
        ensure_ascii=False,
    )


@runtime_checkable
class ChatPolicy(Protocol):
    """Plays one assistant turn. ``seed`` is per (episode, turn); honour it to be reproducible."""

    async def act(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]], *, seed: int
    ) -> Action: ...


class EndpointPolicy:
    """A `ChatPolicy` over an OpenAI-compatible chat endpoint (native tool calling)."""

    def __init__(self, client: ChatClient, sampling: ChatSampling | None = None) -> None:
        self.client = client
        self.sampling = sampling or ChatSampling()

    def __repr__(self) -> str:
        return f"EndpointPolicy({self.client!r})"

    async def act(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]], *, seed: int
    ) -> Action:
        turn = await self.client.complete(messages, tools=tools, sampling=self.sampling, seed=seed)
        return Action(
            turn.content, turn.tool_calls, turn.finish_reason, turn.prompt_tokens, turn.completion_tokens
        )

    async def aclose(self) -> None:
        """Close the client."""
        await self.client.aclose()


def _template_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages for an HF chat template: tool-call arguments as dicts (templates ``tojson`` them)."""
    out = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                fn = dict(c.get("function") or {})
                if isinstance(fn.get("arguments"), str):
                    with contextlib.suppress(ValueError):
                        fn["arguments"] = json.loads(fn["arguments"])
                calls.append({**c, "function": fn})
            m["tool_calls"] = calls
            m["content"] = m.get("content") or ""
        out.append(m)
    return out


_HERMES = TagCalls()


def render_plain(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text rendering for samplers without a chat template.

    Each message becomes ``<role>: <content>`` (tool calls as ``<tool_call>`` blocks, tool results
    as ``<tool_response>`` blocks); the tools, when any, are listed first in the Hermes style;
    the text ends with ``assistant:``.
    """
    lines: list[str] = []
    if tools:
        schemas = "\n".join(json.dumps(dict(t), ensure_ascii=False) for t in tools)
        lines.append(
            "system: You can call tools. Their JSON schemas:\n<tools>\n" + schemas + "\n</tools>\n"
            'To call a tool, write <tool_call>{"name": ..., "arguments": {...}}</tool_call>. '
            "A message with no tool call is your final answer."
        )
    for m in _template_messages(messages):
        role = str(m.get("role", "user"))
        if role == "tool":
            lines.append(f"tool: <tool_response>\n{m.get('content', '')}\n</tool_response>")
            continue
        text = str(m.get("content") or "")
        blocks = [
            "<tool_call>"
            + json.dumps({"name": c["function"]["name"], "arguments": c["function"]["arguments"]})
            + "</tool_call>"
            for c in m.get("tool_calls") or []
        ]
        lines.append(f"{role}: " + "\n".join([text, *blocks] if text else blocks))
    lines.append("assistant:")
    return "\n".join(lines)


class SamplerPolicy:
    """A `ChatPolicy` over a text `Sampler` (see the module docstring).

    Args:
        sampler: ``sample(prompts, n=, max_new_tokens=, temperature=, seed=)``.
        tokenizer: The model's tokenizer (None: `render_plain`, and no prompt token count).
        max_new_tokens: Tokens per turn.
        temperature: Sampling temperature.
        stop: Cut the text at the first of these strings (after sampling).
        prompt_format: ``chat``, ``text`` or ``auto`` (`assay.agents.chat.resolve_prompt_format`):
            whether the chat template renders the conversation. ``chat`` without a template is a
            ``ValueError``.
        system_prompt: Replaces the conversation's system message (None: the env's own).

    Not guaranteed: that the template's own tool-call syntax is what the model writes; calls are
    read from ``<tool_call>`` blocks only.
    """

    def __init__(
        self,
        sampler: Any,
        tokenizer: Any = None,
        *,
        max_new_tokens: int = 512,
        temperature: float = 1.0,
        stop: Sequence[str] = (),
        prompt_format: str = "auto",
        system_prompt: str | None = None,
    ) -> None:
        self.sampler = sampler
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.stop = tuple(stop)
        self.chat: ChatFormat | None = (
            None if tokenizer is None else chat_format(tokenizer, prompt_format, system_prompt)
        )
        if self.chat is None and system_prompt is not None:
            raise ValueError("a system prompt needs the chat format: this tokenizer has no chat template")
        self._ids = self.chat is not None and bool(getattr(sampler, "accepts_token_ids", False))
        self._lock = threading.Lock()  # local engines are not reentrant

    def __repr__(self) -> str:
        return f"SamplerPolicy({type(self.sampler).__name__})"

    def render(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]) -> str:
        """The prompt text of one turn."""
        if self.chat is not None:
            chat_messages = self.chat.messages(_template_messages(messages))
            return self.chat.prompt_text(chat_messages, tools=[dict(t) for t in tools] or None)
        return render_plain(messages, tools)

    def prompt(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
    ) -> str | list[int]:
        """What the sampler gets for one turn: the template's ids when it takes ids, else `render`."""
        if self._ids and self.chat is not None:
            chat_messages = self.chat.messages(_template_messages(messages))
            return self.chat.prompt_ids(chat_messages, tools=[dict(t) for t in tools] or None)
        return self.render(messages, tools)

    def _turn(self, prompt: str | list[int], seed: int) -> Any:
        with self._lock:
            return self.sampler.sample(
                [prompt], n=1, max_new_tokens=self.max_new_tokens, temperature=self.temperature, seed=seed
            )[0][0]

    async def act(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]], *, seed: int
    ) -> Action:
        prompt = self.prompt(messages, tools)
        sample = await asyncio.to_thread(self._turn, prompt, seed)
        text = str(sample.text)
        for s in self.stop:
            if s and s in text:
                text = text[: text.index(s)]
        calls: list[dict[str, Any]] = []
        if tools:
            parsed = _HERMES.parse(text, 0)
            if parsed.calls and all(c.error is None for c in parsed.calls):
                calls = [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                    }
                    for i, c in enumerate(parsed.calls)
                ]
                text = parsed.content
        prompt_tokens = 0
        if isinstance(prompt, list):
            prompt_tokens = len(prompt)
        elif self.tokenizer is not None:
            prompt_tokens = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        return Action(
            text,
            calls,
            str(getattr(sample, "finish_reason", "") or ""),
            prompt_tokens,
            len(getattr(sample, "token_ids", []) or []),
        )
