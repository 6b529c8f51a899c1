"""GRPO: group-relative policy optimisation (Shao et al. 2024), with DAPO and Dr. GRPO options.

One step:

1. Sample ``num_prompts`` tasks, ``group_size`` completions each (`collect_episodes`).
2. Rewards come from the env's verifier and rubric; optionally DAPO's soft overlong penalty.
3. Advantages are the rewards centred (and, unless Dr. GRPO, std-scaled) within each group,
   one value per sequence, broadcast over its tokens.
4. Groups with all-equal rewards carry no signal and are dropped whole (``filter_groups``);
   a kept group keeps all its rows, zero-advantage ones included, so the loss denominators
   (Dr. GRPO's constant among them) do not change. A batch with no advantage left skips the
   optimizer step entirely: a zero gradient would still move the weights through AdamW's
   momentum and weight decay. A step where no group has reward variance is logged as
   ``no_signal`` and said on stderr; ``max_no_signal_steps`` of them in a row stop the run.
5. The policy's log-probs at sampling time (``old``) are recomputed by the trainer before the
   update, without gradient and in eval mode (no dropout); where the sampler's own log-probs
   differ from them by more than ``tis_threshold`` nats/token on average over the batch (vLLM,
   bf16), every token's loss in the batch is weighted by the truncated importance ratio
   ``min(pi_old / pi_sampler, cap)``. The gap is logged as ``logprob_gap``.
6. ``num_epochs`` passes over ``num_minibatches`` minibatches; each minibatch is one optimizer
   step over ``micro_batch_size`` chunks (gradient accumulation), with the clipped surrogate
   (``eps_low``/``eps_high``), an optional k3 KL to the initial policy, ``loss_agg``
   normalisation, and gradient-norm clipping.

Simplifications, stated: no dynamic re-sampling to refill a filtered batch (DAPO does; here the
batch just shrinks); the reference model is the initial policy, never refreshed; multi-turn
episodes get one advantage for all their action tokens; the KL logged as ``kl`` is the k3
estimate against the initial policy over the first minibatch's action tokens (with ``log_kl``
or ``kl_coef > 0``; it costs one no-grad forward of the reference: a frozen copy, or under LoRA
the policy with its adapters disabled).

Memory: every forward pass, with or without gradient, runs ``micro_batch_size`` sequences at a
time, and log-probs are computed for action tokens only (`assay.agents.policy.token_logprobs`:
the LM head and a chunked selective log-softmax over the selected positions), so the peak
grows with the micro-batch, not the batch.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from assay.agents.config import GRPOConfig
from assay.agents.losses import (
    approx_kl_k3,
    clipped_surrogate,
    group_advantages,
    masked_mean,
    overlong_penalty,
    token_weights,
    truncated_is_weights,
)
from assay.agents.rl_trainer import RLTrainer
from assay.agents.rollout import Batch, Episode, step_seed, to_batch
from assay.verifiers.sampler import Sampler

__all__ = ["GRPO"]


class GRPO(RLTrainer):
    """The GRPO trainer. ``GRPO(config).train()`` runs it; `step` does one step.

    Args:
        config: A `GRPOConfig`.
        model, tokenizer: Use these instead of loading ``config.model``.
        sampler: Use this instead of building one from ``config.sampler``.
    """

    config: GRPOConfig

    def __init__(
        self, config: GRPOConfig, *, model: Any = None, tokenizer: Any = None, sampler: Sampler | None = None
    ) -> None:
        self.group_size = config.group_size
        super().__init__(config, model=model, tokenizer=tokenizer, sampler=sampler)
        self.use_ref = config.kl_coef > 0 or config.log_kl
        """Whether the reference pass runs (KL in the loss or logged); under LoRA the reference
        is the policy with its adapters disabled, so no copy is made."""
        self.ref_model = self.frozen_copy() if self.use_ref and self.lora_r == 0 else None
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = self.adamw(self.params)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.optimizer.load_state_dict(state["optimizer"])

    def rewards(self, episodes: list[Episode]) -> torch.Tensor:
        """The per-episode rewards the advantages use (with the overlong penalty if enabled)."""
        r = torch.tensor([e.reward for e in episodes], dtype=torch.float32)
        c = self.config
        if c.overlong == "penalty":
            longest = torch.tensor([max(e.action_tokens, default=0) for e in episodes])
            r = r + overlong_penalty(
                longest, max_tokens=c.max_new_tokens, buffer=min(c.overlong_buffer, c.max_new_tokens)
            )
        return r

    def step(self) -> dict[str, float]:
        c = self.config
        seed = step_seed(c.seed, self.step_count)
        t0 = time.perf_counter()
        episodes = self.rollout(seed)
        t_rollout = time.perf_counter() - t0

        raw = torch.tensor([e.reward for e in episodes], dtype=torch.float32)
        rewards = self.rewards(episodes)
        adv = group_advantages(rewards, c.group_size, scale=c.scale_advantages)
        group_std = rewards.view(-1, c.group_size).std(dim=1)
        keep_group = group_std > 0 if c.filter_groups else torch.ones_like(group_std, dtype=torch.bool)
        keep = keep_group.repeat_interleave(c.group_size)
        if c.overlong == "filter":
            keep &= ~torch.tensor([e.overlong for e in episodes])
        rows = torch.nonzero(keep).flatten().tolist()

        metrics: dict[str, float] = {
            "step": self.step_count + 1,
            "reward/mean": raw.mean().item(),
            "reward/std": raw.std().item() if raw.numel() > 1 else 0.0,
            "correct": sum(e.status == "correct" for e in episodes) / len(episodes),
            "no_answer": sum(e.status == "no_answer" for e in episodes) / len(episodes),
            "tokens/mean": sum(e.num_action_tokens for e in episodes) / len(episodes),
            "overlong": sum(e.overlong for e in episodes) / len(episodes),
            "groups/kept": keep_group.float().mean().item(),
            "time/rollout": t_rollout,
            **self.signal(bool((group_std > 0).any())),
        }
        t1 = time.perf_counter()
        if not rows or bool((adv[rows] == 0).all()):
            metrics.update(self._no_update(episodes))
        else:
            metrics.update(self._update([episodes[i] for i in rows], adv[rows], seed))
            self.after_update()
        metrics["time/train"] = time.perf_counter() - t1
        metrics["time/step"] = time.perf_counter() - t0
        self.after_step()
        return metrics

    def _no_update(self, episodes: list[Episode]) -> dict[str, float]:
        """Metrics of a skipped step (every advantage zero: the weights must not move)."""
        kl = float("nan")
        if self.use_ref:
            cpu = to_batch(episodes, self.pad_id)
            parts = (cpu.input_ids, cpu.attention_mask, cpu.loss_mask, cpu.sampler_logprobs, cpu.rewards)
            batch = Batch(*(x.to(self.device) for x in parts))
            args = (batch.input_ids, batch.attention_mask, batch.loss_mask)
            with self.inference(self.model):
                logp = self.micro_logprobs(self.model, *args)
                with self.reference(self.ref_model) as reference:
                    ref = self.micro_logprobs(reference, *args)
            kl = masked_mean(approx_kl_k3(logp, ref), batch.loss_mask).item()
        return {
            "skipped": 1.0,
            "loss": 0.0,
            "kl": kl,
            "grad_norm": 0.0,
            "clip_frac": 0.0,
            "logprob_gap": float("nan"),
            "tis": 0.0,
        }

    def _update(self, episodes: list[Episode], adv: torch.Tensor, seed: int) -> dict[str, float]:
        c = self.config
        batch = to_batch(episodes, self.pad_id)
        dev = self.device
        input_ids, attn = batch.input_ids.to(dev), batch.attention_mask.to(dev)
        mask, sampler_lp, adv = batch.loss_mask.to(dev), batch.sampler_logprobs.to(dev), adv.to(dev)
        # ``old`` up front, for the whole batch (a micro-batch at a time): TIS is decided once per
        # batch (never per chunk), and dropout must not make the sampling-time policy look
        # different from itself.
        with self.inference(self.model):
            old_all = self.micro_logprobs(self.model, input_ids, attn, mask)
            ref = None
            if self.use_ref:
                with self.reference(self.ref_model) as reference:
                    ref = self.micro_logprobs(reference, input_ids, attn, mask)
        gap = masked_mean((old_all - sampler_lp).abs(), mask).item()
        use_tis = gap > c.tis_threshold or c.async_rollouts  # async: stale by construction
        tis = truncated_is_weights(old_all, sampler_lp, cap=c.tis_cap) if use_tis else None

        losses, clip_fracs, norms, kls = [], [], [], []
        for mb in self.minibatches(len(episodes), seed):
            if not bool((adv[mb] != 0).any()):
                continue  # nothing to learn from this minibatch: no optimizer step
            weights = token_weights(mask[mb], c.loss_agg, max_tokens=c.max_new_tokens)
            total = 0.0
            for sl in self.micro_slices(len(mb)):
                rows = mb[sl]
                with self.autocast():
                    logp = self.logprobs(self.model, input_ids[rows], attn[rows], mask[rows])
                per_tok, clipped = clipped_surrogate(
                    logp, old_all[rows], adv[rows], eps_low=c.eps_low, eps_high=c.eps_high
                )
                if tis is not None:
                    per_tok = per_tok * tis[rows]
                if ref is not None:
                    kl_tok = approx_kl_k3(logp, ref[rows])
                    kls.append(masked_mean(kl_tok.detach(), mask[rows]).item())
                    if c.kl_coef > 0:
                        per_tok = per_tok + c.kl_coef * kl_tok
                loss = (weights[sl] * per_tok).sum()
                loss.backward()  # type: ignore[no-untyped-call]
                total += loss.item()
                clip_fracs.append(masked_mean(clipped, mask[rows]).item())
            norms.append(self.optimizer_step(self.optimizer, self.params))
            losses.append(total)
        return {
            "skipped": 0.0 if losses else 1.0,
            "loss": sum(losses) / len(losses) if losses else 0.0,
            "kl": kls[0] if kls else float("nan"),
            "grad_norm": sum(norms) / len(norms) if norms else 0.0,
            "clip_frac": sum(clip_fracs) / len(clip_fracs) if clip_fracs else 0.0,
            "logprob_gap": gap,
            "tis": float(use_tis),
        }
