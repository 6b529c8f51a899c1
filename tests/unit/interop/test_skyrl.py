"""`to_skyrl`: SkyRL-Gym's own registry and ``make`` build the env; its generator's init/step loop
drives assay envs; rewards equal assay's own for the same actions."""

from __future__ import annotations

from typing import Any

import pytest

import assay
from assay.errors import AssayError

skyrl_gym = pytest.importorskip("skyrl_gym", reason="skyrl-gym not installed: pip install 'assay[skyrl]'")

from assay.envs.skyrl_gym import skyrl_dataset, to_skyrl  # noqa: E402


def _generator_episode(env_class: str, row: dict[str, Any], actions: list[str]) -> tuple[list[float], Any]:
    """What SkyRLGymGenerator does for one trajectory: make by name with the row's extras, init
    with the row's prompt, step each model output until done, read metrics, close."""
    extras = {k: v for k, v in row.items() if k not in ("prompt", "env_class")}
    env = skyrl_gym.make(env_class, env_config={}, extras=extras)
    assert isinstance(env, skyrl_gym.envs.base_text_env.BaseTextEnv)
    chat, _ = env.init(row["prompt"])
    rewards = []
    for action in actions:
        out = env.step(action)
        assert set(out) >= {"observations", "reward", "done", "metadata"}
        rewards.append(out["reward"])
        chat = chat + [{"role": "assistant", "content": action}] + out["observations"]
        if out["done"]:
            break
    metrics = env.get_metrics()
    env.close()
    return rewards, metrics


def _assay_rewards(env_id: str, task_id: str, actions: list[str], **kwargs: Any) -> list[float]:
    env = assay.make(env_id, **kwargs)
    env.reset(options={"task_id": task_id})
    out = []
    for a in actions:
        _, r, term, trunc, _ = env.step(a)
        out.append(float(r))
        if term or trunc:
            break
    env.close()
    return out


def test_single_turn_rewards_equal_assay() -> None:
    name = to_skyrl("assay/Arithmetic-v0", level="medium")
    rows = skyrl_dataset("assay/Arithmetic-v0", 6, level="medium", seed=3)
    gold_env = assay.make("assay/Arithmetic-v0", level="medium").unwrapped
    seen = []
    for i, row in enumerate(rows):
        assert row["env_class"] == name
        task = gold_env.task_by_id(row["extra_info"]["task_id"])
        action = gold_env.gold(task) if i % 2 == 0 else "\\boxed{-99999}"
        rewards, metrics = _generator_episode(name, row, [action])
        assert rewards == _assay_rewards("assay/Arithmetic-v0", task.id, [action], level="medium")
        assert metrics["correct"] == (1.0 if i % 2 == 0 else 0.0)
        seen.append(rewards[0])
    assert seen[0] == 1.0 and seen[1] == 0.0


def test_init_returns_the_env_prompt_not_the_rows() -> None:
    name = to_skyrl("assay/Arithmetic-v0", name="arith-skyrl")
    row = skyrl_dataset("assay/Arithmetic-v0", 1, name=name)[0]
    env = skyrl_gym.make(name, env_config={}, extras={"extra_info": row["extra_info"]})
    chat, meta = env.init([{"role": "user", "content": "stale prompt"}])
    assert chat == row["prompt"] and meta["task_id"] == row["extra_info"]["task_id"]
    with pytest.raises(AssayError):
        skyrl_gym.make(name, env_config={}, extras={}).step("1")


def test_multi_turn_tool_env_episode() -> None:
    env_id = "assay/Almanac-v0"
    name = to_skyrl(env_id)
    row = skyrl_dataset(env_id, 1, seed=5)[0]
    inner = assay.make(env_id).unwrapped
    task = inner.task_by_id(row["extra_info"]["task_id"])
    actions = inner.gold_actions(task)
    assert len(actions) >= 2  # at least one tool turn, then the answer
    env = skyrl_gym.make(name, env_config={}, extras={"extra_info": row["extra_info"]})
    _, meta = env.init(row["prompt"])
    assert any(t["function"]["name"] == "final_answer" for t in meta["tools"])
    first = env.step(actions[0])
    assert not first["done"] and first["observations"]
    assert all(m["role"] in ("tool", "user") for m in first["observations"])
    env.close()
    rewards, metrics = _generator_episode(name, row, actions)
    assert rewards == _assay_rewards(env_id, task.id, actions)
    assert rewards[-1] == 1.0 and metrics["correct"] == 1.0 and metrics["turns"] == len(actions)


def test_unknown_env_is_refused() -> None:
    with pytest.raises(AssayError):
        to_skyrl("assay/NoSuchEnv-v0")
