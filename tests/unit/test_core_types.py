import pickle

import pytest

from assay.rewards import CORRECTNESS, Reward, Rubric, Term, correct
from assay.verifiers import ExactMatch, NumberMatch, Status, Task, Verdict
from assay.verifiers.extract import (
    after_reasoning,
    answer_is,
    bare_answer,
    boxed,
    drop_reasoning,
    gsm8k_hash,
    last_boxed,
    last_number,
    tagged,
)
from assay.verifiers.match import DEFAULT_EXTRACT, FLEXIBLE_EXTRACT

TASK = Task(id="t/0", prompt="p", answer="4")


def test_task_is_frozen_and_pickles():
    with pytest.raises(AttributeError):
        TASK.answer = "5"  # type: ignore[misc]
    t = Task(id="a", prompt="b", answer="c", meta={"k": [1]})
    assert pickle.loads(pickle.dumps(t)) == t
    with pytest.raises(TypeError):
        t.meta["k"] = 2  # type: ignore[index]


def test_task_validates_fields():
    with pytest.raises(ValueError, match="id"):
        Task(id="", prompt="x")
    with pytest.raises(TypeError, match="prompt"):
        Task(id="a", prompt=3)  # type: ignore[arg-type]


def test_verdict_score_must_be_in_unit_interval():
    with pytest.raises(ValueError, match="score"):
        Verdict(Status.CORRECT, 1.5)
    with pytest.raises(ValueError, match="score"):
        Verdict(Status.CORRECT, float("nan"))


def test_verdict_round_trips_through_dict_and_pickle():
    v = Verdict(Status.INCORRECT, 0.0, "3", "3 != 4", {"cases": [1, 0]})
    assert Verdict.from_dict(v.to_dict()) == v
    assert pickle.loads(pickle.dumps(v)) == v
    assert v.to_dict()["status"] == "incorrect"


def test_rubric_total_is_weighted_sum_with_breakdown():
    rubric = Rubric(
        [Term("correct", correct, 1.0), Term("short", lambda c, t, v: 1.0 if len(c) < 5 else 0.0, 0.5)]
    )
    total, terms = rubric("ab", TASK, Verdict(Status.CORRECT, 1.0))
    assert total == 1.5 and terms == {"correct": 1.0, "short": 1.0}
    assert rubric.bounds == (0.0, 1.5)


def test_rubric_not_applicable_is_none_not_zero():
    rubric = Rubric([Term("na", lambda c, t, v: None), Term("correct", correct)])
    result = rubric("x", TASK, Verdict(Status.CORRECT, 1.0))
    assert isinstance(result, Reward)
    assert result.terms == {"na": None, "correct": 1.0} and result.total == 1.0


def test_rubric_clips_to_declared_range_and_rejects_duplicates():
    rubric = Rubric([Term("big", lambda c, t, v: 7.0, 2.0, 0.0, 1.0)])
    assert rubric("x", TASK, Verdict(Status.CORRECT, 1.0)).total == 2.0
    with pytest.raises(ValueError, match="duplicate"):
        Rubric([Term("a", correct), Term("a", correct)])


