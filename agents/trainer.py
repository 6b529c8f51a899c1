"""`Trainer`: the one base of every trainer, RL (GRPO, PPO) and post-training (SFT, DPO, reward
models, online DPO).

It holds what a trainer does besides its algorithm: building the model and tokenizer (loaded
from ``config.model`` or passed in; optionally wrapped in LoRA), the device and autocast dtype,
AdamW and the clipped optimizer step, checkpoints that resume exactly (weights, optimizer state
added by subclasses, every RNG, the step), export in ``save_pretrained`` layout, and the step
loop with its progress bar and ``metrics.jsonl`` log (`Trainer.run_steps`). A subclass
implements `Trainer.step` and its own ``train``, which reads top to bottom: the loop, then what
the algorithm does at the end of a run.

Not guaranteed here: that a resumed run reproduces the uninterrupted one. The base restores the
RNGs and the step; a subclass reproduces the run only if everything random it does derives from
``(config.seed, step)`` (the RL trainers and the offline trainers do).
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch

from assay.agents.chat import chat_format
from assay.agents.checkpoint import latest_checkpoint, load_checkpoint, restore_rng, save_checkpoint
from assay.agents.config import TrainerConfig
from assay.agents.metrics import MetricsLog, progress_bar
from assay.agents.optimizer import build_optimizer
from assay.agents.policy import load_policy, pick_dtype
from assay.agents.tiny import keep_unknown_bytes

__all__ = ["Trainer"]


class Trainer:
    """Base of every trainer (module docstring).

    Args:
        config: The run's settings (a `TrainerConfig` subclass).
        model, tokenizer: Use these instead of loading ``config.model`` (trained in place).
        lora_r, lora_alpha: Wrap the model in a LoRA adapter of this rank (peft; 0: no LoRA);
            `export` merges it back in.
    """

    config: TrainerConfig
    name = "train"
    """Label of the progress bar."""

    def __init__(
        self,
        config: TrainerConfig,
        *,
        model: Any = None,
        tokenizer: Any = None,
        lora_r: int = 0,
        lora_alpha: int = 16,
    ) -> None:
        self.config = config
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        self.loaded_from = ""
        """The model directory the model was loaded from ("" when it was passed in)."""
        if model is None:
            if not config.model:
                raise ValueError("config.model is empty: pass a model directory (assay model init-tiny PATH)")
            model, tokenizer = self.load_model()
            self.loaded_from = config.model
        elif tokenizer is None:
            raise ValueError("pass the tokenizer with the model")
        self.tokenizer = tokenizer
        self.chat = chat_format(tokenizer, config.prompt_format, config.system_prompt)
        """How prompts are rendered: through the chat template (`ChatFormat`), or None (text)."""
        self.pad_id = int(
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        self.dtype = pick_dtype(config.dtype)
        self.device = torch.device(config.device)
        self.lora_r = lora_r
        if config.gradient_checkpointing:
            # non-reentrant: works with frozen embeddings (LoRA) without enable_input_require_grads
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if lora_r > 0:
            model = _with_lora(model, lora_r, lora_alpha)
        self.model = model
        self.model.train()
        self.step_count = 0
        self.out_dir = Path(config.out_dir)
        self.metrics: MetricsLog | None = None
        self.stop_reason = ""
        """Why the last `run_steps` ended ("" before one has): ``steps: ...``, or `should_stop`'s
        reason."""

    # -- construction -------------------------------------------------------------------

    def load_model(self) -> tuple[Any, Any]:
        """``(model, tokenizer)`` from ``config.model`` (a causal LM; a subclass may override)."""
        dtype = torch.bfloat16 if self.config.param_dtype == "bfloat16" else torch.float32
        return load_policy(self.config.model, device=self.config.device, dtype=dtype)

    def frozen_copy(self) -> Any:
        """A frozen copy of the current model (a reference model)."""
        ref = copy.deepcopy(self.model)
        ref.eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        return ref

    @contextmanager
    def reference(self, ref_model: Any = None) -> Iterator[Any]:
        """The frozen reference policy for the block: ``ref_model`` (a `frozen_copy`) when given,
        else, under LoRA, the policy itself with its adapters disabled (the base model: no copy
        of the weights)."""
        if ref_model is not None:
            yield ref_model
        elif self.lora_r > 0:
            with self.model.disable_adapter():
                yield self.model
        else:
            raise ValueError("no reference model: pass a frozen copy (only LoRA runs need none)")

    def adamw(self, params: list[torch.nn.Parameter], *, fused: bool = True) -> torch.optim.Optimizer:
        """The config's optimizer (``optimizer``: AdamW, 8-bit AdamW, or AdamW offloaded to the
        CPU) with its settings; with ``fused``, torch AdamW uses the fused kernel where torch
        has one (CPU, CUDA)."""
        c = self.config
        fused = fused and self.device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in params)
        return build_optimizer(
            c.optimizer, params, lr=c.lr, betas=c.adam_betas, weight_decay=c.weight_decay, fused=fused
        )

    def autocast(self) -> AbstractContextManager[Any]:
        """Mixed precision for forward passes when the dtype is not float32."""
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    @contextmanager
    def inference(self, *models: Any) -> Iterator[None]:
        """No gradient, autocast as in training, and ``models`` in eval mode (dropout off) for
        the block; each model's train/eval mode is restored after it. For the old policy's and
        the reference's log-probs, which must not depend on a dropout mask."""
        modes = [(m, bool(m.training)) for m in models]
        try:
            for m, _ in modes:
                m.eval()
            with ExitStack() as stack:
                stack.enter_context(torch.no_grad())
                stack.enter_context(self.autocast())
                yield
        finally:
            for m, was_training in modes:
                m.train(was_training)

    def optimizer_step(
        self,
        optimizer: torch.optim.Optimizer,
        params: list[torch.nn.Parameter],
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    ) -> float:
        """Clip the gradient norm, step (and the scheduler), zero the gradients; returns the
        pre-clip norm."""
        clip = self.config.max_grad_norm
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return float(norm)

    # -- the loop -----------------------------------------------------------------------

    def step(self) -> dict[str, Any]:
        """One optimizer step (or more, for one batch); returns the step's metrics row."""
        raise NotImplementedError

    def progress_text(self, row: dict[str, Any]) -> str:
        """The progress bar's description after ``row``."""
        return self.name

    def should_stop(self, elapsed: float) -> str:
        """Why to stop before ``total`` steps (after ``elapsed`` seconds), or "" to go on.
        Never stops early, by default."""
        return ""

    def after_update(self) -> None:
        """Called after the weights change outside `step` (a resume); a no-op here."""

    def run_steps(self, total: int, *, resume: bool = False, persist: bool = True) -> MetricsLog:
        """`step` until ``step_count == total`` or `should_stop`: each row, with its
        ``time/elapsed``, goes to ``out_dir/metrics.jsonl`` (and the ``report_to`` sinks); a
        checkpoint every ``save_every`` steps when ``persist``. With ``resume``, continues from
        the latest checkpoint first (the log keeps its rows up to that step). Ends by setting
        `stop_reason` and writing it to stderr as one ``<name> stopped: <reason>`` line.

        Returns the log (also ``self.metrics``), still open: the caller logs its end-of-run rows
        and closes it. Does not save at the end; the caller decides."""
        c = self.config
        resumed = self.resume() if resume else False
        log = self.metrics = MetricsLog(
            self.out_dir / "metrics.jsonl",
            resume_step=self.step_count if resumed else None,
            report_to=c.report_to,
        )
        start = time.perf_counter()
        with progress_bar(c.progress) as bar:
            task = bar.add_task(self.name, total=total, completed=self.step_count)
            while self.step_count < total:
                row = self.step()
                row["time/elapsed"] = time.perf_counter() - start
                log.log(row)
                bar.update(task, advance=1, description=self.progress_text(row))
                if persist and c.save_every and self.step_count % c.save_every == 0:
                    self.save()
                reason = self.should_stop(time.perf_counter() - start)
                if reason:
                    self.stop_reason = reason
                    break
            else:
                self.stop_reason = f"steps: {self.step_count} of {total} done"
        self.say(f"{self.name} stopped: {self.stop_reason}")
        return log

    def say(self, line: str) -> None:
        """Write ``line`` to stderr (outside the progress bar); one line, whatever ``progress``."""
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    # -- persistence --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything to resume from, besides the RNGs and step (subclasses add to it)."""
        return {"model": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of `state_dict`."""
        self.model.load_state_dict(state["model"])

    def save(self, path: str | Path | None = None) -> Path:
        """Checkpoint the run under ``path`` (default ``out_dir``): ``checkpoints/step_<N>``, the
        ``keep_checkpoints`` newest kept. Returns the checkpoint dir."""
        out = Path(path) if path is not None else self.out_dir
        return save_checkpoint(
            out,
            self.step_count,
            self.state_dict(),
            dataclasses.asdict(self.config),
            keep=self.config.keep_checkpoints,
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
        self.after_update()
        return True

    def export(self, path: str | Path) -> Path:
        """Save the model (LoRA merged in) and tokenizer in ``save_pretrained`` layout."""
        out = Path(path)
        model = self.model
        if self.lora_r > 0:
            model = copy.deepcopy(model).merge_and_unload()
        model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        keep_unknown_bytes(out)  # a no-op unless it is the tiny model's char tokenizer
        return out


def _with_lora(model: Any, r: int, alpha: int) -> Any:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled('lora_r > 0 needs peft: pip install "assay[train]"') from e
    cfg = LoraConfig(r=r, lora_alpha=alpha, target_modules="all-linear", lora_dropout=0.0)
    return get_peft_model(model, cfg)
