"""The main job: train a tiny language model from scratch with GRPO to add digits, on CPU.

1. `assay model init-tiny`-style: a randomly initialised ~76k-parameter Qwen2 and a
   character-level tokenizer, written locally (no hub).
2. GRPO on ``assay/Arithmetic-v0`` restricted to ``a + b=`` with a, b in [0, 5): 8 tasks x 16
   completions per step, reward 1 when the verifier reads the right sum, for about a minute.
   The format is strict (no number is picked out of padding): the completion, up to EOS, must be
   the bare answer. Two new tokens (a digit, then EOS) are all it needs.
3. Evaluate the untrained and the trained policy against the env's verifier (greedy decoding)
   and print the table, the metrics file and the plot's path.

Run: ``make demo`` (or ``python examples/train_arithmetic.py --seconds 60``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from assay.agents import GRPO, GRPOConfig, HFSampler, init_tiny, spot_check
from assay.agents.policy import load_policy
from assay.agents.tiny import ARITHMETIC_ALPHABET
from assay.cli.train import eval_table

ENV = "assay/Arithmetic-v0"
ENV_KWARGS = {"level": "easy", "operations": "+", "max_operand": 5, "prompt_template": "{expr}="}
MAX_NEW_TOKENS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo", help="output directory")
    parser.add_argument("--seconds", type=float, default=75.0, help="training time budget")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console()
    out = Path(args.out)

    model_dir = init_tiny(out / "init", alphabet=ARITHMETIC_ALPHABET, seed=args.seed)
    # the tiny model's settings: the library defaults (lr 1e-6, 256 new tokens) suit pretrained models
    config = GRPOConfig(
        env=ENV,
        env_kwargs=ENV_KWARGS,
        model=str(model_dir),
        out_dir=str(out),
        seed=args.seed,
        steps=5_000,
        time_limit_s=args.seconds,
        target_reward=0.98,
        num_prompts=8,
        group_size=16,
        max_new_tokens=MAX_NEW_TOKENS,
        lr=5e-4,
        num_threads=1,
    )
    console.print(
        f"[bold]GRPO on {ENV} ({ENV_KWARGS['prompt_template']} with a, b in [0, 5)), up to {args.seconds:.0f} s[/bold]"
    )
    trainer = GRPO(config)
    start = time.perf_counter()
    rows = trainer.train()
    elapsed = time.perf_counter() - start
    trainer.export(out / "model")
    trainer.close()
    first, last = rows[:20], rows[-50:]
    console.print(
        f"{len(rows)} steps in {elapsed:.0f} s (with setup): mean reward {sum(r['reward/mean'] for r in first) / len(first):.3f} "
        f"(first {len(first)} steps) -> {sum(r['reward/mean'] for r in last) / len(last):.3f} (last {len(last)})"
    )

    results, examples = {}, {}
    for name, path in (("untrained", model_dir), ("GRPO-trained", out / "model")):
        model, tok = load_policy(path)
        res = spot_check(
            ENV,
            HFSampler(model, tok),
            tok,
            env_kwargs=ENV_KWARGS,
            num_tasks=200,
            seed=123,
            max_new_tokens=MAX_NEW_TOKENS,
        )
        results[name] = res
        examples[name] = "  ".join(f"{tok.decode(e.prompt_ids)}{e.actions[0]!r}" for e in res.episodes[:5])
    console.print(
        eval_table(f"{ENV} a + b (a, b < 5): greedy, 200 tasks, judged by the env's verifier", results)
    )
    for name, shown in examples.items():
        console.print(f"  {name}: {shown}")
    console.print(f"metrics: {out / 'metrics.jsonl'}\nplot:    {out / 'metrics.png'}")


if __name__ == "__main__":
    main()
