"""Verification as a service: `assay serve` on loopback beside the in-process call and
reasoning-gym's scoring, for the same kind of work (scoring arithmetic answers).

What it measures, in one run, on this machine:

1. **in-process**: the env's own ``score(completion, task)`` (extraction, verifier, rubric),
   one call at a time: calls/s and latency.
2. **assay serve** (a separate process, uvicorn + FastAPI, one worker): ``C`` concurrent
   keep-alive loopback clients POST ``/v1/verify`` for ``--seconds``; requests/s, p50/p99
   latency of the answered requests, the count of deliberate 429s and of errors (anything else:
   5xx, resets, timeouts). Clients behave as `VerifierClient` does: a 429 is retried after the
   server's ``Retry-After`` (1 s, jittered 0.5–1.5 s). Also the batch route (64 items a request).
3. **reasoning-gym**: its PyPI wheel (0.1.25) declares an ``rgc`` console script
   (``tools.cli.rgc.main``) and a ``server`` extra, but ships no ``tools`` package: its scoring
   server (``tools/server`` in its repository) cannot be installed from PyPI, and the repository
   is not reachable here. What can be measured: its scoring code in-process
   (``CompositeDataset.score_answer_with_id``, what its server's score route calls per answer),
   and that same call behind a minimal FastAPI route written here (``POST
   /experiments/{name}/score``, an ``async def`` handler looping over the answers, as its server
   does), under the same load generator. That stand-in is labelled as such in the table.

The load generator is a minimal HTTP/1.1 keep-alive client on asyncio streams (uvloop when
installed), so that the client side costs far less CPU than the server it measures; both share
this machine's cores, so read the ratios, not the absolute numbers.

    python benchmarks/service.py                 # quick: 10 s per load
    python benchmarks/service.py --seconds 60    # the 200-client load runs 60 s (the issue's soak)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


# -- load generator --------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What a load run saw."""

    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    rejected: int = 0
    errors: int = 0
    wrong: int = 0
    first_error: str = ""

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))]


