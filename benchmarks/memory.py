"""Peak memory of one GRPO step on CPU at a real vocabulary: assay before and after the memory
work, and TRL's GRPOTrainer, on the same shapes.

The model is Qwen2-shaped with Qwen's 151,936-token vocabulary and a small trunk (hidden 64, 2
layers, tied embeddings; randomly initialised, built locally). One step trains on a fixed batch
of ``--prompts`` x ``--group`` sequences of ``--prompt-len`` prompt tokens plus ``--completion-len``
sampled tokens (random ids, fixed by the seed; no generation, so the step's memory is the
training step's), with rewards that vary within each group, at each micro-batch size of
``--micro``.

- ``assay 17be9f2``: today's code (main at commit 17be9f2, exported with ``git archive`` and run
  from there), ``log_kl=False`` and ``kl_coef=0`` (no reference pass, as the others).
- ``assay``: this checkout's code, the same config.
- ``TRL``: ``GRPOTrainer`` with ``per_device_train_batch_size`` = the micro-batch and
  ``gradient_accumulation_steps`` = batch / micro-batch (one optimizer step over the whole
  batch), ``beta=0``, fed the same ids by a ``rollout_func`` (no generation). Its step is timed
  from the callback's ``on_step_begin`` to ``on_step_end`` (the rollout function included; it
  only returns the fixed ids).

Each case runs in a fresh subprocess; memory is the subprocess's peak resident set size
(``ru_maxrss`` from ``wait4``: every allocation, torch's and Python's, and the imports). "before"
is the resident set just before the step (model, optimizer, imports), so "peak - before" is the
step's own high-water mark. A case whose resident set passes ``--cap-gib`` is killed and shown as
``> cap`` (the machine is shared; today's code needs ~40 GB here).

Run: ``python benchmarks/memory.py`` (needs git, trl and ``assay[train]``; a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OLD_COMMIT = "17be9f2"
VOCAB = 151_936
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "verifiers", "rewards", "agents", "sandboxes")


def _tree(src: Path, dest: Path) -> Path:
    """An importable ``assay`` package made of symlinks into the source checkout ``src`` (the
    repo maps its top-level folders to ``assay.*``)."""
    pkg = dest / "assay"
    pkg.mkdir(parents=True)
    for f in (src / "assay").iterdir():
        (pkg / f.name).symlink_to(f)
    for d in PACKAGES:
        (pkg / d).symlink_to(src / d)
    return dest


def _build_model(out: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    sys.path.insert(0, str(_tree(ROOT, out / "tree_init")))
    from assay.agents.tiny import init_tiny

    model_dir = init_tiny(out / "model", seed=0)  # its char tokenizer; the model is replaced
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        intermediate_size=128, max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    Qwen2ForCausalLM(cfg).save_pretrained(str(model_dir))
    return model_dir


def _fixed_batch(
    args: argparse.Namespace, tok_vocab: int
) -> tuple[list[list[int]], list[list[int]], list[float]]:
    """Prompt ids, completion ids and rewards of the step (the same for every case)."""
    import random

    rng = random.Random(0)
    n = args.prompts * args.group
    prompts = []
    for _ in range(args.prompts):
        p = [rng.randrange(3, tok_vocab) for _ in range(args.prompt_len)]
        prompts += [p] * args.group
    completions = [[rng.randrange(3, tok_vocab) for _ in range(args.completion_len)] for _ in range(n)]
    rewards = [float(sum(c) % 7) / 7 for c in completions]
    return prompts, completions, rewards


# -- the cases, each in its own process ---------------------------------------------------


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def case_assay(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer

    from assay.agents.config import GRPOConfig
    from assay.agents.grpo import GRPO
    from assay.agents.rollout import Episode

    torch.set_num_threads(args.threads)
    tok = AutoTokenizer.from_pretrained(args.model)
    prompts, completions, rewards = _fixed_batch(args, len(tok))
    episodes = [
        Episode(
            task_id=f"t{i // args.group}", group=i // args.group, prompt_ids=p, ids=c, mask=[1] * len(c),
            logprobs=[-5.0] * len(c), reward=r, turns=1, terminated=True, status="incorrect",
            actions=["x"], action_tokens=[len(c)], overlong=True,
        )
        for i, (p, c, r) in enumerate(zip(prompts, completions, rewards, strict=True))
    ]  # fmt: skip

    class FixedBatch(GRPO):
        def rollout(self, seed: int) -> list[Episode]:
            return episodes

    cfg = GRPOConfig(
        model=args.model, out_dir=args.out, num_prompts=args.prompts, group_size=args.group,
        max_new_tokens=args.completion_len, micro_batch_size=args.micro, kl_coef=0.0, log_kl=False,
        filter_groups=False, progress=False, plot=False, num_threads=args.threads, lr=1e-6,
    )  # fmt: skip
    trainer = FixedBatch(cfg)
    before = _rss()
    t0 = time.perf_counter()
    row = trainer.step()
    step_s = time.perf_counter() - t0
    assert row["skipped"] == 0.0, row
    return {"before": before, "step_s": step_s}


def case_trl(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["TRL_EXPERIMENTAL_SILENCE"] = "1"
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(args.threads)
    tok = AutoTokenizer.from_pretrained(args.model)
    prompts, completions, rewards = _fixed_batch(args, len(tok))
    by_completion = {tuple(c): r for c, r in zip(completions, rewards, strict=True)}
    texts = [f"prompt {g}" for g in range(args.prompts)]

    def rollout(batch_prompts: list[Any], trainer: Any) -> dict[str, Any]:
        n = len(batch_prompts)
        return {
            "prompt_ids": prompts[:n],
            "completion_ids": completions[:n],
            "logprobs": [[-5.0] * len(c) for c in completions[:n]],
        }

    def reward(
        prompts: list[Any], completions: list[Any], completion_ids: list[list[int]], **_: Any
    ) -> list[float]:
        return [by_completion[tuple(c)] for c in completion_ids]

    times: dict[str, float] = {}
    state: dict[str, int] = {}

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            state["before"] = _rss()
            times["t0"] = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            times["step_s"] = time.perf_counter() - times["t0"]

    n = args.prompts * args.group
    config = GRPOConfig(
        output_dir=args.out, per_device_train_batch_size=args.micro, gradient_accumulation_steps=n // args.micro,
        num_generations=args.group, max_completion_length=args.completion_len, learning_rate=1e-6, beta=0.0,
        loss_type="dapo", num_iterations=1, logging_steps=1, save_strategy="no", report_to="none", use_cpu=True,
        seed=0, max_steps=1, disable_tqdm=True, bf16=False, dataloader_num_workers=0,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=config,
        train_dataset=Dataset.from_list([{"prompt": t} for t in texts] * 64),
        processing_class=tok,
        rollout_func=rollout,
        callbacks=[Clock()],
    )
    trainer.train()
    return {"before": state["before"], "step_s": times["step_s"]}


# -- the driver ------------------------------------------------------------------------------


def _run(
    kind: str, micro: int, args: argparse.Namespace, model: Path, tmp: Path, old_tree: Path
) -> dict[str, Any]:
    """Run one case in a fresh process; peak RSS from ``wait4``, killed past the cap."""
    env = dict(os.environ, PYTHONSAFEPATH="1")
    if kind in ("old", "new"):
        env["PYTHONPATH"] = str(old_tree if kind == "old" else tmp / "tree_new")
    cmd = [
        sys.executable, __file__, "--case", kind, "--model", str(model), "--micro", str(micro),
        "--out", str(tmp / f"out_{kind}_{micro}"), "--threads", str(args.threads),
        "--prompts", str(args.prompts), "--group", str(args.group),
        "--prompt-len", str(args.prompt_len), "--completion-len", str(args.completion_len),
    ]  # fmt: skip
    cap = int(args.cap_gib * 2**30)
    out_path = tmp / f"result_{kind}_{micro}.json"
    err_path = tmp / f"stderr_{kind}_{micro}.txt"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
    killed = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            rss = int(Path(f"/proc/{proc.pid}/statm").read_text().split()[1]) * resource.getpagesize()
        except (OSError, IndexError):
            rss = 0
        if rss > cap and not killed:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss * 1024
    if killed:
        return {"killed": True, "peak": peak}
    lines = out_path.read_text().strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = err_path.read_text().strip().splitlines()[-1:] or [""]
        return {"error": f"exit {proc.returncode}: {tail[0][:200]}", "peak": peak}
    return {**json.loads(lines[-1]), "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micro", type=int, nargs="+", default=[4, 64])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--prompt-len", type=int, default=256)
    parser.add_argument("--completion-len", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cap-gib", type=float, default=8.0, help="kill a case whose RSS passes this")
    parser.add_argument("--cases", nargs="+", default=["old", "new", "trl"], choices=["old", "new", "trl"])
    parser.add_argument("--case", choices=["old", "new", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is not None:  # a child: one case, one JSON line
        args.micro = args.micro[0]
        result = case_trl(args) if args.case == "trl" else case_assay(args)
        print(json.dumps(result), flush=True)
        return
    from rich.console import Console
    from rich.table import Table

    n = args.prompts * args.group
    names = {"old": f"assay {OLD_COMMIT} (today)", "new": "assay (this branch)", "trl": "TRL GRPOTrainer"}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        model = _build_model(tmp)
        old_src = tmp / "old_src"
        old_src.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", OLD_COMMIT], check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(old_src)], input=archive.stdout, check=True)
        old_tree = _tree(old_src, tmp / "tree_old")
        _tree(ROOT, tmp / "tree_new")
        table = Table(
            title=(
                f"One GRPO step on CPU: {n} sequences x {args.prompt_len + args.completion_len} tokens "
                f"({args.completion_len} sampled), vocab {VOCAB:,}, hidden 64, 2 layers; peak RSS of a "
                f"fresh process (killed past {args.cap_gib:g} GiB)"
            )
        )
        for col in (
            "code",
            "micro-batch",
            "peak RSS (GiB)",
            "before step (GiB)",
            "step's own (GiB)",
            "step (s)",
        ):
            table.add_column(col, justify="left" if col == "code" else "right")
        for kind in args.cases:
            for micro in args.micro:
                r = _run(kind, micro, args, model, tmp, old_tree)
                gib = lambda b: f"{b / 2**30:.2f}"  # noqa: E731
                if r.get("killed"):
                    row = [f"> {args.cap_gib:g} (killed)", "-", "-", "-"]
                elif "error" in r:
                    row = [gib(r["peak"]), r["error"], "-", "-"]
                else:
                    row = [
                        gib(r["peak"]),
                        gib(r["before"]),
                        gib(r["peak"] - r["before"]),
                        f"{r['step_s']:.1f}",
                    ]
                table.add_row(names[kind], str(micro), *row)
                print(f"{names[kind]} micro {micro}: {r}", flush=True)
        Console(width=160).print(table)


if __name__ == "__main__":
    main()
