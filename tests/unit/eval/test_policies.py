"""SamplerPolicy renders multi-turn conversations through assay.agents.chat.ChatFormat."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("transformers")

from assay.agents.chat import ChatFormat
from assay.agents.evaluation.policies import SamplerPolicy, render_plain
from assay.agents.tiny import build_char_tokenizer
from assay.verifiers.sampler import Sample

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two numbers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            },
        },
    }
]
CALL = '{"name": "add", "arguments": {"a": 2, "b": 3}}'
CONVERSATION = [
    {"role": "system", "content": "Use the tools."},
    {"role": "user", "content": "2+3?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_0", "content": "5"},
]


class Recorder:
    """A scripted sampler that records its prompts; ``ids`` says whether it takes token ids."""

    def __init__(self, reply: str, *, ids: bool) -> None:
        self.reply = reply
        self.accepts_token_ids = ids
        self.prompts: list[object] = []

    def sample(self, prompts, *, n, max_new_tokens, temperature, seed):
        self.prompts += list(prompts)
        return [[Sample(self.reply, [1, 2, 3], [-1.0] * 3, "stop")] * n for _ in prompts]


def _template_messages(system: str | None = None) -> list[dict[str, object]]:
    out = [dict(m) for m in CONVERSATION]
    out[2] = {**out[2], "tool_calls": [{**out[2]["tool_calls"][0], "function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]}  # type: ignore[index]  # fmt: skip
    if system is not None:
        out[0] = {"role": "system", "content": system}
    return out


def test_an_ids_sampler_gets_the_chat_formats_ids_with_tools():
    tok = build_char_tokenizer()
    inner = Recorder("5", ids=True)
    action = asyncio.run(SamplerPolicy(inner, tok).act(CONVERSATION, TOOLS, seed=0))
    chat = ChatFormat(tok)
    want = chat.prompt_ids(_template_messages(), tools=TOOLS)
    assert inner.prompts == [want]
    assert action.content == "5" and action.prompt_tokens == len(want) and action.completion_tokens == 3
    text = tok.decode(want)
    assert text.startswith("<|system|>\nUse the tools.\nTools:\n") and '"name": "add"' in text


def test_a_text_sampler_gets_the_template_text_and_tool_calls_are_parsed():
    tok = build_char_tokenizer()
    inner = Recorder(f"<tool_call>{CALL}</tool_call>", ids=False)
    policy = SamplerPolicy(inner, tok, system_prompt="Be brief.")
    action = asyncio.run(policy.act(CONVERSATION, TOOLS, seed=0))
    assert inner.prompts == [ChatFormat(tok).prompt_text(_template_messages("Be brief."), tools=TOOLS)]
    assert "Use the tools." not in str(inner.prompts[0])  # the override replaced the env's system message
    assert [c["function"]["name"] for c in action.tool_calls] == ["add"]
    assert json.loads(action.tool_calls[0]["function"]["arguments"]) == {"a": 2, "b": 3}


def test_text_format_and_no_template_fall_back_to_plain_rendering():
    with_template = build_char_tokenizer()
    without = build_char_tokenizer("0123456789+=")
    for policy in (
        SamplerPolicy(Recorder("x", ids=True), with_template, prompt_format="text"),
        SamplerPolicy(Recorder("x", ids=True), without),
        SamplerPolicy(Recorder("x", ids=False), None),
    ):
        assert policy.chat is None
        assert policy.prompt(CONVERSATION, TOOLS) == render_plain(CONVERSATION, TOOLS)
    with pytest.raises(ValueError, match="chat template"):
        SamplerPolicy(Recorder("x", ids=True), without, prompt_format="chat")
    with pytest.raises(ValueError, match="chat format"):
        SamplerPolicy(Recorder("x", ids=True), without, system_prompt="s")
