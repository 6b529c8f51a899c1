"""UserSimEnv / assay/Retail-v0: a simulated user on the other side, the world checked at the end."""

import json

import pytest

import assay
from assay.envs import Status, check_text_env
from assay.envs.tools.retail import KINDS, RetailEnv
from assay.envs.tools.user_sim import STOP, SamplerUser, ScriptedUser, WorldMatch
from assay.verifiers.sampler import ScriptedSampler


def play(env, actions):
    total, out = 0.0, None
    for action in actions:
        out = env.step(action)
        total += out[1]
        if out[2] or out[3]:
            break
    return total, out


@pytest.mark.parametrize("call_format", ["json", "tag"])
def test_the_env_passes_the_contract_in_both_call_formats(call_format):
    env = assay.make("assay/Retail-v0", call_format=call_format)
    check_text_env(env, seeds=(0, 1, 2, 3))
    env.close()


@pytest.mark.parametrize("kind", KINDS)
def test_gold_actions_earn_full_reward_for_every_kind(kind):
    env = RetailEnv(kinds=[kind])
    for seed in range(5):
        env.reset(seed=seed)
        task = env.current_task()
        assert task.meta["kind"] == kind
        total, (_, _, terminated, _, info) = play(env, env.gold_actions(task))
        assert total == 1.0 and terminated and info["verdict"].status is Status.CORRECT


def test_same_index_same_task_and_tasks_differ():
    a, b = RetailEnv(), RetailEnv()
    assert a.task_at(7) == b.task_at(7)
    assert len({a.task_at(i).prompt for i in range(20)}) == 20


def test_the_scripted_user_reveals_only_what_is_asked_then_stops():
    env = RetailEnv(kinds=["address"])
    env.reset(seed=0)
    obs, *_ = env.step("Hello! How are you today?")
    assert obs == ScriptedUser().fallback
    obs, *_ = env.step("Sure. What is the new address?")
    assert obs.startswith("The new address is ")
    _, reward, terminated, _, info = env.step("Thanks, all done!")  # nothing left to say: the user stops
    assert terminated and reward == 0.0  # ... but the address was never changed
    assert info["verdict"].status is Status.INCORRECT


def test_the_world_not_the_transcript_is_checked():
    env = RetailEnv(kinds=["cancel"])
    env.reset(seed=1)
    task = env.current_task()
    gold = env.gold_actions(task)
    # tell the user it's done, with the reason asked, but never call cancel_order
    total, (_, _, terminated, _, info) = play(env, [*gold[:4], gold[-1]])
    assert terminated and total == 0.0 and info["verdict"].status is Status.INCORRECT


def test_extra_harm_fails_the_match():
    env = RetailEnv(kinds=["cancel"], call_format="tag")
    env.reset(seed=2)
    task = env.current_task()
    world = task.meta["world"]
    mine = world["customers"][next(iter(world["customers"]))]
    other = next(o for o in mine["orders"] if world["orders"][o]["status"] == "delivered")
    item = sorted(world["orders"][other]["items"])[0]
    gold = env.gold_actions(task)
    extra = env.call_format.render_calls([("return_item", {"order_id": other, "item": item})], turn=6)
    total, (_, _, terminated, _, info) = play(env, [*gold[:5], extra, gold[-1]])
    assert info["verdict"] is not None and terminated and total == 0.0
    assert env.world["orders"][other]["status"] == "return requested"  # the extra call did act


def test_tools_enforce_the_shop_rules():
    env = RetailEnv(kinds=["return"], call_format="tag")
    env.reset(seed=3)
    task = env.current_task()
    target = task.meta["gold_turns"][2]["calls"][0][1]["order_id"]
    _, _, _, _, info = env.step(env.call_format.render_calls([("get_order", {"order_id": target})], turn=1))
    assert (
        info["tool_results"][0]["ok"] is False and "find_customer first" in info["tool_results"][0]["content"]
    )
    ident = task.meta["gold_turns"][0]["calls"]
    env.step(env.call_format.render_calls([tuple(c) for c in ident], turn=2))
    _, _, _, _, info = env.step(
        env.call_format.render_calls(
            [("cancel_order", {"order_id": target, "reason": "ordered by mistake"})], turn=3
        )
    )
    assert "only pending orders" in info["tool_results"][0]["content"]


def test_random_text_runs_out_of_turns_with_no_answer():
    env = RetailEnv(max_turns=3)
    env.reset(seed=0)
    total, (_, _, terminated, truncated, info) = play(env, ["blah"] * 3)
    assert truncated and not terminated and total == 0.0 and info["verdict"].status is Status.NO_ANSWER


def test_a_sampler_plays_the_user_from_the_hidden_goal():
    sampler = ScriptedSampler(
        lambda prompt: (
            "I ordered it by mistake.\nAgent: ..."
            if "Agent: May I ask why" in prompt.splitlines()[-2]
            else STOP
        )
    )
    env = RetailEnv(kinds=["cancel"], user=SamplerUser(sampler))
    env.reset(seed=4)
    task = env.current_task()
    gold = env.gold_actions(task)
    obs, *_ = env.step(gold[0])
    for action in gold[1:4]:
        obs, *_ = env.step(action)
    assert obs == "I ordered it by mistake."  # cut at the model's next "Agent:" turn
    assert task.meta["user_goal"] in sampler.calls[0] and "Customer: " + task.prompt in sampler.calls[0]
    reason = task.meta["gold_turns"][4]["calls"][0][1]["reason"]
    if reason == "ordered by mistake":
        _, reward, terminated, *_ = play(env, gold[4:])[1]
        assert terminated and reward == 1.0


def test_world_match_verdicts():
    from assay.verifiers.base import Task

    task = Task(id="w/0", prompt="", answer=json.dumps({"a": 1}))
    assert WorldMatch()('{"a": 1}', task).status is Status.CORRECT
    assert WorldMatch()('{"a": 2}', task).status is Status.INCORRECT
    assert WorldMatch()("not json", task).status is Status.NO_ANSWER
