"""The knobs of the RL trainers, each against its formula: LR schedule, entropy (logged, bonus),
top-k/top-p/min-p, reward scaling, GSPO, KL estimators (in the loss or the reward), reference
refresh, DAPO dynamic sampling, disable_dropout, the no-EOS penalty, dual clipping, and the
greedy evaluation beside the untrained baseline at the end of a run."""

import math

import pytest

torch = pytest.importorskip("torch")

from assay.agents import grpo as grpo_module  # noqa: E402
from assay.agents.config import GRPOConfig, PPOConfig  # noqa: E402
from assay.agents.entropy import logprobs_with_entropy  # noqa: E402
from assay.agents.grpo import GRPO  # noqa: E402
from assay.agents.losses import (  # noqa: E402
    approx_kl_k3,
    clipped_surrogate,
    group_advantages,
    kl_estimate,
    scaled_advantages,
    sequence_clipped_surrogate,
    token_entropy,
    token_weights,
)
from assay.agents.metrics import read_metrics  # noqa: E402
from assay.agents.policy import load_policy, token_logprobs  # noqa: E402
from assay.agents.ppo import PPO  # noqa: E402
from assay.agents.rl_trainer import disable_dropout  # noqa: E402
from assay.agents.rollout import Episode, to_batch  # noqa: E402
from assay.agents.sampler import HFSampler  # noqa: E402
from assay.agents.schedule import lr_factor, warmup_steps  # noqa: E402
from assay.agents.truncation import Truncation  # noqa: E402


def _answer(prompt: str) -> int:
    a, b = prompt.rstrip("=").replace(" ", "").split("+")
    return int(a) + int(b)


def _cfg(arith_dir, tmp_path, add_kwargs, cls=GRPOConfig, **kw):
    base = dict(
        model=str(arith_dir), env="assay/Arithmetic-v0", env_kwargs=add_kwargs, out_dir=str(tmp_path / "run"),
        num_prompts=4, max_new_tokens=4, progress=False, plot=False, num_threads=1, eval_tasks=0,
    )  # fmt: skip
    if cls is GRPOConfig:
        base["group_size"] = 4
    base.update(kw)
    return cls(**base)


def _half_right(p, i):
    return str(_answer(p)) if i % 2 else "9"


# -- LR schedule ---------------------------------------------------------------------------


