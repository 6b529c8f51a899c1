"""What GRPO and PPO share: building the policy, sampler and envs; the train loop; checkpoints.

A trainer subclass implements `Trainer.step` (one rollout batch, one or more optimizer steps,
a dict of metrics). Everything random is derived from ``(config.seed, step)``, so a run resumed
from a checkpoint samples the same tasks and completions as the uninterrupted run and, on CPU,
reproduces its metrics exactly.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch

from assay.agents.async_rollout import AsyncRollouts
from assay.agents.checkpoint import latest_checkpoint, load_checkpoint, restore_rng, save_checkpoint
from assay.agents.config import RunConfig
from assay.agents.metrics import MetricsLog, plot_metrics, progress_bar
from assay.agents.policy import load_policy, pick_dtype
from assay.agents.rollout import Episode, collect_episodes
from assay.agents.sampler import HFSampler, VLLMSampler
from assay.envs.vector import make_vec
from assay.registry import group_seeds
from assay.verifiers.sampler import Sampler

__all__ = ["Trainer"]


class Trainer:
    """Base of `GRPO` and `PPO`. Subclasses set `group_size` and implement `step`.

    Args:
        config: The run's settings.
        model, tokenizer: Use these instead of loading ``config.model``.
        sampler: Use this instead of building one from ``config.sampler``.
    """

    group_size = 1
    """Completions per task in one step."""

    def __init__(
        self,
        config: RunConfig,
        *,
        model: Any = None,
        tokenizer: Any = None,
        sampler: Sampler | None = None,
    ) -> None:
        self.config = config
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        torch.manual_seed(config.seed)  # LoRA / value-head initialisation
        if model is None:
            if not config.model:
                raise ValueError("config.model is empty: pass a model directory (assay model init-tiny PATH)")
            model, tokenizer = load_policy(config.model, device=config.device)
        elif tokenizer is None:
            raise ValueError("pass the tokenizer with the model")
        self.tokenizer = tokenizer
        self.pad_id = int(
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        self.dtype = pick_dtype(config.dtype)
        self.device = torch.device(config.device)
        if config.lora_r > 0:
            model = self._lora(model)
        self.model = model
        self.model.train()
        self.step_count = 0
        self.out_dir = Path(config.out_dir)
        self.sampler: Sampler = sampler if sampler is not None else self._build_sampler()
        self.envs = make_vec(
            config.env,
            num_envs=config.num_prompts * self.group_size,
            vectorization_mode=config.vectorization,
            **dict(config.env_kwargs),
        )
        self.metrics: MetricsLog | None = None
        self._async: AsyncRollouts | None = None
        if config.async_rollouts and sampler is not None:
            raise ValueError("async_rollouts builds its own sampler in the worker: do not pass one")

    # -- construction -------------------------------------------------------------------

    def _lora(self, model: Any) -> Any:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError as e:
            from gymnasium.error import DependencyNotInstalled

            raise DependencyNotInstalled('lora_r > 0 needs peft: pip install "assay[train]"') from e
        cfg = LoraConfig(
            r=self.config.lora_r,
            lora_alpha=self.config.lora_alpha,
            target_modules="all-linear",
            lora_dropout=0.0,
        )
        return get_peft_model(model, cfg)

    def _build_sampler(self) -> Sampler:
        if self.config.sampler == "hf":
            return HFSampler(self.model, self.tokenizer)
        if self.config.lora_r > 0:
            raise ValueError("sampler='vllm' with LoRA is not supported yet: use lora_r=0 or sampler='hf'")
        vllm_dtype = "bfloat16" if self.dtype == torch.bfloat16 else "float32"
        return VLLMSampler(self.config.model, dtype=vllm_dtype)

    def frozen_copy(self) -> Any:
        """A frozen copy of the current policy (the reference model)."""
        ref = copy.deepcopy(self.model)
        ref.eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        return ref

    def adamw(self, params: list[torch.nn.Parameter]) -> torch.optim.AdamW:
        """AdamW with the config's settings; the fused kernel where torch has one (CPU, CUDA)."""
        c = self.config
        fused = self.device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in params)
        return torch.optim.AdamW(
            params, lr=c.lr, betas=c.adam_betas, weight_decay=c.weight_decay, fused=fused or None
        )

    def autocast(self) -> AbstractContextManager[Any]:
        """Mixed precision for forward passes when the dtype is not float32."""
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    # -- one step's pieces --------------------------------------------------------------

    def rollout(self, seed: int) -> list[Episode]:
        """Sample ``num_prompts`` groups of ``group_size`` episodes with the current policy
        (with ``async_rollouts``: the worker's batch for this step, one update stale)."""
        c = self.config
        limits: dict[str, Any] = dict(
            max_new_tokens=c.max_new_tokens, temperature=c.temperature, max_turns=c.max_turns,
            max_context_tokens=c.max_context_tokens,
        )  # fmt: skip
        if c.async_rollouts:
            if self._async is None:
                self._async = AsyncRollouts(
                    self.model, self.tokenizer, env_id=c.env, env_kwargs=dict(c.env_kwargs),
                    num_prompts=c.num_prompts, group_size=self.group_size, seed=c.seed, start=self.step_count,
                    previous=self._previous, num_threads=c.num_threads, local_envs=self.envs,
                    handover=c.async_handover, **limits,
                )  # fmt: skip
            return self._async.get()
        return collect_episodes(
            self.envs,
            self.sampler,
            self.tokenizer,
            seeds=group_seeds(seed, c.num_prompts, self.group_size),
            group_size=self.group_size,
            seed=seed,
            **limits,
        )

    def minibatches(self, n: int, seed: int) -> Iterator[torch.Tensor]:
        """Row indices of each minibatch, for every epoch (a fresh seeded shuffle per epoch)."""
        gen = torch.Generator().manual_seed(seed)
        k = min(self.config.num_minibatches, n)
        for _ in range(self.config.num_epochs):
            perm = torch.randperm(n, generator=gen) if k > 1 else torch.arange(n)
            yield from torch.tensor_split(perm, k)

    def micro_slices(self, n: int) -> list[slice]:
        """Slices of a minibatch of ``n`` rows for gradient accumulation."""
        size = self.config.micro_batch_size or n
        return [slice(i, min(i + size, n)) for i in range(0, n, size)]

    def optimizer_step(self, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> float:
        """Clip the gradient norm, step, zero the gradients; returns the pre-clip norm."""
        clip = self.config.max_grad_norm
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def after_update(self) -> None:
        """Push the new weights to a sampler that keeps its own copy (vLLM)."""
        if isinstance(self.sampler, VLLMSampler):
            self.sampler.sync_weights(self.model)

    def after_step(self) -> None:
        """Count the step; with async rollouts, publish its weights to the worker (always, even
        after a skipped update: batch ``k + 2`` waits for the weights of step ``k``)."""
        self.step_count += 1
        if self._async is not None:
            self._async.publish(self.model, self.step_count)

    # -- the loop -----------------------------------------------------------------------

    def step(self) -> dict[str, float]:
        """One rollout batch and its optimizer steps; returns the step's metrics."""
        raise NotImplementedError

    _previous: dict[str, Any] | None = None
    """Async rollouts, after a resume: the weights the first batch was sampled with."""

    def state_dict(self) -> dict[str, Any]:
        """Everything to resume from, besides the RNGs and step (subclasses add to it)."""
        state: dict[str, Any] = {"model": self.model.state_dict()}
        if self._async is not None and self.step_count > 0:  # the next batch's (stale) weights
            state["async_previous"] = self._async.previous_weights(self.step_count - 1)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of `state_dict`."""
        self.model.load_state_dict(state["model"])
        self._previous = state.get("async_previous")

    def save(self, path: str | Path | None = None) -> Path:
        """Checkpoint the run (under ``out_dir`` by default) and return the checkpoint dir."""
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
        """Save the policy (LoRA merged in) and tokenizer in ``save_pretrained`` layout."""
        out = Path(path)
        model = self.model
        if self.config.lora_r > 0:
            model = copy.deepcopy(model).merge_and_unload()
        model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        return out

    def train(self, *, resume: bool = False) -> list[dict[str, Any]]:
        """Run until ``config.steps`` (or the time limit / target reward); log to
        ``out_dir/metrics.jsonl``; checkpoint; plot.

        Returns the metrics rows of the whole run (those before a resume included).
        """
        c = self.config
        resumed = self.resume() if resume else False
        self.metrics = MetricsLog(
            self.out_dir / "metrics.jsonl",
            resume_step=self.step_count if resumed else None,
            report_to=c.report_to,
        )
        start = time.perf_counter()
        with progress_bar(c.progress) as bar:
            task = bar.add_task("train", total=c.steps, completed=self.step_count)
            while self.step_count < c.steps:
                row = self.step()
                row["time/elapsed"] = time.perf_counter() - start
                self.metrics.log(row)
                bar.update(task, advance=1, description=f"reward {row['reward/mean']:.3f}")
                if c.save_every and self.step_count % c.save_every == 0:
                    self.save()
                if self._should_stop(time.perf_counter() - start):
                    break
        if not c.save_every or self.step_count % c.save_every:
            self.save()
        self.metrics.close()
        if c.plot and self.metrics.rows:
            plot_metrics(
                self.metrics.rows, self.out_dir / "metrics.png", title=f"{type(self).__name__} on {c.env}"
            )
        return list(self.metrics.rows)

    def _should_stop(self, elapsed: float) -> bool:
        c = self.config
        if c.time_limit_s is not None and elapsed >= c.time_limit_s:
            return True
        if c.target_reward is not None and self.metrics is not None:
            window = [r["reward/mean"] for r in self.metrics.rows[-c.target_window :]]
            return len(window) == c.target_window and sum(window) / len(window) >= c.target_reward
        return False

    def close(self) -> None:
        """Close the vector env (and stop the rollout worker)."""
        if self._async is not None:
            self._async.close()
            self._async = None
        self.envs.close()
