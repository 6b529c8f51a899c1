"""Invariants of the pure loss functions (hand-computed values and properties)."""

import math

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from assay.agents.losses import (  # noqa: E402
    aggregate,
    approx_kl_k3,
    clipped_surrogate,
    clipped_value_loss,
    gae,
    group_advantages,
    masked_mean,
    overlong_penalty,
    token_weights,
    truncated_is_weights,
    whiten,
)


@pytest.mark.parametrize("scale", [True, False])
def test_group_advantages_identical_rewards_give_zero(scale):
    r = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5])
    assert torch.equal(group_advantages(r, 3, scale=scale), torch.zeros(9))


def test_group_advantages_hand_computed():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0])
    centred = torch.tensor([0.75, -0.25, -0.25, -0.25])
    assert torch.allclose(group_advantages(r, 4, scale=False), centred)
    assert torch.allclose(group_advantages(r, 4, scale=True), centred / (0.5 + 1e-6))  # unbiased std = 0.5


def test_group_advantages_rejects_bad_groups():
    with pytest.raises(ValueError, match="group_size"):
        group_advantages(torch.zeros(4), 1)
    with pytest.raises(ValueError, match="multiple"):
        group_advantages(torch.zeros(5), 2)


@given(st.lists(st.floats(-10, 10), min_size=8, max_size=8), st.floats(-100, 100), st.booleans())
def test_group_advantages_zero_mean_and_shift_invariant(values, shift, scale):
    r = torch.tensor(values, dtype=torch.float64)
    a = group_advantages(r, 4, scale=scale)
    assert torch.allclose(a.view(2, 4).sum(dim=1).double(), torch.zeros(2, dtype=torch.float64), atol=1e-3)
    b = group_advantages(r + torch.tensor([shift] * 4 + [0.0] * 4, dtype=torch.float64), 4, scale=scale)
    assert torch.allclose(a, b, atol=1e-3)


def test_first_inner_step_ratio_is_one_and_loss_is_minus_mean_advantage():
    logp = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -0.7, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    adv = torch.tensor([0.8, -0.4])
    per_tok, clipped = clipped_surrogate(logp, logp.clone(), adv)
    assert torch.equal(clipped, torch.zeros_like(clipped))
    assert math.isclose(aggregate(per_tok, mask, "seq").item(), -adv.mean().item(), rel_tol=1e-6)
    # token-level: minus the token-weighted mean advantage
    assert math.isclose(aggregate(per_tok, mask, "token").item(), -(3 * 0.8 - 2 * 0.4) / 5, rel_tol=1e-6)


@pytest.mark.parametrize(
    ("ratio", "adv", "expected", "is_clipped"),
    [
        (1.5, 1.0, -1.2, True),  # A > 0: gains capped at 1 + eps_high
        (1.1, 1.0, -1.1, False),
        (0.5, 1.0, -0.5, False),  # A > 0, ratio below 1 - eps_low: no clip (pessimistic min)
        (0.5, -1.0, 0.9, True),  # A < 0: gains capped at 1 - eps_low
        (0.9, -1.0, 0.9, False),
        (1.5, -1.0, 1.5, False),  # A < 0, ratio above 1 + eps_high: no clip
    ],
)
def test_clipping_boundaries_for_both_signs(ratio, adv, expected, is_clipped):
    logp = torch.tensor([[math.log(ratio)]])
    loss, clipped = clipped_surrogate(logp, torch.zeros(1, 1), torch.tensor([adv]), eps_low=0.1, eps_high=0.2)
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)
    assert bool(clipped.item()) is is_clipped


def test_clip_higher_uses_separate_bounds():
    logp = torch.tensor([[math.log(1.25)]])
    low, _ = clipped_surrogate(logp, torch.zeros(1, 1), torch.tensor([1.0]), eps_low=0.2, eps_high=0.2)
    high, _ = clipped_surrogate(logp, torch.zeros(1, 1), torch.tensor([1.0]), eps_low=0.2, eps_high=0.28)
    assert math.isclose(low.item(), -1.2, rel_tol=1e-6) and math.isclose(high.item(), -1.25, rel_tol=1e-6)


def test_clipped_tokens_get_no_gradient():
    logp = torch.tensor([[math.log(1.5)]], requires_grad=True)
    loss, _ = clipped_surrogate(logp, torch.zeros(1, 1), torch.tensor([1.0]))
    loss.sum().backward()
    assert logp.grad is not None and logp.grad.item() == 0.0


@given(
    st.lists(st.floats(-5, 5), min_size=1, max_size=20), st.lists(st.floats(-5, 5), min_size=1, max_size=20)
)
def test_k3_is_non_negative_and_zero_at_equality(a, b):
    n = min(len(a), len(b))
    x, y = torch.tensor(a[:n], dtype=torch.float64), torch.tensor(b[:n], dtype=torch.float64)
    assert (approx_kl_k3(x, y) >= -1e-12).all()
    assert torch.equal(approx_kl_k3(x, x), torch.zeros_like(x))


def test_gae_lambda_one_is_monte_carlo():
    r = torch.tensor([[0.0, 0.5, 1.0, 2.0]])
    v = torch.tensor([[0.3, 0.1, -0.2, 0.4]])
    m = torch.ones(1, 4)
    gamma = 0.9
    adv, ret = gae(r, v, m, gamma=gamma, lam=1.0)
    mc = torch.tensor([[sum(gamma**k * r[0, t + k].item() for k in range(4 - t)) for t in range(4)]])
    assert torch.allclose(ret, mc, atol=1e-6)
    assert torch.allclose(adv, mc - v, atol=1e-6)