def test_lr_factor_warmup_then_each_decay():
    assert [lr_factor(s, 10, warmup=4) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    # linear: 1 - p with p = (step - warmup) / (total - warmup)
    assert [lr_factor(s, 6, kind="linear", warmup=2) for s in (2, 3, 4, 5)] == [1.0, 0.75, 0.5, 0.25]
    assert lr_factor(4, 6, kind="linear", warmup=2, min_ratio=0.2) == pytest.approx(1 - 0.8 * 0.5)
    # cosine: (1 + cos(pi p)) / 2, half-way at p = 1/2
    assert lr_factor(0, 10, kind="cosine") == 1.0
    assert lr_factor(5, 10, kind="cosine") == pytest.approx(0.5)
    assert lr_factor(5, 10, kind="cosine", min_ratio=0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(50, 10, kind="cosine") == pytest.approx(0.0)  # past the end: the end value
    assert warmup_steps(100, ratio=0.1) == 10 and warmup_steps(100, steps=3, ratio=0.5) == 3
    with pytest.raises(ValueError, match="kind"):
        lr_factor(0, 10, kind="exp")  # type: ignore[arg-type]


def test_trainer_sets_the_scheduled_lr_each_step(arith_dir, tmp_path, add_kwargs, token_script):
    cfg = _cfg(arith_dir, tmp_path, add_kwargs, lr=1e-3, steps=4, warmup_steps=2, lr_scheduler="linear")
    model, tok = load_policy(arith_dir)
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=token_script(tok, _half_right))
    lrs = []
    for _ in range(4):
        lrs.append(trainer.step()["lr"])
        assert trainer.optimizer.param_groups[0]["lr"] == lrs[-1]
    trainer.close()
    assert lrs == pytest.approx([5e-4, 1e-3, 1e-3, 5e-4])


# -- entropy -------------------------------------------------------------------------------


def test_token_entropy_is_the_entropy_and_chunking_changes_nothing():
    logits = torch.randn(3, 5, 11, generator=torch.Generator().manual_seed(0)) * 3
    for t in (1.0, 0.6):
        p = torch.softmax(logits / t, -1)
        want = -(p * torch.log(p)).sum(-1)
        assert torch.allclose(token_entropy(logits, temperature=t), want, atol=1e-5)
        assert torch.allclose(token_entropy(logits, temperature=t, chunk=2), want, atol=1e-5)
    assert token_entropy(torch.zeros(2, 7)).tolist() == pytest.approx([math.log(7)] * 2)
    # bf16 logits: computed in float32 chunks
    assert token_entropy(logits.bfloat16()).dtype == torch.float32


def test_logprobs_with_entropy_matches_the_policy_and_masks(arith_dir):
    model, tok = load_policy(arith_dir)
    eps = [Episode("t", 0, tok("1 + 2=")["input_ids"], [5, 6, 1], [1, 1, 1], [0.0] * 3)]
    eps.append(Episode("t", 0, tok("3 + 4 + 1=")["input_ids"], [7, 1], [1, 1], [0.0] * 2))
    b = to_batch(eps, tok.pad_token_id)
    logp, ent = logprobs_with_entropy(model, b.input_ids, b.attention_mask, b.loss_mask, temperature=0.7)
    want = token_logprobs(model, b.input_ids, b.attention_mask, temperature=0.7)
    on = b.loss_mask == 1  # action positions only (the selective path): 0.0 elsewhere
    assert torch.allclose(logp[on], want[on], atol=1e-6) and bool((logp[~on] == 0).all())
    assert not ent.requires_grad and bool((ent[b.loss_mask == 0] == 0).all())
    logits = model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits[:, :-1]
    full = token_entropy(logits.detach(), temperature=0.7)
    assert torch.allclose(ent[b.loss_mask == 1], full[b.loss_mask == 1], atol=1e-5)
    _, ent_g = logprobs_with_entropy(model, b.input_ids, b.attention_mask, b.loss_mask, grad_entropy=True)
    assert ent_g.requires_grad
    ent_c = logprobs_with_entropy(
        model, b.input_ids, b.attention_mask, b.loss_mask, temperature=0.7, chunk=2
    )[1]
    assert torch.allclose(ent_c, ent, atol=1e-5)  # chunking changes nothing


def test_entropy_is_logged_and_the_bonus_subtracts_it_from_the_loss(
    arith_dir, tmp_path, add_kwargs, token_script
):
    out = {}
    for coef in (0.0, 0.5):
        cfg = _cfg(arith_dir, tmp_path / str(coef), add_kwargs, entropy_coef=coef, loss_agg="token")
        model, tok = load_policy(arith_dir)
        trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=token_script(tok, _half_right))
        out[coef] = trainer.step()
        trainer.close()
    assert 0 < out[0.0]["entropy"] < math.log(len(tok))  # nats, below the uniform distribution's
    assert out[0.5]["entropy"] == pytest.approx(out[0.0]["entropy"], abs=1e-6)
    # token-level loss: sum_t w_t (pg_t - c H_t) = pg - c * mean H over the action tokens
    assert out[0.5]["loss"] == pytest.approx(out[0.0]["loss"] - 0.5 * out[0.0]["entropy"], abs=1e-5)


# -- top-k / top-p / min-p -----------------------------------------------------------------


