"""What keeps a trainer's memory bounded: no-grad passes a micro-batch at a time, no reference pass
unless KL is used or logged, the LoRA reference without a copy, bf16 weights, gradient
checkpointing, the optimizers; and the sampler under the training dtype, stopping on every EOS."""

import pytest

torch = pytest.importorskip("torch")

from assay.agents.config import GRPOConfig, PPOConfig  # noqa: E402
from assay.agents.grpo import GRPO  # noqa: E402
from assay.agents.optimizer import OffloadedAdamW, build_optimizer  # noqa: E402
from assay.agents.policy import load_policy, token_logprobs  # noqa: E402
from assay.agents.ppo import PPO  # noqa: E402
from assay.agents.rl_trainer import vllm_settings  # noqa: E402
from assay.agents.sampler import HFSampler, eos_token_ids  # noqa: E402


def _answer(prompt: str) -> int:
    a, b = prompt.rstrip("=").replace(" ", "").split("+")
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


def _half_right(tok, token_script):
    return token_script(tok, lambda p, i: str(_answer(p)) if i % 2 else "9")


def _trunk_batch_sizes(model) -> list[int]:
    """Rows of every forward through the model's trunk (recorded by a hook)."""
    sizes: list[int] = []
    model.get_decoder().register_forward_pre_hook(
        lambda m, args, kwargs: sizes.append(kwargs["input_ids"].shape[0]), with_kwargs=True
    )
    return sizes


@pytest.mark.parametrize("cls", [GRPOConfig, PPOConfig])
def test_every_forward_runs_one_micro_batch_at_a_time(cls, arith_dir, tmp_path, add_kwargs, token_script):
    model, tok = load_policy(arith_dir)
    cfg = _cfg(cls, arith_dir, tmp_path, add_kwargs, micro_batch_size=3, log_kl=True, num_prompts=4)
    trainer = (GRPO if cls is GRPOConfig else PPO)(
        cfg, model=model, tokenizer=tok, sampler=_half_right(tok, token_script)
    )
    sizes = _trunk_batch_sizes(trainer.model)
    if trainer.ref_model is not None:
        ref_sizes = _trunk_batch_sizes(trainer.ref_model)
    m = trainer.step()
    trainer.close()
    assert m["skipped"] == 0.0 if cls is GRPOConfig else True
    assert sizes and max(sizes) <= 3  # old log-probs, values and the grad pass alike
    assert ref_sizes and max(ref_sizes) <= 3
    assert m["kl"] == pytest.approx(0.0, abs=1e-6)  # first step: the policy is the reference


def test_no_reference_pass_when_kl_is_off(arith_dir, tmp_path, add_kwargs, token_script, monkeypatch):
    model, tok = load_policy(arith_dir)
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs)  # defaults: kl_coef=0, log_kl off
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=_half_right(tok, token_script))
    assert trainer.ref_model is None and not trainer.use_ref  # no frozen copy either

    def boom(*a, **k):
        raise AssertionError("reference pass with kl_coef=0 and log_kl=False")

    monkeypatch.setattr(GRPO, "reference", boom)
    m = trainer.step()
    trainer.close()
    assert m["skipped"] == 0.0 and m["kl"] != m["kl"]  # NaN: not computed


def test_lora_reference_is_the_base_model_with_adapters_disabled(
    arith_dir, tmp_path, add_kwargs, token_script
):
    model, tok = load_policy(arith_dir)
    base, _ = load_policy(arith_dir)
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, lora_r=4, kl_coef=0.1)
    trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=_half_right(tok, token_script))
    assert trainer.ref_model is None  # no copy of the weights
    with torch.no_grad():
        for name, p in trainer.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)  # the adapters now change the outputs
    ids = torch.tensor([tok("3+4=7", add_special_tokens=False)["input_ids"]])
    attn = torch.ones_like(ids)
    with torch.no_grad():
        want = token_logprobs(base, ids, attn)
        policy = token_logprobs(trainer.model, ids, attn)
        with trainer.reference() as ref:
            got = token_logprobs(ref, ids, attn)
        after = token_logprobs(trainer.model, ids, attn)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    assert (policy - want).abs().max() > 1e-3
    torch.testing.assert_close(after, policy)  # adapters back on after the block
    m = trainer.step()
    trainer.close()
    assert m["kl"] > 0  # the policy differs from its reference


