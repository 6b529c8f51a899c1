"""GRPO and PPO steps: what moves the weights, what must not, exact resume, configs, LoRA; the
sampling-time log-probs (no dropout, TIS per batch), group filtering, and why a run stopped."""

import dataclasses
import math

import pytest

torch = pytest.importorskip("torch")

from assay.agents import grpo as grpo_module  # noqa: E402
from assay.agents.config import GRPOConfig, PPOConfig, load_config, parse_overrides  # noqa: E402
from assay.agents.grpo import GRPO  # noqa: E402
from assay.agents.metrics import read_metrics  # noqa: E402
from assay.agents.policy import load_policy  # noqa: E402
from assay.agents.ppo import PPO  # noqa: E402
from assay.agents.sampler import HFSampler  # noqa: E402


def _answer(prompt: str) -> int:
    a, b = prompt.rstrip("=").replace(" ", "").split("+")  # token-id prompts decode without spaces
    return int(a) + int(b)


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


def _params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def test_a_batch_of_only_zero_advantage_groups_does_not_move_the_weights(
    arith_dir, tmp_path, add_kwargs, token_script
):
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, weight_decay=0.1, filter_groups=False)
    model, tok = load_policy(arith_dir)
    trainer = GRPO(
        cfg, model=model, tokenizer=tok, sampler=token_script(tok, lambda p, i: "9")
    )  # always wrong
    before = _params(trainer.model)
    m = trainer.step()
    trainer.close()
    assert m["skipped"] == 1.0 and m["reward/mean"] == 0.0
    assert all(torch.equal(before[k], v) for k, v in trainer.model.named_parameters())
    assert not trainer.optimizer.state  # AdamW never stepped


def test_a_step_with_signal_moves_the_weights_and_logs(arith_dir, tmp_path, add_kwargs, token_script):
    cfg = _cfg(
        GRPOConfig, arith_dir, tmp_path, add_kwargs, num_epochs=2, num_minibatches=2, micro_batch_size=3
    )
    model, tok = load_policy(arith_dir)
    sampler = token_script(tok, lambda p, i: str(_answer(p)) if i % 2 else "9")  # half right per group
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=sampler)
    before = _params(trainer.model)
    m = trainer.step()
    trainer.close()
    assert m["skipped"] == 0.0 and m["groups/kept"] > 0
    assert 0 < m["reward/mean"] < 1 and math.isfinite(m["loss"]) and m["grad_norm"] > 0
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.named_parameters())


def test_logprob_gap_above_threshold_turns_on_truncated_importance_sampling(
    arith_dir, tmp_path, add_kwargs, token_script
):
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs)
    model, tok = load_policy(arith_dir)
    # a sampler whose reported log-probs (-0.5) are far from the policy's: TIS must kick in
    sampler = token_script(tok, lambda p, i: str(_answer(p)) if i % 2 else "9")
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=sampler)
    m = trainer.step()
    trainer.close()
    assert m["logprob_gap"] > 1e-3 and m["tis"] == 1.0


def test_hf_sampler_needs_no_correction(arith_dir, tmp_path, add_kwargs, flexible_add_env):
    trainer = GRPO(_cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, env=flexible_add_env))
    rows = [trainer.step() for _ in range(3)]
    trainer.close()
    gaps = [r["logprob_gap"] for r in rows if r["skipped"] == 0.0]
    assert gaps and max(gaps) < 1e-3 and all(r["tis"] == 0.0 for r in rows if r["skipped"] == 0.0)


def test_lr_zero_never_changes_the_policy(arith_dir, tmp_path, add_kwargs):
    trainer = GRPO(_cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, lr=0.0))
    before = _params(trainer.model)
    for _ in range(2):
        trainer.step()
    trainer.close()
    assert all(torch.equal(before[k], v) for k, v in trainer.model.named_parameters())


def test_resume_reproduces_the_uninterrupted_run_exactly(arith_dir, tmp_path, add_kwargs):
    full = GRPO(
        _cfg(GRPOConfig, arith_dir, tmp_path / "a", add_kwargs, steps=4, save_every=2, keep_checkpoints=5)
    )
    rows = full.train()
    full.close()
    # a second run that stops after step 2 (its checkpoint), then a fresh process-like trainer resumes
    part = GRPO(_cfg(GRPOConfig, arith_dir, tmp_path / "b", add_kwargs, steps=2, save_every=2))
    part.train()
    part.close()
    resumed = GRPO(_cfg(GRPOConfig, arith_dir, tmp_path / "b", add_kwargs, steps=4, save_every=2))
    rows_b = resumed.train(resume=True)
    resumed.close()
    strip = lambda rs: [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rs]  # noqa: E731
    assert strip(rows_b) == strip(rows) and len(rows) == 4
    logged_b = strip(read_metrics(tmp_path / "b" / "run" / "metrics.jsonl"))
    assert logged_b[:-1] == strip(rows)
    # one end-of-run row (the partial run's was dropped on resume), with the baseline measured
    # before the partial run's first step and carried through its checkpoint
    assert logged_b[-1] == strip(read_metrics(tmp_path / "a" / "run" / "metrics.jsonl"))[-1]
    assert logged_b[-1]["stop_reason"] == "steps: 4 of 4 done" and logged_b[-1]["eval/baseline"] is not None
    for (k, v), (k2, v2) in zip(full.model.named_parameters(), resumed.model.named_parameters(), strict=True):
        assert k == k2 and torch.equal(v, v2)


