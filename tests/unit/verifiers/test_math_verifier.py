"""MathVerifier: statuses, the hard budget (main thread and other threads), cache, batch, pool recovery."""

import os
import signal
import threading
import time

import pytest

from assay.verifiers.base import Status, Task, Verdict, Verifier
from assay.verifiers.math import MathVerifier, clear_cache, is_equiv, reference_answer
from assay.verifiers.math.worker import get_pool

BUDGET = 1.0
SLACK = 0.5
V = MathVerifier(timeout_s=BUDGET)


@pytest.fixture(scope="module", autouse=True)
def warm_pool():
    V.warm(2)  # start-up (about a second, once per process) is outside any budget


def task(answer: str | None) -> Task:
    return Task(id="t/0", prompt="?", answer=answer)


def test_it_is_a_verifier_and_a_frozen_dataclass():
    assert isinstance(V, Verifier)
    with pytest.raises(AttributeError):
        V.timeout_s = 2.0  # type: ignore[misc]


def test_correct_answer_scores_one():
    v = V("We get \\boxed{\\frac{7}{2}}.", task("3.5"))
    assert v.status is Status.CORRECT and v.score == 1.0 and v.extracted == "\\frac{7}{2}"


def test_wrong_answer_is_incorrect_with_a_reason():
    v = V("so \\boxed{4}", task("5"))
    assert v.status is Status.INCORRECT and v.score == 0.0 and v.reason


def test_no_final_answer_is_no_answer():
    assert V("I am not sure about this one.", task("5")).status is Status.NO_ANSWER


def test_non_string_completion_is_no_answer():
    assert V(12345, task("5")).status is Status.NO_ANSWER  # type: ignore[arg-type]


def test_completion_over_max_chars_is_no_answer_without_reading_it():
    v = MathVerifier(max_chars=100)("x" * 101 + "\\boxed{5}", task("5"))
    assert v.status is Status.NO_ANSWER and "max_chars" in v.reason


def test_task_without_answer_is_error_not_incorrect():
    assert V("\\boxed{5}", task(None)).status is Status.ERROR


def test_unreadable_reference_is_error_not_incorrect():
    v = V("\\boxed{5}", task("\\unknowncommand{5}"))
    assert v.status is Status.ERROR and "reference" in v.reason


def test_reference_can_be_a_worked_solution():
    solution = "Adding, we get $2 + 3 = 5$, so the answer is $\\boxed{5}$."
    assert reference_answer(solution) == "5"
    assert V("\\boxed{5}", task(solution)).status is Status.CORRECT


def test_gsm8k_style_reference():
    assert V("The total is 1,200 dollars.\n#### 1200", task("She pays 1200.\n#### 1,200")).correct


def test_answer_longer_than_the_limit_is_timeout():
    v = MathVerifier(max_answer_chars=50).compare("1+" * 100 + "1", "5")
    assert v.status is Status.TIMEOUT


TOO_LARGE = {
    "power tower of 2s (ValueError: over 4,300 digits)": "2^{2^{2^{2^{2^{2^{2}}}}}}",
    "factorial of 10^5000 (ValueError: over 4,300 digits)": "10^{5000}!",
    "binomial of 10^5000": "\\binom{10^{5000}}{3}",
    "one over a huge factorial": "\\frac{1}{(10^{5000})!}",
    "e^e^e^10 (OverflowError)": "e^{e^{e^{10}}}",
    "e^e^e^e^10 (OverflowError)": "e^{e^{e^{e^{10}}}}",
    "cos of e^e^e^10 (OverflowError)": "\\cos(e^{e^{e^{10}}})",
    "an interval ending at e^e^e^10": "[0, e^{e^{e^{10}}})",
}


@pytest.mark.parametrize("name", sorted(TOO_LARGE))
def test_a_candidates_answer_never_produces_error(name):
    """The candidate's fault is INCORRECT or TIMEOUT with a reason; ERROR is ours."""
    budget = 5.0
    start = time.monotonic()
    verdict = MathVerifier(timeout_s=budget).verify(f"\\boxed{{{TOO_LARGE[name]}}}", "5")
    elapsed = time.monotonic() - start
    assert verdict.status in (Status.INCORRECT, Status.TIMEOUT), verdict
    assert verdict.reason and "verifier failed" not in verdict.reason, verdict
    assert elapsed < budget + SLACK, (name, elapsed)


def test_a_reference_beyond_numeric_range_is_error_not_the_candidates_timeout():
    from assay.verifiers.math.equiv import judge

    assert judge("e^{e^{e^{e^{10}}}}", "5").status == "timeout"
    blamed = judge("5", "e^{e^{e^{e^{10}}}}")
    assert blamed.status == "error" and "reference" in blamed.reason, blamed


