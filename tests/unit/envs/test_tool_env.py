"""ToolEnv episodes: calls, results, errors as observations, final answers, truncation, chat forms."""

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.envs import ChatObservation, Status, Task
from assay.envs.tools import FINAL_ANSWER, TagCalls, Tool, ToolChat, ToolEnv, tool
from assay.envs.tools.memory import Memory
from assay.verifiers.extract import tagged
from assay.verifiers.match import NumberMatch

TASK = Task(
    id="sum/0", prompt="What is 20 + 22?", answer="42", meta={"gold_plan": [[["add", {"a": 20, "b": 22}]]]}
)


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


def boom() -> str:
    """Always fails."""
    raise ValueError("kaboom")


def hang() -> str:
    """Never returns."""
    while True:
        time.sleep(0.01)


def shout(n: int) -> str:
    """Long output."""
    return "y" * n


class SumEnv(ToolEnv):
    num_tasks = 1

    def __init__(self, **kwargs):
        memory = Memory()
        tools = [tool(add), tool(boom), Tool.from_function(hang, timeout_s=0.5), tool(shout), *memory.tools()]
        kwargs.setdefault("max_output_chars", 50_000)
        super().__init__(tools, NumberMatch(extract=tagged("answer")), **kwargs)

    def task_at(self, index):
        return TASK


@pytest.fixture(params=["json", "tag"])
def env(request):
    e = SumEnv(call_format=request.param)
    e.reset(options={"task": TASK})
    yield e
    e.close()


def calls(env, *pairs, turn=1):
    return env.call_format.render_calls(list(pairs), turn=turn)


def test_the_gold_episode_earns_full_reward(env):
    total = 0.0
    for action in env.gold_actions(TASK):
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
    assert total == 1.0 and terminated and not truncated and info["verdict"].status is Status.CORRECT


def test_a_call_returns_its_result_and_the_episode_goes_on(env):
    obs, reward, terminated, truncated, info = env.step(calls(env, ("add", {"a": 2, "b": 3})))
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["tool_results"] == [{"call_id": "call_1_0", "name": "add", "content": "5", "ok": True}]
    assert info["tool_calls"][0]["name"] == "add" and info["tool_calls"][0]["arguments"] == {"a": 2, "b": 3}
    if env.call_format.name == "json":
        assert json.loads(obs) == [
            {"role": "tool", "tool_call_id": "call_1_0", "name": "add", "content": "5"}
        ]
    else:
        assert obs == "<tool_response>\n5\n</tool_response>"


MALFORMED = {
    "bad JSON": (
        "<tool_call>{bad</tool_call>",
        '{"tool_calls": [{"function": {"name": "add", "arguments": "{bad"}}]}',
        "bad JSON",
    ),
    "unknown tool": (None, None, "unknown tool 'subtract'"),
    "wrong types": (None, None, "is not of type 'integer'"),
    "raises": (None, None, "error: boom: ValueError: kaboom"),
    "hangs": (None, None, "error: hang: timed out after 0.5 s"),
}


def _malformed_action(env, kind):
    tag_text, json_text, _ = MALFORMED[kind]
    if kind == "bad JSON":
        return tag_text if env.call_format.name == "tag" else json_text
    return {
        "unknown tool": calls(env, ("subtract", {"a": 1, "b": 2})),
        "wrong types": calls(env, ("add", {"a": "1", "b": 2})),
        "raises": calls(env, ("boom", {})),
        "hangs": calls(env, ("hang", {})),
    }[kind]


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_a_malformed_call_is_an_error_observation_and_the_episode_goes_on(env, kind):
    start = time.monotonic()
    obs, reward, terminated, truncated, info = env.step(_malformed_action(env, kind))
    assert time.monotonic() - start < 5
    assert not terminated and not truncated and reward == 0.0 and info["verdict"] is None
    (result,) = info["tool_results"]
    assert (
        not result["ok"]
        and result["content"].startswith("error:")
        and MALFORMED[kind][2] in result["content"]
    )
    assert MALFORMED[kind][2] in (obs if env.call_format.name == "tag" else json.loads(obs)[0]["content"])
    # the episode goes on: a good call works, then the answer is scored in full
    assert env.step(calls(env, ("add", {"a": 20, "b": 22}), turn=2))[1] == 0.0
    _, reward, terminated, _, info = env.step("<answer>42</answer>")
    assert reward == 1.0 and terminated and info["turn"] == 3


