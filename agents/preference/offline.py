"""The loop the offline trainers share (SFT, DPO-family, reward models), on the `Trainer` base.

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

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from assay.agents.preference.config import TrainConfig
from assay.agents.trainer import Trainer

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


class OfflineTrainer(Trainer):
    """Base of `SFT`, `DPO` and `RewardModelTrainer` (module docstring).

    Subclasses check their records, call ``super().__init__`` (the model and tokenizer, loaded
    or passed in), encode the records, call `setup` with the records' prompts, and implement
    `losses`.
    """

    config: TrainConfig

    def setup(self, prompts: Sequence[str]) -> None:
        """Split the records, build the optimizer; call at the end of a subclass's ``__init__``."""
        config = self.config
        self.train_idx, self.eval_idx = split_indices(prompts, config.eval_fraction, config.seed)
        if not self.train_idx:
            raise ValueError("no training records")
        self.model.to(self.device)
        self.model.train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = self.adamw(self.params, fused=False)
        warmup = config.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0
        )

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
        lr = self.optimizer.param_groups[0]["lr"]
        norm = self.optimizer_step(self.optimizer, self.params, self.scheduler)
        self.step_count += 1
        row = {"step": self.step_count, "loss": total / len(idx), "grad_norm": norm, "lr": lr}
        row.update({k: _nanmean(torch.cat(v)) for k, v in sums.items()})
        return row

    def step(self) -> dict[str, Any]:
        """The next batch's optimizer step; every ``eval_every`` steps (but the last), the
        held-out metrics too."""
        c = self.config
        row: dict[str, Any] = self.train_step(self.batch_at(self.step_count))
        if c.eval_every and self.step_count % c.eval_every == 0 and self.step_count < self.total_steps():
            row.update(self.evaluate())
        return row

    def progress_text(self, row: dict[str, Any]) -> str:
        return f"{self.name} loss {row['loss']:.3f}"

    def train(self, *, resume: bool = False, persist: bool = True) -> list[dict[str, Any]]:
        """Run every step; log, evaluate, checkpoint; export to ``out_dir/model``.

        Returns the metrics rows of the whole run (a final row holds the end-of-run evaluation).
        With ``persist=False`` nothing is checkpointed or exported (a stage inside a larger loop,
        e.g. one round of online DPO); metrics are still logged.
        """
        log = self.run_steps(self.total_steps(), resume=resume, persist=persist)
        final = self.evaluate()
        if final or not log.rows:
            log.log({"step": self.step_count, **final})
        if persist:
            self.save()
            self.export(self.out_dir / "model")
        log.close()
        return list(log.rows)

    # -- persistence -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything to resume from, besides the RNGs and step."""
        return {
            **super().state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of `state_dict`."""
        super().load_state_dict(state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def _nanmean(x: Tensor) -> float:
    keep = x[~torch.isnan(x)]
    return float(keep.mean()) if keep.numel() else float("nan")
