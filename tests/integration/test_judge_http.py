"""LLM judges over real HTTP against the loopback OpenAI-compatible stub (scripted replies)."""

import time

import pytest

from assay.rewards import Rubric, Term, correct, process_reward
from assay.rewards.judge import (
    Judge,
    JudgeCache,
    JudgeEnsemble,
    JudgeTemplate,
    PairwiseJudge,
    constitution_template,
    rubric_template,
)
from assay.testing import OpenAIStub, StubReply
from assay.verifiers import Status, Task, Verdict
from assay.verifiers.sampler import OpenAISampler

TASK = Task("q1", "What is 2 + 2?", "4")
OK = Verdict(Status.CORRECT, 1.0)


def response_of(prompt: str) -> str:
    """The graded response, cut out of a rendered RUBRIC/CONSTITUTION prompt."""
    return prompt.split("RESPONSE (", 1)[1].split("<<<\n", 1)[1].split("\n>>>", 1)[0]


def grader(req):
    text = response_of(req.prompt)
    if "good" in text:
        return "Clear and right.\nScore: 9"
    if "meh" in text:
        return "Partly right.\nScore: 5"
    return "Wrong.\nScore: 2"


def judge_for(stub, **kw):
    sampler = OpenAISampler(
        stub.url, "stub", timeout_s=kw.pop("timeout_s", 10), max_retries=kw.pop("max_retries", 0)
    )
    return Judge(sampler, rubric_template(["Correct", "Clear"]), **kw)


def test_scores_are_parsed_and_critiques_kept():
    with OpenAIStub(grader) as stub:
        good, bad = judge_for(stub).batch(["a good answer", "a bad answer"], [TASK, TASK])
    assert good.status is Status.CORRECT and good.score == pytest.approx(8 / 9) and good.extracted == "9"
    assert good.details["critiques"] == ["Clear and right.\nScore: 9"] and good.details["scores"] == [9.0]
    assert bad.status is Status.INCORRECT and bad.score == pytest.approx(1 / 9)


def test_cache_hits_skip_the_network():
    with OpenAIStub(grader) as stub:
        judge = judge_for(stub)
        first = judge.batch(["good", "bad", "good"], [TASK] * 3)  # the duplicate is sent once
        assert stub.request_count == 2
        second = judge.batch(["bad", "good"], [TASK] * 2)
        assert stub.request_count == 2  # all cache hits: no request
        assert judge.cache.hits == 2
        assert [v.score for v in second] == [first[1].score, first[0].score]
        judge.batch(["meh"], [TASK])
        assert stub.request_count == 3


def test_persistent_cache_is_shared_across_judges(tmp_path):
    path = tmp_path / "cache.sqlite"
    with OpenAIStub(grader) as stub:
        judge_for(stub, cache=JudgeCache(path)).batch(["good"], [TASK])
        again = judge_for(stub, cache=JudgeCache(path))(["good"][0], TASK)
        assert stub.request_count == 1 and again.status is Status.CORRECT


def test_erroring_server_is_error_not_zero():
    with OpenAIStub(lambda r: StubReply(status=500)) as stub:
        verdicts = judge_for(stub, max_retries=1).batch(["good", "bad"], [TASK, TASK])
        assert stub.request_count == 4
    assert [v.status for v in verdicts] == [Status.ERROR, Status.ERROR]
    assert "HTTP 500" in verdicts[0].reason


def test_stalled_server_is_error_within_the_timeout():
    with OpenAIStub(lambda r: StubReply("Score: 9", delay_s=60)) as stub:
        judge = judge_for(stub, timeout_s=0.5)
        t0 = time.monotonic()
        verdicts = judge.batch(["good", "bad", "meh"], [TASK] * 3)
        elapsed = time.monotonic() - t0
    assert [v.status for v in verdicts] == [Status.ERROR] * 3
    assert "timed out" in verdicts[0].reason
    assert elapsed < 0.5 + 1.5


def test_partial_failure_keeps_the_items_that_succeeded():
    with OpenAIStub(lambda r: StubReply(status=500) if "bad" in response_of(r.prompt) else grader(r)) as stub:
        good, bad = judge_for(stub).batch(["good", "bad"], [TASK, TASK])
    assert good.status is Status.CORRECT and bad.status is Status.ERROR


def test_unparsable_reply_is_error_with_the_critique():
    with OpenAIStub("I refuse to grade this.") as stub:
        v = judge_for(stub)("good", TASK)
    assert v.status is Status.ERROR and v.details["critiques"] == ["I refuse to grade this."]


def test_samples_are_aggregated_with_agreement():
    scores = iter(["Score: 9", "Score: 8", "Score: 2"])
    with OpenAIStub(lambda r: next(scores)) as stub:
        v = judge_for(stub, samples=3, temperature=0.7)("x", TASK)
        assert stub.requests[0]["n"] == 3
    assert v.score == pytest.approx(((8 + 7 + 1) / 9) / 3)
    assert v.details["agreement"] == pytest.approx(2 / 3) and v.details["scores"] == [9.0, 8.0, 2.0]


def test_constitution_template_and_chat_endpoint():
    def reviewer(req):
        assert req.path == "/v1/chat/completions" and "1. Be honest" in req.prompt
        return "Upholds honesty.\nScore: 10"

    with OpenAIStub(reviewer) as stub:
        sampler = OpenAISampler(stub.url, "stub", chat=True)
        v = Judge(sampler, constitution_template(["Be honest", "Be harmless"]))("text", TASK)
    assert v.status is Status.CORRECT and v.score == 1.0


