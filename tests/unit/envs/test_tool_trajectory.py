"""Trajectories: rollout records every turn; JSONL round trip is lossless; token data is kept."""

from dataclasses import dataclass

import pytest

from assay.envs.tools import ScriptedPolicy, Trajectory, read_jsonl, rollout, write_jsonl
from assay.envs.tools.almanac import AlmanacEnv


@dataclass
class Sample:
    text: str
    token_ids: list[int]
    logprobs: list[float]


@pytest.mark.parametrize("call_format", ["json", "tag"])
def test_scripted_gold_rollouts_earn_full_reward_and_round_trip(tmp_path, call_format):
    env = AlmanacEnv(call_format=call_format)
    trajectories = []
    for index in range(12):
        env.reset(options={"index": index})
        actions = env.gold_actions(env.current_task())
        trajectory = rollout(env, ScriptedPolicy(actions), options={"index": index})
        assert trajectory.total_reward == 1.0 and trajectory.terminated and not trajectory.truncated
        assert trajectory.verdict["status"] == "correct"
        assert [t.action for t in trajectory.turns] == actions
        assert all(r["ok"] for t in trajectory.turns for r in t.tool_results)
        assert sum(len(t.tool_calls) for t in trajectory.turns) >= 1
        assert trajectory.messages[-1] == {"role": "assistant", "content": actions[-1]}
        trajectories.append(trajectory)
    path = tmp_path / "episodes.jsonl"
    write_jsonl(path, trajectories)
    assert read_jsonl(path) == trajectories
    env.close()


def test_json_rollout_messages_are_openai_shaped():
    env = AlmanacEnv(kinds=["discovery_gap"], call_format="json")
    env.reset(options={"index": 0})
    trajectory = rollout(env, ScriptedPolicy(env.gold_actions(env.current_task())), options={"index": 0})
    user, assistant, first, second, final = trajectory.messages
    assert user["role"] == "user" and [c["function"]["name"] for c in assistant["tool_calls"]] == [
        "lookup",
        "lookup",
    ]
    assert (first["role"], second["role"]) == ("tool", "tool")
    assert [first["tool_call_id"], second["tool_call_id"]] == [c["id"] for c in assistant["tool_calls"]]
    assert (
        final["role"] == "assistant"
        and [t["function"]["name"] for t in trajectory.tools][-1] == "final_answer"
    )


def test_token_level_data_is_recorded_when_the_policy_provides_it(tmp_path):
    env = AlmanacEnv(kinds=["weekday"])
    env.reset(options={"index": 0})
    actions = env.gold_actions(env.current_task())
    samples = [Sample(a, [i, i + 1], [-0.5, -0.25]) for i, a in enumerate(actions)]
    trajectory = rollout(env, ScriptedPolicy(samples), options={"index": 0})
    assert [t.token_ids for t in trajectory.turns] == [[0, 1], [1, 2]]
    assert trajectory.turns[0].logprobs == [-0.5, -0.25]
    assert Trajectory.from_json(trajectory.to_json()) == trajectory


def test_a_truncated_episode_is_recorded_as_such():
    env = AlmanacEnv(kinds=["weekday"], max_turns=2)
    call = env.call_format.render_calls([("weekday", {"date": "2000-01-01"})], turn=1)
    trajectory = rollout(env, ScriptedPolicy([call, call]), seed=0)
    assert trajectory.truncated and not trajectory.terminated and trajectory.verdict["status"] == "no_answer"
    assert len(trajectory.turns) == 2


def test_scripted_policy_says_when_it_runs_out():
    policy = ScriptedPolicy(["a"])
    policy([])
    with pytest.raises(RuntimeError, match="only 1 actions"):
        policy([])
