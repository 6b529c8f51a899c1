"""Every registered assay/* env passes the contract checker, bare and through gymnasium.make."""

import gymnasium as gym
import pytest

import assay
from assay.envs import check_text_env

NEEDS_A_BUILD = {"assay/RepoRepair-v0"}
"""Checked in their own tests (both sandboxes, skipped without their bundle)."""
ENV_IDS = [e for e in assay.list_envs() if e not in NEEDS_A_BUILD]


def test_there_are_envs_to_check():
    assert "assay/Arithmetic-v0" in ENV_IDS


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_contract_through_gymnasium_make(env_id):
    env = gym.make(env_id)
    check_text_env(env)
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_contract_unwrapped(env_id):
    env = gym.make(env_id).unwrapped
    check_text_env(env)
    env.close()


def test_checker_rejects_an_env_whose_gold_fails():
    from assay.envs.math.arithmetic import ArithmeticEnv
    from assay.errors import ContractError

    class Broken(ArithmeticEnv):
        def gold(self, task):
            return "\\boxed{not a number}"

    with pytest.raises(ContractError, match="gold answer"):
        check_text_env(Broken(), gym_check=False)


def test_checker_rejects_global_rng_use():
    import random

    from assay.envs.math.arithmetic import ArithmeticEnv
    from assay.errors import ContractError

    class Leaky(ArithmeticEnv):
        def sample_task(self, rng):
            random.seed(0)
            return super().sample_task(rng)

    with pytest.raises(ContractError, match="global random"):
        check_text_env(Leaky(), gym_check=False)