def test_an_unreadable_json_message_is_an_error_observation():
    env = SumEnv(call_format="json")
    env.reset()
    obs, reward, terminated, truncated, info = env.step('{"tool_calls": [oops')
    assert obs.startswith("error: bad JSON") and not terminated and not truncated
    assert env.transcript[-1] == {"role": "user", "content": obs}
    assert env.step("<answer>42</answer>")[1] == 1.0


def test_several_calls_in_one_action_and_the_per_action_limit():
    env = SumEnv(call_format="tag", max_calls_per_turn=2)
    env.reset()
    _, _, _, _, info = env.step(
        calls(env, ("add", {"a": 1, "b": 1}), ("add", {"a": 2, "b": 2}), ("add", {"a": 3, "b": 3}))
    )
    contents = [r["content"] for r in info["tool_results"]]
    assert contents[:2] == ["2", "4"] and contents[2] == "error: more than 2 calls in one message"


def test_final_answer_tool_ends_the_episode_with_its_argument(env):
    _, reward, terminated, _, info = env.step(
        calls(env, ("add", {"a": 1, "b": 1}), (FINAL_ANSWER, {"answer": "42"}))
    )
    assert reward == 1.0 and terminated and info["verdict"].extracted == "42"
    assert [c["name"] for c in info["tool_calls"]] == ["add", FINAL_ANSWER]


def test_final_answer_with_bad_arguments_is_an_error(env):
    _, _, terminated, _, info = env.step(calls(env, (FINAL_ANSWER, {"answer": 42})))
    assert not terminated and "is not of type 'string'" in info["tool_results"][0]["content"]


def test_a_wrong_final_answer_scores_zero(env):
    _, reward, terminated, _, info = env.step("<answer>41</answer>")
    assert reward == 0.0 and terminated and info["verdict"].status is Status.INCORRECT


def test_max_turns_truncates():
    env = SumEnv(call_format="json", max_turns=2)
    env.reset()
    env.step(calls(env, ("add", {"a": 1, "b": 1})))
    _, reward, terminated, truncated, info = env.step(calls(env, ("add", {"a": 1, "b": 1}), turn=2))
    assert truncated and not terminated and reward == 0.0 and info["verdict"].status is Status.NO_ANSWER


def test_transcript_holds_tool_messages_and_chat_observation_accepts_them(env):
    wrapped = ChatObservation(env)
    wrapped.reset(options={"task": TASK})
    obs, *_ = wrapped.step(calls(env, ("add", {"a": 2, "b": 3})))
    assert [m["role"] for m in obs][-2:] == ["assistant", "tool"]
    assert obs[-1]["content"] == "5" and obs[-1]["tool_call_id"] == "call_1_0"
    assert wrapped.observation_space.contains(obs)


def test_reset_gives_tool_schemas_and_tag_instructions():
    tag = SumEnv(call_format="tag")
    obs, info = tag.reset()
    names = [t["function"]["name"] for t in info["tools"]]
    assert names == ["add", "boom", "hang", "shout", "remember", "recall", FINAL_ANSWER]
    assert obs.endswith(TASK.prompt) and "<tools>" in obs and "<tool_call>" in obs
    assert info["system_prompt"] in obs and tag.transcript[0]["role"] == "system"
    plain = SumEnv(call_format="json")
    obs, info = plain.reset()
    assert obs == TASK.prompt and info["system_prompt"] == "" and len(info["tools"]) == 7


def test_custom_tags_work_end_to_end():
    fmt = TagCalls("<function_call>", "</function_call>", "<output>", "</output>", args_key="parameters")
    env = SumEnv(call_format=fmt)
    obs, _ = env.reset()
    assert "<function_call>" in obs
    out, *_ = env.step('<function_call>{"name": "add", "parameters": {"a": 4, "b": 5}}</function_call>')
    assert out == "<output>\n9\n</output>"


