import pytest

from assay.rewards.judge import (
    JudgeCache,
    JudgeTemplate,
    constitution_template,
    parse_preference,
    parse_score,
    rubric_template,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Good answer.\nScore: 8", 8.0),
        ("**Score:** 7", 7.0),
        ("Rating: 6/10", 6.0),
        ("Final score = 9.5", 9.5),
        ("score (1-10): 4", 4.0),
        ("I'd give it [[3]]", 3.0),
        ("Overall 7/10.", 7.0),
        ("7 out of 10", 7.0),
        ("Score: 3\nOn reflection... Score: 5", 5.0),  # the last one wins
        ("Score: 11", None),  # off the scale: rejected, not clipped
        ("Score: 4/5", None),  # a different scale
        ("3/5 of the steps are right", None),
        ("No score here.", None),
        ("", None),
    ],
)
def test_parse_score(text, expected):
    assert parse_score(text, 1, 10) == expected


def test_parse_score_binary_scale():
    assert parse_score("The step is right. Score: 1", 0, 1) == 1.0
    assert parse_score("Score: 0", 0, 1) == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A is clearer.\n[[A]]", "A"),
        ("[[B]]", "B"),
        ("They are equal. [[C]]", "tie"),
        ("Winner: B", "B"),
        ("**Verdict:** Response A", "A"),
        ("[[A]] ... wait, actually [[B]]", "B"),
        ("Both are fine.", None),
    ],
)
def test_parse_preference(text, expected):
    assert parse_preference(text) == expected


def test_template_rendering_is_single_pass():
    t = rubric_template(["Correct", "Concise"])
    out = t.render("Q {completion}", "A {reference}", "SECRET")
    assert "1. Correct\n2. Concise" in out
    assert "Q {completion}" in out and "A {reference}" in out  # inserted text is not re-expanded
    assert out.count("SECRET") == 1 and "from 1 to 10" in out


def test_constitution_template_lists_principles_and_bad_scale_rejected():
    t = constitution_template(["Be honest", "Be harmless"], low=0, high=5)
    assert "1. Be honest" in t.render("p", "c") and "from 0 " in t.render("p", "c")
    with pytest.raises(ValueError, match="low < high"):
        JudgeTemplate("x", low=2, high=2)
    with pytest.raises(ValueError, match="at least one"):
        rubric_template([])


def test_cache_lru_and_sqlite_persistence(tmp_path):
    cache = JudgeCache(max_entries=2)
    for k in "abc":
        cache.put(k, [k])
    assert cache.get("a") is None and cache.get("c") == ["c"] and len(cache) == 2
    assert (cache.hits, cache.misses) == (1, 1)
    path = tmp_path / "judge.sqlite"
    first = JudgeCache(path)
    first.put(JudgeCache.key("m", "prompt"), ["Score: 5"])
    first.close()
    again = JudgeCache(path)
    assert again.get(JudgeCache.key("m", "prompt")) == ["Score: 5"]
    assert JudgeCache.key("m", "prompt") != JudgeCache.key("m", "prompt2")


def test_judge_runs_in_process_on_any_sampler():
    from assay.rewards.judge import Judge
    from assay.verifiers import Status, Task
    from assay.verifiers.sampler import ScriptedSampler

    sampler = ScriptedSampler(
        lambda prompt: "Fine.\nScore: 10" if "<<<\nyes\n>>>" in prompt else "No.\nScore: 1"
    )
    judge = Judge(sampler, rubric_template("Says yes"))
    yes, no = judge.batch(["yes", "no"], [Task("a", "p"), Task("b", "p")])
    assert (yes.status, yes.score) == (Status.CORRECT, 1.0) and (no.status, no.score) == (
        Status.INCORRECT,
        0.0,
    )
    judge("yes", Task("a", "p"))
    assert len(sampler.calls) == 2  # the repeat was a cache hit
