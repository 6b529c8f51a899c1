"""PPO for language models: a value function, GAE, a per-token KL penalty, clipped losses.

One step:

1. Sample one episode for each of ``num_prompts`` tasks (`collect_episodes`).
2. With the sampling-time policy (no gradient, eval mode: no dropout): per-token log-probs,
   values and (if ``kl_coef > 0``) the reference model's log-probs. Per-token reward ``r_t = -kl_coef * (log pi - log pi_ref)_t``,
   plus the episode's reward on its last action token (less ``no_eos_penalty`` if an action hit
   ``max_new_tokens`` without EOS).
3. GAE over the action tokens (observation tokens are skipped, not steps) gives advantages and
   returns; advantages are whitened over the batch (``whiten_advantages``).
4. ``num_epochs`` passes over ``num_minibatches`` minibatches: the clipped surrogate (mean over
   the minibatch's action tokens) plus ``vf_coef`` times the clipped value loss, minus
   ``entropy_coef`` times each action token's entropy (logged as ``entropy`` either way, from
   the same forward pass); gradient accumulation over ``micro_batch_size`` chunks, gradient-norm
   clipping.

The value function is a linear head on the policy's last hidden state (``critic="head"``,
shared trunk) or on a separate copy of the initial model's trunk (``critic="separate"``; with
LoRA the copy trains its own adapter only). A step where every episode got the same reward is
logged as ``no_signal`` and said on stderr; ``max_no_signal_steps`` of them in a row stop the run.

Simplifications, stated: a multi-turn episode's reward is all credited to its last action token
(intermediate turn rewards are summed into it); the reference model is the initial policy; the
sampler's log-probs are trusted as the old policy's only through the recomputation (as GRPO, with
truncated importance sampling when they differ).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import torch
import torch.nn.functional as F

from assay.agents.config import PPOConfig
from assay.agents.losses import (
    approx_kl_k3,
    clipped_surrogate,
    clipped_value_loss,
    gae,
    kl_estimate,
    masked_mean,
    token_weights,
    truncated_is_weights,
    whiten,
)
from assay.agents.policy import ValueModel, position_ids, token_logprobs
from assay.agents.rl_trainer import RLTrainer
from assay.agents.rollout import Batch, step_seed, to_batch
from assay.verifiers.sampler import Sampler

__all__ = ["PPO"]


class PPO(RLTrainer):
    """The PPO trainer. ``PPO(config).train()`` runs it; `step` does one step."""

    config: PPOConfig
    group_size = 1

    def __init__(
        self, config: PPOConfig, *, model: Any = None, tokenizer: Any = None, sampler: Sampler | None = None
    ) -> None:
        if config.async_rollouts:
            raise ValueError(
                "async_rollouts is GRPO-only for now (PPO's values and GAE assume on-policy data)"
            )
        super().__init__(config, model=model, tokenizer=tokenizer, sampler=sampler)
        hidden = int(self.model.config.hidden_size)
        self.value_head = ValueModel(hidden).to(self.device)
        self.critic = None
        if config.critic == "separate":
            # The trunk of the causal LM (a peft wrapper's ``base_model`` is the whole LM): with
            # LoRA the copy keeps its own adapter, which is all of it that trains.
            lm = self.model.get_base_model() if self.lora_r > 0 else self.model
            self.critic = copy.deepcopy(lm.base_model)
            self.critic.train()
        self.use_ref = config.kl_coef > 0 or config.log_kl
        """Whether the reference pass runs; under LoRA the reference is the policy with its
        adapters disabled (no copy)."""
        self.ref_model = self.frozen_copy() if self.use_ref and self.lora_r == 0 else None
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.params += list(self.value_head.parameters())
        if self.critic is not None:
            self.params += [p for p in self.critic.parameters() if p.requires_grad]
        self.optimizer = self.adamw(self.params)

    def state_dict(self) -> dict[str, Any]:
        state = {
            **super().state_dict(),
            "value_head": self.value_head.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }
        if self.critic is not None:
            state["critic"] = self.critic.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.value_head.load_state_dict(state["value_head"])
        if self.critic is not None:
            self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])

    def _forward(
        self, input_ids: torch.Tensor, attn: torch.Tensor, mask: torch.Tensor, *, grad_entropy: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probs ``(N, T-1)`` at the action tokens (0 elsewhere), values ``(N, T-1)`` and the
        entropy at the action tokens (with a gradient only with ``grad_entropy``); the rows
        (right-padded) are cut to the longest one first."""
        full = input_ids.shape[1]
        width = max(int(attn.any(dim=0).nonzero().max()) + 1 if bool(attn.any()) else 1, 2)
        input_ids, attn = input_ids[:, :width], attn[:, :width]
        with self.autocast():
            logp, ent, hidden = token_logprobs(
                self.model,
                input_ids,
                attn,
                temperature=self.config.temperature,
                return_hidden=True,
                positions=mask[:, : width - 1],
                entropy=True,
                grad_entropy=grad_entropy,
            )
            if self.critic is not None:
                hidden = self.critic(
                    input_ids=input_ids, attention_mask=attn, position_ids=position_ids(attn)
                ).last_hidden_state
            values = self.value_head(hidden)
        pad = (0, full - width)
        return F.pad(logp.float(), pad), F.pad(values.float(), pad), F.pad(ent.float(), pad)

    def token_rewards(self, batch: Batch, logp: torch.Tensor, ref: torch.Tensor | None) -> torch.Tensor:
        """``(N, T-1)``: the KL penalty on every action token plus the episode reward on the last."""
        c = self.config
        mask = batch.loss_mask
        r = torch.zeros_like(logp)
        if ref is not None and c.kl_coef > 0:
            r = -c.kl_coef * kl_estimate(logp, ref, c.kl_estimator) * mask
        positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = torch.where(mask > 0, positions, torch.full_like(positions, -1)).max(dim=1).values
        has = last >= 0
        r[has, last[has]] += batch.rewards[has].to(r.dtype)
        return r

    def episode_rewards(self, episodes: list[Any], rewards: torch.Tensor) -> torch.Tensor:
        """The episodes' rewards less ``no_eos_penalty`` for those with an overlong action."""
        c = self.config
        if c.no_eos_penalty <= 0:
            return rewards
        overlong = torch.tensor([float(e.overlong) for e in episodes], dtype=rewards.dtype)
        return rewards - c.no_eos_penalty * overlong.to(rewards.device)

    def step(self) -> dict[str, float]:
        c = self.config
        lr = self.set_lr(self.optimizer)
        seed = step_seed(c.seed, self.step_count)
        t0 = time.perf_counter()
        episodes = self.rollout(seed)
        t_rollout = time.perf_counter() - t0
        t1 = time.perf_counter()
        cpu = to_batch(episodes, self.pad_id)
        env_rewards = cpu.rewards  # reported; the trained rewards carry the no-EOS penalty
        cpu = dataclasses.replace(cpu, rewards=self.episode_rewards(episodes, cpu.rewards))
        dev = self.device
        batch = Batch(
            *(
                x.to(dev)
                for x in (cpu.input_ids, cpu.attention_mask, cpu.loss_mask, cpu.sampler_logprobs, cpu.rewards)
            )
        )
        input_ids, attn, mask = batch.input_ids, batch.attention_mask, batch.loss_mask
        trunks = [m for m in (self.model, self.critic) if m is not None]
        with self.inference(*trunks):  # the sampling-time policy and values: no dropout
            chunks = [
                self._forward(input_ids[sl], attn[sl], mask[sl]) for sl in self.micro_slices(len(episodes))
            ]
            old = torch.cat([lp for lp, _, _ in chunks])
            old_values = torch.cat([v for _, v, _ in chunks])
            ref = None
            if self.use_ref:
                with self.reference(self.ref_model) as reference:
                    ref = self.micro_logprobs(reference, input_ids, attn, mask)
        gap = masked_mean((old - batch.sampler_logprobs).abs(), mask).item()
        tis = (
            truncated_is_weights(old, batch.sampler_logprobs, cap=c.tis_cap)
            if gap > c.tis_threshold or self.truncation.active
            else None
        )
        rewards = self.token_rewards(batch, old, ref)
        adv, returns = gae(rewards, old_values, mask, gamma=c.gamma, lam=c.lam)
        if c.whiten_advantages:
            adv = whiten(adv, mask)

        pg_losses, vf_losses, clip_fracs, norms, ents = [], [], [], [], []
        for mb in self.minibatches(len(episodes), seed):
            weights = token_weights(mask[mb], "token")
            denom = mask[mb].sum().clamp(min=1.0)
            for sl in self.micro_slices(len(mb)):
                rows = mb[sl]
                logp, values, ent = self._forward(
                    input_ids[rows], attn[rows], mask[rows], grad_entropy=c.entropy_coef > 0
                )
                per_tok, clipped = clipped_surrogate(
                    logp, old[rows], adv[rows], eps_low=c.clip_eps, eps_high=c.clip_eps, dual_clip=c.dual_clip
                )
                if tis is not None:
                    per_tok = per_tok * tis[rows]
                if c.entropy_coef > 0:
                    per_tok = per_tok - c.entropy_coef * ent
                ents.append(masked_mean(ent.detach(), mask[rows]).item())
                pg = (weights[sl] * per_tok).sum()
                share = mask[rows].sum() / denom  # this chunk's share of the minibatch's tokens
                vf = (
                    clipped_value_loss(values, old_values[rows], returns[rows], mask[rows], clip=c.value_clip)
                    * share
                )
                (pg + c.vf_coef * vf).backward()
                pg_losses.append(pg.item())
                vf_losses.append(vf.item())
                clip_fracs.append(masked_mean(clipped, mask[rows]).item())
            norms.append(self.optimizer_step(self.optimizer, self.params))
        self.after_update()
        raw = cpu.rewards
        shown = env_rewards
        metrics: dict[str, float] = {
            "step": self.step_count + 1,
            "reward/mean": shown.mean().item(),
            "reward/std": shown.std().item() if shown.numel() > 1 else 0.0,
            "correct": sum(e.status == "correct" for e in episodes) / len(episodes),
            "no_answer": sum(e.status == "no_answer" for e in episodes) / len(episodes),
            "tokens/mean": sum(e.num_action_tokens for e in episodes) / len(episodes),
            "overlong": sum(e.overlong for e in episodes) / len(episodes),
            "loss/policy": sum(pg_losses) / max(len(norms), 1),
            "loss/value": sum(vf_losses) / max(len(norms), 1),
            "value/mean": masked_mean(old_values, mask).item(),
            "kl": masked_mean(approx_kl_k3(old, ref), mask).item() if ref is not None else float("nan"),
            "grad_norm": sum(norms) / len(norms),
            "clip_frac": sum(clip_fracs) / len(clip_fracs),
            "entropy": sum(ents) / len(ents) if ents else float("nan"),
            "logprob_gap": gap,
            "tis": float(tis is not None),
            "time/rollout": t_rollout,
            "lr": lr,
            "time/train": time.perf_counter() - t1,
            "time/step": time.perf_counter() - t0,
            **self.signal(bool((raw != raw[0]).any())),
        }
        self.after_step()
        return metrics