def test_tool_chat_observation_is_an_openai_request():
    env = ToolChat(SumEnv(call_format="json"))
    obs, _ = env.reset()
    assert obs["messages"] == [{"role": "user", "content": TASK.prompt}] and len(obs["tools"]) == 7
    obs, *_ = env.step(calls(env.unwrapped, ("add", {"a": 2, "b": 3})))
    assistant, result = obs["messages"][-2:]
    assert assistant["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 3}'}
    assert result == {"role": "tool", "tool_call_id": "call_1_0", "name": "add", "content": "5"}
    assert env.observation_space.contains(obs)


def test_tool_error_penalty_is_a_per_turn_term():
    env = SumEnv(call_format="json", tool_error_penalty=0.1)
    env.reset()
    _, reward, *_, info = env.step(calls(env, ("boom", {}), ("add", {"a": 1, "b": 1})))
    assert reward == pytest.approx(-0.1) and info["reward_terms"] == {"tool_errors": pytest.approx(-0.1)}


def test_observations_fit_max_chars_whatever_the_tools_print():
    env = SumEnv(call_format="json", max_chars=2_000)
    env.reset()
    obs, *_ = env.step(calls(env, *[("shout", {"n": 5_000})] * 4))
    assert len(obs) <= 2_000
    results = json.loads(obs)
    assert len(results) == 4 and all("[truncated" in r["content"] for r in results)


def test_memory_lasts_one_episode(env):
    env.step(calls(env, ("remember", {"key": "k", "value": "v"})))
    _, _, _, _, info = env.step(calls(env, ("recall", {"key": "k"}), turn=2))
    assert info["tool_results"][0]["content"] == "v"
    env.reset(options={"task": TASK})
    _, _, _, _, info = env.step(calls(env, ("recall", {"key": "k"})))
    assert "nothing stored under 'k'" in info["tool_results"][0]["content"]


def test_step_info_keys_are_stable_on_every_kind_of_step(env):
    keys = {"task_id", "turn", "verdict", "reward_terms", "tool_calls", "tool_results"}
    for action in (calls(env, ("add", {"a": 1, "b": 1})), 12345, "<answer>42</answer>"):
        *_, info = env.step(action)
        assert keys <= set(info)


_fragments = st.sampled_from(
    [
        "<tool_call>",
        "</tool_call>",
        '{"name": "add", "arguments": ',
        '{"tool_calls": [',
        '{"function": ',
        "}",
        "]",
        '"a": 1',
        ", ",
        "null",
        "<answer>42</answer>",
        '"add"',
        "{",
        '"final_answer"',
    ]
)
_actions = st.one_of(
    st.text(max_size=300), st.lists(st.one_of(_fragments, st.text(max_size=5)), max_size=12).map("".join)
)


@pytest.fixture(scope="module")
def envs_by_format():
    envs = {fmt: SumEnv(call_format=fmt, max_turns=4) for fmt in ("json", "tag")}
    yield envs
    for env in envs.values():
        env.close()


@pytest.mark.parametrize("call_format", ["json", "tag"])
@settings(max_examples=150, deadline=None)
@given(actions=st.lists(_actions, min_size=1, max_size=4))
def test_any_action_gives_an_observation_never_an_exception(envs_by_format, call_format, actions):
    env = envs_by_format[call_format]
    env.reset(options={"task": TASK})
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        assert isinstance(obs, str) and len(obs) <= env.max_chars
        assert {"task_id", "turn", "verdict", "reward_terms", "tool_calls", "tool_results"} <= set(info)
        assert all(r["ok"] or r["content"].startswith("error:") for r in info["tool_results"])
        if terminated or truncated:
            break


def _shipped_tool_envs():
    from assay.envs.tools.almanac import AlmanacEnv
    from assay.envs.tools.multihop import MultiHopQAEnv
    from assay.envs.tools.python_math import PythonMathEnv

    return {"Almanac": AlmanacEnv, "MultiHopQA": MultiHopQAEnv, "PythonMath": PythonMathEnv}


@pytest.mark.parametrize("name", sorted(_shipped_tool_envs()))
@pytest.mark.parametrize(
    ("final", "status"),
    [
        ("<think><answer>42</answer></think> no idea", Status.NO_ANSWER),
        ("<think>it is <answer>42</answer>", Status.NO_ANSWER),  # cut off mid-thought
        ("<think>maybe <answer>41</answer></think><answer>42</answer>", Status.CORRECT),
    ],
)
def test_every_env_that_extracts_answers_inherits_18_and_19(name, final, status):
    """The tool envs' final answers: a reasoning block is never the answer (TRUST 19, 20)."""
    env = _shipped_tool_envs()[name]()
    try:
        env.reset(options={"task": Task(id="t/0", prompt="?", answer="42", meta={"match": "number"})})
        *_, info = env.step(final)
        assert info["verdict"].status is status, info["verdict"]
    finally:
        env.close()
