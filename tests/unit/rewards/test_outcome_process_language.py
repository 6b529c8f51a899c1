import pytest

from assay.rewards import Rubric, Term, outcome, process_reward, verdict_credit
from assay.rewards.language import dominant_script, language_consistency, script_consistency, strip_non_prose
from assay.rewards.process import arithmetic_steps, check_equation, split_steps, verify_each
from assay.verifiers import ExactMatch, NumberMatch, Status, Task, Verdict

T = Task("t", "What is 2 + 3?", "5")
V = Verdict(Status.CORRECT, 1.0)


def test_outcome_wraps_any_verifier_with_default_credit():
    term = outcome(NumberMatch(), name="math")
    assert (term.low, term.high) == (0.0, 1.0)
    value, info = term.evaluate("\\boxed{5}", T, V)
    assert value == 1.0 and info["status"] == "correct" and info["extracted"] == "5"
    assert term.evaluate("\\boxed{6}", T, V)[0] == 0.0
    assert term.evaluate("no answer", Task("u", "p", "not a number"), V)[0] is None  # ERROR: not applicable


def test_outcome_credit_per_status_sets_range():
    term = outcome(ExactMatch(), credit={Status.NO_ANSWER: -0.5})
    assert (term.low, term.high) == (-0.5, 1.0)
    assert term.evaluate("", Task("u", "p", "x"), V)[0] == -0.5


def test_outcome_verifier_that_raises_is_not_applicable():
    def broken(c, t):
        raise RuntimeError("down")

    value, info = outcome(broken).evaluate("x", T, V)
    assert value is None and "RuntimeError" in info["reason"]


def test_verdict_credit_uses_the_env_verdict():
    term = verdict_credit(credit={Status.NO_ANSWER: -1.0})
    assert term.evaluate("", T, Verdict(Status.NO_ANSWER))[0] == -1.0
    assert term.evaluate("", T, Verdict(Status.CORRECT, 0.5))[0] == 0.5
    assert term.evaluate("", T, Verdict(Status.ERROR))[0] is None


def test_split_steps_modes():
    assert split_steps("Step 1: a\nStep 2: b") == ["Step 1: a", "Step 2: b"]
    assert split_steps("intro\n1. a\n2) b") == ["intro", "1. a", "2) b"]
    assert split_steps("para one\nstill\n\npara two") == ["para one\nstill", "para two"]
    assert split_steps("l1\nl2\n\n", "lines") == ["l1", "l2"]
    with pytest.raises(ValueError, match="unknown split mode"):
        split_steps("x", "bogus")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lhs", "rhs", "ok"),
    [
        ("2 + 3", "5", True),
        ("86 * 7 - 77", "525", True),
        ("(1+2)*3", "9", True),
        ("10 / 4", "2.5", True),
        ("2 + 3 * 4", "20", False),
        ("-2 - 3", "-5", True),
        ("1 / 0", "1", None),
        ("2 +", "2", None),
        ("7 ÷ 2", "3.5", True),
    ],
)
def test_check_equation_is_exact_arithmetic(lhs, rhs, ok):
    assert check_equation(lhs, rhs) is ok


def test_process_reward_aggregations():
    text = "Step 1: 2 + 3 = 5\nStep 2: 5 * 4 = 21\nStep 3: 20 - 1 = 19\nStep 4: so the answer is 19"
    expected = {"min": 0.0, "mean": 2 / 3, "last": 1.0, "product": 0.0}
    for how, want in expected.items():
        value, info = process_reward(arithmetic_steps, aggregate=how).evaluate(text, T, V)
        assert value == pytest.approx(want)
        assert info["scores"] == [1.0, 0.0, 1.0, None] and info["steps"] == 4


def test_process_reward_no_judgeable_step_is_not_applicable_and_max_steps_drops():
    assert process_reward(arithmetic_steps).evaluate("no maths here", T, V)[0] is None
    value, info = process_reward(arithmetic_steps, max_steps=1).evaluate("Step 1: 1+1=2\nStep 2: 1+1=3", T, V)
    assert value == 1.0 and info["dropped"] == 1


def test_process_reward_with_per_step_function_and_regex_split():
    seen = []

    def check(step, task, previous):
        seen.append(len(previous))
        return 1.0 if "good" in step else 0.0

    term = process_reward(verify_each(check), split=r";", aggregate="mean")
    assert term.evaluate("good; bad; good", T, V)[0] == pytest.approx(2 / 3)
    assert seen == [0, 1, 2]


def test_process_reward_bad_scorer_output_is_not_applicable():
    term = process_reward(lambda steps, task: [1.0])
    value, info = Term.evaluate(term, "a\nb", T, V)
    assert value is None and "2 steps" in info["error"]


EN = Task("en", "What is the capital of France? Explain your reasoning in a few sentences.")


def test_language_consistency_known_values():
    term = language_consistency()
    assert term.evaluate("The capital of France is Paris, on the Seine.", EN, V)[0] == 1.0
    value, info = term.evaluate("法国的首都是巴黎，它位于塞纳河畔，是一个美丽的城市。", EN, V)
    assert value == 0.0 and info == {"expected": "en", "detected": ["zh"]}
    assert term.evaluate("La capitale de la France est Paris, une ville sur la Seine.", EN, V)[0] == 0.0
    assert term.evaluate("ok", EN, V)[0] is None  # too short to tell
    mixed = (
        "The capital is Paris and it is lovely. " * 12
        + "法国的首都是巴黎，它位于塞纳河畔，是一个美丽的城市。" * 18
    )
    value, info = language_consistency(chunks=2).evaluate(mixed, EN, V)
    assert value == 0.5 and info["detected"] == ["en", "zh"]


def test_language_consistency_ignores_code_and_uses_meta():
    code = (
        "The function below returns the sum of two numbers.\n```python\ndef add(a, b):\n    return a + b\n```"
    )
    assert language_consistency().evaluate(code, EN, V)[0] == 1.0
    fr = Task("fr", "x", meta={"language": "fr"})
    assert language_consistency().evaluate("La capitale de la France est Paris, bien sûr.", fr, V)[0] == 1.0
    assert "def add" not in strip_non_prose(code)


def test_language_identification_works_offline():
    import subprocess
    import sys

    code = (
        "import socket\n"
        "def no(*a, **k): raise AssertionError('network')\n"
        "socket.socket.connect = no; socket.create_connection = no\n"
        "from assay.rewards.language import identify_language\n"
        "print(identify_language('Ceci est une phrase en français, sans aucun doute.')[0])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "fr"


def test_script_consistency_known_values():
    term = script_consistency()
    assert term.evaluate("Paris.", EN, V)[0] == 1.0
    value, info = term.evaluate("Paris 巴黎", EN, V)
    assert value == pytest.approx(5 / 7) and info["letters"] == {"LATIN": 5, "CJK": 2}
    assert term.evaluate("123 !!!", EN, V)[0] is None
    assert dominant_script("日本語のテキストです") == "CJK" and dominant_script("Привет мир") == "CYRILLIC"
    assert script_consistency("cyrillic").evaluate("Привет", EN, V)[0] == 1.0


def test_rubric_of_outcome_and_process():
    r = Rubric([outcome(NumberMatch(), name="correct"), process_reward(arithmetic_steps).weighted(0.2)])
    reward = r("Step 1: 2 + 3 = 5\n\\boxed{5}", T, V)
    assert reward.terms == {"correct": 1.0, "process": 1.0} and reward.total == pytest.approx(1.2)
    assert reward.details["process"]["scores"] == [1.0, None]
