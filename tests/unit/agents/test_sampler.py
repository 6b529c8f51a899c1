"""HFSampler: the protocol, seeds, token-id prompts, and log-probs equal to the policy's."""

import pytest

torch = pytest.importorskip("torch")

from assay.agents.policy import load_policy, token_logprobs  # noqa: E402
from assay.agents.rollout import Episode, to_batch  # noqa: E402
from assay.agents.sampler import HFSampler, Sample  # noqa: E402
from assay.verifiers.sampler import Sampler  # noqa: E402

PROMPTS = ["1 + 2=", "4 + 4="]
MIXED = ["1 + 2=", "13 + 4 + 22=", "4="]  # different lengths: left padding in one batch
ENGINES = pytest.mark.parametrize("engine", ["loop", "hf-loop", "generate"])  # loop: LeanDecoder here


@pytest.fixture(scope="module")
def policy(arith_dir):
    return load_policy(arith_dir)


@ENGINES
def test_hf_sampler_follows_the_protocol(policy, engine):
    model, tok = policy
    s = HFSampler(model, tok, engine=engine)
    assert isinstance(s, Sampler)
    out = s.sample(PROMPTS, n=3, max_new_tokens=6, temperature=1.0, seed=0)
    assert [len(g) for g in out] == [3, 3]
    for sample in (x for g in out for x in g):
        assert isinstance(sample, Sample)
        assert 1 <= len(sample.token_ids) <= 6 and len(sample.logprobs) == len(sample.token_ids)
        assert sample.finish_reason == ("stop" if sample.token_ids[-1] == tok.eos_token_id else "length")
        body = sample.token_ids[:-1] if sample.finish_reason == "stop" else sample.token_ids
        assert sample.text == tok.decode(body, skip_special_tokens=False)


def test_special_tokens_inside_a_completion_stay_in_its_text(policy):
    """Only the final EOS is dropped: ``<unk>`` or ``<pad>`` around an answer is not hidden from
    the env (a from-scratch policy learnt to be rewarded for ``"<unk>9<unk>"`` when it was)."""
    model, tok = policy
    s = HFSampler(model, tok)
    nine = tok.convert_tokens_to_ids("9")
    assert s._sample([2, nine, 0], [0.0] * 3).text == "<unk>9<pad>"
    assert s._sample([nine, tok.eos_token_id], [0.0] * 2).text == "9"
    assert s._sample([nine, tok.eos_token_id], [0.0] * 2).finish_reason == "stop"


@ENGINES
def test_same_seed_same_samples_and_global_rng_untouched(policy, engine):
    model, tok = policy
    s = HFSampler(model, tok, engine=engine)
    state = torch.get_rng_state()
    a = s.sample(PROMPTS, n=4, max_new_tokens=6, temperature=1.0, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert a == s.sample(PROMPTS, n=4, max_new_tokens=6, temperature=1.0, seed=7)
    assert a != s.sample(PROMPTS, n=4, max_new_tokens=6, temperature=1.0, seed=8)


@ENGINES
def test_token_id_prompts_are_used_verbatim(policy, engine):
    model, tok = policy
    s = HFSampler(model, tok, engine=engine)
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    assert s.sample(ids, n=2, max_new_tokens=5, temperature=1.0, seed=3) == s.sample(
        PROMPTS, n=2, max_new_tokens=5, temperature=1.0, seed=3
    )


@ENGINES
@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("prompts", [PROMPTS, MIXED])
def test_sampler_logprobs_match_the_policy(policy, temperature, prompts, engine):
    """Plain temperature sampling: the sampler's log-probs are the policy's (gap ~ float noise),
    also with prompts of different lengths (left padding) and sequences that stop early."""
    model, tok = policy
    sampler = HFSampler(model, tok, engine=engine, batch_size=16)
    out = sampler.sample(prompts, n=8, max_new_tokens=8, temperature=temperature, seed=1)
    assert any(x.finish_reason == "stop" for g in out for x in g)  # early stops were exercised
    eps = []
    for prompt, group in zip(prompts, out, strict=True):
        for x in group:
            ids = tok(prompt, add_special_tokens=False)["input_ids"]
            eps.append(Episode("t", 0, ids, x.token_ids, [1] * len(x.token_ids), x.logprobs))
    b = to_batch(eps, tok.pad_token_id)
    with torch.no_grad():
        lp = token_logprobs(model, b.input_ids, b.attention_mask, temperature=temperature)
    gap = ((lp - b.sampler_logprobs).abs() * b.loss_mask).sum() / b.loss_mask.sum()
    assert gap.item() < 1e-5


@ENGINES
def test_greedy_is_deterministic_across_seeds(policy, engine):
    model, tok = policy
    s = HFSampler(model, tok, engine=engine)
    assert s.sample(PROMPTS, n=2, max_new_tokens=5, temperature=0.0, seed=0) == s.sample(
        PROMPTS, n=2, max_new_tokens=5, temperature=0.0, seed=99
    )


def test_loop_and_generate_agree_on_greedy_decoding(policy):
    model, tok = policy
    a = HFSampler(model, tok, engine="loop").sample(MIXED, n=2, max_new_tokens=8, temperature=0.0, seed=0)
    b = HFSampler(model, tok, engine="generate").sample(MIXED, n=2, max_new_tokens=8, temperature=0.0, seed=0)
    assert [[x.token_ids for x in g] for g in a] == [[x.token_ids for x in g] for g in b]
    for ga, gb in zip(a, b, strict=True):
        for x, y in zip(ga, gb, strict=True):
            assert x.logprobs == pytest.approx(y.logprobs, abs=1e-5)


def test_loop_sampling_follows_the_policy_distribution(policy):
    """The first token's empirical frequencies match the policy's next-token distribution."""
    model, tok = policy
    n = 4000
    out = HFSampler(model, tok).sample(["3 + 1="], n=n, max_new_tokens=1, temperature=1.0, seed=5)[0]
    ids = torch.tensor([tok("3 + 1=", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=ids).logits[0, -1].float(), -1)
    counts = torch.bincount(torch.tensor([x.token_ids[0] for x in out]), minlength=probs.numel()).float()
    assert (counts / n - probs).abs().max().item() < 0.03  # ~4 sigma for p(1-p)/n at p=0.5


def test_bad_arguments_are_rejected(policy):
    model, tok = policy
    s = HFSampler(model, tok)
    with pytest.raises(ValueError, match="n must"):
        s.sample(PROMPTS, n=0, max_new_tokens=5, temperature=1.0, seed=0)
    with pytest.raises(ValueError, match="empty prompt"):
        s.sample([[]], n=1, max_new_tokens=5, temperature=1.0, seed=0)
    with pytest.raises(ValueError, match="engine"):
        HFSampler(model, tok, engine="fast")