@pytest.mark.parametrize(
    ("completion", "gold", "status"),
    [
        ("I think 41 or 42", "42", Status.NO_ANSWER),
        ("Candidates: 3, 5, 7", "7", Status.NO_ANSWER),
        ("1 2 3 525", "525", Status.INCORRECT),  # the whole completion is one answer: a list
        ("after some work, 2 + 5 = 7", "7", Status.NO_ANSWER),
        ("7", "7", Status.CORRECT),
        (" \\frac{1}{2}\n", "0.5", Status.CORRECT),
    ],
)
def test_no_number_is_picked_out_of_prose_with_several_candidates(completion, gold, status):
    assert V(completion, task(gold)).status is status


def test_the_last_number_fallback_is_an_explicit_opt_in():
    flexible = MathVerifier(timeout_s=BUDGET, fallback="last")
    assert flexible("I think 41 or 42", task("42")).status is Status.CORRECT
    assert flexible("Candidates: 3, 5, 7", task("7")).status is Status.CORRECT
    assert MathVerifier(fallback="none")("7", task("7")).status is Status.NO_ANSWER


@pytest.mark.parametrize(
    ("completion", "status"),
    [
        ("<think>maybe \\boxed{525}? no</think> I do not know", Status.NO_ANSWER),
        ("<think>so it is \\boxed{525", Status.NO_ANSWER),  # cut off mid-thought
        ("<think>525</think>", Status.NO_ANSWER),
        ("<think>maybe \\boxed{3}</think> so \\boxed{525}", Status.CORRECT),
        ("<think>maybe 3</think>525", Status.CORRECT),
    ],
)
def test_reasoning_blocks_are_never_the_answer(completion, status):
    assert V(completion, task("525")).status is status
    assert MathVerifier(timeout_s=BUDGET, fallback="last")(completion, task("525")).status is status


def test_an_unclosed_reasoning_block_says_why_and_the_tags_are_configurable():
    assert "never closed" in V("<think>\\boxed{525", task("525")).reason
    custom = MathVerifier(timeout_s=BUDGET, reasoning_tags=("<reasoning>", "</reasoning>"))
    assert custom("<reasoning>\\boxed{525}", task("525")).status is Status.NO_ANSWER
    assert custom("<reasoning>\\boxed{3}</reasoning>\\boxed{525}", task("525")).status is Status.CORRECT


def test_hedge_is_incorrect_and_self_correction_counts_its_final_answer():
    assert V("It is \\boxed{3} or \\boxed{5}.", task("5")).status is Status.INCORRECT
    fixed = "First I got \\boxed{3}. Wait, that misses a case. Recounting gives \\boxed{5}."
    assert V(fixed, task("5")).status is Status.CORRECT


def test_cache_remembers_a_comparison_and_gives_the_same_verdict():
    from assay.verifiers.math import verifier as math_module

    clear_cache()
    first = V.compare("x^2 + 2x + 1", "(x+1)^2")
    assert ("x^2 + 2x + 1", "(x+1)^2", V.approx_digits) in math_module._cache
    assert V.compare("x^2 + 2x + 1", "(x+1)^2") == first


def test_batch_matches_one_by_one():
    completions = [
        "\\boxed{2}",
        "\\boxed{\\sqrt{4}}",
        "\\boxed{3}",
        "I could not finish the computation.",
        "\\boxed{x}",
    ]
    refs: list[Task | str] = [task("2"), "2", "2", "2", task("x")]
    one = [V(c, r) if isinstance(r, Task) else V.verify(c, r) for c, r in zip(completions, refs, strict=True)]
    many = V.batch(completions, refs, processes=3)
    assert [v.status for v in many] == [v.status for v in one]
    assert [v.status for v in many] == [
        Status.CORRECT,
        Status.CORRECT,
        Status.INCORRECT,
        Status.NO_ANSWER,
        Status.CORRECT,
    ]


def test_batch_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="references"):
        V.batch(["a"], [])


def test_is_equiv_on_bare_answers():
    assert is_equiv("\\frac{1}{2}", "0.5")
    assert not is_equiv("\\frac{1}{2}", "0.25")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"timeout_s": 0}, "timeout_s"),
        ({"max_chars": 0}, "max_chars"),
        ({"approx_digits": 0}, "approx_digits"),
        ({"memory_mb": 10}, "memory_mb"),
        ({"fallback": True}, "fallback"),
        ({"fallback": "lenient"}, "fallback"),
        ({"reasoning_tags": ("<think>",)}, "reasoning_tags"),
        ({"reasoning_tags": ("", "</think>")}, "reasoning_tags"),
    ],
)
def test_bad_configuration_raises(bad, message):
    with pytest.raises(ValueError, match=message):
        MathVerifier(**bad)


