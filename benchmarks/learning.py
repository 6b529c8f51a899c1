"""The cold-start recipe on a task GRPO alone does not learn: a + b with a, b < 10, from scratch.

A freshly initialised tiny Qwen2 (``init_tiny``, arithmetic alphabet, ~76k parameters) must
answer ``"a + b="`` with the bare sum and stop (the env's strict extraction: the completion up
to EOS must be the answer; here an answer must also end with EOS). Sums reach 18, so half the
pairs need two digits, which GRPO from scratch never finds: its random policy almost never
writes a right two-digit number, so those groups have no reward variance and it plateaus near
the one-digit half.

Arms, each on the same model with the same rule: train until the greedy accuracy reaches
``--target`` or the wall-clock budget (``--budget-s``, SFT included) is spent:

- ``assay SFT + GRPO`` (the recipe, `examples/learning_recipe.py`): SFT on ``--sft-examples``
  (at most 50) worked examples ``"a + b=" -> "a+b"`` drawn from the 100 pairs, then GRPO.
- ``assay GRPO alone``: the same GRPO from the untrained model.
- ``TRL GRPO after the same SFT``: TRL's ``GRPOTrainer`` on the recipe's SFT checkpoint, its
  clock starting at the SFT stage's time, same batch, group, lr, loss (DAPO token-level),
  group-scaled advantages, beta 0, clip 0.2, plain sampling, at most 3 new tokens.
- ``TRL GRPO alone``: TRL's ``GRPOTrainer`` from the untrained model.

GRPO everywhere: 16 prompts x 16 completions per step, at most 3 new tokens, AdamW lr 5e-4
constant, one optimizer step per batch, float32, one torch thread, CPU.

Judged on all 100 pairs, greedy, every ``--eval-every-s`` seconds of training and at the end:
the accuracy, the time it first reached ``--target``, and the accuracy on the two-digit sums.
Evaluation time counts in each arm's clock (it is ~0.1 s).

The SFT stage runs once; the recipe's GRPO and TRL's after-SFT arm start from its checkpoint
with its time on their clocks. ``--parallel 2`` runs two arms at a time, each in its own process
with one torch thread (on two cores each arm still has a core of its own).

Run: ``python benchmarks/learning.py`` (at most about ``4 x budget``, ``2 x budget`` with
``--parallel 2``; needs ``pip install "assay[bench]"`` for the TRL arms, which are skipped with a
note when trl is missing).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from assay.agents import GRPO, GRPOConfig, HFSampler, init_tiny
from assay.agents.policy import load_policy
from assay.agents.preference.sft import SFT
from assay.agents.tiny import ARITHMETIC_ALPHABET, keep_unknown_bytes
from assay.envs.math.arithmetic import ArithmeticEnv
from assay.verifiers.base import Status

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the recipe lives in examples/
from examples.learning_recipe import ENV, ENV_KWARGS, GRPO_SETTINGS, MAX_NEW_TOKENS, sft_config, sft_records

PAIRS = [(a, b) for a in range(10) for b in range(10)]


class Judge:
    """Greedy accuracy on all 100 pairs, by the env's verifier, an answer also needing EOS."""

    def __init__(self) -> None:
        env = ArithmeticEnv(**ENV_KWARGS)
        self.verifier = env.verifier
        found: dict[str, Any] = {}
        i = 0
        while len(found) < len(PAIRS):
            task = env.task_at(i)
            found.setdefault(task.prompt, task)
            i += 1
        self.tasks = [found[f"{a} + {b}="] for a, b in PAIRS]

    def __call__(self, model: Any, tokenizer: Any) -> tuple[float, float]:
        """``(accuracy on all pairs, accuracy on the pairs whose sum has two digits)``."""
        samples = HFSampler(model, tokenizer).sample(
            [t.prompt for t in self.tasks], n=1, max_new_tokens=MAX_NEW_TOKENS, temperature=0.0
        )
        ok = [
            s[0].finish_reason == "stop" and self.verifier(s[0].text, t).status is Status.CORRECT
            for s, t in zip(samples, self.tasks, strict=True)
        ]
        two = [o for o, (a, b) in zip(ok, PAIRS, strict=True) if a + b >= 10]
        return sum(ok) / len(ok), sum(two) / len(two)


