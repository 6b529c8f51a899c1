import pytest

from assay.verifiers.sampler import Sample, Sampler, ScriptedSampler


def test_scripted_sampler_cycles_replies_per_prompt_across_calls():
    s = ScriptedSampler({"p": ["a", "b"], "q": ["z"]})
    assert isinstance(s, Sampler)
    out = s.sample(["p", "q", "p"], n=2, max_new_tokens=8, temperature=1.0, seed=0)
    assert [[x.text for x in g] for g in out] == [["a", "b"], ["z", "z"], ["a", "b"]]
    assert s.calls == ["p", "q", "p"]


def test_scripted_sampler_token_ids_are_utf8_bytes_with_zero_logprobs():
    (group,) = ScriptedSampler({"p": ["hé"]}).sample(["p"], n=1, max_new_tokens=8, temperature=0.0, seed=0)
    assert group[0] == Sample("hé", [104, 195, 169], [0.0, 0.0, 0.0], "stop")


def test_scripted_sampler_cuts_at_max_new_tokens():
    (group,) = ScriptedSampler({"p": "abcdef"}).sample(["p"], n=1, max_new_tokens=3, temperature=0.0, seed=0)
    assert group[0].text == "abc" and group[0].finish_reason == "length" and len(group[0].token_ids) == 3


def test_scripted_sampler_default_callable_and_unknown_prompt():
    assert ScriptedSampler({}, default="d").sample(["x"], n=1)[0][0].text == "d"
    assert ScriptedSampler(lambda p: p.upper()).sample(["ab"], n=1)[0][0].text == "AB"
    with pytest.raises(KeyError):
        ScriptedSampler({}).sample(["x"], n=1)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"n": 0}, ValueError), ({"max_new_tokens": 0}, ValueError), ({"temperature": -1.0}, ValueError)],
)
def test_sampler_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        ScriptedSampler({}, default="d").sample(["x"], **kwargs)


def test_sampler_rejects_a_bare_string_as_prompts():
    with pytest.raises(TypeError):
        ScriptedSampler({}, default="d").sample("abc", n=1)
