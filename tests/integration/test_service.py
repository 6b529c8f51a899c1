"""The verification service over HTTP: routes, auth, limits, back-pressure, metrics, client,
adapters, graceful shutdown."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import gymnasium as gym
import httpx
import pytest
from fastapi.testclient import TestClient

from assay.envs import SingleTurnEnv, Task
from assay.serve.app import ServeConfig, create_app
from assay.serve.client import ServiceError, VerifierClient
from assay.verifiers.base import Status, Verdict
from assay.verifiers.match import NumberMatch

ARITH = "assay/Arithmetic-v0"
SLOW = "servetest/Slow-v0"


class SlowVerifier:
    """NumberMatch after a pause (the pause is in the completion: 'sleep:0.2 \\boxed{1}')."""

    def __call__(self, completion: str, task: Task) -> Verdict:
        if completion.startswith("sleep:"):
            time.sleep(float(completion.split()[0][6:]))
        return NumberMatch()(completion, task)


class SlowEnv(SingleTurnEnv):
    num_tasks = 1

    def __init__(self, **kw):
        super().__init__(verifier=SlowVerifier(), **kw)

    def task_at(self, index):
        return Task(id=f"slow/{index}", prompt="?", answer="1")


if SLOW not in gym.registry:
    gym.register(SLOW, entry_point=SlowEnv)


def item(completion, answer="3", env=ARITH, **kw):
    return {"env": env, "completion": completion, "task": {"answer": answer}, **kw}


@pytest.fixture
def app_client():
    """``app_client(config)``: a TestClient whose app is started and shut down (its workers stopped)."""
    made = []

    def make(config):
        c = TestClient(create_app(config))
        c.__enter__()
        made.append(c)
        return c

    yield make
    for c in made:
        c.__exit__(None, None, None)


@pytest.fixture
def client(app_client):
    return app_client(ServeConfig(envs=(ARITH, SLOW), client_kwargs={ARITH: ("level",)}))


# -- routes -------------------------------------------------------------------------------------


def test_verify_single_and_batch(client):
    r = client.post("/v1/verify", json=item("so \\boxed{6/2}"))
    assert r.status_code == 200
    assert r.json()["verdict"]["status"] == "correct" and r.json()["verdict"]["extracted"] == "6/2"
    r = client.post("/v1/verify/batch", json={"items": [item("\\boxed{3}"), item("\\boxed{4}"), item("hmm")]})
    assert [x["verdict"]["status"] for x in r.json()["results"]] == ["correct", "incorrect", "no_answer"]


def test_reward_single_and_batch_carry_the_terms(client):
    r = client.post("/v1/reward", json=item("\\boxed{3}")).json()
    assert r["reward"] == 1.0 and r["terms"] == {"correct": 1.0} and r["verdict"]["status"] == "correct"
    rs = client.post("/v1/reward/batch", json={"items": [item("\\boxed{3}"), item("\\boxed{2}")]}).json()
    assert [x["reward"] for x in rs["results"]] == [1.0, 0.0]


def test_task_by_id_uses_the_envs_own_task(client):
    env = gym.make(ARITH, level="easy").unwrapped
    task = env.task_at(7)
    body = {
        "env": ARITH,
        "env_kwargs": {"level": "easy"},
        "task_id": task.id,
        "completion": f"\\boxed{{{task.answer}}}",
    }
    r = client.post("/v1/verify", json=body).json()
    assert r["task_id"] == task.id and r["verdict"]["status"] == "correct"


@pytest.mark.parametrize(
    ("body", "code", "detail"),
    [
        (item("1", env="os:system"), 404, "not served"),
        (item("1", env="assay/GuessNumber-v0"), 404, "not served"),
        ({"env": ARITH, "completion": "1"}, 422, "exactly one of task and task_id"),
        ({"env": ARITH, "completion": "1", "task_id": "arithmetic/nope/1"}, 404, "no task"),
        (item("1", env_kwargs={"level": "impossible"}), 422, "cannot build"),
        ({"env": ARITH}, 422, None),
    ],
)
def test_bad_requests_get_clear_errors(client, body, code, detail):
    r = client.post("/v1/verify", json=body)
    assert r.status_code == code, r.text
    if detail:
        assert detail in r.json()["detail"]


def test_envs_healthz_and_openapi(client):
    envs = client.get("/v1/envs").json()["envs"]
    assert [e["id"] for e in envs] == [ARITH, SLOW]
    assert envs[0]["description"] == "Evaluate an integer expression such as `37 + 12 * 4`."
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    assert {
        "/v1/verify",
        "/v1/verify/batch",
        "/v1/reward",
        "/v1/reward/batch",
        "/v1/envs",
        "/v1/openrlhf",
    } <= set(spec["paths"])
    ok = spec["paths"]["/v1/reward"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("RewardResponse")


def test_openrlhf_remote_reward_protocol(client):
    body = {"query": ["Q? \\boxed{3}", "Q? \\boxed{5}"], "prompts": ["Q? ", "Q? "], "labels": ["3", "4"]}
    r = client.post(f"/v1/openrlhf?env={ARITH}", json=body).json()
    assert r == {"rewards": [1.0, 0.0], "scores": [1.0, 0.0], "extra_logs": {"correct": [1.0, 0.0]}}


# -- auth and limits --------------------------------------------------------------------------


def test_bearer_token_auth(app_client):
    c = app_client(ServeConfig(envs=(ARITH,), token="s3cret"))
    assert c.post("/v1/verify", json=item("\\boxed{3}")).status_code == 401
    bad = c.post("/v1/verify", json=item("\\boxed{3}"), headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    assert c.get("/metrics").status_code == 401
    good = c.post("/v1/verify", json=item("\\boxed{3}"), headers={"Authorization": "Bearer s3cret"})
    assert good.status_code == 200
    assert c.get("/healthz").status_code == 200  # probes stay open
    assert c.get("/openapi.json").status_code == 200


def test_body_size_and_batch_limits(app_client):
    c = app_client(ServeConfig(envs=(ARITH,), max_body_bytes=2_000, max_batch=3))
    assert c.post("/v1/verify", json=item("x" * 5_000)).status_code == 413

    def chunks():  # no Content-Length: the limit must hold while streaming
        for _ in range(10):
            yield b" " * 500

    assert (
        c.post("/v1/verify", content=chunks(), headers={"content-type": "application/json"}).status_code
        == 413
    )
    r = c.post("/v1/verify/batch", json={"items": [item("\\boxed{3}")] * 4})
    assert r.status_code == 413 and "limit is 3" in r.json()["detail"]
    assert c.post("/v1/verify/batch", json={"items": [item("\\boxed{3}")] * 3}).status_code == 200


def test_overload_gets_429_not_errors():
    app = create_app(ServeConfig(envs=(SLOW,), max_concurrency=2, threads=4))

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            body = item("sleep:0.3 \\boxed{1}", answer="1", env=SLOW)
            return await asyncio.gather(*(c.post("/v1/verify", json=body) for _ in range(8)))

    rs = asyncio.run(main())
    codes = sorted(r.status_code for r in rs)
    assert codes == [200, 200] + [429] * 6
    busy = next(r for r in rs if r.status_code == 429)
    assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["detail"]


def test_slow_verification_becomes_an_error_verdict_not_a_hang(app_client):
    c = app_client(ServeConfig(envs=(SLOW,), verify_timeout_s=0.2))
    t0 = time.monotonic()
    r = c.post("/v1/verify", json=item("sleep:1.5 \\boxed{1}", answer="1", env=SLOW)).json()
    assert time.monotonic() - t0 < 1.0
    assert r["verdict"]["status"] == "error" and "took over 0.2 s" in r["verdict"]["reason"]


def test_metrics_count_requests_verdicts_and_rejections(client):
    from prometheus_client.parser import text_string_to_metric_families

    client.post("/v1/verify", json=item("\\boxed{3}"))
    client.post("/v1/verify/batch", json={"items": [item("\\boxed{3}"), item("\\boxed{9}")]})
    text = client.get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert samples[("assay_verdicts_total", (("env", ARITH), ("status", "correct")))] == 2
    assert samples[("assay_verdicts_total", (("env", ARITH), ("status", "incorrect")))] == 1
    assert samples[("assay_requests_total", (("code", "200"), ("route", "/v1/verify")))] == 1
    assert samples[("assay_request_seconds_count", (("route", "/v1/verify/batch"),))] == 1
    assert samples[("assay_rejected_total", (("reason", "busy"),))] == 0
    assert samples[("assay_in_flight", ())] == 0


# -- over a real socket ------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_in_thread(config):
    """A real uvicorn server for ``config`` in a thread: (server, thread, port, app)."""
    import uvicorn

    port = free_port()
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, thread, port, app


@pytest.fixture
def live():
    """A real uvicorn server in a thread; yields (base_url, token)."""
    config = ServeConfig(envs=(ARITH, SLOW), token="tok", max_concurrency=1, threads=2)
    server, thread, port, _ = _serve_in_thread(config)
    yield f"http://127.0.0.1:{port}", "tok"
    server.should_exit = True
    thread.join(10)


def test_client_round_trip_and_retry_on_429(live):
    url, token = live
    with VerifierClient(url, token=token) as c:
        assert c.verify(ARITH, "\\boxed{0.5}", task="1/2").status is Status.CORRECT
        reward, verdict = c.reward(ARITH, "\\boxed{2}", task=Task("t", "?", "3"))
        assert reward.total == 0.0 and verdict.status is Status.INCORRECT
        items = [c.item(ARITH, f"\\boxed{{{i}}}", task="2") for i in range(4)]
        assert [v.status for v in c.verify_batch(items)] == [Status.INCORRECT] * 2 + [
            Status.CORRECT,
            Status.INCORRECT,
        ]
        assert ARITH in c.envs()
    # max_concurrency=1 and a slow verifier: the second caller gets 429s and retries until served
    results = []

    def call():
        with VerifierClient(url, token=token) as c:
            results.append(c.verify(SLOW, "sleep:0.3 \\boxed{1}", task="1"))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [v.status for v in results] == [Status.CORRECT, Status.CORRECT]


def test_client_raises_service_error_with_the_detail(live):
    url, _ = live
    with VerifierClient(url, token="wrong") as c, pytest.raises(ServiceError, match="401") as e:
        c.verify(ARITH, "1", task="1")
    assert e.value.status == 401


def test_verl_and_openrlhf_adapters_call_the_service(live, monkeypatch):
    from assay.serve import adapters

    url, token = live
    monkeypatch.setenv("ASSAY_SERVE_URL", url)
    monkeypatch.setenv("ASSAY_SERVE_TOKEN", token)
    monkeypatch.setenv("ASSAY_ENV", ARITH)
    # verl's naive reward manager calls compute_score(data_source=, solution_str=, ground_truth=, extra_info=)
    got = adapters.verl_compute_score(
        data_source="openai/gsm8k", solution_str="so \\boxed{42}", ground_truth="42", extra_info={"index": 0}
    )
    assert got == {"score": 1.0, "acc": 1.0, "pred": "42"}
    # verl's batch reward manager
    got = adapters.verl_compute_score_batch(
        data_sources=[ARITH, "x"],
        solution_strs=["\\boxed{1}", "\\boxed{3}"],
        ground_truths=["2", "3"],
        extra_infos=[{}, {}],
    )
    assert [g["acc"] for g in got] == [0.0, 1.0]
    # OpenRLHF loads reward_func(queries, prompts, labels) from a file
    out = adapters.openrlhf_reward_func(["P: \\boxed{7}", "P: \\boxed{8}"], ["P: ", "P: "], ["7", "7"])
    assert out["rewards"].tolist() == [1.0, 0.0] and out["extra_logs"]["correct"].tolist() == [1.0, 0.0]


HELPER = textwrap.dedent(
    """
    import time
    import gymnasium as gym
    from assay.envs import SingleTurnEnv, Task
    from assay.verifiers.match import NumberMatch

    class Slow(SingleTurnEnv):
        num_tasks = 1
        def __init__(self, **kw):
            super().__init__(verifier=self.check, **kw)
        @staticmethod
        def check(completion, task):
            time.sleep(1.5)
            return NumberMatch()(completion, task)
        def task_at(self, index):
            return Task(id=f"s/{index}", prompt="?", answer="1")

    gym.register("slowhelper/Slow-v0", entry_point=Slow)
    """
)


def test_sigterm_finishes_in_flight_requests_then_exits(tmp_path):
    (tmp_path / "slowhelper.py").write_text(HELPER)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("ASSAY_SERVE_TOKEN", None)
    cmd = [
        sys.executable,
        "-m",
        "assay.cli",
        "serve",
        "--port",
        str(port),
        "--env",
        "slowhelper:slowhelper/Slow-v0",
    ]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                time.sleep(0.1)
        result = {}

        def slow_request():
            body = {"env": "slowhelper:slowhelper/Slow-v0", "completion": "\\boxed{1}", "task_id": "s/0"}
            result["r"] = httpx.post(f"http://127.0.0.1:{port}/v1/verify", json=body, timeout=30)

        t = threading.Thread(target=slow_request)
        t.start()
        time.sleep(0.5)  # the request is in flight (its verifier sleeps 1.5 s)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises(httpx.ConnectError):  # no new connections once draining
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        t.join(30)
        assert result["r"].status_code == 200
        assert result["r"].json()["verdict"]["status"] == "correct"
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after draining
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- trust: client data is never code or configuration; slow clients and slow verifications
# -- cannot hold capacity (the TRUST issue, one test per item) ----------------------------------

MBPP = "assay/MBPP-v0"
FILES = "servetest/Files-v0"
ASSERT_TESTS = {"setup": "import os", "asserts": ["assert f(1) == 2"], "entry_point": "f"}
CANDIDATE = "```python\ndef f(x):\n    return x + 1\n```"


class FilesEnv(SingleTurnEnv):
    """An env whose constructor reads a file named by an argument (as dataset envs do)."""

    num_tasks = 1

    def __init__(self, shard="a", **kw):
        with open(f"/nonexistent-assay-dir/{shard}.jsonl") as f:  # always fails: its text names the path
            f.read()
        super().__init__(verifier=NumberMatch(), **kw)


if FILES not in gym.registry:
    gym.register(FILES, entry_point=FilesEnv)


def test_client_test_code_is_refused_by_default(tmp_path, app_client):
    marker = tmp_path / "ran"
    c = app_client(ServeConfig(envs=(MBPP,), env_kwargs={MBPP: {"sandbox": "local"}}))
    sneaky = {**ASSERT_TESTS, "setup": f"open({str(marker)!r}, 'w').write('host')"}
    for tests in (
        ASSERT_TESTS,
        sneaky,
        {"setup": "def check(c): assert c(1) == 2", "check": "check", "entry_point": "f"},
    ):
        body = {"env": MBPP, "completion": CANDIDATE, "task": {"id": "mine", "meta": {"tests": tests}}}
        r = c.post("/v1/verify", json=body)
        assert r.status_code == 400, r.text
        assert "tests are code" in r.json()["detail"] and "--allow-client-tests" in r.json()["detail"]
    assert not marker.exists()
    # plain-data tests (function calls) are not code: accepted and judged
    data_tests = {"entry_point": "f", "cases": [{"args": [1], "expected": 2}]}
    body = {"env": MBPP, "completion": CANDIDATE, "task": {"meta": {"tests": data_tests}}}
    r = c.post("/v1/verify", json=body)
    assert r.status_code == 200 and r.json()["verdict"]["status"] == "correct", r.text
    # the env's own (trusted) assert tests, by task_id, still run
    env = gym.make(MBPP, sandbox="local").unwrapped
    task = env.task_at(0)
    r = c.post("/v1/verify", json={"env": MBPP, "task_id": task.id, "completion": env.gold(task)})
    assert r.status_code == 200 and r.json()["verdict"]["status"] == "correct", r.text


@pytest.mark.docker
def test_client_test_code_runs_in_the_candidates_sandbox_when_allowed(app_client):
    import tiers

    from assay.verifiers.code import CodeVerifier

    tiers.docker_or_skip()
    # true only inside the Docker sandbox (its user and its read-only /run/assay mount)
    tests = {
        "setup": "import os\nIN_SANDBOX = os.getuid() == 65534 and os.path.isdir('/run/assay')",
        "asserts": ["assert IN_SANDBOX", "assert f(1) == 2"],
        "entry_point": "f",
    }
    task = Task("mine", "", None, {"tests": tests})
    # control: the same tests through the host's test runner fail the IN_SANDBOX case
    host = CodeVerifier(sandbox="docker")(CANDIDATE, task)
    assert host.status is Status.INCORRECT and host.details["passed"] == 1, host
    config = ServeConfig(envs=(MBPP,), env_kwargs={MBPP: {"sandbox": "docker"}}, allow_client_tests=True)
    c = app_client(config)
    body = {"env": MBPP, "completion": CANDIDATE, "task": {"id": "mine", "meta": {"tests": tests}}}
    r = c.post("/v1/verify", json=body).json()
    assert r["verdict"]["status"] == "correct", r
    assert r["verdict"]["details"]["sandbox"] == "docker"


def test_operator_fixes_env_settings(app_client):
    c = app_client(ServeConfig(envs=(ARITH,)))
    for kwargs, name in (
        ({"sandbox": "local", "timeout_s": 1e9}, "sandbox"),
        ({"timeout_s": 1e9}, "timeout_s"),
        ({"level": "easy"}, "level"),  # not operator-only, but not on this server's (empty) allow-list
    ):
        r = c.post("/v1/verify", json=item("\\boxed{3}", env_kwargs=kwargs))
        assert r.status_code == 400, r.text
        assert f"env_kwargs[{name!r}]" in r.json()["detail"]
    allowed = app_client(ServeConfig(envs=(ARITH,), client_kwargs={ARITH: ("level",)}))
    assert (
        allowed.post("/v1/verify", json=item("\\boxed{3}", env_kwargs={"level": "easy"})).status_code == 200
    )
    r = allowed.post("/v1/verify", json=item("\\boxed{3}", env_kwargs={"level": "easy", "max_chars": 9}))
    assert r.status_code == 400 and "operator" in r.json()["detail"]
    for never in (
        "sandbox",
        "timeout_s",
        "python_timeout_s",
        "limits",
        "memory_mb",
        "data_files",
        "path",
        "corpus_path",
        "source",
    ):
        with pytest.raises(ValueError, match="operator only"):
            ServeConfig(client_kwargs={ARITH: ("level", never)})
    assert ServeConfig.client_kwargs_from([f"{ARITH}=level,digits", f"{SLOW}=x"]) == {
        ARITH: ("level", "digits"),
        SLOW: ("x",),
    }


def test_no_client_chosen_path_reaches_the_file_system(app_client):
    gsm8k = "assay/GSM8K-v0"
    c = app_client(ServeConfig(envs=(gsm8k, FILES), client_kwargs={FILES: ("shard",)}))
    details = []
    for path in ("/etc/passwd", "/nonexistent/x.jsonl"):
        for name in ("data_files", "source", "path"):
            r = c.post("/v1/verify", json=item("1", env=gsm8k, env_kwargs={name: path}))
            assert r.status_code == 400, r.text
            details.append(r.json()["detail"].replace(path, "P"))
    assert len(set(details)) == 3  # one answer per argument name, whatever the path: nothing to learn
    # an allowed argument that the env turns into a path: a 422 that does not repeat the OS error
    for shard in ("a", "../../etc/passwd"):
        r = c.post("/v1/verify", json=item("1", env=FILES, env_kwargs={"shard": shard}))
        assert r.status_code == 422, r.text
        assert "cannot build" in r.json()["detail"]
        assert "nonexistent-assay-dir" not in r.text and "No such file" not in r.text
    r = c.post("/v1/verify", json={"env": gsm8k, "completion": "1", "task_id": "../../../etc/passwd"})
    assert r.status_code == 404, r.text


def _raw_stalled_request(port, n_bytes_sent=1, length=100):
    s = socket.create_connection(("127.0.0.1", port))
    head = (
        f"POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    s.sendall(head.encode() + b"{" * n_bytes_sent)
    return s


def test_stalled_clients_cannot_take_capacity():
    config = ServeConfig(envs=(ARITH,), max_concurrency=64, body_timeout_s=3.0)
    server, thread, port, app = _serve_in_thread(config)
    stalled = []
    try:
        stalled = [_raw_stalled_request(port) for _ in range(64)]  # headers and one body byte each
        time.sleep(0.5)
        assert app.state.stats.in_flight == 0  # a request counts only once its body is in
        t0 = time.monotonic()
        r = httpx.post(f"http://127.0.0.1:{port}/v1/verify", json=item("\\boxed{3}"), timeout=10)
        served_s = time.monotonic() - t0
        assert r.status_code == 200 and r.json()["verdict"]["status"] == "correct", r.text
        assert served_s < 2.0, served_s
        # the stalled ones get 408 once their body deadline passes
        stalled[0].settimeout(10)
        t0 = time.monotonic()
        answer = stalled[0].recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        print(
            f"normal request served in {1000 * served_s:.0f} ms beside 64 stalled; 408 after +{time.monotonic() - t0:.1f} s"
        )
    finally:
        for s in stalled:
            s.close()
        server.should_exit = True
        thread.join(10)
    assert app.state.stats.rejected["slow_body"] >= 1


def test_timed_out_request_frees_its_capacity():
    config = ServeConfig(envs=(ARITH, SLOW), threads=2, verify_timeout_s=1.0)
    server, thread, port, app = _serve_in_thread(config)
    url = f"http://127.0.0.1:{port}/v1/verify"
    try:
        slow = item("sleep:30 \\boxed{1}", answer="1", env=SLOW)
        results = []

        def call():
            results.append(httpx.post(url, json=slow, timeout=30).json())

        callers = [threading.Thread(target=call) for _ in range(2)]
        t0 = time.monotonic()
        for t in callers:
            t.start()
        for t in callers:
            t.join(30)
        slow_s = time.monotonic() - t0
        assert [r["verdict"]["status"] for r in results] == ["error", "error"]
        assert all("took over 1.0 s" in r["verdict"]["reason"] for r in results)
        t0 = time.monotonic()
        r = httpx.post(url, json=item("\\boxed{4}", answer="4"), timeout=30).json()
        next_s = time.monotonic() - t0
        assert r["verdict"]["status"] == "correct", r
        assert next_s < 1.0, next_s  # a fresh worker, not a queue behind the killed ones
        print(
            f"2 slow requests: ERROR after {slow_s:.2f} s; the next correct answer: CORRECT in {1000 * next_s:.0f} ms"
        )
    finally:
        server.should_exit = True
        thread.join(10)
