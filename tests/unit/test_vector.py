import pytest
from gymnasium.vector import AsyncVectorEnv

import assay
from assay.envs import Task
from assay.envs.math.arithmetic import ArithmeticEnv

UNICODE = Task(id="u/0", prompt="Berechne π·2 ≈ ? — 计算 2 + 2 😀", answer="4")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_returns_intact_prompts(mode):
    envs = assay.make_vec("assay/Arithmetic-v0", num_envs=8, vectorization_mode=mode)
    try:
        obs, info = envs.reset(seed=list(range(8)))
        singles = [ArithmeticEnv().reset(seed=s)[0] for s in range(8)]
        assert list(obs) == singles
        obs, _ = envs.reset(options={"task": UNICODE})
        assert list(obs) == [UNICODE.prompt] * 8
        _, rewards, terminated, truncated, info = envs.step(["\\boxed{4}"] * 4 + ["\\boxed{5}"] * 4)
        assert rewards.tolist() == [1.0] * 4 + [0.0] * 4
        assert terminated.all() and not truncated.any()
        assert [v.status.value for v in info["verdict"]] == ["correct"] * 4 + ["incorrect"] * 4
    finally:
        envs.close()


def test_grpo_groups_of_one_task():
    envs = assay.make_vec("assay/Arithmetic-v0", num_envs=8, vectorization_mode="sync")
    obs, info = envs.reset(seed=assay.group_seeds(7, num_prompts=2, group_size=4))
    ids = list(info["task_id"])
    assert len(set(ids[:4])) == 1 and len(set(ids[4:])) == 1 and ids[0] != ids[4]
    obs, info = envs.reset(options={"task_id": ids[0]})
    assert len(set(info["task_id"])) == 1 and len(set(obs)) == 1
    envs.close()


def test_shared_memory_is_refused_with_a_clear_error():
    """Gymnasium's shared-memory path corrupts text; we refuse it instead of returning garbage."""
    with pytest.raises(ValueError, match="shared_memory=False"):
        AsyncVectorEnv([lambda: ArithmeticEnv(max_chars=256)] * 2, shared_memory=True)


def test_vector_verifies_in_parallel_workers():
    envs = assay.make_vec("assay/GuessNumber-v0", num_envs=2)
    try:
        assert isinstance(envs, AsyncVectorEnv)
        envs.reset(seed=[0, 0])
        _, rewards, terminated, truncated, info = envs.step(["no", "still no"])
        assert list(info["turn"]) == [1, 1] and not terminated.any()
    finally:
        envs.close()