def test_truncation_keeps_the_documented_tokens():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])  # probs 0.644, 0.237, 0.087, 0.032
    kept = lambda **kw: torch.isfinite(Truncation(**kw).apply(logits))[0].tolist()  # noqa: E731
    assert kept(top_k=2) == [True, True, False, False]
    assert kept(top_p=0.7) == [True, True, False, False]  # 0.644 < 0.7 <= 0.881
    assert kept(top_p=0.5) == [True, False, False, False]  # the top token alone covers it
    assert kept(min_p=0.3) == [True, True, False, False]  # p >= 0.3 * 0.644
    assert kept(min_p=0.1) == [True, True, True, False]
    assert kept(top_k=3, top_p=0.95, min_p=0.01) == [True, True, True, False]  # 0.665, 0.245, 0.090
    assert not Truncation().active and Truncation(top_k=5).active
    assert torch.equal(Truncation().apply(logits), logits)
    for bad in ({"top_k": -1}, {"top_p": 0.0}, {"min_p": 1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Truncation(**bad)


@pytest.mark.parametrize("engine", ["loop", "generate"])
def test_truncated_sampler_reports_the_truncated_distributions_logprobs(arith_dir, engine):
    model, tok = load_policy(arith_dir)
    trunc = Truncation(top_k=3, top_p=0.8)
    sampler = HFSampler(model, tok, engine=engine, top_k=3, top_p=0.8)
    prompts = ["1 + 2=", "4 + 4="]
    out = sampler.sample(prompts, n=8, max_new_tokens=5, temperature=0.8, seed=2)
    for prompt, group in zip(prompts, out, strict=True):
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        for s in group:
            seq = torch.tensor([ids + s.token_ids])
            with torch.no_grad():
                logits = model(input_ids=seq).logits[0, len(ids) - 1 : -1].float()
            lp = torch.log_softmax(trunc.apply(logits / 0.8), -1)
            got = lp.gather(-1, torch.tensor(s.token_ids)[:, None]).squeeze(-1)
            assert bool(torch.isfinite(got).all())  # every sampled token is in the kept set
            assert got.tolist() == pytest.approx(s.logprobs, abs=1e-4)
    # top_k=1 is greedy: the same tokens, each with probability 1
    g = HFSampler(model, tok, engine=engine, top_k=1).sample(prompts, n=2, max_new_tokens=5, seed=9)
    greedy = HFSampler(model, tok, engine=engine).sample(prompts, n=2, max_new_tokens=5, temperature=0.0)
    assert [[x.token_ids for x in grp] for grp in g] == [[x.token_ids for x in grp] for grp in greedy]
    assert all(lp == pytest.approx(0.0, abs=1e-6) for grp in g for x in grp for lp in x.logprobs)


class _FixedRewards(GRPO):
    """Rewards 0, 1, 0, 1, ... whatever was sampled (every group has variance)."""

    def rewards(self, episodes):
        return torch.tensor([float(i % 2) for i in range(len(episodes))])


def test_truncated_sampling_in_the_trainer_turns_tis_on(arith_dir, tmp_path, add_kwargs):
    cfg = _cfg(arith_dir, tmp_path, add_kwargs, top_k=3, min_p=0.05)
    trainer = _FixedRewards(cfg)
    assert isinstance(trainer.sampler, HFSampler)
    assert trainer.sampler.truncation == Truncation(top_k=3, min_p=0.05)
    m = trainer.step()
    trainer.close()
    # the sampled log-probs are the truncated distribution's: above the policy's, corrected by TIS
    assert m["skipped"] == 0.0 and m["tis"] == 1.0 and m["logprob_gap"] > 1e-3


# -- reward scaling, GSPO, dual clip -------------------------------------------------------


def test_reward_scale_group_batch_none():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0, 3.0, 1.0, 1.0, 3.0])
    assert torch.equal(scaled_advantages(r, 4, scale="group"), group_advantages(r, 4))
    centred = group_advantages(r, 4, scale=False)
    assert torch.equal(scaled_advantages(r, 4, scale="none"), centred)
    batch = scaled_advantages(r, 4, scale="batch")
    assert torch.allclose(batch, centred / (r.std() + 1e-6))
    spread = r.std().item() + 1e-6
    assert batch[:4].tolist() == pytest.approx([x / spread for x in (0.75, -0.25, -0.25, -0.25)])
    same = torch.tensor([2.0] * 4 + [0.0, 1.0, 0.0, 1.0])
    for scale in ("group", "batch", "none"):
        assert scaled_advantages(same, 4, scale=scale)[:4].tolist() == [0.0] * 4


