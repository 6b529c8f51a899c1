"""LeanDecoder: the same logits as transformers' forward, for every family it accepts, through
padding, group repeats and dropped rows; refusal (and the sampler's fallback) for the rest."""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from assay.agents.lean import LeanDecoder  # noqa: E402
from assay.agents.sampler import HFSampler  # noqa: E402
from assay.agents.tiny import ARITHMETIC_ALPHABET, build_char_tokenizer  # noqa: E402

COMMON = dict(
    vocab_size=24, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=48, max_position_embeddings=64, pad_token_id=0, eos_token_id=1,
)  # fmt: skip


def _model(kind: str):
    t = transformers
    configs = {
        "qwen2": lambda: t.Qwen2ForCausalLM(t.Qwen2Config(**COMMON, tie_word_embeddings=True)),
        "llama": lambda: t.LlamaForCausalLM(t.LlamaConfig(**COMMON, attention_bias=False)),
        "llama-bias-mha": lambda: t.LlamaForCausalLM(
            t.LlamaConfig(**{**COMMON, "num_key_value_heads": 4}, attention_bias=True)
        ),
        "llama3-rope": lambda: t.LlamaForCausalLM(
            t.LlamaConfig(
                **COMMON,
                rope_scaling={
                    "rope_type": "llama3",
                    "factor": 8.0,
                    "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 16,
                    "rope_theta": 10000.0,
                },
            )
        ),
        "qwen3": lambda: t.Qwen3ForCausalLM(t.Qwen3Config(**COMMON, head_dim=8)),
        "mistral": lambda: t.MistralForCausalLM(t.MistralConfig(**COMMON, sliding_window=None)),
    }
    torch.manual_seed(0)
    model = configs[kind]()
    with torch.no_grad():  # random biases/norm weights, so a skipped one would show
        for name, p in model.named_parameters():
            if name.endswith(("bias", "norm.weight")):
                p.normal_(0, 0.5 if name.endswith("bias") else 1.0)
    return model.eval()


def _reference(model, ids, attention):
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return model(input_ids=ids, attention_mask=attention, position_ids=positions).logits[:, -1].float()


@pytest.mark.parametrize("kind", ["qwen2", "llama", "llama-bias-mha", "llama3-rope", "qwen3", "mistral"])
@pytest.mark.parametrize("padded", [False, True])
def test_logits_match_transformers_through_decoding(kind, padded):
    model = _model(kind)
    assert LeanDecoder.unsupported(model) == ""
    if kind == "llama3-rope":
        assert model.model.rotary_emb.rope_type == "llama3"
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(2, 24, (3, 5), generator=gen)
    attention = torch.ones_like(ids)
    if padded:
        attention[1, :2] = 0
        attention[2, :4] = 0
    with torch.no_grad():
        dec = LeanDecoder(model, max_len=16)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        got = dec.prefill(ids, attention, positions)
        assert torch.allclose(got, _reference(model, ids, attention), atol=1e-5)
        dec.repeat(2)  # rows 0,0,1,1,2,2
        ids, attention = ids.repeat_interleave(2, 0), attention.repeat_interleave(2, 0)
        position = positions[:, -1:].repeat_interleave(2, 0)
        for t in range(6):
            if t == 3:  # drop rows 0 and 3
                keep = torch.tensor([1, 2, 4, 5])
                dec.select(keep)
                ids, attention, position = ids[keep], attention[keep], position[keep]
            nxt = torch.randint(2, 24, (ids.shape[0],), generator=gen)
            position = position + 1
            got = dec.step(nxt, position)
            ids = torch.cat([ids, nxt[:, None]], 1)
            attention = torch.cat([attention, torch.ones_like(nxt)[:, None]], 1)
            assert torch.allclose(got, _reference(model, ids, attention), atol=1e-5), (kind, t)


def test_lora_adapters_take_part():
    peft = pytest.importorskip("peft")
    model = _model("qwen2")
    lora = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules="all-linear", lora_dropout=0.0))
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)  # B starts at zero: make the adapters matter
        ids = torch.randint(2, 24, (2, 4))
        attention = torch.ones_like(ids)
        got = LeanDecoder(lora, max_len=8).prefill(ids, attention, (attention.cumsum(-1) - 1))
        assert torch.allclose(got, _reference(lora, ids, attention), atol=1e-5)
        with lora.disable_adapter():
            plain = _reference(lora, ids, attention)
        assert (got - plain).abs().max().item() > 1e-3  # the adapters changed the logits


def test_other_models_are_refused_and_the_sampler_falls_back():
    t = transformers
    sliding = t.MistralForCausalLM(t.MistralConfig(**COMMON, sliding_window=4))
    assert "sliding" in LeanDecoder.unsupported(sliding)
    gpt2 = t.GPT2LMHeadModel(
        t.GPT2Config(vocab_size=24, n_embd=32, n_layer=1, n_head=2, n_positions=32)
    ).eval()
    assert "model type" in LeanDecoder.unsupported(gpt2)
    with pytest.raises(ValueError, match="cannot run"):
        LeanDecoder(gpt2, 8)
    tok = build_char_tokenizer(ARITHMETIC_ALPHABET)
    out = HFSampler(gpt2, tok).sample(["1+2="], n=2, max_new_tokens=3, seed=0)  # falls back
    assert [len(g) for g in out] == [2]
    with pytest.raises(ValueError, match="engine='lean'"):
        HFSampler(gpt2, tok, engine="lean").sample(["1+2="], n=2, max_new_tokens=3, seed=0)


def test_lean_and_transformers_loops_sample_alike(arith_dir):
    from assay.agents.policy import load_policy

    model, tok = load_policy(arith_dir)
    prompts = ["1 + 2=", "13 + 4 + 22=", "4="]
    a = HFSampler(model, tok, engine="lean").sample(prompts, n=8, max_new_tokens=8, seed=3)
    b = HFSampler(model, tok, engine="hf-loop").sample(prompts, n=8, max_new_tokens=8, seed=3)
    assert [[x.token_ids for x in g] for g in a] == [[x.token_ids for x in g] for g in b]
    for ga, gb in zip(a, b, strict=True):
        for x, y in zip(ga, gb, strict=True):
            assert x.logprobs == pytest.approx(y.logprobs, abs=1e-5)
