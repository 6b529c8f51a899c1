"""Tool-call formats: reading calls out of an action and writing results back.

One tool works in every format; a format only decides how calls and results look as text.

- `JsonCalls` (OpenAI function calling): an action that calls tools is the assistant message
  as JSON, ``{"content": ..., "tool_calls": [{"id": ..., "type": "function", "function":
  {"name": ..., "arguments": "<JSON string>"}}]}`` (``arguments`` may also be an object); the
  observation is the list of ``{"role": "tool", "tool_call_id", "name", "content"}`` messages as
  JSON. Any other action is plain text: the final answer.
- `TagCalls` (Hermes/Qwen style, tags configurable): calls are ``<tool_call>{"name": ...,
  "arguments": {...}}</tool_call>`` blocks anywhere in the text; results come back as
  ``<tool_response>...</tool_response>`` blocks, in call order. An action without a call block is
  the final answer.

Parsing never raises on model text: a call that cannot be read is a `ToolCall` with an
``error``, and an action that cannot be read at all is a `ParsedAction` with an ``error``; both
become error observations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from assay.envs.tools.tool import Tool

__all__ = ["CallFormat", "JsonCalls", "ParsedAction", "TagCalls", "ToolCall", "ToolResult", "call_format"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call read from an action.

    Attributes:
        id: The call's id (the model's own in JSON format, else ``call_<turn>_<i>``).
        name: The tool's name ("" when unreadable).
        arguments: The decoded arguments (a dict when well formed; None when unreadable).
        error: Why the call could not be read, or None.
    """

    id: str
    name: str
    arguments: Any = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments, "error": self.error}


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What one call returned: ``content`` is what the model sees; ``ok`` False for errors."""

    call_id: str
    name: str
    content: str
    ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "name": self.name, "content": self.content, "ok": self.ok}


@dataclass(frozen=True, slots=True)
class ParsedAction:
    """An action split into free text and tool calls.

    Attributes:
        content: The text outside the calls (the whole action when there are none).
        calls: The calls, in order.
        error: Set when the action meant to call tools but could not be read at all.
    """

    content: str
    calls: tuple[ToolCall, ...] = ()
    error: str | None = None

    @property
    def final(self) -> bool:
        """True when the action makes no call and is readable: it is the final answer."""
        return not self.calls and self.error is None


class CallFormat(Protocol):
    """How tool calls and results look as text."""

    @property
    def name(self) -> str: ...

    def parse(self, action: str, turn: int) -> ParsedAction: ...

    def render_calls(
        self, calls: Sequence[tuple[str, Mapping[str, Any]]], turn: int, content: str = ""
    ) -> str: ...

    def render_results(self, results: Sequence[ToolResult]) -> str: ...

    def system_prompt(self, tools: Sequence[Tool]) -> str | None: ...


def _loads(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except (ValueError, RecursionError) as e:
        return None, f"bad JSON: {str(e)[:200]}"


def _arguments(raw: Any) -> tuple[Any, str | None]:
    if raw is None:
        return {}, None
    if isinstance(raw, str):
        if not raw.strip():
            return {}, None
        value, err = _loads(raw)
        if err is not None:
            return None, err.replace("bad JSON", "bad JSON in the arguments", 1)
        raw = value
    if not isinstance(raw, dict):
        return None, f"arguments must be a JSON object, got {type(raw).__name__}"
    return raw, None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class JsonCalls:
    """OpenAI-style function calls: the action is the assistant message as JSON."""

    name: str = "json"

    def parse(self, action: str, turn: int) -> ParsedAction:
        text = action.strip()
        if not text.startswith("{"):
            return ParsedAction(content=action)
        msg, err = _loads(text)
        if err is not None:
            # Text that merely starts with "{" (a set, a formula) is an answer; a broken message is not.
            return ParsedAction("", error=err) if '"tool_calls"' in text else ParsedAction(content=action)
        if not isinstance(msg, dict) or not ({"content", "tool_calls"} & set(msg)):
            return ParsedAction(content=action)
        content = msg.get("content") or ""
        if not isinstance(content, str):
            return ParsedAction("", error="'content' must be a string or null")
        raw_calls = msg.get("tool_calls") or []
        if not isinstance(raw_calls, list):
            return ParsedAction("", error="'tool_calls' must be a list")
        calls = tuple(self._call(c, turn, i) for i, c in enumerate(raw_calls))
        return ParsedAction(content=content, calls=calls)

    @staticmethod
    def _call(raw: Any, turn: int, i: int) -> ToolCall:
        default_id = f"call_{turn}_{i}"
        if not isinstance(raw, dict):
            return ToolCall(default_id, "", error="a tool call must be a JSON object")
        given = raw.get("id")
        call_id = given if isinstance(given, str) and given else default_id
        fn = raw.get("function")
        if not isinstance(fn, dict):
            return ToolCall(
                call_id, "", error="a tool call needs a 'function' object with 'name' and 'arguments'"
            )
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            return ToolCall(call_id, "", error="the function 'name' must be a non-empty string")
        arguments, err = _arguments(fn.get("arguments"))
        return ToolCall(call_id, name, arguments, err)

    def render_calls(
        self, calls: Sequence[tuple[str, Mapping[str, Any]]], turn: int, content: str = ""
    ) -> str:
        tool_calls = [
            {
                "id": f"call_{turn}_{i}",
                "type": "function",
                "function": {"name": name, "arguments": _dumps(dict(args))},
            }
            for i, (name, args) in enumerate(calls)
        ]
        return _dumps({"role": "assistant", "content": content or None, "tool_calls": tool_calls})

    def render_results(self, results: Sequence[ToolResult]) -> str:
        return _dumps(
            [
                {"role": "tool", "tool_call_id": r.call_id, "name": r.name, "content": r.content}
                for r in results
            ]
        )

    def system_prompt(self, tools: Sequence[Tool]) -> str | None:
        return None  # the schemas travel as the API's tools=[...]


@dataclass(frozen=True)
class TagCalls:
    """Calls in tags: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (configurable).

    Attributes:
        call_open, call_close: The tags around one call.
        result_open, result_close: The tags around one result.
        name_key, args_key: The keys of the call object (Llama 3 uses ``"parameters"``).
    """

    call_open: str = "<tool_call>"
    call_close: str = "</tool_call>"
    result_open: str = "<tool_response>"
    result_close: str = "</tool_response>"
    name_key: str = "name"
    args_key: str = "arguments"
    name: str = "tag"

    def __post_init__(self) -> None:
        for tag in (self.call_open, self.call_close, self.result_open, self.result_close):
            if not tag or tag.strip() != tag:
                raise ValueError(f"tags must be non-empty with no surrounding space, got {tag!r}")

    def parse(self, action: str, turn: int) -> ParsedAction:
        calls: list[ToolCall] = []
        outside: list[str] = []
        pos = 0
        while (start := action.find(self.call_open, pos)) != -1:
            outside.append(action[pos:start])
            body_start = start + len(self.call_open)
            end = action.find(self.call_close, body_start)
            call_id = f"call_{turn}_{len(calls)}"
            if end == -1:
                calls.append(
                    ToolCall(call_id, "", error=f"unclosed {self.call_open}: close it with {self.call_close}")
                )
                pos = len(action)
                break
            calls.append(self._call(action[body_start:end], call_id))
            pos = end + len(self.call_close)
        outside.append(action[pos:])
        return ParsedAction(content="".join(outside).strip(), calls=tuple(calls))

    def _call(self, body: str, call_id: str) -> ToolCall:
        obj, err = _loads(body.strip())
        if err is not None:
            return ToolCall(call_id, "", error=err)
        if not isinstance(obj, dict):
            return ToolCall(
                call_id,
                "",
                error=f"a call must be a JSON object with {self.name_key!r} and {self.args_key!r}",
            )
        name = obj.get(self.name_key)
        if not isinstance(name, str) or not name:
            return ToolCall(call_id, "", error=f"{self.name_key!r} must be a non-empty string")
        arguments, err = _arguments(obj.get(self.args_key))
        return ToolCall(call_id, name, arguments, err)

    def render_calls(
        self, calls: Sequence[tuple[str, Mapping[str, Any]]], turn: int, content: str = ""
    ) -> str:
        blocks = [
            f"{self.call_open}{_dumps({self.name_key: name, self.args_key: dict(args)})}{self.call_close}"
            for name, args in calls
        ]
        return "\n".join([content, *blocks] if content else blocks)

    def render_results(self, results: Sequence[ToolResult]) -> str:
        return "\n".join(f"{self.result_open}\n{r.content}\n{self.result_close}" for r in results)

    def system_prompt(self, tools: Sequence[Tool]) -> str | None:
        schemas = "\n".join(_dumps(t.openai()) for t in tools)
        example = _dumps({self.name_key: "<tool name>", self.args_key: {"<parameter>": "<value>"}})
        return (
            "You can call tools. Their JSON schemas:\n"
            f"<tools>\n{schemas}\n</tools>\n"
            f"To call a tool, write {self.call_open}{example}{self.call_close}. One message may hold "
            f"several calls. Each result comes back in {self.result_open}...{self.result_close}, "
            "in the order of the calls. A message with no tool call is your final answer."
        )


def call_format(spec: str | CallFormat) -> CallFormat:
    """``"json"`` -> `JsonCalls`, ``"tag"`` -> `TagCalls` (default tags), or a format as is."""
    if spec == "json":
        return JsonCalls()
    if spec == "tag":
        return TagCalls()
    if isinstance(spec, str):
        raise ValueError(f"call format must be 'json', 'tag' or a CallFormat, got {spec!r}")
    return spec