def test_gspo_uses_one_length_normalised_ratio_per_sequence():
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    old = torch.zeros(2, 3)
    logp = torch.tensor([[0.1, -0.1, 5.0], [0.3, 0.0, 0.0]], requires_grad=True)
    adv = torch.tensor([1.0, -1.0])
    loss, clipped = sequence_clipped_surrogate(logp, old, adv, mask, eps_low=0.2, eps_high=0.2)
    # s_0 = exp((0.1 - 0.1) / 2) = 1 (the padding's 5.0 does not count); s_1 = exp(0.1)
    s1 = math.exp(0.1)
    assert loss[0].tolist() == pytest.approx([-1.0, -1.0, 0.0])
    assert loss[1].tolist() == pytest.approx([s1, s1, s1])  # -min(s A, clip(s) A) with A = -1
    assert clipped.sum().item() == 0.0
    # seq aggregation = mean over sequences of -s_i A_i; gradient s_i A_i / |o_i| per token
    (token_weights(mask, "seq") * loss).sum().backward()
    assert logp.grad[0].tolist() == pytest.approx([-0.25, -0.25, 0.0])
    assert logp.grad[1].tolist() == pytest.approx([s1 / 6] * 3)
    # out of the band [1 - 3e-4, 1 + 4e-4] with A > 0: clipped, no gradient
    logp2 = torch.full((1, 2), 0.01, requires_grad=True)
    loss2, clipped2 = sequence_clipped_surrogate(
        logp2, torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2)
    )
    assert clipped2.tolist() == [[1.0, 1.0]] and loss2[0, 0].item() == pytest.approx(-(1 + 4e-4))
    loss2.sum().backward()
    assert logp2.grad.abs().sum().item() == 0.0


def test_dual_clip_bounds_the_loss_of_negative_advantages():
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[5.0, 1.1, 5.0]])).requires_grad_(True)
    adv = torch.tensor([[-1.0, -1.0, 1.0]])
    loss, clipped = clipped_surrogate(logp, old, adv, dual_clip=3.0)
    plain, _ = clipped_surrogate(logp.detach(), old, adv)
    # A < 0, ratio 5: -min(5 * -1, 1.2 * -1) = 5, capped at -c A = 3; ratio 1.1 untouched; A > 0 untouched
    assert loss[0].tolist() == pytest.approx([3.0, 1.1, -1.2])
    assert plain[0].tolist() == pytest.approx([5.0, 1.1, -1.2])
    assert clipped[0].tolist() == [1.0, 0.0, 1.0]
    loss.sum().backward()
    assert logp.grad[0, 0].item() == 0.0 and logp.grad[0, 1].item() != 0.0
    with pytest.raises(ValueError, match="dual_clip"):
        clipped_surrogate(logp, old, adv, dual_clip=1.0)


def test_gspo_and_dual_clip_train_in_the_trainer(arith_dir, tmp_path, add_kwargs, token_script):
    for name, kw in (
        ("gspo", dict(importance_sampling_level="sequence", eps_low=3e-4, eps_high=4e-4, loss_agg="seq")),
        ("dual", dict(dual_clip=3.0, scale_rewards="batch")),
    ):
        model, tok = load_policy(arith_dir)
        trainer = GRPO(
            _cfg(arith_dir, tmp_path / name, add_kwargs, **kw),
            model=model,
            tokenizer=tok,
            sampler=token_script(tok, _half_right),
        )
        before = [p.detach().clone() for p in trainer.model.parameters()]
        m = trainer.step()
        trainer.close()
        assert m["skipped"] == 0.0 and math.isfinite(m["loss"]) and m["grad_norm"] > 0
        assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))


