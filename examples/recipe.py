"""The post-training recipe end to end, on CPU, with a tiny model trained from scratch:

1. **SFT cold start** on formatted traces: ``3+4=`` -> ``<think>3+4</think><answer>7</answer>``.
   The model learns the output format (and some addition) from a few hundred steps.
2. **GRPO** with an outcome reward (the env's verifier: is the answer right?) plus a rule-based
   reward (the ``<think>...</think><answer>...</answer>`` format, weight 0.2), on the same env.
3. **Iterative DPO**: rounds of sampling from the current policy, pairing a verified-correct
   sample over an incorrect one, and optimising DPO against the policy at the round's start.

After each stage the policy is evaluated on held-out prompts (prompts that the SFT data and the
DPO rounds never contain; GRPO samples tasks from the whole env, so it may see them): the
verifier's pass rate and the format rate, ``eval_samples`` samples per prompt at temperature 1.

Measured (held-out pass rate / format rate): untrained 0.047 / 0.000; SFT cold start 0.529 /
0.951; + GRPO 0.659 / 0.956; + iterative DPO 0.656 / 0.956. On this tiny task GRPO already takes
most of what the verifier's signal gives on held-out prompts; the DPO round after it mostly holds the pass rate (lr 1e-5; at 3e-5 it lost 0.02-0.04
in our runs), while iterative DPO straight after the cold start gains about 0.08 (see
``tests/e2e/test_preference_sft_dpo.py``).

The task is single-digit addition (``assay/Arithmetic-v0`` with ``max_operand=10``); the model is
a ~60k-parameter Qwen2 with a character tokenizer (`assay.agents.tiny.init_tiny`). Everything
runs in about three minutes on two cores. Run::

    python examples/recipe.py --out runs/recipe

Each stage's model is saved under ``--out`` (``sft/model``, ``grpo/model``, ``dpo/model``) with
its ``metrics.jsonl``; the same stages are available from the command line as ``assay train sft``,
``assay train grpo`` and ``assay train dpo --online``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from assay.agents import GRPO, GRPOConfig
from assay.agents.policy import load_policy
from assay.agents.preference.config import OnlineDPOConfig, SFTConfig
from assay.agents.preference.data import SFTRecord, generate_groups
from assay.agents.preference.dpo import OnlineDPO
from assay.agents.preference.sft import SFT
from assay.agents.sampler import HFSampler
from assay.agents.tiny import init_tiny
from assay.rewards.base import Rubric, Term, correct
from assay.rewards.format import tags

ENV = "assay/Arithmetic-v0"
TASK = {"num_operands": 2, "operations": "+", "max_operand": 10, "prompt_template": "{expr}="}
ALPHABET = "0123456789+= <>/thinkaswer"
FORMAT = tags("think", "answer", weight=0.2)
"""The rule-based reward: 1 when the response is exactly a think block then an answer block."""
RUBRIC = Rubric([Term("correct", correct), FORMAT])
"""Outcome plus format: what GRPO optimises."""


def trace(task: Any) -> str:
    """A formatted trace for the cold start: restate the problem, then answer."""
    return f"<think>{task.meta['expression'].replace(' ', '')}</think><answer>{task.answer}</answer>"


def held_out_report(online: OnlineDPO, model: Any, tokenizer: Any, samples: int) -> dict[str, float]:
    """Pass rate and format rate on the held-out prompts."""
    groups = generate_groups(
        online.env,
        HFSampler(model, tokenizer),
        [online.task_at(i) for i in online.eval_indices],
        n=samples,
        max_new_tokens=40,
        seed=1,
    )
    cands = [(c, g.task) for g in groups for c in g.candidates]
    return {
        "pass rate": sum(c.status.value == "correct" for c, _ in cands) / len(cands),
        "format": sum(FORMAT.evaluate(c.text, t, None)[0] == 1.0 for c, t in cands) / len(cands),  # type: ignore[arg-type]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/recipe", help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument("--grpo-steps", type=int, default=50)
    parser.add_argument("--dpo-rounds", type=int, default=2)
    parser.add_argument("--eval-samples", type=int, default=8)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()
    out = Path(args.out)
    console = Console()
    report: dict[str, dict[str, float]] = {}

    # 0. A tiny model from scratch, and the held-out prompts (OnlineDPO's evaluation set).
    model, tok = load_policy(init_tiny(out / "init", alphabet=ALPHABET, seed=args.seed))
    dpo_config = OnlineDPOConfig(
        env=ENV,
        env_kwargs=TASK,
        out_dir=str(out / "dpo"),
        seed=args.seed,
        rounds=args.dpo_rounds,
        prompts_per_round=64,
        samples_per_prompt=8,
        max_pairs_per_prompt=4,
        pairs="correct_vs_incorrect",
        loss="dpo",
        beta=1.0,
        lr=1e-5,
        max_new_tokens=40,
        eval_prompts=48,
        eval_samples=args.eval_samples,
        num_threads=1,
        progress=False,
    )
    online = OnlineDPO(dpo_config, model=model, tokenizer=tok)
    report["untrained"] = held_out_report(online, model, tok, args.eval_samples)

    # 1. SFT cold start on formatted traces of training prompts.
    t0 = time.perf_counter()
    records: list[SFTRecord] = []
    for i in range(10_000):
        task = online.task_at(i)
        if task.prompt not in online.eval_prompts:
            records.append(SFTRecord(task.prompt, trace(task)))
        if len(records) == 1500:
            break
    sft = SFTConfig(
        out_dir=str(out / "sft"),
        seed=args.seed,
        lr=3e-3,
        batch_size=32,
        max_steps=args.sft_steps,
        epochs=100,
        warmup_steps=10,
        num_threads=1,
        progress=not args.quiet,
    )
    SFT(sft, records, model=model, tokenizer=tok).train()
    report["SFT cold start"] = held_out_report(online, model, tok, args.eval_samples)
    console.print(f"SFT: {len(records)} traces, {args.sft_steps} steps, {time.perf_counter() - t0:.0f} s")

    # 2. GRPO with the outcome reward plus the format rule.
    t0 = time.perf_counter()
    grpo = GRPO(
        GRPOConfig(
            env=ENV,
            env_kwargs={**TASK, "rubric": RUBRIC},
            out_dir=str(out / "grpo"),
            seed=args.seed,
            steps=args.grpo_steps,
            num_prompts=8,
            group_size=8,
            max_new_tokens=40,
            lr=1e-4,
            num_threads=1,
            plot=False,
            log_kl=False,
            progress=not args.quiet,
        ),
        model=model,
        tokenizer=tok,
    )
    rows = grpo.train()
    grpo.export(out / "grpo" / "model")
    grpo.close()
    report["+ GRPO"] = held_out_report(online, model, tok, args.eval_samples)
    console.print(f"GRPO: {len(rows)} steps, {time.perf_counter() - t0:.0f} s")

    # 3. Iterative DPO rounds on the verifier's pairs, from the GRPO policy.
    t0 = time.perf_counter()
    online.train()
    online.close()
    report["+ iterative DPO"] = held_out_report(online, model, tok, args.eval_samples)
    console.print(f"iterative DPO: {args.dpo_rounds} rounds, {time.perf_counter() - t0:.0f} s")

    table = Table(
        title=f"held-out prompts ({len(online.eval_prompts)} distinct, {args.eval_samples} samples each)"
    )
    table.add_column("stage", style="bold")
    table.add_column("pass rate", justify="right")
    table.add_column("format", justify="right")
    for stage, row in report.items():
        table.add_row(stage, f"{row['pass rate']:.3f}", f"{row['format']:.3f}")
    console.print(table)
    console.print(f"models: {out / 'sft' / 'model'}, {out / 'grpo' / 'model'}, {out / 'dpo' / 'model'}")


if __name__ == "__main__":
    main()