class Trace:
    """Accuracy checkpoints of one arm against its clock."""

    def __init__(
        self, judge: Judge, every_s: float, target: float, start: float, offset: float = 0.0
    ) -> None:
        self.judge, self.every_s, self.target = judge, every_s, target
        self.start, self.offset = start, offset
        self.points: list[tuple[float, float, float]] = []
        self.next_at = 0.0
        self.steps = 0

    def elapsed(self) -> float:
        return self.offset + time.perf_counter() - self.start

    def maybe(self, model: Any, tokenizer: Any, *, force: bool = False) -> None:
        now = self.elapsed()
        if force or now >= self.next_at:
            acc, two = self.judge(model, tokenizer)
            self.points.append((self.elapsed(), acc, two))
            self.next_at = now + self.every_s

    def done(self, budget_s: float) -> bool:
        """The arm's stop rule: the target reached, or the budget spent."""
        return self.elapsed() >= budget_s or bool(self.points and self.points[-1][1] >= self.target)

    def summary(self) -> dict[str, Any]:
        reached = next((t for t, a, _ in self.points if a >= self.target), None)
        t, acc, two = self.points[-1]
        return {"reached": reached, "final": acc, "two_digit": two, "time": t, "steps": self.steps}


def run_grpo(model: Any, tok: Any, out: Path, trace: Trace, budget_s: float, seed: int) -> None:
    cfg = GRPOConfig(
        env=ENV, env_kwargs=ENV_KWARGS, out_dir=str(out), seed=seed, steps=1_000_000,
        **GRPO_SETTINGS, num_threads=1, progress=False, plot=False,
    )  # fmt: skip
    trainer = GRPO(cfg, model=model, tokenizer=tok)
    trace.maybe(model, tok, force=True)
    while not trace.done(budget_s):
        trainer.step()
        trace.steps += 1
        trace.maybe(model, tok)
    trace.maybe(model, tok, force=True)
    trainer.close()


def sft_stage(model_dir: Path, tmp: Path, args: argparse.Namespace) -> tuple[Path, float]:
    """The recipe's cold start: SFT on ``--sft-examples`` worked examples; its checkpoint and time."""
    start = time.perf_counter()
    model, tok = load_policy(model_dir)
    SFT(
        sft_config(tmp / "sft", args.seed),
        sft_records(args.sft_examples, args.seed),
        model=model,
        tokenizer=tok,
    ).train()
    sft_dir = tmp / "sft_model"
    model.save_pretrained(sft_dir)
    tok.save_pretrained(sft_dir)
    keep_unknown_bytes(sft_dir)  # the char tokenizer's <unk> entries (a re-save drops them)
    return sft_dir, time.perf_counter() - start


def arm_recipe(sft_dir: Path, tmp: Path, judge: Judge, args: argparse.Namespace, sft_s: float) -> Trace:
    """GRPO from the SFT checkpoint, its clock starting at the SFT stage's time."""
    model, tok = load_policy(sft_dir)
    trace = Trace(judge, args.eval_every_s, args.target, time.perf_counter(), sft_s)
    run_grpo(model, tok, tmp / "recipe", trace, args.budget_s, args.seed)
    return trace


def arm_grpo_alone(model_dir: Path, tmp: Path, judge: Judge, args: argparse.Namespace) -> Trace:
    start = time.perf_counter()
    model, tok = load_policy(model_dir)
    trace = Trace(judge, args.eval_every_s, args.target, start)
    run_grpo(model, tok, tmp / "alone", trace, args.budget_s, args.seed)
    return trace


def arm_trl(model_dir: Path, tmp: Path, judge: Judge, args: argparse.Namespace, offset: float) -> Trace:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig as TRLConfig
    from trl import GRPOTrainer

    g = GRPO_SETTINGS
    env = ArithmeticEnv(**ENV_KWARGS)
    by_prompt = {t.prompt: t for t in judge.tasks}
    data = Dataset.from_list([{"prompt": env.task_at(i).prompt} for i in range(20_000)])

    def correct(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
        return [
            1.0 if env.verifier(c, by_prompt[p]).status is Status.CORRECT else 0.0
            for p, c in zip(prompts, completions, strict=True)
        ]

    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    trace = Trace(judge, args.eval_every_s, args.target, start, offset)

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, _args: Any, state: Any, control: Any, **_: Any) -> None:
            trace.steps += 1
            trace.maybe(model, tok)
            if trace.done(args.budget_s):
                control.should_training_stop = True

    config = TRLConfig(
        output_dir=str(tmp / "trl"), per_device_train_batch_size=g["num_prompts"] * g["group_size"],
        num_generations=g["group_size"], max_completion_length=MAX_NEW_TOKENS, temperature=1.0, top_k=0,
        top_p=1.0, learning_rate=g["lr"], lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
        max_grad_norm=1.0, adam_beta1=0.9, adam_beta2=0.999, beta=0.0, epsilon=0.2, loss_type="dapo",
        scale_rewards="group", num_iterations=1, gradient_accumulation_steps=1, logging_steps=1_000_000,
        save_strategy="no", report_to="none", use_cpu=True, seed=args.seed, max_steps=1_000_000,
        disable_tqdm=True, bf16=False, dataloader_num_workers=0,
    )  # fmt: skip
    trace.maybe(model, tok, force=True)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=correct,
        args=config,
        train_dataset=data,
        processing_class=tok,
        callbacks=[Clock()],
    )
    trainer.train()
    trace.maybe(model, tok, force=True)
    return trace


