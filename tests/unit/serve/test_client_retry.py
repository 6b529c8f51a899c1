"""`VerifierClient`'s retries through the shared `RetryPolicy` (no server: httpx's MockTransport)."""

import httpx
import pytest

from assay.serve import client as client_module
from assay.serve.client import ServiceError, VerifierClient


def client_for(handler, **kw):
    c = VerifierClient("http://service", **kw)
    c._http.close()
    c._http = httpx.Client(base_url="http://service", transport=httpx.MockTransport(handler))
    return c


@pytest.fixture
def waits(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
    return slept


def test_back_pressure_is_retried_waiting_retry_after(waits):
    replies = iter([httpx.Response(429, headers={"retry-after": "1"}, json={"detail": "busy"})])

    def handler(request):
        return next(replies, httpx.Response(200, json={"status": "ok"}))

    with client_for(handler) as c:
        assert c.health() == {"status": "ok"}
    assert waits == [1.0]


def test_spent_retries_raise_the_servers_detail_with_its_status(waits):
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503, json={"detail": "draining"})

    with client_for(handler, max_retries=2, backoff_s=0.1) as c, pytest.raises(ServiceError) as e:
        c.health()
    assert len(calls) == 3 and e.value.status == 503 and "draining" in str(e.value)
    assert len(waits) == 2 and 0.05 <= waits[0] < 0.15 and 0.1 <= waits[1] < 0.3


def test_connection_errors_are_retried_then_raised(waits):
    def handler(request):
        raise httpx.ConnectError("refused", request=request)

    with client_for(handler, max_retries=1) as c, pytest.raises(ServiceError, match="ConnectError"):
        c.envs()
    assert len(waits) == 1


def test_other_errors_are_not_retried(waits):
    with client_for(lambda r: httpx.Response(400, json={"detail": "bad item"})) as c:
        with pytest.raises(ServiceError, match="bad item") as e:
            c.health()
    assert e.value.status == 400 and waits == []