# -- KL ------------------------------------------------------------------------------------


def test_kl_estimators_hand_computed_and_unbiased():
    logp, ref = torch.tensor([-1.0, -2.0, -0.5]), torch.tensor([-1.5, -2.0, -0.2])
    d = ref - logp
    assert kl_estimate(logp, ref, "k1").tolist() == pytest.approx((-d).tolist())
    assert kl_estimate(logp, ref, "k2").tolist() == pytest.approx((0.5 * d**2).tolist())
    assert torch.equal(kl_estimate(logp, ref, "k3"), approx_kl_k3(logp, ref))
    # over samples from pi, k1 and k3 average to KL(pi || ref); k2 is biased
    gen = torch.Generator().manual_seed(0)
    p, q = torch.tensor([0.6, 0.3, 0.1]), torch.tensor([0.2, 0.5, 0.3])
    true_kl = float((p * (p / q).log()).sum())
    x = torch.multinomial(p, 200_000, replacement=True, generator=gen)
    lp, lq = p.log()[x], q.log()[x]
    assert kl_estimate(lp, lq, "k1").mean().item() == pytest.approx(true_kl, abs=0.01)
    assert kl_estimate(lp, lq, "k3").mean().item() == pytest.approx(true_kl, abs=0.01)
    with pytest.raises(ValueError, match="kind"):
        kl_estimate(lp, lq, "k4")  # type: ignore[arg-type]


def test_kl_in_the_reward_subtracts_each_sequences_kl(
    arith_dir, tmp_path, add_kwargs, token_script, monkeypatch
):
    cfg = _cfg(arith_dir, tmp_path, add_kwargs, kl_coef=0.5, kl_in="reward", kl_estimator="k1")
    model, tok = load_policy(arith_dir)
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=token_script(tok, _half_right))
    with torch.no_grad():  # move the policy away from its reference
        for p in trainer.model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    seen = {}
    real = grpo_module.scaled_advantages

    def spy(r, g, scale):
        seen["r"] = r.clone()
        return real(r, g, scale=scale)

    monkeypatch.setattr(grpo_module, "scaled_advantages", spy)
    eps = trainer.rollout(grpo_module.step_seed(cfg.seed, 0))
    seq_kl = trainer.sequence_kl(eps)
    assert seq_kl.abs().sum() > 0
    m = trainer.step()  # the same rollout: same seed, and the script's pattern repeats every 2 calls
    trainer.close()
    raw = torch.tensor([e.reward for e in eps])
    assert m["kl/reward"] == pytest.approx(seq_kl.mean().item(), rel=1e-5)
    assert torch.allclose(seen["r"], raw - 0.5 * seq_kl, atol=1e-5)


def test_kl_in_the_loss_is_not_in_the_reward(arith_dir, tmp_path, add_kwargs, token_script):
    cfg = _cfg(arith_dir, tmp_path, add_kwargs, kl_coef=0.5, kl_estimator="k2")
    model, tok = load_policy(arith_dir)
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=token_script(tok, _half_right))
    m = trainer.step()
    trainer.close()
    assert math.isnan(m["kl/reward"]) and m["kl"] == pytest.approx(0.0, abs=1e-7)


def _same(trainer):
    pairs = zip(trainer.model.parameters(), trainer.ref_model.parameters(), strict=True)
    return all(torch.equal(a, b) for a, b in pairs)


def test_reference_refresh_copies_the_policy(arith_dir, tmp_path, add_kwargs, token_script):
    for every in (0, 2):
        cfg = _cfg(arith_dir, tmp_path / str(every), add_kwargs, kl_coef=0.1, ref_update_every=every, lr=1e-3)
        model, tok = load_policy(arith_dir)
        trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=token_script(tok, _half_right))
        m1 = trainer.step()
        assert m1["skipped"] == 0.0 and not _same(trainer)  # step 1: the policy moved, the reference did not
        trainer.step()
        assert _same(trainer) is (every == 2)  # after step 2: refreshed only with ref_update_every=2
        m3 = trainer.step()
        trainer.close()
        if every == 2:
            assert m3["kl"] == pytest.approx(0.0, abs=1e-7)  # KL to the refreshed reference, first pass