def run_arm(
    kind: str, model_dir: Path, sft_dir: Path, sft_s: float, tmp: Path, args: argparse.Namespace
) -> tuple[dict[str, Any], list[tuple[float, float, float]]] | str:
    """One arm (in a process of its own with ``--parallel``): its summary and accuracy points,
    or why it was skipped."""
    torch.set_num_threads(1)
    judge = Judge()
    try:
        if kind == "recipe":
            trace = arm_recipe(sft_dir, tmp, judge, args, sft_s)
        elif kind == "alone":
            trace = arm_grpo_alone(model_dir, tmp, judge, args)
        elif kind == "trl_sft":
            trace = arm_trl(sft_dir, tmp / "t1", judge, args, sft_s)
        else:
            trace = arm_trl(model_dir, tmp / "t2", judge, args, 0.0)
    except ImportError as e:
        return f"skipped ({e})"
    return trace.summary(), trace.points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget-s", type=float, default=300.0, help="most wall time of an arm, SFT included"
    )
    parser.add_argument("--sft-examples", type=int, default=50)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--eval-every-s", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-trl", action="store_true", help="skip the TRL arms")
    parser.add_argument("--recipe-only", action="store_true", help="run only the recipe arm")
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="arms run at once, each in its own process (one torch thread each)",
    )
    args = parser.parse_args()
    if not 1 <= args.sft_examples <= 50:
        parser.error("--sft-examples must be in 1..50")
    torch.set_num_threads(1)
    console = Console(width=160)
    judge = Judge()
    results: dict[str, dict[str, Any]] = {}
    wall0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model_dir = init_tiny(tmp / "init", alphabet=ARITHMETIC_ALPHABET, seed=args.seed)
        untrained = judge(*load_policy(model_dir))
        sft_dir, sft_s = sft_stage(model_dir, tmp, args)  # the recipe's first stage, once, shared with TRL
        arms = [("recipe", f"assay SFT ({args.sft_examples} examples, {sft_s:.0f} s) + GRPO")]
        if not args.recipe_only:
            arms.append(("alone", "assay GRPO alone"))
        if not (args.recipe_only or args.no_trl):
            arms += [
                ("trl_sft", "TRL GRPOTrainer after the same SFT"),
                ("trl_alone", "TRL GRPOTrainer alone"),
            ]
        jobs = [(kind, model_dir, sft_dir, sft_s, tmp, args) for kind, _ in arms]
        if args.parallel > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(args.parallel, mp_context=mp.get_context("spawn")) as pool:
                outcomes = list(pool.map(run_arm, *zip(*jobs, strict=True)))
        else:
            outcomes = [run_arm(*job) for job in jobs]
        for (_, name), got in zip(arms, outcomes, strict=True):
            if isinstance(got, str):
                console.print(f"{name}: {got}")
                continue
            results[name] = got[0]
            console.print(f"{name}: {got[1]}")

    table = Table(
        title=(
            f"a + b, a, b < 10, tiny model from scratch: greedy accuracy on all 100 pairs (EOS required), "
            f"until {args.target} or {args.budget_s:.0f} s per arm, seed {args.seed}; untrained {untrained[0]:.2f}"
        )
    )
    for col in (
        "arm",
        "GRPO steps",
        f"first >= {args.target} at (s)",
        "accuracy at end",
        "two-digit sums",
        "end (s)",
    ):
        table.add_column(col, justify="left" if col == "arm" else "right")
    for name, r in results.items():
        reached = "not reached" if r["reached"] is None else f"{r['reached']:.0f}"
        table.add_row(
            name, str(r["steps"]), reached, f"{r['final']:.2f}", f"{r['two_digit']:.2f}", f"{r['time']:.0f}"
        )
    console.print(table)
    console.print(
        f"total wall time {time.perf_counter() - wall0:.0f} s, {args.parallel} arm(s) at a time, "
        f"{os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
