"""A tiny Qwen2 model and a character-level tokenizer, built locally (no hub needed).

`init_tiny(path)` writes a randomly initialised ``Qwen2ForCausalLM`` (about 80k parameters by
default) and a tokenizer over printable ASCII, one token per character, to ``path`` in the
standard ``save_pretrained`` layout, so ``AutoModelForCausalLM.from_pretrained(path)``,
``AutoTokenizer.from_pretrained(path)`` and vLLM all load it.

The tokenizer is byte-level, as Qwen2's is: each character's vocabulary entry is its byte-level
symbol (``" "`` is ``"Ġ"``, ``"\\n"`` is ``"Ċ"``; printable non-space characters are themselves).
That is what makes it survive ``AutoTokenizer``: transformers 5 loads every ``qwen2`` checkpoint
as ``Qwen2Tokenizer``, which keeps only the vocabulary from ``tokenizer.json`` and rebuilds the
byte-level pipeline around it. Text over the alphabet therefore encodes to the same ids, and
decodes back exactly (spaces and newlines included), both built here and loaded from disk.

A character outside the alphabet encodes to one ``<unk>`` per UTF-8 byte, built here and
through ``AutoTokenizer`` alike. ``Qwen2Tokenizer`` builds its BPE without an unknown token (a
byte with no vocabulary entry would be dropped), so the vocabulary also maps every byte-level
symbol outside the alphabet to ``<unk>``'s id: several strings share id 2, and ``len(tokenizer)``
(which counts vocabulary strings) exceeds the model's ``vocab_size`` (the distinct ids,
``len(alphabet) + 3``). Decoding ``<unk>`` gives ``"<unk>"`` (or nothing with
``skip_special_tokens``): unknown characters do not round-trip. ``tokenizers`` serialises one
string per id, so a pickled loaded tokenizer (its JSON) decodes id 2 to an arbitrary byte: send
it to another process as ``save_pretrained`` files passed through `keep_unknown_bytes`, as the
async rollout worker does.

The tokenizer carries `CHAT_TEMPLATE` (system, user, assistant and tool turns, tool schemas
through ``apply_chat_template(..., tools=...)``) when the alphabet spells its markers; the
default alphabet does.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

__all__ = [
    "ALPHABET",
    "ARITHMETIC_ALPHABET",
    "CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "build_char_tokenizer",
    "init_tiny",
    "keep_unknown_bytes",
]

SPECIAL_TOKENS = ("<pad>", "<eos>", "<unk>")
"""Padding, end of sequence (generation stops on it) and unknown character."""

ALPHABET = "".join(dict.fromkeys(string.printable))
"""The default characters that get their own token: ``string.printable`` (100 characters)."""

ARITHMETIC_ALPHABET = "0123456789 +-*/=."
"""A small alphabet for arithmetic demos: a 20-token vocabulary explores far faster from scratch."""

CHAT_TEMPLATE = (
    "{%- if tools %}<|system|>\n"
    "{% if messages and messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}\n{% endif %}"
    "Tools:\n"
    "{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}"
    "<|end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] not in ('system', 'user', 'assistant', 'tool') %}"
    "{{ raise_exception('unknown role: ' ~ message['role']) }}"
    "{% endif %}"
    "{% if not (tools and loop.first and message['role'] == 'system') %}"
    "<|{{ message['role'] }}|>\n"
    "{% if message['content'] %}{{ message['content'] }}\n{% endif %}"
    "{% for call in message['tool_calls'] or [] %}"
    "<tool_call>{{ call['function'] | tojson }}</tool_call>\n"
    "{% endfor %}"
    "<|end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
"""A small chat template: each turn is ``<|role|>\\n{content}\\n<|end|>\\n``.