def test_kl_penalty_and_seq_loss_run(arith_dir, tmp_path, add_kwargs, token_script):
    cfg = _cfg(
        GRPOConfig, arith_dir, tmp_path, add_kwargs, kl_coef=0.1, loss_agg="seq", scale_advantages=False
    )
    model, tok = load_policy(arith_dir)
    trainer = GRPO(
        cfg,
        model=model,
        tokenizer=tok,
        sampler=token_script(tok, lambda p, i: str(_answer(p)) if i % 2 else "9"),
    )
    m1 = trainer.step()
    m2 = trainer.step()
    trainer.close()
    assert m1["kl"] == pytest.approx(0.0, abs=1e-7) and m2["kl"] > 0  # k3 to the initial policy


def test_overlong_filter_and_penalty(arith_dir, tmp_path, add_kwargs, token_script):
    model, tok = load_policy(arith_dir)
    # right answers padded past the budget are overlong: filtered, they carry no gradient
    reply = lambda p, i: str(_answer(p)) + ("    " if i % 2 else "")  # noqa: E731
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, overlong="penalty", overlong_buffer=2)
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=token_script(tok, reply))
    eps = trainer.rollout(0)
    r = trainer.rewards(eps)
    assert [float(x) for x in r] == [1.0 if not e.overlong else 0.0 for e in eps]
    trainer.close()


def test_lora_trains_only_the_adapters(arith_dir, tmp_path, add_kwargs, token_script):
    pytest.importorskip("peft")
    model, tok = load_policy(arith_dir)
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, lora_r=4, lr=1e-2)
    trainer = GRPO(
        cfg,
        model=model,
        tokenizer=tok,
        sampler=token_script(tok, lambda p, i: str(_answer(p)) if i % 2 else "9"),
    )
    before = _params(trainer.model)
    trainer.step()
    trainer.close()
    changed = {k for k, v in trainer.model.named_parameters() if not torch.equal(before[k], v)}
    assert changed and all("lora_" in k for k in changed)
    out = trainer.export(tmp_path / "merged")
    merged, _ = load_policy(out)
    assert not any("lora" in k for k in merged.state_dict())


def test_ppo_step_trains_policy_and_value(arith_dir, tmp_path, add_kwargs, token_script):
    model, tok = load_policy(arith_dir)
    cfg = _cfg(PPOConfig, arith_dir, tmp_path, add_kwargs, num_prompts=8, kl_coef=0.05)
    trainer = PPO(
        cfg,
        model=model,
        tokenizer=tok,
        sampler=token_script(tok, lambda p, i: str(_answer(p)) if i % 2 else "9"),
    )
    head = trainer.value_head.head.weight.detach().clone()
    m = trainer.step()
    trainer.close()
    assert m["reward/mean"] == 0.5 and math.isfinite(m["loss/policy"]) and m["loss/value"] > 0
    assert not torch.equal(head, trainer.value_head.head.weight)


def test_ppo_separate_critic_and_resume(arith_dir, tmp_path, add_kwargs):
    cfg = _cfg(
        PPOConfig,
        arith_dir,
        tmp_path,
        add_kwargs,
        num_prompts=8,
        critic="separate",
        steps=2,
        save_every=1,
        keep_checkpoints=3,
        log_kl=True,  # a number to compare (the log writes NaN as null)
    )
    a = PPO(cfg)
    rows = a.train()
    a.close()
    b = PPO(
        _cfg(
            PPOConfig,
            arith_dir,
            tmp_path / "x",
            add_kwargs,
            num_prompts=8,
            critic="separate",
            steps=2,
            log_kl=True,
        )
    )
    assert b.resume(tmp_path / "run" / "checkpoints" / "step_00000001")
    row = b.step()
    b.close()
    strip = lambda r: {k: v for k, v in r.items() if not k.startswith("time/")}  # noqa: E731
    assert strip(row) == strip(rows[1])


def test_config_from_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("group_size: 4\nlr: 1.0e-3\nenv_kwargs: {level: easy}\nadam_betas: [0.9, 0.99]\n")
    cfg = load_config(GRPOConfig, path, parse_overrides(["lr=5e-4", "loss_agg=seq"]))
    assert cfg.group_size == 4 and cfg.lr == 5e-4 and cfg.loss_agg == "seq"
    assert cfg.env_kwargs == {"level": "easy"} and cfg.adam_betas == (0.9, 0.99)
    with pytest.raises(ValueError, match="no setting 'learning_rate'"):
        load_config(GRPOConfig, None, {"learning_rate": 1.0})
    with pytest.raises(ValueError, match="group_size"):
        GRPOConfig(group_size=1)
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["lr"])


# -- issue 17 items 5 and 6: fixes, each with a test that failed before it --------------------


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
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, disable_dropout=False)  # dropout stays on
    model, tok = load_policy(arith_dir)
    trainer = _FixedRewards(cfg, model=_with_dropout(model), tokenizer=tok)
    m = trainer.step()
    trainer.close()
    assert m["skipped"] == 0.0 and m["logprob_gap"] < 1e-3 and m["tis"] == 0.0
    assert trainer.model.training  # back in train mode for the update


def test_ppo_old_logprobs_are_computed_without_dropout(arith_dir, tmp_path, add_kwargs):
    cfg = _cfg(PPOConfig, arith_dir, tmp_path, add_kwargs, disable_dropout=False)
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
