"""Properties that hold for any seed and any text."""

import gymnasium as gym
from hypothesis import given
from hypothesis import strategies as st

import assay
from assay.envs import Verdict
from assay.envs.math.arithmetic import ArithmeticEnv
from assay.verifiers.match import parse_number

SEEDS = st.integers(0, 2**31 - 1)
LEVELS = st.sampled_from(["easy", "medium", "hard"])


@given(SEEDS, LEVELS)
def test_gold_earns_full_reward(seed, level):
    env = ArithmeticEnv(level)
    env.reset(seed=seed)
    _, reward, terminated, _, info = env.step(env.gold(env.task))
    assert reward == 1.0 and terminated and info["verdict"].correct


@given(st.text(max_size=2_000))
def test_any_text_gets_a_verdict_and_no_exception(text):
    env = ArithmeticEnv()
    env.reset(seed=0)
    _, reward, _, _, info = env.step(text)
    assert isinstance(info["verdict"], Verdict)
    assert reward in (0.0, 1.0)


@given(SEEDS)
def test_same_seed_same_prompt(seed):
    a = gym.make("assay/Arithmetic-v0").reset(seed=seed)
    b = gym.make("assay/Arithmetic-v0").reset(seed=seed)
    assert a == b


@given(SEEDS, st.sampled_from(assay.list_envs()))
def test_every_env_gold_is_correct(seed, env_id):
    env = gym.make(env_id).unwrapped
    env.reset(seed=seed)
    total = 0.0
    for action in env.gold_actions(env.task):
        _, reward, terminated, _, info = env.step(action)
        total += float(reward)
    assert terminated and info["verdict"].correct and total == env.rubric.bounds[1]


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_parse_number_round_trips_fractions(p, q):
    from fractions import Fraction

    value = Fraction(p, q)
    assert parse_number(f"{value.numerator}/{value.denominator}") == value
    assert parse_number(f"\\frac{{{value.numerator}}}{{{value.denominator}}}") == value
