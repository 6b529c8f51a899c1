"""`token_logprobs`: the selective log-softmax equals the full one, scores only the positions
asked for, and never holds more than a chunk of full-vocabulary logits."""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from assay.agents.policy import position_ids, selective_logprobs, token_logprobs  # noqa: E402


def _model(vocab: int = 997, seed: int = 0):
    torch.manual_seed(seed)
    cfg = transformers.Qwen2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        vocab_size=vocab,
    )
    return transformers.Qwen2ForCausalLM(cfg).eval()


def _batch(vocab: int = 997):
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab, (3, 21), generator=gen)
    attn = torch.ones_like(ids)
    attn[0, 15:] = 0  # right padding, as `to_batch` pads
    attn[2, 19:] = 0
    mask = torch.zeros(3, 20)
    mask[:, 9:] = 1
    mask = mask * attn[:, 1:]
    return ids, attn, mask


def _full_softmax(model, ids, attn, temperature):
    """The reference: every position's full-vocabulary float32 log-softmax (the old code)."""
    logits = model(input_ids=ids, attention_mask=attn, position_ids=position_ids(attn)).logits
    logits = logits[:, :-1].float() / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_selective_logprobs_equal_full_softmax(temperature):
    model = _model()
    ids, attn, mask = _batch()
    want = _full_softmax(model, ids, attn, temperature)
    with torch.no_grad():
        every = token_logprobs(model, ids, attn, temperature=temperature, chunk=7)
        some = token_logprobs(model, ids, attn, temperature=temperature, positions=mask, chunk=5)
    torch.testing.assert_close(every, want.detach(), atol=1e-5, rtol=0)
    torch.testing.assert_close(some, want.detach() * mask, atol=1e-5, rtol=0)
    assert bool((some[mask == 0] == 0).all())


def test_selective_logprobs_gradients_equal_full_softmax():
    ids, attn, mask = _batch()
    a, b = _model(), _model()
    (_full_softmax(a, ids, attn, 0.9) * mask).sum().backward()
    token_logprobs(b, ids, attn, temperature=0.9, positions=mask, chunk=4).sum().backward()
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        torch.testing.assert_close(pb.grad, pa.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_head_runs_only_on_selected_positions_a_chunk_at_a_time():
    model = _model()
    ids, attn, mask = _batch()
    rows: list[int] = []
    model.lm_head.register_forward_hook(lambda m, i, out: rows.append(out.shape[0]))
    with torch.no_grad():
        token_logprobs(model, ids, attn, positions=mask, chunk=8)
    assert max(rows) <= 8  # never more than a chunk of full-vocabulary logits
    assert sum(rows) == int(mask.sum())  # no logits for prompt or padding positions


def test_a_model_without_a_separable_head_takes_the_plain_path():
    inner = _model()

    class Wrapped(torch.nn.Module):  # no get_decoder / get_output_embeddings
        def forward(self, **kw):
            return inner(**kw)

    ids, attn, mask = _batch()
    with torch.no_grad():
        got = token_logprobs(Wrapped(), ids, attn, temperature=0.7, positions=mask)
        want = token_logprobs(inner, ids, attn, temperature=0.7, positions=mask)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_selective_logprobs_of_nothing_is_empty():
    head = torch.nn.Linear(4, 10)
    out = selective_logprobs(head, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    assert out.shape == (0,) and out.dtype == torch.float32


@pytest.mark.parametrize("plain", [False, True])
def test_entropy_comes_from_the_same_selective_pass(plain):
    """``entropy=True``: the entropy of softmax(logits / T) at the selected positions only (0.0
    elsewhere), equal to the full-vocabulary one, chunked or not, on both paths; it has a
    gradient only with ``grad_entropy``, while the log-probs keep theirs."""
    inner = _model()

    class Wrapped(torch.nn.Module):  # no get_decoder / get_output_embeddings: the plain path
        def forward(self, **kw):
            return inner(**kw)

    model = Wrapped() if plain else inner
    ids, attn, mask = _batch()
    logits = inner(input_ids=ids, attention_mask=attn, position_ids=position_ids(attn)).logits
    z = logits[:, :-1].float().detach() / 0.7
    want = -(torch.softmax(z, dim=-1) * torch.log_softmax(z, dim=-1)).sum(-1) * mask
    rows: list[int] = []
    inner.lm_head.register_forward_hook(lambda m, i, out: rows.append(out.shape[0]))
    logp, ent = token_logprobs(model, ids, attn, temperature=0.7, positions=mask, chunk=6, entropy=True)
    torch.testing.assert_close(ent, want, atol=1e-5, rtol=0)
    assert bool((ent[mask == 0] == 0).all())
    assert logp.requires_grad and not ent.requires_grad
    if not plain:  # one head pass per chunk: entropy costs no second pass over the positions
        assert sum(rows) == int(mask.sum()) and max(rows) <= 6
    _, ent_g = token_logprobs(
        model, ids, attn, temperature=0.7, positions=mask, entropy=True, grad_entropy=True
    )
    assert ent_g.requires_grad
    ent_g.sum().backward()
    assert inner.lm_head.weight.grad is not None and bool(inner.lm_head.weight.grad.abs().sum() > 0)
