"""Real TRL GRPOTrainer runs with an assay env as its ``environment_factory`` (tiny local model).

In the multi-turn test the tiny model's decoding is steered with transformers' ``sequence_bias``
generation option (a bias of +100 on each character of one scripted conversation, keyed by the
text before it), so that TRL's own tool loop parses real generated calls, runs them through the
generated env methods, and scores ``final_answer`` through ``get_reward``. (Fitting the model to
the conversation instead takes minutes on a loaded 2-core machine.)
"""

from __future__ import annotations

import json

import pytest

import assay
from assay.envs.tools.env import ToolEnv
from assay.envs.tools.tool import Tool
from assay.envs.trl_environment import to_trl_environment
from assay.verifiers import ExactMatch, Task
from assay.verifiers.extract import tagged

ADD_ID = "assaytest/TRLAdd-v0"

# How TRL reads a tool call out of the tiny chat template's assistant turn (transformers'
# response-template form; TRL ships these only for the chat templates it knows).
TINY_RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|assistant|>\n",
    "fields": {
        "tool_calls": {
            "open": "<tool_call>",
            "close_pattern": r"</tool_call>\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"<\|end\|>\s*", "content": "text"},
    },
}


def add(a: int, b: int) -> str:
    """Add two integers.

    Args:
        a: The first addend.
        b: The second addend.
    """
    return str(a + b)


class AddEnv(ToolEnv):
    """``a+b?``: call ``add``, then ``final_answer`` with the sum."""

    num_tasks = 4

    def __init__(self, **kwargs):
        super().__init__(
            [Tool.from_function(add, isolation="inline")],
            ExactMatch(extract=tagged("answer")),
            max_turns=4,
            **kwargs,
        )

    def task_at(self, index):
        a, b = 2 + index, 3
        return Task(f"add/{index}", f"{a}+{b}?", str(a + b))


if ADD_ID not in assay.list_envs():
    assay.register(ADD_ID, entry_point=AddEnv)


def _tiny(tmp_path, short_tools=False):
    """The tiny model; ``short_tools`` lists tools by name only (full JSON schemas make each
    sequence ~1,000 characters, too slow to fit on a loaded CPU)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assay.agents.tiny import CHAT_TEMPLATE, init_tiny

    path = init_tiny(tmp_path / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.response_template = TINY_RESPONSE_TEMPLATE
    if short_tools:
        schemas = "{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}"
        assert schemas in CHAT_TEMPLATE
        names = "{% for tool in tools %}{{ tool['function']['name'] }}\n{% endfor %}"
        tokenizer.chat_template = CHAT_TEMPLATE.replace(schemas, names)
    return AutoModelForCausalLM.from_pretrained(path), tokenizer


def _call(name, **arguments):
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


def _steer(tokenizer, conversation, tools, context=48):
    """``sequence_bias`` that makes the model write each assistant turn of ``conversation``.

    Each target token is keyed by the ``context`` tokens before it, as TRL's tool loop lays them
    out: the prompt, each generated turn with its EOS, then the tool results and the next
    assistant header (the template's rendering, appended). Turns that start alike still diverge
    where their conversations differ.
    """

    def ids(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def render(messages, generation_prompt):
        return tokenizer.apply_chat_template(
            messages, tools=tools, add_generation_prompt=generation_prompt, tokenize=False
        )

    bias, sequence, rendered = {}, [], ""
    for i, msg in enumerate(conversation):
        if msg["role"] != "assistant":
            continue
        prompt = render(conversation[:i], True)
        sequence += ids(prompt[len(rendered) :])
        rendered = render(conversation[: i + 1], False)
        for token in [*ids(rendered[len(prompt) :]), tokenizer.eos_token_id]:
            key = (*sequence[-context:], token)
            assert bias.get(key, 100.0) == 100.0
            bias[key] = 100.0
            sequence.append(token)
    return [[list(k), v] for k, v in bias.items()]


def _args(trl, tmp_path, **kwargs):
    return trl.GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=4,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        **kwargs,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)  # minutes on a loaded 2-core machine
def test_single_turn_env_trains_through_environment_factory(tmp_path, monkeypatch):
    trl = pytest.importorskip("trl")
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    model, tokenizer = _tiny(tmp_path)
    factory = to_trl_environment("assay/Arithmetic-v0")
    assert factory.answer == "text" and not hasattr(factory.cls, "get_reward")
    data = factory.dataset(4)
    seen = []
    reward = factory.reward_funcs[0]

    def spy(prompts, completions, environments, **kwargs):
        seen.extend(e.env.current_task().prompt for e in environments)
        return reward(prompts, completions, environments=environments, **kwargs)

    spy.__name__ = "arithmetic"
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=[spy],
        args=_args(trl, tmp_path, max_completion_length=8, max_steps=2),
        train_dataset=data,
        processing_class=tokenizer,
        environment_factory=factory,
    )
    trainer.train()
    steps = [log for log in trainer.state.log_history if "rewards/arithmetic/mean" in log]
    assert len(steps) == 2
    env = assay.make("assay/Arithmetic-v0").unwrapped
    prompts = {env.task_at(i).prompt for i in range(4)}
    assert len(seen) == 8 and set(seen) <= prompts  # reset pinned each row's task


@pytest.mark.slow
@pytest.mark.timeout(600)  # minutes on a loaded 2-core machine
def test_tool_env_trains_through_environment_factory_with_real_tool_calls(tmp_path, monkeypatch):
    trl = pytest.importorskip("trl")
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    model, tokenizer = _tiny(tmp_path, short_tools=True)
    factory = to_trl_environment(ADD_ID)
    assert factory.answer == "tool" and factory.reward_funcs == []
    probe = factory()
    tools = [probe.add, probe.final_answer]
    conv = [
        {"role": "user", "content": "2+3?"},
        {"role": "assistant", "content": "", "tool_calls": [_call("add", a=2, b=3)]},
        {"role": "tool", "name": "add", "content": "5"},
        {"role": "assistant", "content": "", "tool_calls": [_call("final_answer", answer="5")]},
    ]
    bias = _steer(tokenizer, conv, tools)
    calls = []
    original = factory.cls.add

    def counted(self, a: int, b: int) -> str:
        calls.append((a, b))
        return original(self, a=a, b=b)

    counted.__name__, counted.__doc__ = "add", original.__doc__
    monkeypatch.setattr(factory.cls, "add", counted)
    data = factory.dataset(1)  # task 0: 2+3
    trainer = trl.GRPOTrainer(
        model=model,
        args=_args(
            trl,
            tmp_path,
            max_completion_length=256,
            max_steps=1,
            max_tool_calling_iterations=3,
            generation_kwargs={"sequence_bias": bias},
        ),
        train_dataset=data,
        processing_class=tokenizer,
        environment_factory=factory,
    )
    trainer.train()
    log = next(log for log in trainer.state.log_history if "rewards/TRLAddEnvironment/mean" in log)
    assert calls and all(c == (2, 3) for c in calls)  # TRL's loop called the env's tool method
    assert log["rewards/TRLAddEnvironment/mean"] == pytest.approx(1.0)  # final_answer("5") verified
    assert json.dumps(log)  # plain numbers, loggable
