"""The learning floors: a tiny model from scratch learns single-digit addition (a, b < 5) on CPU.

GRPO: mean reward over the last 50 steps >= 0.8 within 120 s of wall time, while a control with
learning rate 0 stays below 0.2. PPO: >= 0.8 within 300 s. One torch thread each (the suite
runs two test workers on two cores).
"""

import time

import pytest
from tiers import require_or_skip

try:
    import torch  # noqa: F401
    import transformers  # noqa: F401
except ImportError as e:
    require_or_skip("e2e", f"e2e tier needs the train extra: {e}", module=True)

from assay.agents import GRPO, PPO, GRPOConfig, PPOConfig, init_tiny
from assay.agents.tiny import ARITHMETIC_ALPHABET

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ENV_KWARGS = {"level": "easy", "operations": "+", "max_operand": 5, "prompt_template": "{expr}="}
COMMON = dict(
    env="assay/Arithmetic-v0",
    env_kwargs=ENV_KWARGS,
    max_new_tokens=4,
    num_threads=1,
    progress=False,
    plot=False,
    log_kl=False,
)


def _window_mean(rows, n=50):
    last = rows[-n:]
    return sum(r["reward/mean"] for r in last) / len(last)


@pytest.mark.timeout(400)
def test_grpo_learns_addition_within_120_seconds(tmp_path):
    model = init_tiny(tmp_path / "init", alphabet=ARITHMETIC_ALPHABET, seed=0)
    cfg = GRPOConfig(
        **COMMON,
        model=str(model),
        out_dir=str(tmp_path / "run"),
        seed=0,
        steps=100_000,
        time_limit_s=120.0,
        target_reward=0.8,
        num_prompts=8,
        group_size=16,
        lr=5e-4,
    )
    trainer = GRPO(cfg)
    start = time.perf_counter()
    rows = trainer.train()
    elapsed = time.perf_counter() - start
    trainer.close()
    first = sum(r["reward/mean"] for r in rows[:20]) / 20
    print(
        f"GRPO: {len(rows)} steps, {elapsed:.1f} s, reward {first:.3f} (first 20) -> {_window_mean(rows):.3f} (last 50)"
    )
    assert first < 0.2
    assert _window_mean(rows) >= 0.8, (
        f"reached only {_window_mean(rows):.3f} in {elapsed:.0f} s ({len(rows)} steps)"
    )
    assert elapsed <= 125.0  # the limit is checked after each step (~0.1-0.5 s)


@pytest.mark.timeout(300)
def test_learning_rate_zero_control_stays_below_0_2(tmp_path):
    model = init_tiny(tmp_path / "init", alphabet=ARITHMETIC_ALPHABET, seed=0)
    cfg = GRPOConfig(
        **COMMON,
        model=str(model),
        out_dir=str(tmp_path / "run"),
        seed=0,
        steps=150,
        num_prompts=8,
        group_size=16,
        lr=0.0,
    )
    trainer = GRPO(cfg)
    rows = trainer.train()
    trainer.close()
    print(f"lr=0 control: {len(rows)} steps, last-50 mean reward {_window_mean(rows):.3f}")
    assert _window_mean(rows) < 0.2 and max(r["reward/mean"] for r in rows) < 0.3


@pytest.mark.timeout(600)
def test_ppo_learns_addition_within_300_seconds(tmp_path):
    model = init_tiny(tmp_path / "init", alphabet=ARITHMETIC_ALPHABET, seed=0)
    cfg = PPOConfig(
        **COMMON,
        model=str(model),
        out_dir=str(tmp_path / "run"),
        seed=0,
        steps=100_000,
        time_limit_s=300.0,
        target_reward=0.8,
        num_prompts=128,
        lr=3e-4,
        num_epochs=1,
        num_minibatches=1,
        vf_coef=0.1,
    )
    trainer = PPO(cfg)
    start = time.perf_counter()
    rows = trainer.train()
    elapsed = time.perf_counter() - start
    trainer.close()
    print(f"PPO: {len(rows)} steps, {elapsed:.1f} s, last-50 mean reward {_window_mean(rows):.3f}")
    assert _window_mean(rows) >= 0.8, (
        f"reached only {_window_mean(rows):.3f} in {elapsed:.0f} s ({len(rows)} steps)"
    )
    assert elapsed <= 305.0
