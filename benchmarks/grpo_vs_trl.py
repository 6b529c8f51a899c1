"""assay's GRPO vs TRL's GRPOTrainer on the same task, model, group size and batch, side by side.

Task: ``assay/Arithmetic-v0`` restricted to ``a + b=`` with a, b in [0, 5) (reward 1 when the
env's verifier reads the right sum: since the strict-extraction default, the completion up to EOS
must be the bare answer). Model: the same freshly initialised tiny Qwen2 (``init_tiny``,
arithmetic alphabet, one seed per run) for both. Both: 8 prompts x 16 completions per step, at
most 2 new tokens (a digit and EOS), temperature 1, plain sampling (top-k 0, top-p 1), token-level (DAPO) loss,
group-std-scaled advantages, no KL (beta 0), clip 0.2, one optimizer step per batch, AdamW lr
5e-4 constant, grad-norm clip 1.0, float32, CPU.

Variants, each given the machine's two cores its own way:
- ``assay sync``: one process, one torch thread (sample, then train).
- ``assay async``: ``async_rollouts=True``: a worker process samples batch k + 1 while the
  trainer trains on batch k (one torch thread each; one update stale, importance-corrected).
- ``TRL 1 thread`` and ``TRL 2 threads``: ``GRPOTrainer`` with ``torch.set_num_threads(1 | 2)``
  (TRL's async GRPO needs a vLLM server with NCCL weight transfer, so it is not a CPU option).

For each seed: wall time from before the trainer is built (model load, worker start-up and
all) until the mean reward over the last ``--window`` steps first reaches ``--target``, and the
median wall time per step. Only wall time is comparable across variants: the async variant
spends CPU in two processes.

Run: ``python benchmarks/grpo_vs_trl.py --seeds 0 1 2`` (needs ``pip install "assay[bench]"``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from assay.agents import GRPO, GRPOConfig, init_tiny
from assay.agents.tiny import ARITHMETIC_ALPHABET
from assay.envs.math.arithmetic import ArithmeticEnv
from assay.verifiers.base import Status

ENV_KWARGS = {"level": "easy", "operations": "+", "max_operand": 5, "prompt_template": "{expr}="}
PROMPTS, GROUP, MAX_NEW, LR = 8, 16, 2, 5e-4


def _time_to_target(times: list[float], rewards: list[float], target: float, window: int) -> float | None:
    for i in range(window - 1, len(rewards)):
        if sum(rewards[i - window + 1 : i + 1]) / window >= target:
            return times[i]
    return None


def run_assay(
    model_dir: Path, out: Path, seed: int, args: argparse.Namespace, *, asynchronous: bool = False
) -> dict[str, Any]:
    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    cfg = GRPOConfig(
        env="assay/Arithmetic-v0", env_kwargs=ENV_KWARGS, model=str(model_dir), out_dir=str(out), seed=seed,
        steps=args.max_steps, time_limit_s=args.budget_s, target_reward=args.target, target_window=args.window,
        num_prompts=PROMPTS, group_size=GROUP, max_new_tokens=MAX_NEW, lr=LR, loss_agg="token", scale_advantages=True,
        eps_low=0.2, eps_high=0.2, kl_coef=0.0, log_kl=False, filter_groups=True, num_threads=1, progress=False, plot=False,
        async_rollouts=asynchronous,
    )  # fmt: skip
    trainer = GRPO(cfg)
    wall, cpu, rewards = [], [], []
    while trainer.step_count < cfg.steps:
        row = trainer.step()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        rewards.append(row["reward/mean"])
        done = _time_to_target(wall[-args.window :], rewards[-args.window :], args.target, args.window)
        if done is not None or wall[-1] > args.budget_s:
            break
    trainer.close()
    return _summary(wall, cpu, rewards, args)


def run_trl(
    model_dir: Path, out: Path, seed: int, args: argparse.Namespace, *, threads: int = 1
) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig as TRLConfig
    from trl import GRPOTrainer

    env = ArithmeticEnv(**ENV_KWARGS)
    tasks = {t.prompt: t for t in (env.task_at(i) for i in range(5_000))}
    data = Dataset.from_list([{"prompt": env.task_at(i).prompt} for i in range(20_000)])

    def correct(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
        return [
            1.0 if env.verifier(c, tasks[p]).status is Status.CORRECT else 0.0
            for p, c in zip(prompts, completions, strict=True)
        ]

    wall, cpu, rewards = [], [], []
    torch.set_num_threads(threads)
    t0, c0 = time.perf_counter(), time.process_time()

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_log(
            self, _args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **k: Any
        ) -> None:
            if not logs or "reward" not in logs:
                return
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            rewards.append(float(logs["reward"]))
            done = _time_to_target(wall[-args.window :], rewards[-args.window :], args.target, args.window)
            if done is not None or wall[-1] > args.budget_s:
                control.should_training_stop = True

    config = TRLConfig(
        output_dir=str(out), per_device_train_batch_size=PROMPTS * GROUP, num_generations=GROUP,
        max_completion_length=MAX_NEW, temperature=1.0, top_k=0, top_p=1.0, learning_rate=LR,
        lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, adam_beta1=0.9,
        adam_beta2=0.999, beta=0.0, epsilon=0.2, loss_type="dapo", scale_rewards="group", num_iterations=1,
        gradient_accumulation_steps=1, logging_steps=1, save_strategy="no", report_to="none", use_cpu=True,
        seed=seed, max_steps=args.max_steps, disable_tqdm=True, bf16=False, dataloader_num_workers=0,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=correct,
        args=config,
        train_dataset=data,
        processing_class=tok,
        callbacks=[Clock()],
    )
    trainer.train()
    torch.set_num_threads(1)
    return _summary(wall, cpu, rewards, args)


def _summary(
    wall: list[float], cpu: list[float], rewards: list[float], args: argparse.Namespace
) -> dict[str, Any]:
    step_wall = [b - a for a, b in zip([0.0, *wall], wall, strict=False)]
    step_cpu = [b - a for a, b in zip([0.0, *cpu], cpu, strict=False)]
    return {
        "steps": len(rewards),
        "wall_to_target": _time_to_target(wall, rewards, args.target, args.window),
        "cpu_to_target": _time_to_target(cpu, rewards, args.target, args.window),
        "step_wall": statistics.median(step_wall) if step_wall else float("nan"),
        "step_cpu": statistics.median(step_cpu) if step_cpu else float("nan"),
        "first_reward": sum(rewards[:20]) / max(len(rewards[:20]), 1),
        "last_reward": sum(rewards[-args.window :]) / max(len(rewards[-args.window :]), 1),
    }


VARIANTS = {
    "assay sync": run_assay,
    "assay async": lambda *a: run_assay(*a, asynchronous=True),
    "TRL 1 thread": run_trl,
    "TRL 2 threads": lambda *a: run_trl(*a, threads=2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--window", type=int, default=20, help="steps in the moving mean of the reward")
    parser.add_argument("--budget-s", type=float, default=600.0, help="give up on a run after this wall time")
    parser.add_argument("--max-steps", type=int, default=20_000)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    console = Console(width=170)
    rows: list[tuple[int, str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            model_dir = init_tiny(Path(tmp) / f"init{seed}", alphabet=ARITHMETIC_ALPHABET, seed=seed)
            for name in args.variants:
                fn = VARIANTS[name]
                result = fn(model_dir, Path(tmp) / f"{name.replace(' ', '_')}{seed}", seed, args)
                rows.append((seed, name, result))
                console.print(f"seed {seed} {name}: {result}")
    fmt = lambda x, spec: "not reached" if x is None else format(x, spec)  # noqa: E731
    table = Table(
        title=f"GRPO, a + b (a, b < 5), tiny model from scratch: time to {args.window}-step mean reward {args.target}"
    )
    for col in ("seed", "trainer", "steps", "wall to target (s)", "wall/step (s)", "reward first 20 -> last"):
        table.add_column(col, justify="left" if col == "trainer" else "right")
    for seed, name, r in rows:
        table.add_row(
            str(seed), name, str(r["steps"]), fmt(r["wall_to_target"], ".1f"), f"{r['step_wall']:.3f}",
            f"{r['first_reward']:.3f} -> {r['last_reward']:.3f}",
        )  # fmt: skip
    medians: dict[str, tuple[float | None, float]] = {}
    for name in args.variants:
        mine = [r for _, n, r in rows if n == name]
        reached = [r["wall_to_target"] for r in mine if r["wall_to_target"] is not None]
        to_target = statistics.median(reached) if len(reached) == len(mine) else None
        per_step = statistics.median(r["step_wall"] for r in mine)
        medians[name] = (to_target, per_step)
        table.add_row("median", name, "", fmt(to_target, ".1f"), f"{per_step:.3f}", "")
    console.print(table)
    ours = {k: v for k, v in medians.items() if k.startswith("assay")}
    peer = {k: v for k, v in medians.items() if k.startswith("TRL")}
    if ours and peer:
        key = lambda kv: float("inf") if kv[1][0] is None else kv[1][0]  # noqa: E731
        best_ours, best_peer = min(ours.items(), key=key), min(peer.items(), key=key)
        if best_ours[1][0] is not None and best_peer[1][0] is not None:
            console.print(
                f"time to {args.target}: {best_ours[0]} {best_ours[1][0]:.1f} s vs {best_peer[0]} "
                f"{best_peer[1][0]:.1f} s = {best_ours[1][0] / best_peer[1][0]:.2f}x (median over seeds {args.seeds})"
            )
        step_ours, step_peer = min(v[1] for v in ours.values()), min(v[1] for v in peer.values())
        console.print(
            f"wall per step: assay {step_ours:.3f} s vs TRL {step_peer:.3f} s = {step_ours / step_peer:.2f}x"
        )


if __name__ == "__main__":
    main()