def http_post(host: str, port: int, path: str, body: bytes, token: str | None = None) -> bytes:
    """A raw HTTP/1.1 keep-alive POST request."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{auth}\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def _client(
    host: str,
    port: int,
    requests: list[tuple[bytes, Any]],
    check: Any,
    stop_at: float,
    res: LoadResult,
    rng: random.Random,
    retry_after: float,
) -> None:
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    i = rng.randrange(len(requests))
    while time.perf_counter() < stop_at:
        raw, expected = requests[i % len(requests)]
        i += 1
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            t0 = time.perf_counter()
            writer.write(raw)
            status, body = await asyncio.wait_for(_read_response(reader), timeout=30)
            dt = time.perf_counter() - t0
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as e:
            res.errors += 1
            res.first_error = res.first_error or f"{type(e).__name__}: {e}"
            if writer is not None:
                writer.close()
            writer = reader = None
            await asyncio.sleep(0.01)
            continue
        if status == 200:
            res.latencies.append(dt)
            if check is not None and not check(body, expected):
                res.wrong += 1
        elif status == 429:
            res.rejected += 1
            await asyncio.sleep(retry_after * (0.5 + rng.random()))
        else:
            res.errors += 1
            res.first_error = res.first_error or f"HTTP {status}: {body[:200]!r}"
    if writer is not None:
        writer.close()


def run_load(
    host: str,
    port: int,
    requests: list[tuple[bytes, Any]],
    *,
    clients: int,
    seconds: float,
    check: Any = None,
    seed: int = 0,
    retry_after: float = 1.0,
) -> LoadResult:
    """``clients`` concurrent keep-alive connections sending ``requests`` for ``seconds``."""
    res = LoadResult(clients=clients, seconds=seconds)

    async def main() -> None:
        stop_at = time.perf_counter() + seconds
        rngs = [random.Random(seed * 100_003 + c) for c in range(clients)]
        await asyncio.gather(
            *(
                _client(host, port, requests, check, stop_at, res, rngs[c], retry_after)
                for c in range(clients)
            )
        )

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    return res


def check_verdict(body: bytes, expected: str) -> bool:
    return json.loads(body)["verdict"]["status"] == expected


# -- the work ----------------------------------------------------------------------------------------

ENV = "assay/Arithmetic-v0"
ENV_KWARGS = {"level": "hard"}
"""Arithmetic tasks with fractions; the server judges them with `MathVerifier` (``--verifier
math``, the default: sympy-capable, answers compared in killable worker processes) or
`NumberMatch` (``--verifier number``: exact rationals, in-process)."""


def make_env(verifier: str) -> Any:
    import assay

    kwargs: dict[str, Any] = dict(ENV_KWARGS)
    if verifier == "math":
        from assay.verifiers.math import MathVerifier

        kwargs["verifier"] = MathVerifier()
    return assay.make(ENV, **kwargs).unwrapped


def arithmetic_items(count: int = 512, seed: int = 0) -> list[tuple[str, str, str]]:
    """(completion, reference answer, expected status): right, right but written otherwise, wrong."""
    from fractions import Fraction

    env = make_env("number")
    rng = random.Random(seed)
    items = []
    for i in range(count):
        task = env.task_at(i)
        gold = Fraction(task.answer)
        kind = rng.choice(["right", "other", "wrong"])
        if kind == "right":
            text, status = (
                f"Working it out step by step... so the answer is \\boxed{{{task.answer}}}.",
                "correct",
            )
        elif kind == "other":
            shown = (
                f"\\frac{{{gold.numerator}}}{{{gold.denominator}}}"
                if gold.denominator != 1
                else f"{gold.numerator:,}"
            )
            text, status = f"After simplifying, the result is \\boxed{{{shown}}}", "correct"
        else:
            text, status = f"I think it is \\boxed{{{gold + 1}}}", "incorrect"
        items.append((text, task.answer, status))
    return items


def verify_bodies(items: list[tuple[str, str, str]]) -> list[tuple[bytes, str]]:
    return [
        (
            json.dumps(
                {"env": ENV, "env_kwargs": ENV_KWARGS, "completion": c, "task": {"answer": a}}
            ).encode(),
            s,
        )
        for c, a, s in items
    ]


def batch_bodies(items: list[tuple[str, str, str]], size: int = 64) -> list[tuple[bytes, list[str]]]:
    out = []
    for start in range(0, len(items) - size + 1, size):
        chunk = items[start : start + size]
        body = {
            "items": [
                {"env": ENV, "env_kwargs": ENV_KWARGS, "completion": c, "task": {"answer": a}}
                for c, a, _ in chunk
            ]
        }
        out.append((json.dumps(body).encode(), [s for _, _, s in chunk]))
    return out


def check_batch(body: bytes, expected: list[str]) -> bool:
    return [r["verdict"]["status"] for r in json.loads(body)["results"]] == expected


def in_process(items: list[tuple[str, str, str]], seconds: float, verifier: str) -> LoadResult:
    from assay.verifiers.base import Task

    env = make_env(verifier)
    tasks = [(c, Task(id="inline", prompt="", answer=a), s) for c, a, s in items]
    res = LoadResult(clients=1, seconds=seconds)
    stop = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < stop:
        c, task, s = tasks[i % len(tasks)]
        i += 1
        t0 = time.perf_counter()
        verdict, _ = env.score(c, task)
        res.latencies.append(time.perf_counter() - t0)
        res.wrong += verdict.status.value != s
    return res


# -- processes ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    port: int, proc: subprocess.Popen[bytes], path: str = "/healthz", timeout: float = 60
) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode}: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not come up")


SERVER = textwrap.dedent(
    """
    # `assay serve` for the benchmark: the same app and uvicorn runner, built in Python so the
    # Arithmetic env can be given MathVerifier as its verifier.
    import sys
    from assay.serve.app import ServeConfig
    from assay.serve.server import run

    port, verifier, limit, threads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    kwargs = {}
    if verifier == "math":
        from assay.verifiers.math import MathVerifier

        kwargs = {"__ENV__": {"verifier": MathVerifier()}}
        MathVerifier().warm(threads)  # fork its worker processes before the clock starts
    config = ServeConfig(
        envs=("__ENV__",),
        env_kwargs=kwargs,
        client_kwargs={"__ENV__": ("level",)},
        max_concurrency=limit,
        threads=threads,
    )
    run(config, port=port)
    """
).replace("__ENV__", ENV)


def start_assay_serve(
    port: int, max_concurrency: int, *, verifier: str = "math", threads: int = 4
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", SERVER, str(port), verifier, str(max_concurrency), str(threads)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE)
    wait_healthy(port, proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


RG_STANDIN = textwrap.dedent(
    """
    # A minimal FastAPI route around reasoning-gym's own scorer: reasoning-gym's server module is
    # not on PyPI, so this stands in for it (same call per answer, an async handler looping).
    import sys
    import uvicorn
    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel
    from reasoning_gym.composite import CompositeConfig, CompositeDataset, DatasetSpec
    from reasoning_gym.version_manager import DatasetVersionManager

    # (reasoning-gym 0.1.25's ExperimentRegistry.register_experiment raises TypeError, so the
    # composite dataset is built directly, with version tracking as its experiments do.)
    config = CompositeConfig(size=512, seed=0, datasets=[DatasetSpec("basic_arithmetic", 1.0, {})])
    datasets = {"bench": CompositeDataset(config, version_manager=DatasetVersionManager())}
    app = FastAPI()

    class Answer(BaseModel):
        entry_id: str
        answer: str

    class Scoring(BaseModel):
        answers: list[Answer]

    @app.get("/health")
    async def health():
        return {"status": "healthy"}

    @app.post("/experiments/{name}/score")
    async def score(name: str, req: Scoring):
        ds = datasets.get(name)
        if ds is None:
            raise HTTPException(404, "no such experiment")
        scores = [ds.score_answer_with_id(a.answer, a.entry_id) for a in req.answers]
        return {"scores": scores, "entry_ids": [a.entry_id for a in req.answers]}

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
    """
)


def rg_dataset(count: int = 512) -> Any:
    """reasoning-gym's composite dataset with version tracking (entry ids), as its server builds it.

    (Its own ``ExperimentRegistry.register_experiment`` raises TypeError in 0.1.25:
    ``Experiment.create`` passes ``dataset=`` to an ``__init__`` that takes ``composite``.)
    """
    from reasoning_gym.composite import CompositeConfig, CompositeDataset, DatasetSpec
    from reasoning_gym.version_manager import DatasetVersionManager

    config = CompositeConfig(size=count, seed=0, datasets=[DatasetSpec("basic_arithmetic", 1.0, {})])
    return CompositeDataset(config, version_manager=DatasetVersionManager())


def rg_items(count: int = 512, seed: int = 0) -> tuple[list[tuple[str, str, float]], Any]:
    """(entry_id, answer, expected score) over reasoning-gym's basic_arithmetic, and the dataset."""
    ds = rg_dataset(count)
    rng = random.Random(seed)
    items = []
    for i in range(count):
        entry = ds[i]
        right = rng.random() < 2 / 3
        answer = entry["answer"] if right else str(int(entry["answer"]) + 1)
        items.append((entry["metadata"]["entry_id"], answer, 1.0 if right else 0.0))
    return items, ds


