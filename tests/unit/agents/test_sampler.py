"""HFSampler: the protocol, seeds, token-id prompts, and log-probs equal to the policy's."""

import pytest

torch = pytest.importorskip("torch")

from assay.agents.policy import load_policy, token_logprobs  # noqa: E402
from assay.agents.rollout import Episode, to_batch  # noqa: E402
from assay.agents.sampler import HFSampler, Sample  # noqa: E402
from assay.verifiers.sampler import Sampler  # noqa: E402

PROMPTS = ["1 + 2=", "4 + 4="]


@pytest.fixture(scope="module")
def policy(arith_dir):
    return load_policy(arith_dir)


def test_hf_sampler_follows_the_protocol(policy):
    model, tok = policy
    s = HFSampler(model, tok)
    assert isinstance(s, Sampler)
    out = s.sample(PROMPTS, n=3, max_new_tokens=6, temperature=1.0, seed=0)
    assert [len(g) for g in out] == [3, 3]
    for sample in (x for g in out for x in g):
        assert isinstance(sample, Sample)
        assert 1 <= len(sample.token_ids) <= 6 and len(sample.logprobs) == len(sample.token_ids)
        assert sample.finish_reason == ("stop" if sample.token_ids[-1] == tok.eos_token_id else "length")
        assert sample.text == tok.decode(sample.token_ids, skip_special_tokens=True)


def test_same_seed_same_samples_and_global_rng_untouched(policy):
    model, tok = policy
    s = HFSampler(model, tok)
    state = torch.get_rng_state()
    a = s.sample(PROMPTS, n=4, max_new_tokens=6, temperature=1.0, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert a == s.sample(PROMPTS, n=4, max_new_tokens=6, temperature=1.0, seed=7)
    assert a != s.sample(PROMPTS, n=4, max_new_tokens=6, temperature=1.0, seed=8)


def test_token_id_prompts_are_used_verbatim(policy):
    model, tok = policy
    s = HFSampler(model, tok)
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    assert s.sample(ids, n=2, max_new_tokens=5, temperature=1.0, seed=3) == s.sample(
        PROMPTS, n=2, max_new_tokens=5, temperature=1.0, seed=3
    )


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampler_logprobs_match_the_policy(policy, temperature):
    """Plain temperature sampling: the sampler's log-probs are the policy's (gap ~ float noise)."""
    model, tok = policy
    out = HFSampler(model, tok).sample(PROMPTS, n=8, max_new_tokens=8, temperature=temperature, seed=1)
    eps = []
    for prompt, group in zip(PROMPTS, out, strict=True):
        for x in group:
            ids = tok(prompt, add_special_tokens=False)["input_ids"]
            eps.append(Episode("t", 0, ids, x.token_ids, [1] * len(x.token_ids), x.logprobs))
    b = to_batch(eps, tok.pad_token_id)
    with torch.no_grad():
        lp = token_logprobs(model, b.input_ids, b.attention_mask, temperature=temperature)
    gap = ((lp - b.sampler_logprobs).abs() * b.loss_mask).sum() / b.loss_mask.sum()
    assert gap.item() < 1e-5


def test_greedy_is_deterministic_across_seeds(policy):
    model, tok = policy
    s = HFSampler(model, tok)
    assert s.sample(PROMPTS, n=2, max_new_tokens=5, temperature=0.0, seed=0) == s.sample(
        PROMPTS, n=2, max_new_tokens=5, temperature=0.0, seed=99
    )


def test_bad_arguments_are_rejected(policy):
    model, tok = policy
    s = HFSampler(model, tok)
    with pytest.raises(ValueError, match="n must"):
        s.sample(PROMPTS, n=0, max_new_tokens=5, temperature=1.0, seed=0)
    with pytest.raises(ValueError, match="empty prompt"):
        s.sample([[]], n=1, max_new_tokens=5, temperature=1.0, seed=0)
