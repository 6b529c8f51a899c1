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

The knobs on top (`GRPOConfig`, each with its formula in `assay.agents.losses`,
`assay.agents.schedule` or `assay.agents.truncation`): the learning rate follows
``lr_scheduler`` after ``warmup_steps``/``warmup_ratio`` (logged as ``lr``); advantages are
scaled by the group's or the batch's reward std or not at all (``scale_rewards``); the ratio is
per token or, GSPO, per sequence (``importance_sampling_level``); ``dual_clip`` bounds the loss
of negative advantages; the KL to the reference uses ``kl_estimator`` (k1/k2/k3) and goes into
the loss or, ``kl_in="reward"``, is summed per episode and subtracted from its reward before the
advantages (the groups kept are still those with task-reward variance); the reference becomes a
copy of the policy every ``ref_update_every`` steps; the entropy of the policy at the action
tokens, from the training forward pass, is logged as ``entropy`` and ``entropy_coef`` subtracts
it from each token's loss; ``no_eos_penalty`` lowers the reward of completions cut at
``max_new_tokens``; with ``dynamic_sampling`` (DAPO), more batches are sampled until
``num_prompts`` groups with reward variance are in hand or ``max_resample_batches`` extra batches
were drawn (``rollouts/extra``; ``reward/mean`` and the other sample metrics stay those of the
first batch, an unbiased sample of the policy, and ``groups/kept`` is among the groups trained on). Top-k/top-p/min-p sampling (``top_k``, ``top_p``, ``min_p``) makes the
sampler's log-probs the truncated distribution's, so TIS is on for every batch while one is set.

Simplifications, stated: multi-turn episodes get one advantage for all their action tokens; the
KL logged as ``kl`` is the ``kl_estimator`` estimate against the reference over the first
micro-batch's action tokens (``log_kl``; it costs one no-grad forward of the reference); with
``kl_in="reward"`` the sampling-time policy's log-probs are computed twice (once for the KL
penalty, once as ``old`` for the kept rows).