def test_reference_refresh_is_refused_with_lora(arith_dir, tmp_path, add_kwargs):
    """Under LoRA the reference is the base model with adapters disabled: nothing to copy into."""
    with pytest.raises(ValueError, match="ref_update_every"):
        _cfg(arith_dir, tmp_path, add_kwargs, kl_coef=0.1, ref_update_every=2, lora_r=4)
    _cfg(arith_dir, tmp_path, add_kwargs, kl_coef=0.1, lora_r=4)  # no refresh: fine


# -- dynamic sampling, penalties, dropout --------------------------------------------------


def test_dynamic_sampling_refills_filtered_groups_up_to_the_cap(
    arith_dir, tmp_path, add_kwargs, token_script
):
    # first batch (16 samples): all wrong, no group has variance; later batches: half right
    reply = lambda p, i: "9" if i < 16 else _half_right(p, i)  # noqa: E731
    cfg = _cfg(arith_dir, tmp_path / "a", add_kwargs, dynamic_sampling=True, max_resample_batches=3)
    model, tok = load_policy(arith_dir)
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=(script := token_script(tok, reply)))
    m = trainer.step()
    trainer.close()
    assert m["rollouts/extra"] == 1.0 and m["skipped"] == 0.0 and m["no_signal"] == 0.0
    assert len(script.calls) == 2 and m["groups/kept"] == 1.0  # 4 groups with variance trained on

    cfg = _cfg(arith_dir, tmp_path / "b", add_kwargs, dynamic_sampling=True, max_resample_batches=2)
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=(script := token_script(tok, lambda p, i: "9")))
    m = trainer.step()
    trainer.close()
    assert m["rollouts/extra"] == 2.0 and len(script.calls) == 3  # the cap
    assert m["skipped"] == 1.0 and m["no_signal"] == 1.0
    with pytest.raises(ValueError, match="dynamic_sampling"):
        _cfg(arith_dir, tmp_path, add_kwargs, dynamic_sampling=True, filter_groups=False)


def test_no_eos_penalty_lowers_the_reward_of_unfinished_completions(
    arith_dir, tmp_path, add_kwargs, token_script
):
    reply = lambda p, i: str(_answer(p)) + ("    " if i % 2 else "")  # noqa: E731  odd: no EOS in 4 tokens
    cfg = _cfg(arith_dir, tmp_path, add_kwargs, no_eos_penalty=0.5)
    model, tok = load_policy(arith_dir)
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=token_script(tok, reply))
    eps = trainer.rollout(0)
    r = trainer.rewards(eps)
    trainer.close()
    assert any(e.overlong for e in eps) and not all(e.overlong for e in eps)
    assert r.tolist() == [e.reward - (0.5 if e.overlong else 0.0) for e in eps]


def test_disable_dropout_zeroes_every_dropout(arith_dir, tmp_path, add_kwargs):
    model, tok = load_policy(arith_dir)
    for layer in model.model.layers:
        layer.self_attn.attention_dropout = 0.3
    model.model.extra = torch.nn.Dropout(0.2)
    trainer = GRPO(_cfg(arith_dir, tmp_path, add_kwargs), model=model, tokenizer=tok)
    trainer.close()
    assert all(layer.self_attn.attention_dropout == 0.0 for layer in model.model.layers)
    assert model.model.extra.p == 0.0
    assert disable_dropout(model) == 0  # nothing left
    kept, tok2 = load_policy(arith_dir)
    kept.model.layers[0].self_attn.attention_dropout = 0.3
    GRPO(
        _cfg(arith_dir, tmp_path / "k", add_kwargs, disable_dropout=False), model=kept, tokenizer=tok2
    ).close()
    assert kept.model.layers[0].self_attn.attention_dropout == 0.3


