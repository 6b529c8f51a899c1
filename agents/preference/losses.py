"""Preference losses as pure functions of sequence log-probabilities (no model, no state).

Notation: for a prompt ``x`` with a chosen completion ``y_w`` and a rejected one ``y_l``,
``pi_w = log pi(y_w | x)`` is the *summed* log-probability of the completion's tokens under the
policy and ``ref_w`` the same under the reference model; ``avg_w = pi_w / |y_w|`` is the per-token
mean. Each function takes ``(N,)`` tensors and returns a `PreferenceLoss` whose ``losses`` are
per example (the trainer averages them) and whose ``chosen_rewards``/``rejected_rewards`` are the
loss's implicit rewards, detached, for logging (reward accuracy, margins).

| loss | paper | per-example loss |
| --- | --- | --- |
| `dpo_loss` | Rafailov et al. 2023 | ``-log sigmoid(beta * h)``, ``h = (pi_w - ref_w) - (pi_l - ref_l)`` |
| `ipo_loss` | Azar et al. 2023 | ``(h - 1 / (2 * beta))^2`` (``beta`` is the paper's tau) |
| `simpo_loss` | Meng et al. 2024 | ``-log sigmoid(beta * (avg_w - avg_l) - gamma)`` (no reference) |
| `kto_loss` | Ethayarajh et al. 2024 | ``w_D * (1 - sigmoid(beta * (r - z0)))`` if desirable, ``w_U * (1 - sigmoid(beta * (z0 - r)))`` if not, ``r = pi - ref`` |
| `orpo_loss` | Hong et al. 2024 | ``-avg_w - lam * log sigmoid(log odds(y_w) - log odds(y_l))``, ``odds = p / (1 - p)``, ``p = exp(avg)`` (no reference) |
| `bradley_terry_loss` | Bradley & Terry 1952; Ouyang et al. 2022 | ``-log sigmoid(r_w - r_l - margin)`` (reward models) |

``label_smoothing`` (DPO, SimPO) is conservative DPO's (Mitchell 2023): the label is wrong with
that probability, ``-(1 - e) log sigmoid(z) - e log sigmoid(-z)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "PreferenceLoss",
    "bradley_terry_loss",
    "dpo_loss",
    "ipo_loss",
    "kto_loss",
    "kto_reference_point",
    "log1mexp",
    "orpo_loss",
    "pairwise_accuracy",
    "simpo_loss",
]


class PreferenceLoss(NamedTuple):
    """Per-example ``losses`` ``(N,)`` and the implicit rewards (detached, for logging)."""

    losses: Tensor
    chosen_rewards: Tensor
    rejected_rewards: Tensor


def _smoothed(z: Tensor, label_smoothing: float) -> Tensor:
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    loss = -F.logsigmoid(z)
    if label_smoothing:
        loss = (1.0 - label_smoothing) * loss - label_smoothing * F.logsigmoid(-z)
    return loss


def _check_beta(beta: float) -> None:
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")


def dpo_loss(
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
) -> PreferenceLoss:
    """DPO's sigmoid loss: ``-log sigmoid(beta * ((pi_w - ref_w) - (pi_l - ref_l)))``.

    Inputs are summed completion log-probs. The implicit rewards are ``beta * (pi - ref)``. At
    ``pi == ref`` the loss is ``log 2`` whatever the data.
    """
    _check_beta(beta)
    chosen = policy_chosen - ref_chosen
    rejected = policy_rejected - ref_rejected
    losses = _smoothed(beta * (chosen - rejected), label_smoothing)
    return PreferenceLoss(losses, beta * chosen.detach(), beta * rejected.detach())


def ipo_loss(
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    *,
    beta: float = 0.1,
) -> PreferenceLoss:
    """IPO: ``(h - 1 / (2 * beta))^2`` with ``h = (pi_w - ref_w) - (pi_l - ref_l)``.

    A squared loss that regresses the log-ratio margin to ``1 / (2 * beta)`` instead of pushing
    it to infinity (so it does not overfit deterministic preferences). Inputs as in `dpo_loss`
    (summed log-probs, as the paper writes it; TRL averages over tokens instead).
    """
    _check_beta(beta)
    chosen = policy_chosen - ref_chosen
    rejected = policy_rejected - ref_rejected
    losses = (chosen - rejected - 1.0 / (2.0 * beta)) ** 2
    return PreferenceLoss(losses, beta * chosen.detach(), beta * rejected.detach())


def simpo_loss(
    policy_chosen_avg: Tensor,
    policy_rejected_avg: Tensor,
    *,
    beta: float = 2.0,
    gamma: float = 0.5,
    label_smoothing: float = 0.0,
) -> PreferenceLoss:
    """SimPO: ``-log sigmoid(beta * (avg_w - avg_l) - gamma)``; reference-free.

    Inputs are per-token mean log-probs (the length normalisation is the method). ``gamma`` is
    the target reward margin. The implicit rewards are ``beta * avg``.
    """
    _check_beta(beta)
    z = beta * (policy_chosen_avg - policy_rejected_avg) - gamma
    losses = _smoothed(z, label_smoothing)
    return PreferenceLoss(losses, beta * policy_chosen_avg.detach(), beta * policy_rejected_avg.detach())


def kto_reference_point(policy_mismatched: Tensor, ref_mismatched: Tensor) -> Tensor:
    """KTO's reference point ``z0``: a batch estimate of ``KL(pi || ref)``, clamped at 0, detached.

    The inputs are summed log-probs of *mismatched* pairs (each prompt with another example's
    completion), as in the paper: ``z0 = max(0, mean(pi - ref))``. A 0-d tensor.
    """
    if policy_mismatched.numel() == 0:
        return torch.zeros((), dtype=policy_mismatched.dtype, device=policy_mismatched.device)
    return (policy_mismatched - ref_mismatched).mean().clamp(min=0.0).detach()


def kto_loss(
    policy_logps: Tensor,
    ref_logps: Tensor,
    desirable: Tensor,
    reference_point: Tensor | float,
    *,
    beta: float = 0.1,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> PreferenceLoss:
    """KTO on unpaired examples, each labelled desirable or not (``desirable``: ``(N,)`` bool).

    With ``r = pi - ref`` (summed log-probs) and ``z0`` from `kto_reference_point`:
    desirable examples lose ``desirable_weight * (1 - sigmoid(beta * (r - z0)))``, undesirable
    ones ``undesirable_weight * (1 - sigmoid(beta * (z0 - r)))``. The paper suggests weights with
    ``desirable_weight * n_D / (undesirable_weight * n_U)`` in ``[1, 4/3]`` when the classes are
    imbalanced. ``chosen_rewards`` holds ``beta * r`` for desirable examples and
    ``rejected_rewards`` for undesirable ones (the other entries are NaN).
    """
    _check_beta(beta)
    if desirable.dtype != torch.bool:
        raise TypeError("desirable must be a bool tensor")
    r = policy_logps - ref_logps
    z0 = torch.as_tensor(reference_point, dtype=r.dtype, device=r.device)
    up = desirable_weight * (1.0 - torch.sigmoid(beta * (r - z0)))
    down = undesirable_weight * (1.0 - torch.sigmoid(beta * (z0 - r)))
    losses = torch.where(desirable, up, down)
    reward = beta * r.detach()
    nan = torch.full_like(reward, float("nan"))
    return PreferenceLoss(losses, torch.where(desirable, reward, nan), torch.where(desirable, nan, reward))


def log1mexp(x: Tensor) -> Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, accurate near 0 and for large ``-x`` (Mächler 2012).

    ``x`` is clamped to at most ``-1e-6`` first: a sequence of probability 1 has infinite odds.
    """
    x = x.clamp(max=-1e-6)
    return torch.where(x > -0.6931471805599453, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def orpo_loss(
    policy_chosen_avg: Tensor,
    policy_rejected_avg: Tensor,
    *,
    lam: float = 0.1,
) -> PreferenceLoss:
    """ORPO: the chosen completion's NLL plus ``lam`` times the odds-ratio loss; reference-free.

    ``log odds(y) = avg - log(1 - exp(avg))`` with ``avg`` the per-token mean log-prob, and the
    odds-ratio loss is ``-log sigmoid(log odds(y_w) - log odds(y_l))``. The NLL term is
    ``-avg_w`` (the per-token mean over the chosen completion). The implicit rewards are
    ``lam * avg`` (as TRL logs them).
    """
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    log_odds = (policy_chosen_avg - log1mexp(policy_chosen_avg)) - (
        policy_rejected_avg - log1mexp(policy_rejected_avg)
    )
    losses = -policy_chosen_avg - lam * F.logsigmoid(log_odds)
    return PreferenceLoss(losses, lam * policy_chosen_avg.detach(), lam * policy_rejected_avg.detach())


def bradley_terry_loss(
    chosen_rewards: Tensor,
    rejected_rewards: Tensor,
    *,
    margin: Tensor | float = 0.0,
    center_coef: float = 0.0,
) -> PreferenceLoss:
    """A reward model's pairwise loss: ``-log sigmoid(r_w - r_l - margin)``.

    ``margin`` (a scalar or ``(N,)``) asks for a larger gap where the preference is strong
    (Llama 2's margin loss). ``center_coef`` adds ``center_coef * (r_w + r_l)^2``, which keeps
    rewards centred on 0 (Eisenstein et al. 2023 use 0.01); 0 turns it off.
    """
    losses = -F.logsigmoid(chosen_rewards - rejected_rewards - margin)
    if center_coef:
        losses = losses + center_coef * (chosen_rewards + rejected_rewards) ** 2
    return PreferenceLoss(losses, chosen_rewards.detach(), rejected_rewards.detach())


def pairwise_accuracy(chosen_rewards: Tensor, rejected_rewards: Tensor) -> float:
    """Share of pairs whose chosen reward is strictly higher (ties count half)."""
    if chosen_rewards.numel() == 0:
        return float("nan")
    diff = chosen_rewards - rejected_rewards
    return float(((diff > 0).float() + 0.5 * (diff == 0).float()).mean())
