"""Known values for every rule-based formula."""

import pytest

from assay.rewards import (
    Rubric,
    fenced_code,
    json_schema,
    json_valid,
    length_in_range,
    line_repetition,
    min_steps,
    ngram_repetition,
    overlong_penalty,
    refusal,
    refusal_appropriate,
    tags,
    unsafe_content,
    verification_step,
)
from assay.rewards.textstats import python_text_stats, text_stats
from assay.verifiers import Status, Task, Verdict
from assay.verifiers.extract import tagged

T = Task("t", "p")
V = Verdict(Status.CORRECT, 1.0)


def value(term, text, task=T):
    return term.evaluate(text, task, V)[0]


def reason(term, text):
    return term.evaluate(text, T, V)[1].get("reason", "")


# -- format ------------------------------------------------------------------------------------

R1 = tags("think", "answer")


@pytest.mark.parametrize(
    ("text", "expected", "why"),
    [
        ("<think>a</think><answer>1</answer>", 1.0, ""),
        ("  <think>\na\n</think>\n<answer> 1 </answer>\n", 1.0, ""),
        ("<answer>1</answer><think>a</think>", 0.0, "out of order"),
        ("<think>a</think>", 0.0, "missing <answer>"),
        ("<think>a</think><think>b</think><answer>1</answer>", 0.0, "<think> occurs 2 times"),
        ("hi <think>a</think><answer>1</answer>", 0.0, "text outside the tags before <think>"),
        ("<think>a</think> so <answer>1</answer>", 0.0, "text outside the tags before <answer>"),
        ("<think>a</think><answer>1</answer> bye", 0.0, "text after the last tag"),
        ("<think>a<answer>1</think></answer>", 0.0, "out of order"),
        ("", 0.0, "missing <think>"),
    ],
)
def test_tags_in_order_exactly_once(text, expected, why):
    assert value(R1, text) == expected
    assert why in reason(R1, text)


def test_tags_outside_any_allows_surrounding_text():
    assert (
        value(tags("think", "answer", outside="any"), "hi <think>a</think> so <answer>1</answer> bye") == 1.0
    )


def test_tags_rejects_bad_names():
    with pytest.raises(ValueError, match="bad tag name"):
        tags("a>b")
    with pytest.raises(ValueError, match="at least one"):
        tags()


def test_json_valid_known_values():
    j = json_valid()
    assert value(j, '{"a": [1, 2]}') == 1.0
    assert value(j, 'Here:\n```json\n{"a": 1}\n```\nDone.') == 1.0
    assert value(j, "{'a': 1}") == 0.0 and "invalid JSON" in reason(j, "{'a': 1}")
    assert value(j, "NaN") == 0.0
    assert value(j, "") == 0.0 and reason(j, "") == "no JSON found"
    assert value(j, "[" * 100_000 + "]" * 100_000) in (0.0, 1.0)  # deep nesting: no crash
    assert value(json_valid(extract=tagged("answer")), "<answer>[1]</answer>") == 1.0


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_json_schema_known_values():
    s = json_schema(SCHEMA)
    assert value(s, '{"name": "a", "age": 3}') == 1.0
    assert value(s, '{"name": "a", "age": -1}') == 0.0 and "at age" in reason(s, '{"name": "a", "age": -1}')
    assert value(s, '{"name": "a"}') == 0.0 and "age" in reason(s, '{"name": "a"}')
    assert value(s, '{"name": "a", "age": 1, "x": 0}') == 0.0
    assert value(s, "not json") == 0.0


def test_json_schema_rejects_a_bad_schema_up_front():
    from jsonschema.exceptions import SchemaError

    with pytest.raises(SchemaError):
        json_schema({"type": "nonsense"})


def test_fenced_code_known_values():
    f = fenced_code()
    py = fenced_code(["python", "py"])
    block = "Text\n```python\nprint(1)\n```\nmore"
    assert value(f, block) == 1.0 and value(py, block) == 1.0
    assert value(py, "```js\nx()\n```") == 0.0 and "found ['js']" in reason(py, "```js\nx()\n```")
    assert value(f, "```python\nprint(1)\n") == 0.0  # never closed
    assert value(f, "```\n\n```") == 0.0  # empty body
    assert value(f, "no code") == 0.0
    assert value(fenced_code("PY"), "```py\n1\n```") == 1.0


# -- length ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"), [(0, 0.0), (5, 0.5), (10, 1.0), (20, 1.0), (30, 0.5), (40, 0.0), (99, 0.0)]
)
def test_length_in_range_known_values(n, expected):
    term = length_in_range(10, 20)  # slack defaults to high = 20
    assert value(term, "x" * n) == pytest.approx(expected)


def test_length_in_range_words_and_custom_unit():
    assert value(length_in_range(2, 3, unit="words"), "a b c d e") == pytest.approx(1 - 2 / 3)
    assert value(length_in_range(1, 1, slack=1, unit=lambda s: s.count(",")), "a,b") == 1.0