def test_gae_lambda_zero_is_td():
    r = torch.tensor([[0.0, 0.5, 1.0, 2.0]])
    v = torch.tensor([[0.3, 0.1, -0.2, 0.4]])
    m = torch.ones(1, 4)
    adv, _ = gae(r, v, m, gamma=0.9, lam=0.0)
    next_v = torch.tensor([[0.1, -0.2, 0.4, 0.0]])
    assert torch.allclose(adv, r + 0.9 * next_v - v, atol=1e-6)


def test_gae_skips_masked_tokens_and_padding_changes_nothing():
    r = torch.tensor([[0.0, 0.5, 1.0]])
    v = torch.tensor([[0.3, 0.1, -0.2]])
    adv, ret = gae(r, v, torch.ones(1, 3), gamma=0.95, lam=0.9)
    # an observation token in the middle and padding at the end: same values on the real tokens
    r2 = torch.tensor([[0.0, 9.0, 0.5, 1.0, 7.0, 7.0]])
    v2 = torch.tensor([[0.3, 5.0, 0.1, -0.2, 3.0, 3.0]])
    m2 = torch.tensor([[1.0, 0.0, 1.0, 1.0, 0.0, 0.0]])
    adv2, ret2 = gae(r2, v2, m2, gamma=0.95, lam=0.9)
    keep = m2[0].bool()
    assert torch.allclose(adv2[0, keep], adv[0]) and torch.allclose(ret2[0, keep], ret[0])
    assert torch.equal(adv2[0, ~keep], torch.zeros(3))


@pytest.mark.parametrize("agg", ["seq", "token", "constant"])
def test_padding_changes_no_aggregate(agg):
    loss = torch.tensor([[0.5, -1.0, 2.0], [1.0, 3.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    padded_loss = torch.cat([loss, torch.full((2, 4), 123.0)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(2, 4)], dim=1)
    a = aggregate(loss, mask, agg, max_tokens=8)
    b = aggregate(padded_loss, padded_mask, agg, max_tokens=8)
    assert math.isclose(a.item(), b.item(), rel_tol=1e-6)


def test_aggregation_modes_hand_computed():
    loss = torch.tensor([[1.0, 1.0, 1.0, 1.0], [4.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    assert math.isclose(aggregate(loss, mask, "seq").item(), (1.0 + 4.0) / 2)  # GRPO
    assert math.isclose(aggregate(loss, mask, "token").item(), 8.0 / 5, rel_tol=1e-6)  # DAPO
    assert math.isclose(
        aggregate(loss, mask, "constant", max_tokens=10).item(), 8.0 / 20, rel_tol=1e-6
    )  # Dr. GRPO
    with pytest.raises(ValueError, match="max_tokens"):
        token_weights(mask, "constant")


@pytest.mark.parametrize("agg", ["seq", "token", "constant"])
def test_micro_batches_sum_to_the_full_batch_loss(agg):
    gen = torch.Generator().manual_seed(0)
    loss = torch.randn(6, 5, generator=gen)
    mask = (torch.rand(6, 5, generator=gen) > 0.3).float()
    w = token_weights(mask, agg, max_tokens=5)
    parts = sum((w[i : i + 2] * loss[i : i + 2]).sum() for i in range(0, 6, 2))
    assert math.isclose(float(parts), aggregate(loss, mask, agg, max_tokens=5).item(), rel_tol=1e-5)


def test_whiten_and_masked_mean_ignore_masked_entries():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    m = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    assert masked_mean(x, m).item() == 2.0
    w = whiten(x, m)
    assert math.isclose(masked_mean(w, m).item(), 0.0, abs_tol=1e-6)
    assert math.isclose(masked_mean(w**2, m).item(), 1.0, rel_tol=1e-4)
    assert w[0, 3].item() == 0.0


def test_clipped_value_loss_hand_computed():
    values = torch.tensor([[1.0, 0.0]])
    old = torch.tensor([[0.0, 0.0]])
    ret = torch.tensor([[1.0, 1.0]])
    mask = torch.tensor([[1.0, 0.0]])
    # unclipped (1-1)^2 = 0; clipped V = 0.2 -> (0.2-1)^2 = 0.64; max = 0.64; 0.5 * 0.64
    assert math.isclose(clipped_value_loss(values, old, ret, mask, clip=0.2).item(), 0.32, rel_tol=1e-6)


def test_truncated_is_weights_are_capped_ratios():
    w = truncated_is_weights(torch.tensor([0.0, 0.0, -1.0]), torch.tensor([0.0, -2.0, 0.0]), cap=2.0)
    assert torch.allclose(w, torch.tensor([1.0, 2.0, math.exp(-1.0)]))
    with pytest.raises(ValueError, match="cap"):
        truncated_is_weights(torch.zeros(1), torch.zeros(1), cap=0.0)


def test_overlong_penalty_ramps_to_minus_one():
    lengths = torch.tensor([2, 6, 7, 8, 9])
    assert torch.allclose(
        overlong_penalty(lengths, max_tokens=8, buffer=4), torch.tensor([0.0, -0.5, -0.75, -1.0, -1.0])
    )
