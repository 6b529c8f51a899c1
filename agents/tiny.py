"""A tiny Qwen2 model and a character-level tokenizer, built locally (no hub needed).

`init_tiny(path)` writes a randomly initialised ``Qwen2ForCausalLM`` (about 80k parameters by
default) and a tokenizer over printable ASCII, one token per character, to ``path`` in the
standard ``save_pretrained`` layout, so ``AutoModelForCausalLM.from_pretrained(path)``,
``AutoTokenizer.from_pretrained(path)`` and vLLM all load it. Characters outside the alphabet
encode to ``<unk>``.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

__all__ = ["ALPHABET", "ARITHMETIC_ALPHABET", "SPECIAL_TOKENS", "build_char_tokenizer", "init_tiny"]

SPECIAL_TOKENS = ("<pad>", "<eos>", "<unk>")
"""Padding, end of sequence (generation stops on it) and unknown character."""

ALPHABET = "".join(dict.fromkeys(string.printable))
"""The default characters that get their own token: ``string.printable`` (100 characters)."""

ARITHMETIC_ALPHABET = "0123456789 +-*/=."
"""A small alphabet for arithmetic demos: a 20-token vocabulary explores far faster from scratch."""


def build_char_tokenizer(alphabet: str = ALPHABET) -> Any:
    """A ``PreTrainedTokenizerFast`` with one token per character of ``alphabet``.

    Built with the ``tokenizers`` library as a BPE model with no merges, so encoding is exact
    and ``decode(encode(s)) == s`` for any string over ``alphabet``.
    """
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    if len(set(alphabet)) != len(alphabet) or not alphabet:
        raise ValueError("alphabet must be a non-empty string of distinct characters")
    vocab = {t: i for i, t in enumerate([*SPECIAL_TOKENS, *alphabet])}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def init_tiny(
    path: str | Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    num_kv_heads: int = 1,
    intermediate_size: int = 128,
    max_position_embeddings: int = 512,
    alphabet: str = ALPHABET,
    seed: int = 0,
) -> Path:
    """Write a randomly initialised tiny Qwen2 causal LM and its char tokenizer to ``path``.

    The same ``seed`` gives bit-identical weights. Returns ``path``.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out = Path(path)
    tokenizer = build_char_tokenizer(alphabet)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    # Plain sampling by default: no top-k/top-p that would make the sampler's log-probs differ
    # from the policy's.
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