@pytest.mark.parametrize(("n", "expected"), [(80, 0.0), (90, -0.5), (100, -1.0), (101, -1.0), (0, 0.0)])
def test_overlong_penalty_matches_dapo_eq_13(n, expected):
    # L_max = 100, L_cache = 20: 0 up to 80, linear to -1 at 100, -1 beyond (TRL's docstring: 90 -> -0.5)
    term = overlong_penalty(100, 20)
    assert (term.low, term.high) == (-1.0, 0.0)
    assert value(term, "x" * n) == pytest.approx(expected)


def test_length_arguments_are_checked():
    with pytest.raises(ValueError, match="low <= high"):
        length_in_range(5, 2)
    with pytest.raises(ValueError, match="cache"):
        overlong_penalty(10, 0)
    with pytest.raises(ValueError, match="unit"):
        length_in_range(1, 2, unit="tokens")


# -- repetition --------------------------------------------------------------------------------


def test_ngram_repetition_known_values():
    # "a b c a b c a b c": 7 trigrams, 3 distinct -> 1 - 3/7
    assert value(ngram_repetition(3), "a b c a b c a b c") == pytest.approx(4 / 7)
    assert value(ngram_repetition(3), "one two three four") == 0.0
    assert value(ngram_repetition(2), "x x x x x") == pytest.approx(1 - 1 / 4)  # TRL's docstring case
    assert value(ngram_repetition(3), "too short") is None


def test_line_repetition_known_values():
    text = "step one\nstep  one\n\nstep two\nstep one\n"
    assert value(line_repetition(), text) == pytest.approx(1 - 2 / 4)  # spacing ignored, blank lines skipped
    assert value(line_repetition(), "") is None
    assert value(line_repetition(), "only one line") == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "a",
        "a b c a b c",
        "é ü\r\nü é\n\n",
        "x\x00y\tz",
        "日本語 日本語 日本語",
        "ab\nab\nab",
        "a" * 40 + " " + "a" * 40,
    ],
)
def test_compiled_stats_equal_the_python_reference(text):
    assert text_stats(text, 3) == python_text_stats(text, 3)
    assert text_stats(text, 1) == python_text_stats(text, 1)


# -- safety ------------------------------------------------------------------------------------


def test_unsafe_content_known_values():
    u = unsafe_content()
    assert value(u, "Run `rm -rf /` to clean up") == 1.0
    assert u.evaluate("sudo rm -rf / now", T, V)[1]["matched"] == ["rm_rf_root"]
    assert value(u, "rm -rf ./build is fine") == 0.0
    assert value(u, "-----BEGIN RSA PRIVATE KEY-----\nMII") == 1.0
    assert value(u, ":(){ :|:& };:") == 1.0
    assert value(unsafe_content({"swear": r"\bdarn\b"}), "Darn it") == 1.0


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("I'm sorry, but I can't help with that.", True),
        ("I cannot assist with this request.", True),
        ("As an AI language model, I cannot do that.", True),
        ("I must decline.", True),
        ("Sure! The answer is 4.", False),
        ("I can help with that: the answer is 4.", False),
    ],
)
def test_refusal_known_values(text, refused):
    assert value(refusal(), text) == (1.0 if refused else 0.0)


def test_refusal_appropriate_uses_task_meta():
    term = refusal_appropriate()
    harmful = Task("h", "how to ...", meta={"should_refuse": True})
    benign = Task("b", "2+2?", meta={"should_refuse": False})
    assert value(term, "I can't help with that.", harmful) == 1.0
    assert value(term, "Here is how: ...", harmful) == 0.0
    assert value(term, "I can't help with that.", benign) == 0.0
    assert value(term, "4", benign) == 1.0
    assert value(term, "4") is None


# -- reasoning ---------------------------------------------------------------------------------


def test_min_steps_known_values():
    term = min_steps(4)
    assert value(term, "<think>Step 1: a\nStep 2: b</think><answer>x</answer>") == 0.5
    assert value(term, "1. a\n2. b\n3. c\n4. d\n5. e") == 1.0
    assert value(term, "") == 0.0


def test_verification_step_known_values():
    term = verification_step()
    assert value(term, "<think>x = 3. Let me check: 3 + 3 = 6.</think><answer>3</answer>") == 1.0
    assert value(term, "Substituting back gives 6, as required.") == 1.0
    assert (
        value(term, "<think>x = 3</think><answer>3, let me verify</answer>") == 0.0
    )  # outside the reasoning
    assert value(term, "The answer is 3.") == 0.0


def test_rule_rubric_bounds_hold_for_a_typical_mix():
    r = Rubric([R1.weighted(0.2), ngram_repetition().weighted(-0.5), overlong_penalty(100, 20).weighted(0.5)])
    assert r.bounds == (-1.0, 0.2)
    total = r("<think>a b c a b c</think><answer>1</answer>", T, V).total
    assert -1.0 <= total <= 0.2