# -- defaults and the end-of-run evaluation ------------------------------------------------


def test_defaults_are_sized_for_real_models():
    assert GRPOConfig().lr == 1e-6 and PPOConfig().lr == 1e-6
    assert GRPOConfig().max_new_tokens == 256 and GRPOConfig().disable_dropout
    assert GRPOConfig().eval_tasks > 0


@pytest.mark.parametrize("cls", [GRPOConfig, PPOConfig])
def test_every_run_ends_with_a_greedy_eval_beside_the_untrained_baseline(
    arith_dir, tmp_path, add_kwargs, cls, capsys, flexible_add_env
):
    cfg = _cfg(
        arith_dir, tmp_path, add_kwargs, cls=cls, steps=2, eval_tasks=12, lr=1e-3, env=flexible_add_env
    )
    trainer = (GRPO if cls is GRPOConfig else PPO)(cfg)
    base = trainer.evaluate()
    rows = trainer.train()
    trainer.close()
    assert len(rows) == 2 and all("reward/mean" in r for r in rows)
    last = read_metrics(tmp_path / "run" / "metrics.jsonl")[-1]
    assert last == trainer.evaluation and last["step"] == 2 and last["eval/tasks"] == 12
    assert last["eval/baseline"] == base.accuracy and last["eval/baseline_reward"] == base.mean_reward
    assert last["eval/final"] == trainer.evaluate().accuracy
    assert last["stop_reason"] == "steps: 2 of 2 done"
    err = capsys.readouterr().err
    assert "untrained greedy eval" in err and f"untrained {base.accuracy:.3f} -> trained" in err


def test_the_trainers_leave_the_packages_spot_check_a_function():
    """Importing a trainer must not import ``assay.agents.spot_check`` (the module would then
    shadow the lazily exported function of the same name: ``assay train grpo`` crashed so)."""
    import subprocess
    import sys

    code = "from assay.agents import GRPO, spot_check; import inspect; assert inspect.isfunction(spot_check)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_ppo_logs_entropy_takes_the_bonus_and_the_no_eos_penalty(
    arith_dir, tmp_path, add_kwargs, token_script
):
    reply = lambda p, i: str(_answer(p)) + ("    " if i % 2 else "")  # noqa: E731  odd: no EOS in 4 tokens
    out = {}
    for coef in (0.0, 0.5):
        cfg = _cfg(
            arith_dir, tmp_path / str(coef), add_kwargs, cls=PPOConfig, entropy_coef=coef, no_eos_penalty=0.5,
            num_epochs=1, num_minibatches=1,
        )  # fmt: skip
        model, tok = load_policy(arith_dir)
        trainer = PPO(cfg, model=model, tokenizer=tok, sampler=token_script(tok, reply))
        eps = trainer.rollout(0)
        r = trainer.episode_rewards(eps, torch.tensor([e.reward for e in eps]))
        out[coef] = trainer.step()
        trainer.close()
    assert any(e.overlong for e in eps) and not all(e.overlong for e in eps)
    assert r.tolist() == [e.reward - (0.5 if e.overlong else 0.0) for e in eps]
    assert out[0.0]["reward/mean"] == sum(e.reward for e in eps) / len(eps)  # reported: the env's
    assert 0 < out[0.0]["entropy"] < math.log(len(tok))
    assert out[0.5]["entropy"] == pytest.approx(out[0.0]["entropy"], abs=1e-6)
    # token-level policy loss: sum_t w_t (pg_t - c H_t) = pg - c * mean H over the action tokens
    assert out[0.5]["loss/policy"] == pytest.approx(
        out[0.0]["loss/policy"] - 0.5 * out[0.0]["entropy"], abs=1e-5
    )
    with pytest.raises(ValueError, match="entropy_coef"):
        _cfg(arith_dir, tmp_path, add_kwargs, cls=PPOConfig, entropy_coef=-1.0)
