"""Preference losses against values computed by hand."""

import math

import pytest
import torch

from assay.agents.preference.losses import (
    bradley_terry_loss,
    dpo_loss,
    ipo_loss,
    kto_loss,
    kto_reference_point,
    log1mexp,
    orpo_loss,
    pairwise_accuracy,
    simpo_loss,
)


def t(*xs):
    return torch.tensor(xs, dtype=torch.float64)


def test_dpo_hand_computed():
    # h = (-1 - -2) - (-3 - -2) = 2; beta * h = 1; loss = log(1 + e^-1)
    out = dpo_loss(t(-1.0), t(-3.0), t(-2.0), t(-2.0), beta=0.5)
    assert out.losses.item() == pytest.approx(math.log1p(math.exp(-1.0)))
    assert out.chosen_rewards.item() == pytest.approx(0.5)
    assert out.rejected_rewards.item() == pytest.approx(-0.5)


def test_dpo_is_log2_at_the_reference_and_label_smoothing():
    x = t(-4.0, -7.5)
    out = dpo_loss(x, x - 1, x, x - 1, beta=0.1)
    assert torch.allclose(out.losses, torch.full((2,), math.log(2.0), dtype=torch.float64))
    # cDPO: -(1 - e) log s(z) - e log s(-z), z = 1
    smooth = dpo_loss(t(-1.0), t(-3.0), t(-2.0), t(-2.0), beta=0.5, label_smoothing=0.2)
    expected = 0.8 * math.log1p(math.exp(-1.0)) + 0.2 * math.log1p(math.exp(1.0))
    assert smooth.losses.item() == pytest.approx(expected)


def test_dpo_gradient_raises_chosen_and_lowers_rejected():
    pc, pr = t(-2.0).requires_grad_(), t(-2.0).requires_grad_()
    dpo_loss(pc, pr, t(-2.0), t(-2.0), beta=1.0).losses.sum().backward()
    assert pc.grad.item() == pytest.approx(-0.5)  # d/dpc of -log s(pc - pr) at 0 is -s(0)
    assert pr.grad.item() == pytest.approx(0.5)


def test_ipo_hand_computed():
    # h = 2, target 1 / (2 * 0.5) = 1: (2 - 1)^2 = 1; at h = target the loss is 0
    assert ipo_loss(t(-1.0), t(-3.0), t(-2.0), t(-2.0), beta=0.5).losses.item() == pytest.approx(1.0)
    assert ipo_loss(t(0.0), t(0.0), t(-5.0), t(0.0), beta=0.1).losses.item() == pytest.approx(0.0)


def test_simpo_hand_computed():
    # z = 2 * (-0.5 - -1.0) - 0.5 = 0.5
    out = simpo_loss(t(-0.5), t(-1.0), beta=2.0, gamma=0.5)
    assert out.losses.item() == pytest.approx(math.log1p(math.exp(-0.5)))
    assert out.chosen_rewards.item() == pytest.approx(-1.0)
    assert out.rejected_rewards.item() == pytest.approx(-2.0)


def test_kto_hand_computed():
    pol, ref = t(0.0, 0.0), t(-1.0, -1.0)  # r = 1 for both
    desirable = torch.tensor([True, False])
    out = kto_loss(pol, ref, desirable, 0.5, beta=1.0, desirable_weight=1.0, undesirable_weight=2.0)
    sig = 1.0 / (1.0 + math.exp(-0.5))
    assert out.losses[0].item() == pytest.approx(1.0 - sig)  # 1 - s(1 * (1 - 0.5))
    assert out.losses[1].item() == pytest.approx(2.0 * (1.0 - (1.0 - sig)))  # 2 * (1 - s(-0.5))
    assert out.chosen_rewards[0].item() == pytest.approx(1.0)
    assert math.isnan(out.chosen_rewards[1].item())
    assert out.rejected_rewards[1].item() == pytest.approx(1.0)


def test_kto_reference_point_is_clamped_and_detached():
    pol = t(-1.0, -3.0).requires_grad_()
    z0 = kto_reference_point(pol, t(-2.0, -1.0))  # mean(1, -2) = -0.5 -> 0
    assert z0.item() == 0.0
    assert not z0.requires_grad
    assert kto_reference_point(t(-1.0, -1.0), t(-2.0, -4.0)).item() == pytest.approx(2.0)
    assert kto_reference_point(t(), t()).item() == 0.0
    with pytest.raises(TypeError):
        kto_loss(t(0.0), t(0.0), torch.tensor([1]), 0.0)


def test_orpo_hand_computed():
    # p_w = 0.5: odds 1, log odds 0; p_l = 0.25: odds 1/3, log odds -log 3
    # ratio term = -log s(log 3) = log(4/3); NLL = log 2
    out = orpo_loss(t(math.log(0.5)), t(math.log(0.25)), lam=0.1)
    assert out.losses.item() == pytest.approx(math.log(2.0) + 0.1 * math.log(4.0 / 3.0))


def test_log1mexp_is_accurate_on_both_branches():
    for x in (-1e-4, -0.3, -0.7, -5.0, -40.0):
        assert log1mexp(t(x)).item() == pytest.approx(math.log(-math.expm1(x)), rel=1e-9)
    assert math.isfinite(log1mexp(t(0.0)).item())  # clamped: a sure sequence has finite odds


def test_bradley_terry_hand_computed():
    assert bradley_terry_loss(t(2.0), t(1.0)).losses.item() == pytest.approx(math.log1p(math.exp(-1.0)))
    assert bradley_terry_loss(t(2.0), t(1.0), margin=1.0).losses.item() == pytest.approx(math.log(2.0))
    centred = bradley_terry_loss(t(2.0), t(1.0), center_coef=0.01).losses.item()
    assert centred == pytest.approx(math.log1p(math.exp(-1.0)) + 0.01 * 9.0)


def test_pairwise_accuracy_counts_ties_half():
    assert pairwise_accuracy(t(1.0, 0.0, 2.0, 1.0), t(0.0, 1.0, 2.0, 0.5)) == pytest.approx(2.5 / 4)
    assert math.isnan(pairwise_accuracy(t(), t()))


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_beta_must_be_positive(bad):
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(t(0.0), t(0.0), t(0.0), t(0.0), beta=bad)
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo_loss(t(0.0), t(0.0), t(0.0), t(0.0), label_smoothing=0.5)
