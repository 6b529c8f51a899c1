"""OpenAISampler over real HTTP against the loopback OpenAIStub."""

import asyncio
import time

import pytest

from assay.testing import OpenAIStub, StubReply
from assay.verifiers.sampler import OpenAISampler, Sampler, SamplerError


def test_completions_returns_text_token_ids_and_logprobs():
    with OpenAIStub(lambda r: f"echo:{r.prompt}:{r.index}") as stub:
        s = OpenAISampler(stub.url, "stub")
        assert isinstance(s, Sampler)
        out = s.sample(["a", "b"], n=2, max_new_tokens=16, temperature=0.5, seed=7)
        body = stub.requests[0]
    assert [[x.text for x in g] for g in out] == [["echo:a:0", "echo:a:1"], ["echo:b:0", "echo:b:1"]]
    first = out[0][0]
    assert (
        first.token_ids == list(b"echo:a:0")
        and first.logprobs == [-0.5] * 8
        and first.finish_reason == "stop"
    )
    assert body["max_tokens"] == 16 and body["temperature"] == 0.5 and body["n"] == 2
    assert body["return_tokens_as_token_ids"] is True


def test_prompt_i_gets_seed_plus_i():
    with OpenAIStub("x") as stub:
        OpenAISampler(stub.url, "stub", concurrency=1).sample(["a", "b", "c"], n=1, seed=10)
        seeds = sorted(b["seed"] for b in stub.requests)
    assert seeds == [10, 11, 12]


def test_chat_endpoint_sends_messages_and_parses_message_content():
    with OpenAIStub(lambda r: "hi " + r.prompt) as stub:
        s = OpenAISampler(stub.url + "/v1", "stub", chat=True, system_prompt="sys")
        (group,) = s.sample(["q"], n=1, max_new_tokens=4, temperature=0.0, seed=0)
        body = stub.requests[0]
    assert group[0].text == "hi sys\nq"
    assert body["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "q"}]
    assert group[0].token_ids == list(b"hi sys\nq")


def test_without_logprobs_token_ids_are_empty():
    with OpenAIStub("x") as stub:
        (group,) = OpenAISampler(stub.url, "stub", logprobs=False).sample(["a"], n=1)
    assert group[0].text == "x" and group[0].token_ids == [] and group[0].logprobs == []


def test_concurrency_limit_is_respected():
    with OpenAIStub(lambda r: StubReply("x", delay_s=0.1)) as stub:
        OpenAISampler(stub.url, "stub", concurrency=3).sample([str(i) for i in range(9)], n=1)
        assert stub.request_count == 9 and stub.max_in_flight <= 3


def test_server_error_is_retried_then_succeeds():
    calls = []

    def reply(r):
        calls.append(1)
        return StubReply(status=503) if len(calls) < 3 else "ok"

    with OpenAIStub(reply) as stub:
        (group,) = OpenAISampler(stub.url, "stub", max_retries=3, backoff_s=0.01).sample(["a"], n=1)
        assert group[0].text == "ok" and stub.request_count == 3


def test_persistent_error_raises_sampler_error_with_partial_results():
    with OpenAIStub(lambda r: StubReply(status=500) if r.prompt == "bad" else "fine") as stub:
        with pytest.raises(SamplerError) as err:
            OpenAISampler(stub.url, "stub", max_retries=1, backoff_s=0.01).sample(["ok", "bad"], n=1)
        assert stub.request_count == 3  # ok once, bad twice
    ok, bad = err.value.partial
    assert ok[0].text == "fine" and isinstance(bad, SamplerError)


def test_client_error_is_not_retried():
    with OpenAIStub(lambda r: StubReply(status=400)) as stub:
        with pytest.raises(SamplerError, match="HTTP 400"):
            OpenAISampler(stub.url, "stub", max_retries=3, backoff_s=0.01).sample(["a"], n=1)
        assert stub.request_count == 1


def test_stalled_server_fails_within_the_timeout():
    with OpenAIStub(lambda r: StubReply("late", delay_s=30)) as stub:
        s = OpenAISampler(stub.url, "stub", timeout_s=0.5, max_retries=1, backoff_s=0.01)
        t0 = time.monotonic()
        with pytest.raises(SamplerError, match="timed out"):
            s.sample(["a", "b"], n=1)
        elapsed = time.monotonic() - t0
    assert elapsed < 2 * 0.5 + 1.0


def test_malformed_json_and_missing_choices_are_errors():
    with OpenAIStub(lambda r: StubReply(body="{not json")) as stub:
        with pytest.raises(SamplerError, match="malformed"):
            OpenAISampler(stub.url, "stub", max_retries=0).sample(["a"], n=1)
    with OpenAIStub(lambda r: StubReply(body='{"choices": []}')) as stub:
        with pytest.raises(SamplerError, match="malformed"):
            OpenAISampler(stub.url, "stub", max_retries=0).sample(["a"], n=1)


def test_unreachable_server_raises_sampler_error():
    with OpenAIStub("x") as stub:
        url = stub.url
    with pytest.raises(SamplerError):
        OpenAISampler(url, "stub", timeout_s=2, max_retries=0).sample(["a"], n=1)


def test_sample_works_inside_a_running_event_loop():
    with OpenAIStub("x") as stub:
        s = OpenAISampler(stub.url, "stub")

        async def main():
            return s.sample(["a"], n=1), await s.asample(["b"], n=1)

        sync, direct = asyncio.run(main())
    assert sync[0][0].text == "x" and direct[0][0].text == "x"