def test_judge_term_in_a_rubric_is_batched_and_keeps_the_critique():
    with OpenAIStub(grader) as stub:
        judge = judge_for(stub)
        rubric = Rubric([Term("correct", correct), judge.term("quality", weight=0.5)])
        out = rubric.batch(["good", "bad"], [TASK, TASK], [OK, OK])
        assert len(stub.requests) == 2
    assert out[0].terms == {"correct": 1.0, "quality": pytest.approx(8 / 9)}
    assert out[0].total == pytest.approx(1 + 0.5 * 8 / 9)
    assert out[0].details["quality"]["critiques"] == ["Clear and right.\nScore: 9"]


def test_judge_term_is_not_applicable_when_the_judge_fails():
    with OpenAIStub(lambda r: StubReply(status=503)) as stub:
        reward = Rubric([Term("correct", correct), judge_for(stub).term()])("good", TASK, OK)
    assert reward.terms == {"correct": 1.0, "judge": None} and reward.total == 1.0
    assert reward.details["judge"]["status"] == "error"


def test_ensemble_aggregates_and_reports_agreement():
    with OpenAIStub("Score: 9") as a, OpenAIStub("Score: 8") as b, OpenAIStub("Score: 1") as c:
        judges = [judge_for(s) for s in (a, b, c)]
        v = JudgeEnsemble(judges)("x", TASK)
        median = JudgeEnsemble(judges, aggregate="median")("x", TASK)
        vote = JudgeEnsemble(judges, aggregate="vote")("x", TASK)
    assert v.score == pytest.approx((8 / 9 + 7 / 9 + 0) / 3)
    assert v.details["agreement"] == pytest.approx(2 / 3) and v.details["judges"][2] == 0.0
    assert median.score == pytest.approx(7 / 9) and vote.score == pytest.approx(2 / 3)


def test_ensemble_with_a_failing_judge_uses_the_rest():
    with OpenAIStub("Score: 9") as a, OpenAIStub(lambda r: StubReply(status=500)) as b:
        v = JudgeEnsemble([judge_for(a), judge_for(b)])("x", TASK)
    assert v.status is Status.CORRECT and v.details["judges"] == [pytest.approx(8 / 9), None]


def pick_good(req):
    a = req.prompt.split("RESPONSE A", 1)[1].split("RESPONSE B", 1)[0]
    b = req.prompt.split("RESPONSE B", 1)[1]
    return "[[A]]" if "good" in a else "[[B]]" if "good" in b else "[[C]]"


def test_pairwise_judges_both_orders_and_emits_preference_pairs():
    with OpenAIStub(pick_good) as stub:
        pj = PairwiseJudge(OpenAISampler(stub.url, "stub"))
        pref = pj.compare(TASK, "bad answer", "good answer")
        assert stub.request_count == 2  # (a, b) and (b, a)
        pairs = pj.preference_pairs(TASK, ["bad one", "good one", "worse one"])
    assert pref.winner == "b" and pref.consistent and pref.details["ab"] == "b" and pref.details["ba"] == "b"
    assert sorted((p.chosen, p.rejected) for p in pairs) == [
        ("good one", "bad one"),
        ("good one", "worse one"),
    ]
    assert pairs[0].to_dict().keys() == {"prompt", "chosen", "rejected"}


def test_position_bias_is_caught_by_swapping():
    with OpenAIStub("[[A]]") as stub:  # always prefers whatever is shown first
        pref = PairwiseJudge(OpenAISampler(stub.url, "stub")).compare(TASK, "x", "y")
        single = PairwiseJudge(OpenAISampler(stub.url, "stub"), both_orders=False).compare(TASK, "x", "y")
    assert pref.winner == "tie" and not pref.consistent
    assert single.winner == "a"


def test_win_rates_over_a_group():
    with OpenAIStub(pick_good) as stub:
        rates = PairwiseJudge(OpenAISampler(stub.url, "stub")).win_rates(TASK, ["good", "bad", "also bad"])
    assert rates == [1.0, 0.25, 0.25]


def test_pairwise_failure_is_undecided():
    with OpenAIStub(lambda r: StubReply(status=500)) as stub:
        pref = PairwiseJudge(OpenAISampler(stub.url, "stub", max_retries=0)).compare(TASK, "x", "y")
    assert pref.winner is None and not pref.consistent


def test_judge_step_scorer_in_a_process_reward():
    def step_grader(req):
        step = req.prompt.split("STEP TO CHECK", 1)[1]
        return "Score: 0" if "= 21" in step else "Score: 1"

    with OpenAIStub(step_grader) as stub:
        judge = judge_for(stub)
        term = process_reward(judge.step_scorer(), aggregate="mean")
        value, info = term.evaluate("Step 1: 2 + 3 = 5\nStep 2: 5 * 4 = 21\nStep 3: done", TASK, OK)
        assert stub.request_count == 3
    assert info["scores"] == [1.0, 0.0, 1.0] and value == pytest.approx(2 / 3)


def test_custom_template_fields():
    template = JudgeTemplate(
        "Grade {completion} for {prompt} against {reference}. Scale {low}-{high}.", low=0, high=4
    )
    with OpenAIStub(
        lambda r: (
            "Score: 3" if "Grade ans for What is 2 + 2? against 4. Scale 0-4." in r.prompt else "Score: 0"
        )
    ) as stub:
        v = Judge(OpenAISampler(stub.url, "stub"), template)("ans", TASK)
    assert v.score == pytest.approx(0.75)
