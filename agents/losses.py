"""The math of policy-gradient training, as pure functions of tensors (no model, no state).

Shapes: ``(N,)`` is one value per sequence, ``(N, T)`` one per token. ``mask`` is 1 on tokens
that count (tokens the policy sampled) and 0 on prompt, observation and padding tokens, so
padding a batch never changes a result.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "KLEstimator",
    "LossAgg",
    "RewardScale",
    "aggregate",
    "approx_kl_k3",
    "clipped_surrogate",
    "clipped_value_loss",
    "gae",
    "group_advantages",
    "kl_estimate",
    "masked_mean",
    "overlong_penalty",
    "scaled_advantages",
    "sequence_clipped_surrogate",
    "token_entropy",
    "token_weights",
    "truncated_is_weights",
    "whiten",
]

LossAgg = Literal["seq", "token", "constant"]
RewardScale = Literal["group", "batch", "none"]
KLEstimator = Literal["k1", "k2", "k3"]


def group_advantages(rewards: Tensor, group_size: int, *, scale: bool = True, eps: float = 1e-6) -> Tensor:
    """Group-relative advantages (GRPO), ``(N*G,) -> (N*G,)``, groups laid out side by side.

    ``A_i = r_i - mean(r_group)``, divided by ``std(r_group) + eps`` when ``scale`` (the GRPO
    paper); Dr. GRPO drops the division (``scale=False``). A group whose rewards are all equal
    gets zero advantage either way. ``std`` is the unbiased sample standard deviation. Returns
    float32.
    """
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2, got {group_size}")
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be 1-D with a multiple of {group_size} entries")
    r = rewards.view(-1, group_size)
    if r.dtype != torch.float64:  # float64 rewards are centred in float64 (no cancellation)
        r = r.to(torch.float32)
    adv = r - r.mean(dim=1, keepdim=True)
    if scale:
        adv = adv / (r.std(dim=1, keepdim=True) + eps)
    return adv.reshape(-1).to(torch.float32)


def scaled_advantages(
    rewards: Tensor, group_size: int, *, scale: RewardScale = "group", eps: float = 1e-6
) -> Tensor:
    """Group-centred advantages with a choice of scale (TRL's ``scale_rewards``), ``(N*G,) -> (N*G,)``.

    ``A_i = (r_i - mean(r_group)) / s`` with ``s`` = ``std(r_group) + eps`` (``"group"``, GRPO),
    ``std(r_batch) + eps`` over every reward of the batch (``"batch"``, as REINFORCE++ and
    TRL's "batch": one scale for all groups, so a group with a small spread keeps small
    advantages), or 1 (``"none"``, Dr. GRPO). Standard deviations are unbiased sample ones.
    A group whose rewards are all equal gets zero advantage whatever the scale. Float32.
    """
    if scale == "group":
        return group_advantages(rewards, group_size, scale=True, eps=eps)
    if scale not in ("batch", "none"):
        raise ValueError(f"scale must be 'group', 'batch' or 'none', got {scale!r}")
    adv = group_advantages(rewards, group_size, scale=False)
    if scale == "batch":
        spread = rewards.to(torch.float64).std() if rewards.numel() > 1 else torch.tensor(0.0)
        adv = adv / (float(spread) + eps)
    return adv


def clipped_surrogate(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    dual_clip: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-token PPO clipped surrogate loss with separate clip bounds (DAPO's clip-higher).

    ``ratio = exp(logprobs - old_logprobs)``;
    ``loss_t = -min(ratio * A, clip(ratio, 1 - eps_low, 1 + eps_high) * A)``.
    ``advantages`` is ``(N,)`` (broadcast over tokens) or ``(N, T)``. Returns the ``(N, T)`` loss
    and a ``(N, T)`` float mask of tokens where the clipped branch was taken (for the clip
    fraction metric). At ``logprobs == old_logprobs`` the loss is ``-A``.

    ``dual_clip`` (dual-clip PPO, Ye et al. 2020; ``c > 1``, typically 3): for ``A < 0`` the
    objective is also bounded below by ``c * A``, i.e. ``loss_t = min(loss_t, -c * A)``, so one
    token whose ratio has grown huge cannot dominate the update with a huge negative advantage
    term (its gradient is then 0). Positive advantages are unchanged. A token cut by the dual
    bound counts as clipped.
    """
    if advantages.ndim == 1:
        advantages = advantages[:, None]
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * advantages
    loss = -torch.minimum(unclipped, clipped)
    was_clipped = clipped < unclipped
    if dual_clip is not None:
        if dual_clip <= 1.0:
            raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
        bound = (-dual_clip * advantages).expand_as(loss)
        cut = (advantages < 0) & (loss > bound)
        loss = torch.where(cut, bound, loss)
        was_clipped = was_clipped | cut
    return loss, was_clipped.to(logprobs.dtype)


def sequence_clipped_surrogate(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    eps_low: float = 3e-4,
    eps_high: float = 4e-4,
) -> tuple[Tensor, Tensor]:
    """GSPO's clipped surrogate (Zheng et al. 2025): one importance ratio per sequence.

    ``s_i = exp(mean_t (logprobs - old_logprobs))`` over the sequence's counted tokens (the
    length-normalised sequence likelihood ratio); ``loss_i = -min(s_i * A_i, clip(s_i, 1 -
    eps_low, 1 + eps_high) * A_i)``. Returned as an ``(N, T)`` tensor holding ``loss_i`` on each of
    the sequence's counted tokens (0 elsewhere), so ``loss_agg="seq"`` (weights ``1 / (|o_i| *
    N)``) gives GSPO's objective, the mean of ``loss_i`` over sequences; ``"token"`` weighs
    sequences by length instead. The clip mask is per sequence, broadcast the same way. The
    ratios are near 1 (a geometric mean of token ratios), hence clip ranges of a few 1e-4 (the
    paper's 3e-4 / 4e-4), not 0.2. ``advantages`` must be ``(N,)``.
    """
    if advantages.ndim != 1:
        raise ValueError("GSPO needs one advantage per sequence, shape (N,)")
    m = mask.to(logprobs.dtype)
    lengths = m.sum(dim=1).clamp(min=1.0)
    log_s = ((logprobs - old_logprobs) * m).sum(dim=1) / lengths
    s = torch.exp(log_s)
    unclipped = s * advantages
    clipped = torch.clamp(s, 1.0 - eps_low, 1.0 + eps_high) * advantages
    loss = -torch.minimum(unclipped, clipped)
    was_clipped = (clipped < unclipped).to(logprobs.dtype)
    return loss[:, None] * m, was_clipped[:, None] * m


def token_weights(mask: Tensor, agg: LossAgg, *, max_tokens: int | None = None) -> Tensor:
    """``(N, T)`` weights ``w`` so that a batch's loss is ``sum(w * loss_t)``.

    - ``"seq"`` (GRPO paper): mean over each sequence's tokens, then over sequences:
      ``w = mask / (|o_i| * N)``.
    - ``"token"`` (DAPO): mean over every token of the batch: ``w = mask / sum(mask)``.
    - ``"constant"`` (Dr. GRPO): a fixed normaliser: ``w = mask / (N * max_tokens)``.

    Computing the weights once for a whole (mini)batch and summing ``w * loss_t`` over
    micro-batches gives exactly the full-batch loss, which is what gradient accumulation needs.
    Sequences with no counted token get weight 0.
    """
    m = mask.to(torch.float32)
    n = m.shape[0]
    if agg == "seq":
        lengths = m.sum(dim=1, keepdim=True)
        return torch.where(lengths > 0, m / lengths.clamp(min=1.0), m) / max(n, 1)
    if agg == "token":
        return m / m.sum().clamp(min=1.0)
    if agg == "constant":
        if max_tokens is None or max_tokens < 1:
            raise ValueError("agg='constant' needs max_tokens >= 1")
        return m / (max(n, 1) * max_tokens)
    raise ValueError(f"agg must be 'seq', 'token' or 'constant', got {agg!r}")


def aggregate(loss: Tensor, mask: Tensor, agg: LossAgg, *, max_tokens: int | None = None) -> Tensor:
    """Reduce a ``(N, T)`` per-token loss to a scalar: ``sum(token_weights(mask, agg) * loss)``."""
    return (token_weights(mask, agg, max_tokens=max_tokens).to(loss.dtype) * loss).sum()


def approx_kl_k3(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """Per-token k3 estimator of ``KL(pi || pi_ref)`` (Schulman): ``exp(d) - d - 1``, ``d = ref - logp``.

    Non-negative everywhere and exactly 0 where the two log-probs are equal; unbiased for the KL
    when tokens are sampled from ``pi``.
    """
    d = ref_logprobs - logprobs
    return torch.exp(d) - d - 1.0


def kl_estimate(logprobs: Tensor, ref_logprobs: Tensor, kind: KLEstimator = "k3") -> Tensor:
    """Per-token estimate of ``KL(pi || pi_ref)`` from tokens sampled from ``pi`` (Schulman,
    "Approximating KL divergence", 2020), with ``log_r = ref_logprobs - logprobs``:

    - ``"k1"``: ``-log_r`` (unbiased, high variance, can be negative per token; the estimator
      PPO's KL-in-the-reward uses);
    - ``"k2"``: ``log_r ** 2 / 2`` (biased, low variance, non-negative; its gradient is the
      gradient of the true KL's second-order expansion);
    - ``"k3"``: ``exp(log_r) - log_r - 1`` (unbiased, non-negative; GRPO's in-loss KL).

    All three are exactly 0 where the two log-probs are equal.
    """
    log_r = ref_logprobs - logprobs
    if kind == "k1":
        return -log_r
    if kind == "k2":
        return 0.5 * log_r**2
    if kind == "k3":
        return torch.exp(log_r) - log_r - 1.0
    raise ValueError(f"kind must be 'k1', 'k2' or 'k3', got {kind!r}")


def token_entropy(logits: Tensor, *, temperature: float = 1.0, chunk: int = 1024) -> Tensor:
    """Entropy of the next-token distribution at each position: ``(..., V) -> (...)``, float32.

    ``H = logsumexp(z) - sum_v softmax(z)_v * z_v`` with ``z = logits / temperature`` (the
    distribution that is sampled). Computed ``chunk`` positions at a time, so at most ``chunk x
    V`` float32 values exist at once besides ``logits`` itself (no full-vocabulary float32 copy of
    a bf16 batch). Differentiable (an entropy bonus back-propagates through it).
    """
    flat = logits.reshape(-1, logits.shape[-1])
    parts = []
    for start in range(0, flat.shape[0], chunk):
        z = flat[start : start + chunk].float()
        if temperature > 0 and temperature != 1.0:
            z = z / temperature
        lse = torch.logsumexp(z, dim=-1)
        parts.append(lse - (torch.softmax(z, dim=-1) * z).sum(dim=-1))
    out = torch.cat(parts) if parts else flat.new_zeros(0, dtype=torch.float32)
    return out.reshape(logits.shape[:-1])


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` over entries where ``mask`` is 1 (0 when the mask is empty)."""
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp(min=1.0)


def whiten(x: Tensor, mask: Tensor, *, shift_mean: bool = True, eps: float = 1e-8) -> Tensor:
    """Normalise ``x`` to unit variance (and zero mean if ``shift_mean``) over masked entries.

    ``(x - mean) / sqrt(var + eps)`` with mean and (biased) variance taken over ``mask``; masked
    out entries come back as 0.
    """
    m = mask.to(x.dtype)
    mean = masked_mean(x, m)
    var = masked_mean((x - mean) ** 2, m)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out * m


def gae(
    rewards: Tensor, values: Tensor, mask: Tensor, *, gamma: float = 1.0, lam: float = 0.95
) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation over the tokens where ``mask`` is 1.

    For counted tokens ``t`` in order, with ``t'`` the next counted token (none after the last):
    ``delta_t = r_t + gamma * V(t') - V(t)`` (``V`` after the last is 0: the episode ended) and
    ``A_t = delta_t + gamma * lam * A_t'``. Tokens where ``mask`` is 0 (observations, padding)
    are skipped: they are neither a step nor a break, and get advantage 0. ``lam=1`` gives
    Monte-Carlo returns minus the values; ``lam=0`` gives one-step TD errors. Returns
    ``(advantages, returns)`` with ``returns = advantages + values`` on counted tokens.
    """
    if rewards.shape != values.shape or rewards.shape != mask.shape:
        raise ValueError("rewards, values and mask must have the same (N, T) shape")
    m = mask.to(torch.bool)
    n, t_len = rewards.shape
    adv = torch.zeros_like(rewards)
    last_adv = torch.zeros(n, dtype=rewards.dtype, device=rewards.device)
    next_value = torch.zeros(n, dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(t_len)):
        here = m[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        step_adv = delta + gamma * lam * last_adv
        last_adv = torch.where(here, step_adv, last_adv)
        next_value = torch.where(here, values[:, t], next_value)
        adv[:, t] = torch.where(here, step_adv, torch.zeros_like(step_adv))
    returns = (adv + values) * m.to(values.dtype)
    return adv, returns


def clipped_value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, *, clip: float = 0.2
) -> Tensor:
    """PPO's clipped value loss: ``0.5 * mean(max((V - R)^2, (clip(V, V_old - c, V_old + c) - R)^2))``.

    The mean is over masked tokens. The clip keeps one update from moving the value far from the
    value the advantages were computed with.
    """
    v_clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    loss = torch.maximum((values - returns) ** 2, (v_clipped - returns) ** 2)
    return 0.5 * masked_mean(loss, mask)


def truncated_is_weights(train_logprobs: Tensor, sampler_logprobs: Tensor, *, cap: float = 2.0) -> Tensor:
    """Truncated importance-sampling weights for a sampler that differs from the trained policy.

    ``w_t = min(exp(train_logprobs - sampler_logprobs), cap)`` (no gradient): the per-token
    ratio of the trainer's old policy to the behaviour policy that actually sampled, capped to
    bound the variance (Yao et al., "Your efficient RL framework secretly brings you off-policy
    RL training", 2025). Multiply the per-token policy loss by it.
    """
    if cap <= 0:
        raise ValueError(f"cap must be > 0, got {cap}")
    return torch.exp(train_logprobs.detach() - sampler_logprobs.detach()).clamp(max=cap)


def overlong_penalty(lengths: Tensor, *, max_tokens: int, buffer: int) -> Tensor:
    """DAPO's soft overlong punishment, added to the reward: ``(N,) -> (N,)``.

    0 for ``L <= max_tokens - buffer``; ``(max_tokens - buffer - L) / buffer`` (falling linearly
    to -1) for ``L`` in the last ``buffer`` tokens; -1 beyond ``max_tokens``.
    """
    if not 0 < buffer <= max_tokens:
        raise ValueError(f"need 0 < buffer <= max_tokens, got buffer={buffer}, max_tokens={max_tokens}")
    start = max_tokens - buffer
    pen = (start - lengths.to(torch.float32)) / buffer
    return pen.clamp(min=-1.0, max=0.0)