def test_gradient_checkpointing_gives_the_same_step(arith_dir, tmp_path, add_kwargs, token_script):
    rows, params = [], []
    for ckpt in (False, True):
        model, tok = load_policy(arith_dir)
        cfg = _cfg(GRPOConfig, arith_dir, tmp_path / str(ckpt), add_kwargs, gradient_checkpointing=ckpt)
        trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=_half_right(tok, token_script))
        rows.append(trainer.step())
        params.append({k: v.detach().clone() for k, v in trainer.model.named_parameters()})
        trainer.close()
    assert rows[0]["loss"] == pytest.approx(rows[1]["loss"], abs=1e-6)
    for k, v in params[0].items():
        torch.testing.assert_close(params[1][k], v, atol=1e-6, rtol=1e-5)


def test_bf16_weights_with_the_offloaded_optimizer_train(arith_dir, tmp_path, add_kwargs, token_script):
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, param_dtype="bfloat16", optimizer="adamw_offload")
    _, tok = load_policy(arith_dir)
    trainer = GRPO(cfg, sampler=_half_right(tok, token_script))  # loads the model itself
    assert next(trainer.model.parameters()).dtype == torch.bfloat16
    assert isinstance(trainer.optimizer, OffloadedAdamW)
    before = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
    m = trainer.step()
    trainer.close()
    assert m["skipped"] == 0.0
    moved = [k for k, v in trainer.model.named_parameters() if not torch.equal(v, before[k])]
    assert moved
    for p, master in zip(trainer.optimizer.params, trainer.optimizer.masters, strict=True):
        assert master.dtype == torch.float32 and torch.equal(p, master.to(torch.bfloat16))


def _twin_steps(opt_a, opt_b, pa, pb, steps=3):
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        g = torch.randn(pa.shape, generator=gen).to(pb.dtype).float()  # exact in both dtypes
        pa.grad, pb.grad = g.clone(), g.clone().to(pb.dtype)
        opt_a.step()
        opt_b.step()
        opt_a.zero_grad()
        opt_b.zero_grad()


def test_offloaded_adamw_equals_adamw():
    pa = torch.nn.Parameter(torch.randn(64))
    pb = torch.nn.Parameter(pa.detach().clone())
    kw = dict(lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1)
    _twin_steps(torch.optim.AdamW([pa], **kw), OffloadedAdamW([pb], **kw), pa, pb)
    torch.testing.assert_close(pb, pa, atol=1e-7, rtol=0)


def test_offloaded_adamw_keeps_float32_masters_and_resumes_exactly():
    pb = torch.nn.Parameter(torch.randn(64).to(torch.bfloat16))
    pa = torch.nn.Parameter(pb.detach().float())
    kw = dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)
    ref, off = torch.optim.AdamW([pa], **kw), OffloadedAdamW([pb], **kw)
    _twin_steps(ref, off, pa, pb)
    torch.testing.assert_close(off.masters[0], pa.detach(), atol=1e-6, rtol=0)  # bf16 rounding not compounded
    pc = torch.nn.Parameter(pb.detach().clone())
    again = OffloadedAdamW([pc], **kw)
    again.load_state_dict(off.state_dict())
    torch.testing.assert_close(again.masters[0], off.masters[0], atol=0, rtol=0)


def test_lr_scheduler_reaches_the_offloaded_inner_optimizer():
    p = torch.nn.Parameter(torch.zeros(4, dtype=torch.bfloat16))
    opt = OffloadedAdamW([p], lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 if s == 0 else 0.0)
    p.grad = torch.ones(4, dtype=torch.bfloat16)
    opt.step()
    sched.step()
    assert opt.inner.param_groups[0]["lr"] == 1.0 and not torch.equal(p, torch.zeros_like(p))
    p.grad = torch.ones(4, dtype=torch.bfloat16)
    before = p.detach().clone()
    opt.step()  # the scheduler set lr 0: nothing moves
    assert opt.inner.param_groups[0]["lr"] == 0.0 and torch.equal(p, before)


