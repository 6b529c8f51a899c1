"""extract_answer: where the final answer of a response is, and that finding it stays linear."""

import time

import pytest

from assay.verifiers.math.extract import answer_like, extract_answer

CASES = [
    # boxes
    ("We find $x = \\boxed{12}$.", "12"),
    ("\\boxed{\\frac{a}{b+\\{c\\}}}", "\\frac{a}{b+\\{c\\}}"),
    ("\\fbox{7}", "7"),
    ("over-escaped: \\\\boxed{9}", "9"),
    ("\\boxed {5}", "5"),
    ("first \\boxed{1}, then after some more work we get \\boxed{2}.", "2"),
    ("The roots are \\boxed{-3} and \\boxed{4}.", "-3, 4"),
    ("$\\boxed{(1, 2)}$, $\\boxed{(2, 1)}$", "(1, 2), (2, 1)"),
    ("\\boxed{3} or \\boxed{5}", "3, 5"),
    ("\\boxed{3}. Hmm, let me check again, the answer is \\boxed{5}.", "5"),
    ("\\boxed{3}\n\nWait, I made an error. \\boxed{4}", "4"),
    ("a truncated ending \\boxed{\\frac{1}{2", "\\frac{1}{2"),
    # tags and markers
    ("<think>maybe \\boxed{3}</think> The answer is 4.", "4"),
    ("<answer> 17 </answer>", "17"),
    ("The answer is 25.", "25"),
    ("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", "$\\frac{3}{4}$"),
    ("**Final Answer:** 8", "8"),
    ("Final Answer:\n\n$$x = 2$$", "$$x = 2$$"),
    ("Final Answer: The largest $k$ is 34.", "34"),
    ("Final Answer: Jo started 3 hours ago.", "3"),
    ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "72"),
    ("#### 1,200", "1,200"),
    ("\\boxed{200} ... later ... Final Answer: The final answer is $455$.", "$455$"),
    ("The answer is \\boxed{6}. It checks out.", "6"),
    # chat stop tokens
    ("so it is \\boxed{2}<|im_end|>\n<|im_start|>user\n\\boxed{9}", "2"),
    # fallback
    ("1 000", "1 000"),
    ("\\frac{1}{3} \\text{meters}", "\\frac{1}{3} \\text{meters}"),
    ("Evelyn", "Evelyn"),
    ("7", "7"),
    ("$$\\text{The midpoints form a regular hexagon}$$", "\\text{The midpoints form a regular hexagon}"),
    ("I have no idea how to approach this problem at all.", None),
    ("", None),
]

LAST_CASES = [  # fallback="last" (opt-in flexible extraction): the last math span or number in prose
    ("unboxed{5} is not a box, 6 is the last number", "6"),
    ("Therefore $x \\geq 5$ is the solution.", "x \\geq 5"),
    ("so the probability is 2/3.", "2/3"),
    ("there are 12 ways in total, as claimed.", "12"),
    ("the code AZYUK2A is not a number", None),
    ("I have no idea how to approach this problem at all.", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected
    assert extract_answer(text, fallback="last") == expected


@pytest.mark.parametrize(("text", "expected"), LAST_CASES)
def test_last_number_fallback_is_an_explicit_opt_in(text, expected):
    assert extract_answer(text, fallback="last") == expected
    assert extract_answer(text) is None


def test_fallback_can_be_turned_off():
    assert extract_answer("there are 12 ways", fallback="none") is None
    assert extract_answer("12", fallback="none") is None
    assert extract_answer("so \\boxed{12}", fallback="none") == "12"


@pytest.mark.parametrize("bad", [True, False, "lenient"])
def test_fallback_must_be_named(bad):
    with pytest.raises(ValueError, match="fallback"):
        extract_answer("12", fallback=bad)


PROSE = [  # TRUST 18: several candidates in prose, no marker: (text, default, with fallback="last")
    ("I think 41 or 42", None, "42"),
    ("Candidates: 3, 5, 7", None, "7"),
    ("1 2 3 525", "1 2 3 525", "1 2 3 525"),  # all of it is one answer: a list, not 525
]


@pytest.mark.parametrize(("text", "default", "last"), PROSE)
def test_no_number_is_picked_out_of_prose_with_several_candidates(text, default, last):
    assert extract_answer(text) == default
    assert extract_answer(text, fallback="last") == last


REASONING = [  # TRUST 19: (completion, extracted)
    ("<think>maybe \\boxed{525}? no</think> I do not know", None),
    ("<think>the answer is 525", None),
    ("<think>so \\boxed{525", None),
    ("<think>first</think> ok <think>then \\boxed{525}", None),
    ("<think>maybe \\boxed{3}</think> The answer is 525.", "525"),
    ("<think>maybe 3</think>\n525", "525"),
    ("reasoning opened in the prompt</think> \\boxed{525}", "525"),
]


@pytest.mark.parametrize(("text", "expected"), REASONING)
def test_reasoning_blocks_are_never_the_answer(text, expected):
    assert extract_answer(text) == expected
    assert extract_answer(text, fallback="last") == expected


def test_reasoning_tags_are_configurable():
    text = "<reasoning>\\boxed{3}</reasoning> \\boxed{4}"
    assert extract_answer(text, reasoning=("<reasoning>", "</reasoning>")) == "4"
    assert extract_answer("<reasoning>\\boxed{3}", reasoning=("<reasoning>", "</reasoning>")) is None
    assert extract_answer("<think>\\boxed{3}", reasoning=("<reasoning>", "</reasoning>")) == "3"


def test_a_hedge_is_not_a_bare_answer():
    assert not answer_like("I do not know")
    assert not answer_like("not sure")
    assert answer_like("Evelyn") and answer_like("no solution")


def test_non_string_is_a_type_error():
    with pytest.raises(TypeError):
        extract_answer(12)  # type: ignore[arg-type]


def test_answer_like():
    assert answer_like("$x \\in [-2, 7]$")
    assert answer_like("10 square units")
    assert answer_like("Evelyn")
    assert not answer_like("The largest $n$ is 34")


ADVERSARIAL = {
    "10 MB of prose then a box": "Let me think. " * 750_000 + "\\boxed{42}",
    "10 MB of prose, no answer": "Let me think about 3 things. " * 350_000,
    "a million unclosed boxes": "\\boxed{" * 1_400_000,
    "a million boxes": "\\boxed{1}" * 1_100_000,
    "a million 'answer' words": "answer " * 1_400_000,
    "a million markers": "the answer is " * 700_000,
    "a million answer tags": "<answer>" * 1_200_000,
    "5M nested braces": "\\boxed{" + "{" * 5_000_000 + "1" + "}" * 5_000_000 + "}",
    "10M dollars": "$" * 10_000_000,
    "10M digits": "9" * 10_000_000,
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_extraction_of_ten_megabytes_is_fast(name):
    start = time.monotonic()
    extract_answer(ADVERSARIAL[name])
    assert time.monotonic() - start < 0.5, name
