"""The loop the offline trainers share (SFT, DPO-family, reward models).

A subclass holds its records, pre-tokenised once, and implements `OfflineTrainer.losses`:
per-record losses for a list of record indices, plus per-record metrics. The loop, top to
bottom: hold out ``eval_fraction`` of the prompts with all their records (seeded); each epoch visits the training
records in a fresh seeded order, ``batch_size`` per optimizer step, in micro-batches of
``micro_batch_size`` (gradient accumulation: the batch's loss is the mean of its records'
losses, whatever the split); clip the gradient norm; AdamW with linear warmup; log a row per
step to ``out_dir/metrics.jsonl``; evaluate on the held-out records every ``eval_every`` steps
and at the end; checkpoint every ``save_every`` steps and at the end (``train(resume=True)``
continues from the last checkpoint, on the same data order); export the model to
``out_dir/model`` in ``save_pretrained`` layout.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from assay.agents.checkpoint import latest_checkpoint, load_checkpoint, restore_rng, save_checkpoint
from assay.agents.metrics import MetricsLog, progress_bar
from assay.agents.policy import pick_dtype
from assay.agents.preference.config import TrainConfig

__all__ = ["OfflineTrainer", "split_indices"]


def split_indices(keys: Sequence[str], eval_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """``(train, eval)`` indices of records with group ``keys`` (their prompts): a seeded
    ``eval_fraction`` share of the distinct keys is held out with all their records, so no
    held-out prompt is trained on. At least one key is held out when the fraction is positive
    and there are two or more keys. Both lists are sorted."""
    distinct = sorted(set(keys))
    if eval_fraction <= 0 or len(distinct) < 2:
        return list(range(len(keys))), []
    k = min(max(1, round(len(distinct) * eval_fraction)), len(distinct) - 1)
    perm = np.random.default_rng([seed, 0xE7A1]).permutation(len(distinct))
    held = {distinct[int(i)] for i in perm[:k]}
    train = [i for i, key in enumerate(keys) if key not in held]
    return train, [i for i, key in enumerate(keys) if key in held]


class OfflineTrainer:
    """Base of `SFT`, `DPO` and `RewardModelTrainer` (module docstring).

    Subclasses set `model` and `tokenizer`, call `setup` with the records' prompts, and
    implement `losses`.
    """

    config: TrainConfig
    model: Any
    tokenizer: Any
    name = "train"
    """Label of the progress bar."""

    def setup(self, config: TrainConfig, prompts: Sequence[str]) -> None:
        """Split the records, build the optimizer; call at the end of a subclass's ``__init__``."""
        self.config = config
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        self.dtype = pick_dtype(config.dtype)
        self.device = torch.device(config.device)
        self.pad_id = int(
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self.tokenizer.eos_token_id
        )
        self.train_idx, self.eval_idx = split_indices(prompts, config.eval_fraction, config.seed)
        if not self.train_idx:
            raise ValueError("no training records")
        self.model.to(self.device)
        self.model.train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.params, lr=config.lr, betas=config.adam_betas, weight_decay=config.weight_decay
        )
        warmup = config.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0
        )
        self.step_count = 0
        self.out_dir = Path(config.out_dir)
        self.metrics: MetricsLog | None = None

    # -- what a subclass provides --------------------------------------------------------

    def losses(self, idx: Sequence[int]) -> tuple[Tensor, dict[str, Tensor]]:
        """Per-record losses ``(len(idx),)`` of records ``idx`` (with grad), and per-record
        metrics (each ``(len(idx),)``; NaN where a metric does not apply to a record)."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """Metrics on the held-out records (the mean loss and `losses`' metrics by default)."""
        if not self.eval_idx:
            return {}
        sums: dict[str, list[Tensor]] = {}
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for chunk in self.chunks(self.eval_idx):
                    with self.autocast():
                        loss, metrics = self.losses(chunk)
                    sums.setdefault("loss", []).append(loss.detach().float().cpu())
                    for k, v in metrics.items():
                        sums.setdefault(k, []).append(v.detach().float().cpu())
        finally:
            self.model.train(was_training)
        return {f"eval/{k}": _nanmean(torch.cat(v)) for k, v in sums.items()}

    # -- helpers ---------------------------------------------------------------------------

    def autocast(self) -> AbstractContextManager[Any]:
        """Mixed precision for forward passes when the dtype is not float32."""
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def chunks(self, idx: Sequence[int]) -> list[list[int]]:
        """``idx`` in micro-batches (at most ``batch_size`` records each)."""
        size = self.config.micro_batch_size or self.config.batch_size
        return [list(idx[i : i + size]) for i in range(0, len(idx), size)]

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_idx) / self.config.batch_size)

    def total_steps(self) -> int:
        total = self.config.epochs * self.steps_per_epoch()
        return total if self.config.max_steps is None else min(total, self.config.max_steps)

    def batch_at(self, step: int) -> list[int]:
        """The record indices of optimizer step ``step`` (a pure function of the seed and step)."""
        epoch, b = divmod(step, self.steps_per_epoch())
        order = np.random.default_rng([self.config.seed, epoch]).permutation(len(self.train_idx))
        bs = self.config.batch_size
        return [self.train_idx[int(i)] for i in order[b * bs : (b + 1) * bs]]

    # -- the loop --------------------------------------------------------------------------

    def train_step(self, idx: Sequence[int]) -> dict[str, float]:
        """One optimizer step on records ``idx``; returns its metrics."""
        sums: dict[str, list[Tensor]] = {}
        total = 0.0
        for chunk in self.chunks(idx):
            with self.autocast():
                loss, metrics = self.losses(chunk)
            (loss.float().sum() / len(idx)).backward()  # type: ignore[no-untyped-call]
            total += float(loss.detach().float().sum())
            for k, v in metrics.items():
                sums.setdefault(k, []).append(v.detach().float().cpu())
        clip = self.config.max_grad_norm
        norm = torch.nn.utils.clip_grad_norm_(self.params, clip if clip > 0 else float("inf"))
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step_count += 1
        row = {"step": self.step_count, "loss": total / len(idx), "grad_norm": float(norm), "lr": lr}
        row.update({k: _nanmean(torch.cat(v)) for k, v in sums.items()})
        return row

    def train(self, *, resume: bool = False, persist: bool = True) -> list[dict[str, Any]]:
        """Run every step; log, evaluate, checkpoint; export to ``out_dir/model``.

        Returns the metrics rows of the whole run (a final row holds the end-of-run evaluation).
        With ``persist=False`` nothing is checkpointed or exported (a stage inside a larger loop,
        e.g. one round of online DPO); metrics are still logged.
        """
        c = self.config
        resumed = self.resume() if resume else False
        self.metrics = MetricsLog(
            self.out_dir / "metrics.jsonl",
            resume_step=self.step_count if resumed else None,
            report_to=c.report_to,
        )
        total = self.total_steps()
        start = time.perf_counter()
        with progress_bar(c.progress) as bar:
            task = bar.add_task(self.name, total=total, completed=self.step_count)
            while self.step_count < total:
                row = self.train_step(self.batch_at(self.step_count))
                if c.eval_every and self.step_count % c.eval_every == 0 and self.step_count < total:
                    row.update(self.evaluate())
                row["time/elapsed"] = time.perf_counter() - start
                self.metrics.log(row)
                bar.update(task, advance=1, description=f"{self.name} loss {row['loss']:.3f}")
                if persist and c.save_every and self.step_count % c.save_every == 0:
                    self.save()
        final = self.evaluate()
        if final or not self.metrics.rows:
            self.metrics.log({"step": self.step_count, **final})
        if persist:
            self.save()
            self.export(self.out_dir / "model")
        self.metrics.close()
        return list(self.metrics.rows)

    # -- persistence -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything to resume from, besides the RNGs and step."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of `state_dict`."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    def save(self) -> Path:
        """Checkpoint under ``out_dir/checkpoints`` (the newest one is kept)."""
        return save_checkpoint(
            self.out_dir, self.step_count, self.state_dict(), dataclasses.asdict(self.config)
        )

    def resume(self, path: str | Path | None = None) -> bool:
        """Load the latest checkpoint under ``out_dir`` (or ``path``); False if there is none."""
        ckpt = Path(path) if path is not None else latest_checkpoint(self.out_dir)
        if ckpt is None:
            return False
        state = load_checkpoint(ckpt)
        self.load_state_dict(state)
        restore_rng(state["rng"])
        self.step_count = int(state["step"])
        return True

    def export(self, path: str | Path) -> Path:
        """Save the model and tokenizer in ``save_pretrained`` layout."""
        out = Path(path)
        self.model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        return out


def _nanmean(x: Tensor) -> float:
    keep = x[~torch.isnan(x)]
    return float(keep.mean()) if keep.numel() else float("nan")