Memory: every forward pass, with or without gradient, runs ``micro_batch_size`` sequences at a
time, and log-probs (and the logged entropy) are computed for action tokens only
(`assay.agents.policy.token_logprobs`: the LM head and a chunked selective log-softmax over the
selected positions, the entropy from the same chunks), so the peak grows with the micro-batch,
not the batch. The reference pass runs only when the KL is used or logged (``kl_coef > 0`` or
``log_kl``); under LoRA the reference is the policy with its adapters disabled (no copy, and
so no ``ref_update_every``).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from assay.agents.config import GRPOConfig
from assay.agents.losses import (
    clipped_surrogate,
    kl_estimate,
    masked_mean,
    overlong_penalty,
    scaled_advantages,
    sequence_clipped_surrogate,
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
        if c.no_eos_penalty > 0:
            r = r - c.no_eos_penalty * torch.tensor([float(e.overlong) for e in episodes])
        if c.overlong == "penalty":
            longest = torch.tensor([max(e.action_tokens, default=0) for e in episodes])
            r = r + overlong_penalty(
                longest, max_tokens=c.max_new_tokens, buffer=min(c.overlong_buffer, c.max_new_tokens)
            )
        return r

    def sequence_kl(self, episodes: list[Episode]) -> torch.Tensor:
        """``(N,)``: each episode's summed ``kl_estimator`` KL to the reference over its action
        tokens, under the sampling-time policy (no gradient, eval mode)."""
        batch = self._device_batch(episodes)
        args = (batch.input_ids, batch.attention_mask, batch.loss_mask)
        with self.inference(self.model):
            logp = self.micro_logprobs(self.model, *args)
            with self.reference(self.ref_model) as reference:
                ref = self.micro_logprobs(reference, *args)
        kl = kl_estimate(logp, ref, self.config.kl_estimator) * batch.loss_mask
        out: torch.Tensor = kl.sum(dim=1).float().cpu()
        return out

    def _device_batch(self, episodes: list[Episode]) -> Batch:
        cpu = to_batch(episodes, self.pad_id)
        parts = (cpu.input_ids, cpu.attention_mask, cpu.loss_mask, cpu.sampler_logprobs, cpu.rewards)
        return Batch(*(x.to(self.device) for x in parts))

    def sample_groups(self, seed: int) -> tuple[list[Episode], torch.Tensor, torch.Tensor, list[Episode]]:
        """The step's episodes, their rewards (`rewards`), which groups have reward variance, and
        every batch sampled (the first, then DAPO's extra ones, in order). Without ``dynamic_sampling`` this is
        one rollout. With it, further batches (seeded from the step's seed) are sampled while
        fewer than ``num_prompts`` groups with variance are in hand and fewer than
        ``max_resample_batches`` extra batches were drawn; then the first ``num_prompts`` groups
        with variance are kept, and (if there are not enough) the first batch's groups without
        it fill the rest, so the batch keeps its size."""
        c = self.config
        g = c.group_size
        episodes = self.rollout(seed)
        rewards = self.rewards(episodes)
        varied = rewards.view(-1, g).std(dim=1) > 0
        extra = 0
        if not c.dynamic_sampling:
            return episodes, rewards, varied, episodes
        pool_eps, pool_r, pool_v = [episodes], [rewards], [varied]
        while int(sum(int(v.sum()) for v in pool_v)) < c.num_prompts and extra < c.max_resample_batches:
            extra += 1
            more = self.rollout(step_seed(seed, extra))
            more_r = self.rewards(more)
            pool_eps.append(more)
            pool_r.append(more_r)
            pool_v.append(more_r.view(-1, g).std(dim=1) > 0)
        picked: list[tuple[int, int]] = [
            (b, k) for b, v in enumerate(pool_v) for k in torch.nonzero(v).flatten().tolist()
        ][: c.num_prompts]
        if len(picked) < c.num_prompts:  # the cap was hit: fill with the first batch's other groups
            rest = [(0, k) for k in torch.nonzero(~pool_v[0]).flatten().tolist()]
            picked += rest[: c.num_prompts - len(picked)]
        out_eps = [e for b, k in picked for e in pool_eps[b][k * g : (k + 1) * g]]
        out_r = torch.cat([pool_r[b][k * g : (k + 1) * g] for b, k in picked])
        out_v = torch.stack([pool_v[b][k] for b, k in picked])
        return out_eps, out_r, out_v, [e for batch in pool_eps for e in batch]

    def step(self) -> dict[str, float]:
        c = self.config
        lr = self.set_lr(self.optimizer)
        seed = step_seed(c.seed, self.step_count)
        t0 = time.perf_counter()
        episodes, rewards, varied, sampled = self.sample_groups(seed)
        t_rollout = time.perf_counter() - t0
        # the sample metrics describe the policy: the first batch, not the groups picked for
        # having variance (dynamic sampling would bias them towards 0.5)
        first = sampled[: c.num_prompts * c.group_size]
        raw = torch.tensor([e.reward for e in first], dtype=torch.float32)
        kl_reward = float("nan")
        if c.kl_in == "reward" and c.kl_coef > 0:
            seq_kl = self.sequence_kl(episodes)
            kl_reward = seq_kl.mean().item()
            rewards = rewards - c.kl_coef * seq_kl
        scale = c.scale_rewards or ("group" if c.scale_advantages else "none")
        adv = scaled_advantages(rewards, c.group_size, scale=scale)
        keep_group = varied if c.filter_groups else torch.ones_like(varied)
        keep = keep_group.repeat_interleave(c.group_size)
        if c.overlong == "filter":
            keep &= ~torch.tensor([e.overlong for e in episodes])
        rows = torch.nonzero(keep).flatten().tolist()

        metrics: dict[str, float] = {
            "step": self.step_count + 1,
            "reward/mean": raw.mean().item(),
            "reward/std": raw.std().item() if raw.numel() > 1 else 0.0,
            "correct": sum(e.status == "correct" for e in first) / len(first),
            "no_answer": sum(e.status == "no_answer" for e in first) / len(first),
            "tokens/mean": sum(e.num_action_tokens for e in first) / len(first),
            "overlong": sum(e.overlong for e in first) / len(first),
            "groups/kept": keep_group.float().mean().item(),
            "time/rollout": t_rollout,
            "lr": lr,
            "rollouts/extra": float(len(sampled) // len(first) - 1),
            "kl/reward": kl_reward,
            **self.signal(bool(varied.any())),
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
            batch = self._device_batch(episodes)
            args = (batch.input_ids, batch.attention_mask, batch.loss_mask)
            with self.inference(self.model):
                logp = self.micro_logprobs(self.model, *args)
                with self.reference(self.ref_model) as reference:
                    ref = self.micro_logprobs(reference, *args)
            kl = masked_mean(kl_estimate(logp, ref, self.config.kl_estimator), batch.loss_mask).item()
        return {
            "skipped": 1.0,
            "loss": 0.0,
            "kl": kl,
            "grad_norm": 0.0,
            "clip_frac": 0.0,
            "logprob_gap": float("nan"),
            "tis": 0.0,
            "entropy": float("nan"),
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
        # async: stale by construction; top-k/p, min-p: the sampler's distribution is truncated
        use_tis = gap > c.tis_threshold or c.async_rollouts or self.truncation.active
        tis = truncated_is_weights(old_all, sampler_lp, cap=c.tis_cap) if use_tis else None
        kl_in_loss = c.kl_coef > 0 and c.kl_in == "loss"

        losses, clip_fracs, norms, kls, ents = [], [], [], [], []
        for mb in self.minibatches(len(episodes), seed):
            if not bool((adv[mb] != 0).any()):
                continue  # nothing to learn from this minibatch: no optimizer step
            weights = token_weights(mask[mb], c.loss_agg, max_tokens=c.max_new_tokens)
            total = 0.0
            for sl in self.micro_slices(len(mb)):
                rows = mb[sl]
                with self.autocast():
                    logp, ent = self.logprobs_entropy(
                        self.model, input_ids[rows], attn[rows], mask[rows], grad_entropy=c.entropy_coef > 0
                    )
                if c.importance_sampling_level == "sequence":
                    per_tok, clipped = sequence_clipped_surrogate(
                        logp, old_all[rows], adv[rows], mask[rows], eps_low=c.eps_low, eps_high=c.eps_high
                    )
                else:
                    per_tok, clipped = clipped_surrogate(
                        logp, old_all[rows], adv[rows], eps_low=c.eps_low, eps_high=c.eps_high,
                        dual_clip=c.dual_clip,
                    )  # fmt: skip
                if tis is not None:
                    per_tok = per_tok * tis[rows]
                ents.append(masked_mean(ent.detach(), mask[rows]).item())
                if c.entropy_coef > 0:
                    per_tok = per_tok - c.entropy_coef * ent
                if ref is not None:
                    kl_tok = kl_estimate(logp, ref[rows], c.kl_estimator)
                    kls.append(masked_mean(kl_tok.detach(), mask[rows]).item())
                    if kl_in_loss:
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
            "entropy": sum(ents) / len(ents) if ents else float("nan"),
        }