def rg_in_process(seconds: float) -> LoadResult:
    items, ds = rg_items()
    res = LoadResult(clients=1, seconds=seconds)
    stop_at = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < stop_at:
        eid, ans, exp = items[i % len(items)]
        i += 1
        t0 = time.perf_counter()
        got = ds.score_answer_with_id(ans, eid)
        res.latencies.append(time.perf_counter() - t0)
        res.wrong += got != exp
    return res


def rg_server_status() -> str:
    import importlib.util

    try:
        found = importlib.util.find_spec("tools.server") is not None
    except ModuleNotFoundError:
        found = False
    return "importable" if found else "not installable from PyPI (wheel and sdist ship no tools/ package)"


# -- main -------------------------------------------------------------------------------------------------


def fmt_ms(x: float) -> str:
    return f"{1000 * x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--seconds", type=float, default=10.0, help="duration of the 200-client load on assay serve"
    )
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--max-concurrency", type=int, default=8, help="assay serve's in-flight limit")
    ap.add_argument("--verifier", choices=["math", "number"], default="math")
    ap.add_argument("--skip-peer", action="store_true")
    args = ap.parse_args()

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start")
    items = arithmetic_items()
    rows: list[tuple[str, LoadResult, str]] = []

    label = "MathVerifier" if args.verifier == "math" else "NumberMatch"
    rows.append(
        (
            f"assay in-process score() [{label}]",
            in_process(items, min(args.seconds, 5.0), args.verifier),
            "1 caller",
        )
    )

    port = free_port()
    proc = start_assay_serve(port, args.max_concurrency, verifier=args.verifier)
    try:
        warm = [(http_post("127.0.0.1", port, "/v1/verify", b), s) for b, s in verify_bodies(items)]
        run_load("127.0.0.1", port, warm, clients=8, seconds=1.0)  # warm-up
        for clients in (1, 16, args.clients):
            seconds = args.seconds if clients == args.clients else min(args.seconds, 10.0)
            r = run_load("127.0.0.1", port, warm, clients=clients, seconds=seconds, check=check_verdict)
            rows.append((f"assay serve /v1/verify (limit {args.max_concurrency})", r, f"{clients} clients"))
        batches = [(http_post("127.0.0.1", port, "/v1/verify/batch", b), s) for b, s in batch_bodies(items)]
        r = run_load(
            "127.0.0.1", port, batches, clients=8, seconds=min(args.seconds, 10.0), check=check_batch
        )
        rows.append(("assay serve /v1/verify/batch ×64", r, "8 clients"))
    finally:
        stop(proc)

    peer_note = ""
    if not args.skip_peer:
        peer_note = f"reasoning-gym server: {rg_server_status()}"
        rows.append(
            (
                "reasoning-gym in-process score_answer_with_id",
                rg_in_process(min(args.seconds, 5.0)),
                "1 caller",
            )
        )
        port = free_port()
        script = Path(os.environ.get("TMPDIR", "/tmp")) / f"rg_standin_{os.getpid()}.py"
        script.write_text(RG_STANDIN)
        rg = subprocess.Popen([sys.executable, str(script), str(port)], stderr=subprocess.PIPE)
        try:
            wait_healthy(port, rg, path="/health")
            ids, _ = rg_items()
            reqs = [
                (
                    http_post(
                        "127.0.0.1",
                        port,
                        "/experiments/bench/score",
                        json.dumps({"answers": [{"entry_id": e, "answer": a}]}).encode(),
                    ),
                    s,
                )
                for e, a, s in ids
            ]
            check = lambda body, s: json.loads(body)["scores"] == [s]  # noqa: E731
            run_load("127.0.0.1", port, reqs, clients=8, seconds=1.0)
            for clients in (1, 16, args.clients):
                seconds = min(args.seconds, 10.0 if clients < args.clients else 20.0)
                r = run_load("127.0.0.1", port, reqs, clients=clients, seconds=seconds, check=check)
                rows.append(("reasoning-gym scorer, stand-in FastAPI route", r, f"{clients} clients"))
        finally:
            stop(rg)
            script.unlink(missing_ok=True)

    print()
    head = f"| {'what':<48} | {'load':<11} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'max ms':>7} | {'429s':>6} | {'errors':>6} | {'wrong':>5} |"
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for name, r, load_label in rows:
        print(
            f"| {name:<48} | {load_label:<11} | {r.rps:>8.0f} | {fmt_ms(r.pct(0.5)):>7} | {fmt_ms(r.pct(0.99)):>7} "
            f"| {fmt_ms(max(r.latencies) if r.latencies else float('nan')):>7} | {r.rejected:>6} | {r.errors:>6} | {r.wrong:>5} |"
        )
        if r.first_error:
            print(f"    first error: {r.first_error}")
    load = os.getloadavg()
    print(
        f"\nload average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; the {args.clients}-client load on "
        f"assay serve ran {args.seconds:.0f} s, the peer's at most 20 s, the others at most 10 s"
    )
    if peer_note:
        print(peer_note)
    print("latency: client-side, answered requests only; req/s counts answered requests (429s excluded)")
    _ = statistics  # (kept for readers who extend the table)


if __name__ == "__main__":
    main()
