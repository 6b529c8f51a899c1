"""Call formats: JSON function calls and tag formats read and write the same calls."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.envs.tools import JsonCalls, TagCalls, ToolResult
from assay.envs.tools.calls import call_format

FORMATS = [
    JsonCalls(),
    TagCalls(),
    TagCalls("<function_call>", "</function_call>", "<result>", "</result>", args_key="parameters"),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
calls_strategy = st.lists(
    st.tuples(
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
        st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    ),
    min_size=1,
    max_size=4,
)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name + getattr(f, "call_open", ""))
@given(calls=calls_strategy)
def test_render_then_parse_round_trips(fmt, calls):
    parsed = fmt.parse(fmt.render_calls(calls, turn=3), turn=3)
    assert parsed.error is None and not parsed.final
    assert [(c.name, c.arguments) for c in parsed.calls] == [(n, a) for n, a in calls]
    assert all(c.error is None for c in parsed.calls)
    assert [c.id for c in parsed.calls] == [f"call_3_{i}" for i in range(len(calls))]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name + getattr(f, "call_open", ""))
@given(text=st.text(max_size=200).filter(lambda s: "<" not in s and not s.lstrip().startswith("{")))
def test_text_without_calls_is_final(fmt, text):
    parsed = fmt.parse(text, turn=1)
    assert parsed.final and parsed.content.strip() == text.strip()


def test_json_message_with_arguments_as_object_and_own_id():
    action = json.dumps(
        {
            "content": "thinking",
            "tool_calls": [{"id": "abc", "function": {"name": "f", "arguments": {"x": 1}}}],
        }
    )
    parsed = JsonCalls().parse(action, 1)
    assert (
        parsed.content == "thinking" and parsed.calls[0].id == "abc" and parsed.calls[0].arguments == {"x": 1}
    )


def test_json_content_only_message_is_final_with_its_content():
    parsed = JsonCalls().parse(json.dumps({"role": "assistant", "content": "<answer>4</answer>"}), 1)
    assert parsed.final and parsed.content == "<answer>4</answer>"


@pytest.mark.parametrize(
    ("action", "error"),
    [
        ('{"tool_calls": [{"function": {"name": "f", "arguments": "{}"}', "bad JSON"),
        ('{"tool_calls": {"name": "f"}}', "'tool_calls' must be a list"),
        ('{"content": 5, "tool_calls": []}', "'content' must be a string"),
    ],
)
def test_json_unreadable_message_is_an_action_error(action, error):
    parsed = JsonCalls().parse(action, 1)
    assert not parsed.final and parsed.error is not None and error in parsed.error


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ({"function": {"name": "f", "arguments": "{not json"}}, "bad JSON"),
        ({"function": {"name": "f", "arguments": "[1, 2]"}}, "arguments must be a JSON object"),
        ({"function": {"arguments": "{}"}}, "'name' must be a non-empty string"),
        ({"name": "f"}, "needs a 'function' object"),
        ("f(1)", "must be a JSON object"),
    ],
)
def test_json_malformed_call_is_a_call_error(call, error):
    parsed = JsonCalls().parse(json.dumps({"tool_calls": [call]}), 2)
    assert parsed.error is None and len(parsed.calls) == 1
    assert parsed.calls[0].error is not None and error in parsed.calls[0].error


def test_text_that_merely_starts_with_a_brace_is_an_answer():
    assert JsonCalls().parse("{1, 2, 3}", 1).final
    assert JsonCalls().parse('{"x": 1}', 1).final


@pytest.mark.parametrize(
    ("action", "error"),
    [
        ('<tool_call>{"name": "f", "arguments": {}}', "unclosed <tool_call>"),
        ("<tool_call>{bad}</tool_call>", "bad JSON"),
        ('<tool_call>["f"]</tool_call>', "must be a JSON object"),
        ('<tool_call>{"arguments": {}}</tool_call>', "'name' must be a non-empty string"),
        ('<tool_call>{"name": "f", "arguments": "{oops"}</tool_call>', "bad JSON in the arguments"),
    ],
)
def test_tag_malformed_call_is_a_call_error(action, error):
    parsed = TagCalls().parse(action, 1)
    assert not parsed.final and parsed.calls[0].error is not None and error in parsed.calls[0].error


def test_tag_text_around_calls_is_content():
    parsed = TagCalls().parse(
        'Let me add.\n<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>\nthen more', 1
    )
    assert parsed.content == "Let me add.\n\nthen more" and parsed.calls[0].arguments == {"a": 1}


def test_tag_arguments_as_json_string_are_accepted():
    parsed = TagCalls().parse('<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>', 1)
    assert parsed.calls[0].arguments == {"a": 1}


def test_results_render_per_format():
    results = [ToolResult("call_1_0", "f", "42"), ToolResult("call_1_1", "g", "error: no", ok=False)]
    assert json.loads(JsonCalls().render_results(results)) == [
        {"role": "tool", "tool_call_id": "call_1_0", "name": "f", "content": "42"},
        {"role": "tool", "tool_call_id": "call_1_1", "name": "g", "content": "error: no"},
    ]
    assert (
        TagCalls().render_results(results)
        == "<tool_response>\n42\n</tool_response>\n<tool_response>\nerror: no\n</tool_response>"
    )


def test_call_format_by_name_and_bad_tags():
    assert isinstance(call_format("json"), JsonCalls) and isinstance(call_format("tag"), TagCalls)
    with pytest.raises(ValueError, match="call format"):
        call_format("xml")
    with pytest.raises(ValueError, match="tags must be non-empty"):
        TagCalls(call_open="")