def test_negative_weight_bounds():
    rubric = Rubric([Term("correct", correct), Term("penalty", lambda c, t, v: 1.0, -0.5)])
    assert rubric.bounds == (-0.5, 1.0)
    assert CORRECTNESS.bounds == (0.0, 1.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x \\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\fbox{7}", "7"),
        ("\\boxed 5 done", "5"),
        ("\\boxed{a{b{c}}d}", "a{b{c}}d"),
        ("\\boxed{unclosed", None),
        ("no box", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


def test_boxed_is_linear_on_huge_nesting():
    import time

    start = time.perf_counter()
    assert boxed("\\boxed" + "{" * 100_000) == []
    assert last_boxed("\\boxed{1}" * 50_000) == "1"
    assert time.perf_counter() - start < 1.0


def test_other_extractors():
    assert tagged("answer")("<answer> 12 </answer> and <answer>13</answer>") == "13"
    assert tagged("answer")("<answer>12") is None
    assert answer_is("So the final answer is $42$.\nThanks") == "42"
    assert gsm8k_hash("work\n#### 1,234") == "1,234"
    assert last_number("a 1,234.5 b -7 c") == "-7"
    assert last_number("nothing") is None
    assert bare_answer(" 7.\n") == "7" and bare_answer("\\frac{1}{2}") == "\\frac{1}{2}"
    assert bare_answer("1 000 000") == "1 000 000"
    for prose in ("I think 41 or 42", "Candidates: 3, 5, 7", "1 2 3 525", "I do not know", "1\n2"):
        assert bare_answer(prose) is None, prose


@pytest.mark.parametrize(
    ("pred", "gold", "status"),
    [
        ("\\boxed{1,000}", "1000", Status.CORRECT),
        ("\\boxed{0.50}", "1/2", Status.CORRECT),
        ("\\boxed{-\\frac{3}{4}}", "-3/4", Status.CORRECT),
        ("\\boxed{3/0}", "1", Status.INCORRECT),
        ("\\boxed{1e400}", "1", Status.INCORRECT),
        ("nothing here", "1", Status.NO_ANSWER),
    ],
)
def test_number_match(pred, gold, status):
    task = Task(id="n/0", prompt="p", answer=gold)
    assert NumberMatch()(pred, task).status is status


@pytest.mark.parametrize(
    ("completion", "gold", "status", "flexible"),
    [  # flexible: the status under the opt-in FLEXIBLE_EXTRACT (the old last-number default)
        ("I think 41 or 42", "42", Status.NO_ANSWER, Status.CORRECT),
        ("Candidates: 3, 5, 7", "7", Status.NO_ANSWER, Status.CORRECT),
        ("1 2 3 525", "525", Status.NO_ANSWER, Status.CORRECT),
        ("7", "7", Status.CORRECT, Status.CORRECT),
        (" 1 000 000 \n", "1000000", Status.CORRECT, Status.INCORRECT),
        ("The answer is 41 or 42.", "42", Status.INCORRECT, Status.INCORRECT),
    ],
)
def test_no_number_is_picked_out_of_prose_with_several_candidates(completion, gold, status, flexible):
    task = Task(id="n/0", prompt="p", answer=gold)
    assert NumberMatch()(completion, task).status is status
    assert NumberMatch(extract=FLEXIBLE_EXTRACT)(completion, task).status is flexible


@pytest.mark.parametrize(
    ("completion", "status"),
    [
        ("<think>maybe \\boxed{525}? no</think> I do not know", Status.NO_ANSWER),
        ("<think>so it is \\boxed{525", Status.NO_ANSWER),  # cut off mid-thought
        ("<think><answer>525</answer></think>", Status.NO_ANSWER),
        ("<think>maybe 3</think>525", Status.CORRECT),
        ("<think>maybe \\boxed{3}</think> <answer>525</answer>", Status.CORRECT),
    ],
)
def test_reasoning_blocks_are_never_the_answer(completion, status):
    task = Task(id="n/0", prompt="p", answer="525")
    for extract in (DEFAULT_EXTRACT, FLEXIBLE_EXTRACT):
        assert NumberMatch(extract=extract)(completion, task).status is status
    assert ExactMatch()(completion, task).status is status


def test_reasoning_tags_are_configurable_and_the_wrapper_pickles():
    extract = after_reasoning(tagged("answer"), ("<reasoning>", "</reasoning>"))
    assert extract("<reasoning><answer>1</answer></reasoning><answer>2</answer>") == "2"
    assert extract("<reasoning><answer>1</answer>") is None
    assert pickle.loads(pickle.dumps(extract)) == extract
    assert drop_reasoning("a</think>b") == "b"  # the block opened in the prompt
    assert drop_reasoning("no reasoning") == "no reasoning"
    assert drop_reasoning("<think>a</think>b<think>c") is None


def test_number_match_with_non_numeric_reference_is_error_not_incorrect():
    assert NumberMatch()("\\boxed{1}", Task(id="n/1", prompt="p", answer="abc")).status is Status.ERROR


def test_default_verifiers_pickle_for_worker_processes():
    from assay.verifiers import ExactMatch

    for verifier in (NumberMatch(), ExactMatch()):
        clone = pickle.loads(pickle.dumps(verifier))
        assert clone("\\boxed{4}", TASK).status is Status.CORRECT