Roles are ``system``, ``user``, ``assistant`` and ``tool`` (any other raises). Tool schemas
(``tools=``) go into a leading system turn, one JSON object a line after ``Tools:``, with the
conversation's own system message (if any) above them. An assistant turn's OpenAI-style
``tool_calls`` are rendered as ``<tool_call>{"name": ..., "arguments": ...}</tool_call>`` lines.
``add_generation_prompt`` opens an assistant turn. The markers are plain characters, not special
tokens, so the vocabulary (and the model) is the same with or without the template.
"""

_CHAT_CHARACTERS = frozenset(
    re.sub(r"{%.*?%}|{{.*?}}", "", CHAT_TEMPLATE) + "system" + "user" + "assistant" + "tool"
)
"""The characters the template writes itself (markers and role names): the alphabet must hold them."""


def build_char_tokenizer(alphabet: str = ALPHABET) -> Any:
    """A ``PreTrainedTokenizerFast`` with one token per character of ``alphabet``.

    Token ids are ``<pad>`` 0, ``<eos>`` 1, ``<unk>`` 2, then the alphabet's characters in
    order. Built with the ``tokenizers`` library as a byte-level BPE with no merges (the pipeline
    transformers' ``Qwen2Tokenizer`` rebuilds on load: NFC, byte-level symbols, byte-level
    decoding), so encoding is exact and ``decode(encode(s)) == s`` for any string over
    ``alphabet``; a character outside it encodes to one ``<unk>`` per UTF-8 byte (every other
    byte-level symbol is in the vocabulary with ``<unk>``'s id, see the module docstring). Carries
    `CHAT_TEMPLATE` when every character the template writes is in ``alphabet``, else no chat
    template. Raises ``ValueError`` unless ``alphabet`` is non-empty, distinct ASCII characters.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if not alphabet or len(set(alphabet)) != len(alphabet) or not alphabet.isascii():
        raise ValueError("alphabet must be a non-empty string of distinct ASCII characters")
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    symbols = [byte_level.pre_tokenize_str(c)[0][0] for c in alphabet]
    vocab = {t: i for i, t in enumerate([*SPECIAL_TOKENS, *symbols])}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.normalizer = normalizers.NFC()  # type: ignore[assignment]
    tok.pre_tokenizer = byte_level  # type: ignore[assignment]
    tok.decoder = decoders.ByteLevel()  # type: ignore[assignment]
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    if _CHAT_CHARACTERS.issubset(alphabet):
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


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

    The tokenizer is `build_char_tokenizer`'s (with `CHAT_TEMPLATE` when ``alphabet`` spells
    it); the vocabulary size is ``len(alphabet) + 3``. The same ``seed`` gives bit-identical
    weights. Returns ``path``.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out = Path(path)
    tokenizer = build_char_tokenizer(alphabet)
    config = Qwen2Config(
        vocab_size=len(SPECIAL_TOKENS) + len(alphabet),  # distinct ids (see the module docstring)
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
    keep_unknown_bytes(out)
    return out


def keep_unknown_bytes(directory: str | Path) -> bool:
    """Give every byte-level symbol missing from a saved char tokenizer's vocabulary ``<unk>``'s id.

    ``Qwen2Tokenizer`` (what ``AutoTokenizer`` loads for a ``qwen2`` checkpoint) rebuilds the
    BPE from the vocabulary alone, without an unknown token: a byte with no entry would vanish.
    With these entries it becomes ``<unk>``, as in the tokenizer built here. Saving a loaded
    tokenizer again drops them (``tokenizers`` writes one string per id), so whatever saves a
    tokenizer (`init_tiny`, the trainers' export) calls this after ``save_pretrained``.

    Touches only ``directory/tokenizer.json`` files of this module's kind (a merge-free BPE
    whose vocabulary starts with `SPECIAL_TOKENS`); returns whether it changed the file.
    """
    import json

    from tokenizers import pre_tokenizers

    path = Path(directory) / "tokenizer.json"
    if not path.is_file():
        return False
    data = json.loads(path.read_text(encoding="utf-8"))
    model = data.get("model") or {}
    vocab = model.get("vocab")
    added = {a.get("content"): a.get("id") for a in data.get("added_tokens") or []}
    if (
        model.get("type") != "BPE"
        or model.get("merges")
        or not isinstance(vocab, dict)
        or [added.get(t) for t in SPECIAL_TOKENS] != list(range(len(SPECIAL_TOKENS)))
    ):
        return False
    unk = SPECIAL_TOKENS.index("<unk>")
    before = dict(vocab)
    vocab["<unk>"] = unk  # a re-save may have written another symbol of that id instead
    for symbol in pre_tokenizers.ByteLevel.alphabet():
        vocab.setdefault(symbol, unk)
    if vocab == before:
        return False
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return True
