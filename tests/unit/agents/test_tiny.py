"""The tiny model's tokenizer: exact round trips through `AutoTokenizer` and a chat template."""

import json

import pytest

pytest.importorskip("transformers")

from jinja2 import TemplateError
from transformers import AutoTokenizer

from assay.agents.tiny import (
    ALPHABET,
    ARITHMETIC_ALPHABET,
    CHAT_TEMPLATE,
    SPECIAL_TOKENS,
    build_char_tokenizer,
)

TEXTS = ["a b\nc", "  two  spaces\n\nand\ttabs\r\n", "x = {'k': [1, 2]}; print(x)\n", ALPHABET]

ADD_TOOL = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
}

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2 + 3?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 3}}}
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "name": "add", "content": "5"},
    {"role": "assistant", "content": "5"},
]


@pytest.fixture(scope="module")
def loaded(tiny_dir):
    return AutoTokenizer.from_pretrained(str(tiny_dir))


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("text", TEXTS)
def test_text_over_the_alphabet_round_trips_through_auto_tokenizer(loaded, text):
    ids = _ids(loaded, text)
    assert len(ids) == len(text)  # one token per character, none dropped
    assert loaded.decode(ids) == text
    assert ids == _ids(build_char_tokenizer(), text)  # the same ids as the tokenizer built here


@pytest.mark.parametrize("alphabet", [ALPHABET, ARITHMETIC_ALPHABET])
def test_token_ids_are_the_specials_then_the_alphabet_in_order(tmp_path, alphabet):
    from assay.agents.tiny import init_tiny

    tok = AutoTokenizer.from_pretrained(str(init_tiny(tmp_path / "m", hidden_size=8, alphabet=alphabet)))
    assert len(set(tok.get_vocab().values())) == len(alphabet) + 3  # unknown bytes share <unk>'s id
    assert tok.convert_tokens_to_ids(list(SPECIAL_TOKENS)) == [0, 1, 2]
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    assert _ids(tok, alphabet) == list(range(3, len(alphabet) + 3))


def test_unknown_characters_become_unk_built_and_through_auto_tokenizer(loaded):
    built = build_char_tokenizer()
    assert _ids(built, "aéb") == [*_ids(built, "a"), 2, 2, *_ids(built, "b")]  # one <unk> a byte
    assert built.decode(_ids(built, "a€")) == "a<unk><unk><unk>"
    # AutoTokenizer loads a qwen2 checkpoint as Qwen2Tokenizer, whose BPE has no unknown token:
    # the saved vocabulary maps every other byte to <unk>'s id so nothing is dropped
    assert type(loaded).__name__ == "Qwen2Tokenizer"
    assert _ids(loaded, "a b\nc é€") == _ids(built, "a b\nc é€")
    assert loaded.decode(_ids(loaded, "a\tπ")) == "a\t<unk><unk>"


def test_a_resaved_tokenizer_keeps_unknown_characters_as_unk(tmp_path, loaded):
    from assay.agents.tiny import keep_unknown_bytes

    loaded.save_pretrained(tmp_path)  # tokenizers writes one string per id: the <unk> entries go
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    assert _ids(AutoTokenizer.from_pretrained(str(tmp_path)), "aé") == _ids(loaded, "a")
    assert keep_unknown_bytes(tmp_path) and not keep_unknown_bytes(tmp_path)  # idempotent
    again = AutoTokenizer.from_pretrained(str(tmp_path))
    assert _ids(again, "aé") == [*_ids(loaded, "a"), 2, 2]
    assert again.chat_template == CHAT_TEMPLATE


def test_special_tokens_in_text_encode_as_themselves(loaded):
    assert _ids(loaded, "ab<eos>") == [*_ids(loaded, "ab"), 1]
    assert loaded.decode([*_ids(loaded, "a b"), 1], skip_special_tokens=True) == "a b"


def test_the_chat_template_renders_every_role(loaded):
    assert loaded.chat_template == CHAT_TEMPLATE
    text = loaded.apply_chat_template(CONVERSATION, tokenize=False)
    call = json.dumps({"name": "add", "arguments": {"a": 2, "b": 3}})
    assert text == (
        "<|system|>\nBe brief.\n<|end|>\n"
        "<|user|>\nWhat is 2 + 3?\n<|end|>\n"
        f"<|assistant|>\n<tool_call>{call}</tool_call>\n<|end|>\n"
        "<|tool|>\n5\n<|end|>\n"
        "<|assistant|>\n5\n<|end|>\n"
    )
    assert loaded.decode(_ids(loaded, text)) == text


def test_the_generation_prompt_opens_an_assistant_turn(loaded):
    messages = [{"role": "user", "content": "hi"}]
    closed = loaded.apply_chat_template(messages, tokenize=False)
    assert closed == "<|user|>\nhi\n<|end|>\n"
    assert loaded.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == (
        closed + "<|assistant|>\n"
    )


def test_tool_schemas_go_into_the_system_turn(loaded):
    text = loaded.apply_chat_template(
        CONVERSATION[:2], tools=[ADD_TOOL], tokenize=False, add_generation_prompt=True
    )
    assert text == (
        f"<|system|>\nBe brief.\nTools:\n{json.dumps(ADD_TOOL)}\n<|end|>\n"
        "<|user|>\nWhat is 2 + 3?\n<|end|>\n<|assistant|>\n"
    )
    bare = loaded.apply_chat_template(CONVERSATION[1:2], tools=[ADD_TOOL], tokenize=False)
    assert bare.startswith(f"<|system|>\nTools:\n{json.dumps(ADD_TOOL)}\n<|end|>\n<|user|>\n")
    ids = loaded.apply_chat_template(CONVERSATION[1:2], tools=[ADD_TOOL], tokenize=True, return_dict=False)
    assert loaded.decode(ids) == bare


def test_an_unknown_role_raises(loaded):
    with pytest.raises(TemplateError, match="unknown role: critic"):
        loaded.apply_chat_template([{"role": "critic", "content": "no"}], tokenize=False)


def test_an_alphabet_that_cannot_spell_the_markers_gets_no_template(arith_dir):
    tok = AutoTokenizer.from_pretrained(str(arith_dir))
    assert tok.chat_template is None
    assert build_char_tokenizer(ARITHMETIC_ALPHABET).chat_template is None


@pytest.mark.parametrize("alphabet", ["", "aa", "abé"])
def test_bad_alphabets_are_refused(alphabet):
    with pytest.raises(ValueError, match="distinct ASCII"):
        build_char_tokenizer(alphabet)
