"""Regression tests for issue 17 items 5 and 6 in the RL trainers: PPO's separate critic with
LoRA, group filtering, truncated importance sampling per batch, dropout off for the old policy's
log-probs, and runs that say why they stopped (no reward variance among them)."""

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from assay.agents import grpo as grpo_module  # noqa: E402
from assay.agents.config import GRPOConfig, PPOConfig  # noqa: E402
from assay.agents.grpo import GRPO  # noqa: E402
from assay.agents.policy import load_policy  # noqa: E402
from assay.agents.ppo import PPO  # noqa: E402
from assay.agents.sampler import HFSampler  # noqa: E402


def _cfg(cls, arith_dir, tmp_path, add_kwargs, **kw):
    base = dict(
        model=str(arith_dir),
        env="assay/Arithmetic-v0",
        env_kwargs=add_kwargs,
        out_dir=str(tmp_path / "run"),
        num_prompts=4,
        max_new_tokens=4,
        progress=False,
        plot=False,
        num_threads=1,
    )
    if cls is GRPOConfig:
        base["group_size"] = 4
    base.update(kw)
    return cls(**base)


def _half_right(prompt: str, i: int) -> str:
    a, b = prompt.rstrip("=").replace(" ", "").split("+")
    return str(int(a) + int(b)) if i % 2 else "9"


class _FixedRewards(GRPO):
    """GRPO whose per-episode rewards are ``pattern`` repeated (signal whatever was sampled)."""

    pattern = (0.0, 1.0, 0.0, 1.0)

    def rewards(self, episodes):
        reps = len(episodes) // len(self.pattern)
        return torch.tensor(self.pattern * reps, dtype=torch.float32)


def test_ppo_separate_critic_with_lora_steps(arith_dir, tmp_path, add_kwargs, token_script):
    cfg = _cfg(PPOConfig, arith_dir, tmp_path, add_kwargs, critic="separate", lora_r=4)
    model, tok = load_policy(arith_dir)
    trainer = PPO(cfg, model=model, tokenizer=tok, sampler=token_script(tok, lambda p, i: _half_right(p, i)))
    critic_before = {k: v.detach().clone() for k, v in trainer.critic.named_parameters() if v.requires_grad}
    m = trainer.step()
    trainer.close()
    assert (
        m["loss/value"] == m["loss/value"] and critic_before
    )  # finite, and the critic has trainable weights
    moved = [
        k
        for k, v in trainer.critic.named_parameters()
        if k in critic_before and not torch.equal(v, critic_before[k])
    ]
    assert moved  # the critic learns (its own adapter)


def test_filter_groups_keeps_every_row_of_a_kept_group(
    arith_dir, tmp_path, add_kwargs, token_script, monkeypatch
):
    class Middle(_FixedRewards):
        pattern = (0.0, 0.5, 0.5, 1.0)  # the 0.5 rows have zero advantage inside a group with signal

    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, filter_groups=True)
    model, tok = load_policy(arith_dir)
    trainer = Middle(cfg, model=model, tokenizer=tok, sampler=token_script(tok, lambda p, i: "9"))
    seen = []
    real = trainer._update
    monkeypatch.setattr(
        trainer, "_update", lambda eps, adv, seed: seen.append(len(eps)) or real(eps, adv, seed)
    )
    trainer.step()
    trainer.close()
    assert seen == [16]  # Dr. GRPO's constant denominator counts all the group's rows


class _Skewed:
    """An HF sampler whose reported log-probs are 1 nat/token too low for the first prompt only."""

    accepts_token_ids = True

    def __init__(self, inner):
        self.inner = inner

    def sample(self, prompts, **kw):
        out = self.inner.sample(prompts, **kw)
        first = [dataclasses.replace(s, logprobs=[x - 1.0 for x in s.logprobs]) for s in out[0]]
        return [first, *out[1:]]


def test_truncated_importance_sampling_is_decided_once_per_batch(
    arith_dir, tmp_path, add_kwargs, monkeypatch
):
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, micro_batch_size=4)
    model, tok = load_policy(arith_dir)
    trainer = _FixedRewards(cfg, model=model, tokenizer=tok, sampler=_Skewed(HFSampler(model, tok)))
    weighted = []
    real = grpo_module.truncated_is_weights

    def counting(old, sampler_lp, **kw):
        weighted.append(old.shape[0])
        return real(old, sampler_lp, **kw)

    monkeypatch.setattr(grpo_module, "truncated_is_weights", counting)
    m = trainer.step()
    trainer.close()
    assert (
        m["tis"] == 1.0 and sum(weighted) == 16
    )  # every chunk of the batch is weighted, not just the skewed one


def _with_dropout(model, p=0.5):
    for layer in model.model.layers:
        layer.self_attn.attention_dropout = p
    return model


def test_grpo_old_logprobs_are_computed_without_dropout(arith_dir, tmp_path, add_kwargs):
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs)
    model, tok = load_policy(arith_dir)
    trainer = _FixedRewards(cfg, model=_with_dropout(model), tokenizer=tok)
    m = trainer.step()
    trainer.close()
    assert m["skipped"] == 0.0 and m["logprob_gap"] < 1e-3 and m["tis"] == 0.0
    assert trainer.model.training  # back in train mode for the update


def test_ppo_old_logprobs_are_computed_without_dropout(arith_dir, tmp_path, add_kwargs):
    cfg = _cfg(PPOConfig, arith_dir, tmp_path, add_kwargs)
    model, tok = load_policy(arith_dir)
    trainer = PPO(cfg, model=_with_dropout(model), tokenizer=tok)
    m = trainer.step()
    trainer.close()
    assert m["logprob_gap"] < 1e-3 and m["tis"] == 0.0
    assert trainer.model.training


def test_steps_without_reward_variance_say_so_and_stop_the_run(
    arith_dir, tmp_path, add_kwargs, token_script, capsys
):
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, steps=10, max_no_signal_steps=3)
    model, tok = load_policy(arith_dir)
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=token_script(tok, lambda p, i: "9"))
    rows = trainer.train()
    trainer.close()
    assert len(rows) == 3 and all(r["no_signal"] == 1.0 for r in rows)
    assert trainer.stop_reason.startswith("no signal")
    err = capsys.readouterr().err
    assert "no reward variance" in err and "stopped: no signal" in err


def test_every_run_says_why_it_stopped(arith_dir, tmp_path, add_kwargs, token_script, capsys):
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, steps=2)
    model, tok = load_policy(arith_dir)
    trainer = _FixedRewards(cfg, model=model, tokenizer=tok, sampler=token_script(tok, lambda p, i: "9"))
    rows = trainer.train()
    trainer.close()
    assert len(rows) == 2 and all(r["no_signal"] == 0.0 for r in rows)
    assert trainer.stop_reason.startswith("steps")
    assert "stopped: steps" in capsys.readouterr().err

    cfg = _cfg(GRPOConfig, arith_dir, tmp_path / "z", add_kwargs, steps=2, max_no_signal_steps=0)
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=token_script(tok, lambda p, i: "9"))
    rows = trainer.train()
    trainer.close()
    assert len(rows) == 2 and trainer.stop_reason.startswith("steps")  # 0: never stops for it

    cfg = _cfg(GRPOConfig, arith_dir, tmp_path / "t", add_kwargs, steps=5, target_reward=0.0, target_window=1)
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=token_script(tok, lambda p, i: "9"))
    rows = trainer.train()
    trainer.close()
    assert len(rows) == 1 and trainer.stop_reason.startswith("target reached")
