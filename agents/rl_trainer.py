"""What GRPO and PPO add to the `Trainer` base: the sampler, the vector envs, rollouts
(synchronous or async), minibatches, and the RL run loop.

A subclass sets `RLTrainer.group_size` and implements `RLTrainer.step` (one rollout batch, one or
more optimizer steps, a dict of metrics). Everything random is derived from
``(config.seed, step)``, so a run resumed from a checkpoint samples the same tasks and
completions as the uninterrupted run and, on CPU, reproduces its metrics exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from assay.agents.async_rollout import AsyncRollouts
from assay.agents.config import RunConfig
from assay.agents.metrics import plot_metrics
from assay.agents.policy import token_logprobs
from assay.agents.rollout import Episode, collect_episodes
from assay.agents.sampler import HFSampler, VLLMSampler
from assay.agents.schedule import lr_factor, warmup_steps
from assay.agents.trainer import Trainer
from assay.agents.truncation import Truncation
from assay.envs.vector import make_vec
from assay.registry import group_seeds
from assay.verifiers.sampler import Sampler

__all__ = ["Evaluation", "RLTrainer", "disable_dropout", "vllm_settings"]


@dataclass(frozen=True)
class Evaluation:
    """A greedy evaluation (`RLTrainer.evaluate`): the share of episodes judged correct and
    the mean episode reward."""

    accuracy: float
    mean_reward: float


def disable_dropout(model: Any) -> int:
    """Set the probability of every dropout module of ``model`` (and the attention dropout its
    config declares) to 0; returns how many modules had a positive one."""
    changed = 0
    for m in model.modules():
        if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0:
            m.p = 0.0
            changed += 1
        p = getattr(m, "attention_dropout", None)  # attention modules copy it from the config
        if isinstance(p, float) and p > 0:
            m.attention_dropout = 0.0
            changed += 1
    for cfg in (getattr(model, "config", None), getattr(getattr(model, "base_model", None), "config", None)):
        if cfg is not None and float(getattr(cfg, "attention_dropout", 0.0) or 0.0) > 0:
            cfg.attention_dropout = 0.0
    return changed


class RLTrainer(Trainer):
    """Base of `GRPO` and `PPO`. Subclasses set `group_size` and implement `step`.

    Args:
        config: The run's settings.
        model, tokenizer: Use these instead of loading ``config.model``.
        sampler: Use this instead of building one from ``config.sampler``.
    """

    config: RunConfig
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
        torch.manual_seed(config.seed)  # LoRA / value-head initialisation
        super().__init__(
            config, model=model, tokenizer=tokenizer, lora_r=config.lora_r, lora_alpha=config.lora_alpha
        )
        if config.disable_dropout:
            disable_dropout(self.model)
        self.truncation = Truncation(top_k=config.top_k, top_p=config.top_p, min_p=config.min_p)
        self.evaluation: dict[str, Any] = {}
        """The end-of-run evaluation row (`final_evaluation`) of the last `train`."""
        self.baseline: tuple[float, float] | None = None
        """The untrained policy's greedy ``(accuracy, mean reward)`` (`evaluate`), taken before
        the first step; kept in checkpoints, so a resumed run reports it too."""
        self.sampler: Sampler = sampler if sampler is not None else self._build_sampler()
        self.envs = make_vec(
            config.env,
            num_envs=config.num_prompts * self.group_size,
            vectorization_mode=config.vectorization,
            **dict(config.env_kwargs),
        )
        self._async: AsyncRollouts | None = None
        if config.async_rollouts and sampler is not None:
            raise ValueError("async_rollouts builds its own sampler in the worker: do not pass one")

    def _build_sampler(self) -> Sampler:
        c = self.config
        t = Truncation(top_k=c.top_k, top_p=c.top_p, min_p=c.min_p)
        if c.sampler == "hf":  # samples under the training dtype, as the trainer computes
            return HFSampler(
                self.model, self.tokenizer, dtype=self.dtype, top_k=t.top_k, top_p=t.top_p, min_p=t.min_p
            )
        if c.lora_r > 0:
            raise ValueError("sampler='vllm' with LoRA is not supported yet: use lora_r=0 or sampler='hf'")
        return VLLMSampler(
            c.model, top_k=t.top_k, top_p=t.top_p, min_p=t.min_p, **vllm_settings(c, self.dtype, self.device)
        )

    # -- one step's pieces --------------------------------------------------------------

    def rollout(self, seed: int) -> list[Episode]:
        """Sample ``num_prompts`` groups of ``group_size`` episodes with the current policy
        (with ``async_rollouts``: the worker's batch for this step, one update stale)."""
        c = self.config
        limits: dict[str, Any] = dict(
            max_new_tokens=c.max_new_tokens, temperature=c.temperature, max_turns=c.max_turns,
            max_context_tokens=c.max_context_tokens, chat=self.chat,
        )  # fmt: skip
        if c.async_rollouts:
            if self._async is None:
                self._async = AsyncRollouts(
                    self.model, self.tokenizer, env_id=c.env, env_kwargs=dict(c.env_kwargs),
                    num_prompts=c.num_prompts, group_size=self.group_size, seed=c.seed, start=self.step_count,
                    previous=self._previous, num_threads=c.num_threads, local_envs=self.envs,
                    handover=c.async_handover, dtype=self.dtype, top_k=c.top_k, top_p=c.top_p, min_p=c.min_p,
                    **limits,
                )  # fmt: skip
            return self._async.get()
        if isinstance(self.sampler, VLLMSampler):
            self.sampler.wake_up()  # asleep after a step with no update
        episodes = collect_episodes(
            self.envs,
            self.sampler,
            self.tokenizer,
            seeds=group_seeds(seed, c.num_prompts, self.group_size),
            group_size=self.group_size,
            seed=seed,
            **limits,
        )
        self.after_rollout()
        return episodes

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

    def set_lr(self, optimizer: torch.optim.Optimizer) -> float:
        """Set ``optimizer``'s learning rate for the coming step from the schedule
        (`assay.agents.schedule.lr_factor` of ``step_count``, over ``config.steps``); returns it."""
        c = self.config
        warm = warmup_steps(c.steps, steps=c.warmup_steps, ratio=c.warmup_ratio)
        lr = c.lr * lr_factor(
            self.step_count, c.steps, kind=c.lr_scheduler, warmup=warm, min_ratio=c.min_lr_ratio
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def refresh_reference(self) -> bool:
        """Every ``ref_update_every`` steps (counted after the step), copy the policy's weights
        into the reference model; True when it did."""
        every = self.config.ref_update_every
        ref = getattr(self, "ref_model", None)
        if ref is None or not every or self.step_count % every:
            return False
        ref.load_state_dict(self.model.state_dict())
        return True

    def evaluate(self) -> Evaluation:
        """Greedy evaluation of the current policy on ``eval_tasks`` tasks of the training env
        drawn with ``eval_seed`` (played as in training, single- or multi-turn, sampled with
        `HFSampler` on the policy itself whatever ``config.sampler``). The same tasks each time.

        (Not through `assay.agents.spot_check`: importing that module from here would shadow
        the package's lazily exported ``spot_check`` function with the module.)"""
        c = self.config
        seeds = [int(s) for s in np.random.SeedSequence([c.eval_seed, 0xE7A1]).generate_state(c.eval_tasks)]
        envs = make_vec(c.env, num_envs=c.eval_tasks, vectorization_mode="sync", **dict(c.env_kwargs))
        try:
            episodes = collect_episodes(
                envs, HFSampler(self.model, self.tokenizer, dtype=self.dtype), self.tokenizer, seeds=seeds,
                max_new_tokens=c.max_new_tokens, temperature=0.0, seed=c.eval_seed, max_turns=c.max_turns,
            )  # fmt: skip
        finally:
            envs.close()
        n = max(len(episodes), 1)
        return Evaluation(
            accuracy=sum(e.status == "correct" for e in episodes) / n,
            mean_reward=sum(e.reward for e in episodes) / n,
        )

    def logprobs(
        self, model: Any, input_ids: torch.Tensor, attn: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """``(n, T-1)`` float32 log-probs of ``model`` at the action tokens (``mask``), 0.0
        elsewhere; the rows (right-padded) are cut to the longest one before the forward."""
        return self._score(model, input_ids, attn, mask, None)[0]

    def logprobs_entropy(
        self,
        model: Any,
        input_ids: torch.Tensor,
        attn: torch.Tensor,
        mask: torch.Tensor,
        *,
        grad_entropy: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`logprobs` and the ``(n, T-1)`` entropy of the sampled (temperature-scaled)
        distribution at the same action tokens, 0.0 elsewhere, from the same forward and the
        same chunked head pass (`assay.agents.policy.token_logprobs` with ``entropy``); the
        entropy has a gradient only with ``grad_entropy``."""
        logp, ent = self._score(model, input_ids, attn, mask, grad_entropy)
        assert ent is not None
        return logp, ent

    def _score(
        self,
        model: Any,
        input_ids: torch.Tensor,
        attn: torch.Tensor,
        mask: torch.Tensor,
        grad_entropy: bool | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logp, entropy or None)`` on the rows cut to their longest one, padded back."""
        width = int(attn.any(dim=0).nonzero().max()) + 1 if bool(attn.any()) else 1
        width = max(width, 2)
        out = token_logprobs(
            model,
            input_ids[:, :width],
            attn[:, :width],
            temperature=self.config.temperature,
            positions=mask[:, : width - 1],
            entropy=grad_entropy is not None,
            grad_entropy=bool(grad_entropy),
        )
        logp, ent = (out, None) if grad_entropy is None else out
        pad = (0, input_ids.shape[1] - width)
        return (
            torch.nn.functional.pad(logp, pad),
            torch.nn.functional.pad(ent, pad) if ent is not None else None,
        )

    def micro_logprobs(
        self, model: Any, input_ids: torch.Tensor, attn: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """`logprobs` of the whole batch, ``micro_batch_size`` rows at a time (for no-grad passes:
        the old policy's and the reference's)."""
        return torch.cat(
            [
                self.logprobs(model, input_ids[sl], attn[sl], mask[sl])
                for sl in self.micro_slices(len(input_ids))
            ]
        )

    def after_rollout(self) -> None:
        """With ``vllm_sleep``: put the engine to sleep while the trainer trains."""
        if self.config.vllm_sleep and isinstance(self.sampler, VLLMSampler):
            self.sampler.sleep()

    def after_update(self) -> None:
        """Push the new weights to a sampler that keeps its own copy (vLLM), waking it first."""
        if isinstance(self.sampler, VLLMSampler):
            self.sampler.wake_up()
            self.sampler.sync_weights(self.model)

    def after_step(self) -> None:
        """Count the step; with async rollouts, publish its weights to the worker (always, even
        after a skipped update: batch ``k + 2`` waits for the weights of step ``k``)."""
        self.step_count += 1
        self.refresh_reference()
        if self._async is not None:
            self._async.publish(self.model, self.step_count)

    # -- the loop -----------------------------------------------------------------------

    def step(self) -> dict[str, Any]:
        """One rollout batch and its optimizer steps; returns the step's metrics."""
        raise NotImplementedError

    _previous: dict[str, Any] | None = None
    """Async rollouts, after a resume: the weights the first batch was sampled with."""

    def state_dict(self) -> dict[str, Any]:
        """Everything to resume from, besides the RNGs and step (subclasses add to it)."""
        state = super().state_dict()
        if self.baseline is not None:
            state["eval_baseline"] = list(self.baseline)
        if self._async is not None and self.step_count > 0:  # the next batch's (stale) weights
            state["async_previous"] = self._async.previous_weights(self.step_count - 1)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of `state_dict`."""
        super().load_state_dict(state)
        self._previous = state.get("async_previous")
        if state.get("eval_baseline") is not None:
            acc, reward = state["eval_baseline"]
            self.baseline = (float(acc), float(reward))

    def progress_text(self, row: dict[str, Any]) -> str:
        return f"reward {row['reward/mean']:.3f}"

    def signal(self, has_signal: bool) -> dict[str, float]:
        """The step's ``no_signal`` metric (1.0: no reward variance, nothing to learn); such a
        step is also said on stderr."""
        if not has_signal:
            self.say(
                f"step {self.step_count + 1}: no reward variance "
                f"({'in any group' if self.group_size > 1 else 'in the batch'}): nothing to learn"
            )
        return {"no_signal": 0.0 if has_signal else 1.0}

    def should_stop(self, elapsed: float) -> str:
        """Why to stop early, or "": ``max_no_signal_steps`` steps in a row without reward
        variance (not counting steps at or above ``target_reward``: every task solved is not a
        dead run), ``time_limit_s`` passed, or the mean reward of the last ``target_window``
        steps reached ``target_reward``."""
        c = self.config
        rows = self.metrics.rows if self.metrics is not None else []
        quiet = rows[-c.max_no_signal_steps :] if c.max_no_signal_steps else []
        solved = c.target_reward is not None and any(r["reward/mean"] >= c.target_reward for r in quiet)
        if (  # no variance because every task is solved is success, not a dead run
            quiet
            and len(quiet) == c.max_no_signal_steps
            and all(r.get("no_signal") == 1.0 for r in quiet)
            and not solved
        ):
            return (
                f"no signal: {c.max_no_signal_steps} steps in a row where every completion "
                f"{'of a task ' if self.group_size > 1 else ''}got the same reward. Try an "
                "easier task or env level, a larger group_size or temperature, a reward with "
                "partial credit, or a model that solves some tasks already "
                "(max_no_signal_steps=0 turns this stop off)"
            )
        if c.time_limit_s is not None and elapsed >= c.time_limit_s:
            return f"time limit: {elapsed:.0f} s >= time_limit_s={c.time_limit_s:g}"
        if c.target_reward is not None and rows:
            window = [r["reward/mean"] for r in rows[-c.target_window :]]
            mean = sum(window) / len(window)
            if len(window) == c.target_window and mean >= c.target_reward:
                return (
                    f"target reached: mean reward {mean:.3f} over the last {c.target_window} "
                    f"steps >= target_reward={c.target_reward:g}"
                )
        return ""

    def train(self, *, resume: bool = False) -> list[dict[str, Any]]:
        """Run until ``config.steps`` (or the time limit / target reward); log to
        ``out_dir/metrics.jsonl``; checkpoint; plot.

        Returns the metrics rows of the whole run's steps (those before a resume included).
        With ``eval_tasks``, the untrained policy is evaluated greedily before the first step
        and the trained one after the last (`final_evaluation`); that end-of-run row is the last
        line of ``metrics.jsonl`` and `evaluation`, not one of the returned step rows.
        """
        c = self.config
        if c.eval_tasks and not resume and self.step_count == 0 and self.baseline is None:
            first = self.evaluate()
            self.baseline = (first.accuracy, first.mean_reward)
            self.say(
                f"{self.name} untrained greedy eval: accuracy {first.accuracy:.3f} on {c.eval_tasks} tasks"
            )
        log = self.run_steps(c.steps, resume=resume)
        if not c.save_every or self.step_count % c.save_every:
            self.save()
        if c.eval_tasks:
            self.evaluation = self.final_evaluation()
            log.log(self.evaluation)
        log.close()
        rows = [r for r in log.rows if "stop_reason" not in r]
        if c.plot and rows:
            plot_metrics(rows, self.out_dir / "metrics.png", title=f"{type(self).__name__} on {c.env}")
        return rows

    def final_evaluation(self) -> dict[str, Any]:
        """Evaluate the trained policy beside the baseline (from the checkpoint when the run was
        resumed; NaN when no checkpoint had one), say both on stderr and return the metrics
        row: ``eval/baseline`` and ``eval/final`` (accuracy), ``eval/*_reward``, the task count
        and ``stop_reason``."""
        final = self.evaluate()
        base = self.baseline or (float("nan"), float("nan"))
        row: dict[str, Any] = {
            "step": self.step_count,
            "eval/tasks": self.config.eval_tasks,
            "eval/final": final.accuracy,
            "eval/final_reward": final.mean_reward,
            "eval/baseline": base[0],
            "eval/baseline_reward": base[1],
            "stop_reason": self.stop_reason,
        }
        before = f"{base[0]:.3f}" if self.baseline is not None else "n/a (not measured)"
        self.say(
            f"{self.name} greedy eval on {self.config.eval_tasks} tasks (eval_seed={self.config.eval_seed}): "
            f"untrained {before} -> trained {final.accuracy:.3f} (mean reward "
            f"{row['eval/baseline_reward']:.3f} -> {final.mean_reward:.3f})"
        )
        return row

    def close(self) -> None:
        """Close the vector env (and stop the rollout worker)."""
        if self._async is not None:
            self._async.close()
            self._async = None
        self.envs.close()


def vllm_settings(config: RunConfig, dtype: torch.dtype, device: torch.device) -> dict[str, Any]:
    """`VLLMSampler` keyword arguments from ``config``'s ``vllm_*`` settings: on CPU a KV cache of
    ``vllm_kv_cache_bytes`` (256 MiB when None) and eager mode; on CUDA the memory fraction
    (unless KV bytes are given) and CUDA graphs unless ``vllm_enforce_eager``."""
    c = config
    cpu = device.type == "cpu"
    if c.vllm_dtype == "auto":
        vllm_dtype = "bfloat16" if dtype == torch.bfloat16 else "float32"
    else:
        vllm_dtype = c.vllm_dtype
    out: dict[str, Any] = {
        "dtype": vllm_dtype,
        "max_model_len": c.vllm_max_model_len,
        "enforce_eager": cpu if c.vllm_enforce_eager is None else c.vllm_enforce_eager,
        "kv_cache_memory_bytes": c.vllm_kv_cache_bytes,
    }
    if c.vllm_kv_cache_bytes is None:
        if cpu:
            out["kv_cache_memory_bytes"] = 256 * 2**20
        else:
            out["gpu_memory_utilization"] = c.vllm_gpu_memory_utilization
    if c.vllm_tensor_parallel_size != 1:
        out["tensor_parallel_size"] = c.vllm_tensor_parallel_size
    if c.vllm_sleep:
        out["enable_sleep_mode"] = True
    return out