# -- the budget ------------------------------------------------------------------------------

PATHOLOGICAL = {
    "power tower": ("\\boxed{10^{10^{10^{10}}}}", "5"),
    "huge factorial": ("\\boxed{(10^{10})!}", "5"),
    "100k nested braces": ("\\boxed{" + "{" * 100_000 + "1" + "}" * 100_000 + "}", "1"),
    "100k unclosed braces": ("\\boxed{" * 100_000, "1"),
    "100k nested parentheses": ("\\boxed{" + "(" * 100_000 + "1" + ")" * 100_000 + "}", "1"),
    "slow symbolic work": ("\\boxed{(x+y+z+w)^{40} e^{-e^{e^{5}}}}", "0"),
}


def _timed(completion: str, reference: str, verifier: MathVerifier = V) -> tuple[Verdict, float]:
    start = time.monotonic()
    verdict = verifier(completion, task(reference))
    return verdict, time.monotonic() - start


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_input_stays_within_budget_on_the_main_thread(name):
    completion, reference = PATHOLOGICAL[name]
    verdict, elapsed = _timed(completion, reference)
    assert elapsed < BUDGET + SLACK, (name, elapsed, verdict)
    assert verdict.status in (Status.TIMEOUT, Status.INCORRECT, Status.NO_ANSWER), verdict


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_input_stays_within_budget_on_another_thread(name):
    completion, reference = PATHOLOGICAL[name]
    out: list[tuple[Verdict, float]] = []
    worker = threading.Thread(target=lambda: out.append(_timed(completion, reference)))
    worker.start()
    worker.join(timeout=30)
    assert out, "the verification did not return"
    verdict, elapsed = out[0]
    assert elapsed < BUDGET + SLACK, (name, elapsed, verdict)
    assert verdict.status is not Status.CORRECT


def test_slow_symbolic_work_is_killed_at_the_budget():
    completion, reference = PATHOLOGICAL["slow symbolic work"]
    verdict, elapsed = _timed(completion, reference)
    assert verdict.status is Status.TIMEOUT, verdict
    assert BUDGET - 0.05 <= elapsed < BUDGET + SLACK


def test_ten_megabyte_completion_is_read_within_budget():
    big = "Let me think. " * 750_000 + "So the answer is \\boxed{42}."
    assert len(big) > 10_000_000
    verdict, elapsed = _timed(big, "42", MathVerifier(timeout_s=BUDGET, max_chars=20_000_000))
    assert verdict.status is Status.CORRECT
    assert elapsed < BUDGET + SLACK


def test_ten_megabyte_answer_is_refused_quickly():
    start = time.monotonic()
    verdict = V.compare("1" * 10_000_000, "1")
    assert verdict.status is Status.TIMEOUT and time.monotonic() - start < SLACK


def test_concurrent_threads_do_not_wait_for_each_other():
    slow, fast = PATHOLOGICAL["slow symbolic work"], ("\\boxed{2}", "2")
    results: dict[str, tuple[Verdict, float]] = {}
    threads = [
        threading.Thread(target=lambda: results.__setitem__("slow", _timed(*slow))),
        threading.Thread(target=lambda: results.__setitem__("fast", _timed(*fast))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results["fast"][0].correct and results["fast"][1] < SLACK
    assert results["slow"][0].status is Status.TIMEOUT


def test_memory_budget_ends_in_timeout_not_incorrect():
    verifier = MathVerifier(timeout_s=5.0, memory_mb=128)
    verdict = verifier.compare("(a+b+c+d+f+g)^{60} e^{-e^{e^{5}}}", "0")
    assert verdict.status in (Status.TIMEOUT, Status.ERROR)
    assert verdict.status is not Status.INCORRECT


def test_pool_recovers_after_workers_are_killed_from_outside():
    pool = get_pool(V.memory_mb)
    pool.warm(2)
    for w in pool.workers.idle_workers():
        os.kill(w.pid, signal.SIGKILL)
    time.sleep(0.1)
    assert V.compare("x^3", "x \\cdot x \\cdot x").correct


def test_a_forked_child_gets_its_own_pool():
    parent_pool = get_pool(V.memory_mb)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        ok = (
            get_pool(V.memory_mb) is not parent_pool and MathVerifier(timeout_s=5).compare("2+2", "4").correct
        )
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert V.compare("3+3", "6").correct