def test_adamw_8bit_keeps_8_bit_state_or_says_how_to_install():
    p = torch.nn.Parameter(torch.randn(4096))
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        from gymnasium.error import DependencyNotInstalled

        with pytest.raises(DependencyNotInstalled, match="bitsandbytes"):
            build_optimizer("adamw_8bit", [p], lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0)
        return
    opt = build_optimizer("adamw_8bit", [p], lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0)
    p.grad = torch.randn(4096)
    before = p.detach().clone()
    opt.step()
    assert opt.state[p]["state1"].dtype == torch.uint8 and not torch.equal(p, before)


def test_vllm_settings_reach_the_engine():
    cfg = GRPOConfig(model="m", sampler="vllm")
    cpu = vllm_settings(cfg, torch.float32, torch.device("cpu"))
    assert cpu == {
        "dtype": "float32",
        "max_model_len": 512,
        "enforce_eager": True,
        "kv_cache_memory_bytes": 256 * 2**20,
    }
    cfg = GRPOConfig(
        model="m", sampler="vllm", vllm_max_model_len=4096, vllm_gpu_memory_utilization=0.4,
        vllm_tensor_parallel_size=2, vllm_sleep=True,
    )  # fmt: skip
    cuda = vllm_settings(cfg, torch.bfloat16, torch.device("cuda"))
    assert cuda == {
        "dtype": "bfloat16",
        "max_model_len": 4096,
        "enforce_eager": False,
        "kv_cache_memory_bytes": None,
        "gpu_memory_utilization": 0.4,
        "tensor_parallel_size": 2,
        "enable_sleep_mode": True,
    }
    fixed = GRPOConfig(model="m", vllm_kv_cache_bytes=2**30, vllm_enforce_eager=True, vllm_dtype="float16")
    out = vllm_settings(fixed, torch.bfloat16, torch.device("cuda"))
    assert out["kv_cache_memory_bytes"] == 2**30 and "gpu_memory_utilization" not in out
    assert out["enforce_eager"] is True and out["dtype"] == "float16"
    with pytest.raises(ValueError, match="gpu_memory_utilization"):
        GRPOConfig(model="m", vllm_gpu_memory_utilization=1.5)


def test_the_trainer_samples_under_its_training_dtype(arith_dir, tmp_path, add_kwargs):
    cfg = _cfg(GRPOConfig, arith_dir, tmp_path, add_kwargs, dtype="bfloat16")
    trainer = GRPO(cfg)
    assert isinstance(trainer.sampler, HFSampler) and trainer.sampler.dtype == torch.bfloat16
    trainer.close()


def test_hf_sampler_computes_under_autocast(tiny_dir):
    model, tok = load_policy(tiny_dir)
    dtypes = []
    model.lm_head.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    HFSampler(model, tok, engine="hf-loop", dtype=torch.bfloat16).sample(
        ["ab"], n=2, max_new_tokens=3, seed=0
    )
    assert dtypes and set(dtypes) == {torch.bfloat16}
    dtypes.clear()
    HFSampler(model, tok, engine="hf-loop").sample(["ab"], n=2, max_new_tokens=3, seed=0)
    assert set(dtypes) == {torch.float32}


@pytest.mark.parametrize("engine", ["loop", "generate"])
def test_hf_sampler_stops_on_every_eos_id_the_model_declares(tiny_dir, engine):
    model, tok = load_policy(tiny_dir)
    first = HFSampler(model, tok, engine=engine).sample(["ab"], n=1, max_new_tokens=6, temperature=0.0)[0][0]
    stop = first.token_ids[0]  # greedy: the model's first token, now declared an end of turn
    assert stop != tok.eos_token_id
    model.generation_config.eos_token_id = [tok.eos_token_id, stop]
    assert eos_token_ids(model, tok) == (tok.eos_token_id, stop)
    again = HFSampler(model, tok, engine=engine).sample(["ab"], n=1, max_new_tokens=6, temperature=0.0)[0][0]
    assert again.token_ids == [stop] and again.finish_reason == "stop"
