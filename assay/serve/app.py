"""The verification service: `create_app` builds the FastAPI app behind ``assay serve``.

Routes (all JSON; the OpenAPI spec is at ``/openapi.json``, docs at ``/docs``):

- ``POST /v1/verify`` and ``POST /v1/verify/batch``: a completion against a task of an env,
  judged by the env's verifier: the `Verdict`.
- ``POST /v1/reward`` and ``POST /v1/reward/batch``: the same, plus the env's rubric: the
  total reward and its per-term breakdown.
- ``POST /v1/openrlhf``: OpenRLHF's remote reward protocol (``{"query", "prompts", "labels"}``
  in, ``{"rewards", "scores", "extra_logs"}`` out) for one env (``?env=``).
- ``GET /v1/envs``: the envs this server verifies. ``GET /healthz``. ``GET /metrics``
  (Prometheus text format).

A task is given inline (``{"answer": ..., "prompt": ..., "meta": ...}``) or by ``task_id``
(looked up in the env). Only envs on the server's allow-list are ever built: an env id from a
request never reaches ``gymnasium.make`` otherwise (``"module:Env"`` ids would import code).

Verifiers run in worker threads (``threads`` at a time), so a slow verifier (sympy in its own
process, a sandbox) never blocks the event loop; each request waits at most
``verify_timeout_s`` for its verdicts and gets ``ERROR`` verdicts after that, never a hang.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

import assay
from assay.envs.base import SingleTurnEnv
from assay.errors import UnknownTask
from assay.rewards.base import Reward
from assay.serve.limits import Gate, GateStats
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["ServeConfig", "create_app"]


@dataclass(frozen=True)
class ServeConfig:
    """How the service runs. Defaults suit one process on a small machine."""

    envs: tuple[str, ...] = ()
    """Env ids served (the allow-list); empty means every registered ``assay/*`` env."""
    token: str | None = None
    """Bearer token required on every route but /healthz and the docs; None disables auth."""
    max_concurrency: int = 64
    """API requests in flight at once; more get 429 (back-pressure, not a queue)."""
    max_body_bytes: int = 4 * 2**20
    """Largest request body; larger gets 413."""
    max_batch: int = 1024
    """Most items in one batch request; more gets 413."""
    threads: int = 8
    """Verifier calls running at once (worker threads)."""
    verify_timeout_s: float = 60.0
    """A request's verdicts that take longer come back as ERROR."""
    max_env_variants: int = 32
    """Distinct (env, env_kwargs) instances kept; the least recently used is dropped."""
    env_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Constructor arguments per env id, fixed by the operator (a request cannot override them)."""


# -- wire types ----------------------------------------------------------------------------------


class TaskIn(BaseModel):
    """A task given inline."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field("inline", description="Task id (for logs).")
    prompt: str = ""
    answer: str | None = Field(None, description="The reference answer.")
    meta: dict[str, Any] = Field(default_factory=dict)


class VerifyRequest(BaseModel):
    """One completion to judge."""

    model_config = ConfigDict(extra="forbid")
    env: str = Field(..., description="Env id, e.g. assay/Arithmetic-v0.", examples=["assay/Arithmetic-v0"])
    completion: str = Field(..., description="The model's output.")
    task: TaskIn | None = Field(None, description="The task inline (or give task_id).")
    task_id: str | None = Field(None, description="A task id of the env (or give task).")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="Env constructor arguments.")


class VerdictOut(BaseModel):
    status: Status
    score: float
    extracted: str | None
    reason: str
    details: dict[str, Any]


class VerifyResponse(BaseModel):
    task_id: str
    verdict: VerdictOut


class RewardResponse(BaseModel):
    task_id: str
    reward: float
    terms: dict[str, float | None]
    verdict: VerdictOut


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[VerifyRequest]


class VerifyBatchResponse(BaseModel):
    results: list[VerifyResponse]


class RewardBatchResponse(BaseModel):
    results: list[RewardResponse]


class OpenRLHFRequest(BaseModel):
    """OpenRLHF's remote reward request: ``query`` is prompt + response."""

    query: list[str]
    prompts: list[str] | None = None
    labels: list[str | None] | None = None


class OpenRLHFResponse(BaseModel):
    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]


class EnvInfo(BaseModel):
    id: str
    description: str


class EnvsResponse(BaseModel):
    envs: list[EnvInfo]


# -- the app -------------------------------------------------------------------------------------


class _Envs:
    """Allow-listed env instances, built on first use, at most ``size`` variants (LRU)."""

    def __init__(self, config: ServeConfig) -> None:
        self.allowed = frozenset(config.envs or assay.list_envs())
        self.defaults = config.env_kwargs
        self.size = config.max_env_variants
        self._cache: OrderedDict[str, SingleTurnEnv] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, env_id: str, kwargs: dict[str, Any]) -> SingleTurnEnv:
        if env_id not in self.allowed:
            raise HTTPException(404, f"env {env_id!r} is not served here (GET /v1/envs lists them)")
        merged = {**kwargs, **self.defaults.get(env_id, {})}  # the operator's settings win
        key = env_id + "\0" + json.dumps(merged, sort_keys=True, default=str)
        with self._lock:
            env = self._cache.get(key)
            if env is not None:
                self._cache.move_to_end(key)
                return env
        try:
            made = assay.make(env_id, **merged).unwrapped
        except (TypeError, ValueError) as e:
            raise HTTPException(422, f"cannot build {env_id} with {merged}: {e}") from None
        if not isinstance(made, SingleTurnEnv):
            raise HTTPException(422, f"{env_id} has no verifier to call")
        with self._lock:
            self._cache[key] = made
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return made


def _task(env: SingleTurnEnv, req: VerifyRequest) -> Task:
    if (req.task is None) == (req.task_id is None):
        raise HTTPException(422, "give exactly one of task and task_id")
    if req.task_id is not None:
        try:
            return env.task_by_id(req.task_id)
        except UnknownTask as e:
            raise HTTPException(404, str(e)) from None
    assert req.task is not None
    try:
        return Task(
            id=req.task.id or "inline", prompt=req.task.prompt, answer=req.task.answer, meta=req.task.meta
        )
    except (TypeError, ValueError) as e:
        raise HTTPException(422, f"bad task: {e}") from None


def _json(obj: Any) -> Response:
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)
    return Response(body.encode(), media_type="application/json")


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The service as a FastAPI app, behind the `Gate` (auth, body size, back-pressure)."""
    config = config or ServeConfig()
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    registry = CollectorRegistry()
    requests = Counter(
        "assay_requests", "API requests by route and HTTP status", ["route", "code"], registry=registry
    )
    latency = Histogram(
        "assay_request_seconds",
        "API request latency (server side)",
        ["route"],
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        registry=registry,
    )
    verdicts = Counter("assay_verdicts", "Verdicts by env and status", ["env", "status"], registry=registry)
    stats = GateStats()
    in_flight = Gauge("assay_in_flight", "API requests in flight", registry=registry)
    in_flight.set_function(lambda: stats.in_flight)
    registry.register(_RejectedCollector(stats))

    envs = _Envs(config)
    pool = ThreadPoolExecutor(config.threads, thread_name_prefix="assay-verify")
    routes = {"/v1/verify", "/v1/verify/batch", "/v1/reward", "/v1/reward/batch", "/v1/openrlhf", "/v1/envs"}

    def observe(path: str, code: int, seconds: float) -> None:
        route = path if path in routes else "other"
        requests.labels(route, str(code)).inc()
        if code != 429:
            latency.labels(route).observe(seconds)

    stats.observe = observe

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        pool.shutdown(wait=False, cancel_futures=True)  # after uvicorn has drained the requests

    app = FastAPI(
        lifespan=lifespan,
        title="assay verifier service",
        version=assay.__version__,
        description="Verification and rewards for assay environments.",
    )

    def score_all(reqs: Sequence[VerifyRequest]) -> list[tuple[Task, Verdict, Reward]]:
        out = []
        for req in reqs:
            env = envs.get(req.env, req.env_kwargs)
            task = _task(env, req)
            verdict, reward = env.score(req.completion, task)
            verdicts.labels(req.env, verdict.status.value).inc()
            out.append((task, verdict, reward))
        return out

    async def run(reqs: Sequence[VerifyRequest]) -> list[tuple[Task, Verdict, Reward]]:
        """Score ``reqs`` in up to ``threads`` worker threads, within ``verify_timeout_s``."""
        if len(reqs) > config.max_batch:
            raise HTTPException(413, f"{len(reqs)} items in one batch; the limit is {config.max_batch}")
        loop = asyncio.get_running_loop()
        chunks = max(1, min(config.threads, len(reqs)))
        size = -(-len(reqs) // chunks)
        futures = [
            loop.run_in_executor(pool, score_all, reqs[i : i + size]) for i in range(0, len(reqs), size)
        ]
        waiting = asyncio.gather(*futures)
        expired = False

        def expire() -> None:  # a timer, cheaper than a timeout scope per request
            nonlocal expired
            expired = True
            waiting.cancel()

        timer = loop.call_later(config.verify_timeout_s, expire)
        try:
            done: list[list[tuple[Task, Verdict, Reward]]] = await waiting
        except asyncio.CancelledError:
            if not expired:
                raise
            timeout = Verdict(Status.ERROR, reason=f"verification took over {config.verify_timeout_s} s")
            return [(Task(id=r.task_id or "inline", prompt=""), timeout, Reward(0.0, {})) for r in reqs]
        finally:
            timer.cancel()
        return [x for part in done for x in part]

    def verify_json(task: Task, verdict: Verdict) -> dict[str, Any]:
        return {"task_id": task.id, "verdict": verdict.to_dict()}

    def reward_json(task: Task, verdict: Verdict, reward: Reward) -> dict[str, Any]:
        return {
            "task_id": task.id,
            "reward": reward.total,
            "terms": reward.terms,
            "verdict": verdict.to_dict(),
        }

    # Handlers return ready JSON (the response models document the shape for the OpenAPI spec).

    @app.post("/v1/verify", response_model=VerifyResponse)
    async def verify(req: VerifyRequest) -> Response:
        """Judge one completion with the env's verifier."""
        ((task, verdict, _),) = await run([req])
        return _json(verify_json(task, verdict))

    @app.post("/v1/verify/batch", response_model=VerifyBatchResponse)
    async def verify_batch(req: BatchRequest) -> Response:
        """Judge many completions (results in request order)."""
        return _json({"results": [verify_json(t, v) for t, v, _ in await run(req.items)]})

    @app.post("/v1/reward", response_model=RewardResponse)
    async def reward(req: VerifyRequest) -> Response:
        """Judge one completion and apply the env's rubric: total reward and its terms."""
        ((task, verdict, rew),) = await run([req])
        return _json(reward_json(task, verdict, rew))

    @app.post("/v1/reward/batch", response_model=RewardBatchResponse)
    async def reward_batch(req: BatchRequest) -> Response:
        """Rewards for many completions (results in request order)."""
        return _json({"results": [reward_json(*x) for x in await run(req.items)]})

    @app.post("/v1/openrlhf", response_model=OpenRLHFResponse)
    async def openrlhf(
        req: OpenRLHFRequest, env: str = Query(..., description="The env whose verifier and rubric score.")
    ) -> OpenRLHFResponse:
        """OpenRLHF ``--remote_rm_url`` protocol: the response is ``query`` minus its prompt;
        ``labels`` are the reference answers."""
        n = len(req.query)
        prompts = req.prompts or [""] * n
        labels = req.labels or [None] * n
        if len(prompts) != n or len(labels) != n:
            raise HTTPException(422, "query, prompts and labels must have the same length")
        items = [
            VerifyRequest(
                env=env,
                completion=q[len(p) :] if p and q.startswith(p) else q,
                task=TaskIn(id=f"openrlhf/{i}", prompt=p, answer=label),
                task_id=None,
            )
            for i, (q, p, label) in enumerate(zip(req.query, prompts, labels, strict=True))
        ]
        done = await run(items)
        rewards = [r.total for _, _, r in done]
        correct = [1.0 if v.status is Status.CORRECT else 0.0 for _, v, _ in done]
        return OpenRLHFResponse(
            rewards=rewards, scores=[v.score for _, v, _ in done], extra_logs={"correct": correct}
        )

    @app.get("/v1/envs", response_model=EnvsResponse)
    async def list_envs() -> EnvsResponse:
        """The envs this server verifies."""
        out = []
        for env_id in sorted(envs.allowed):
            try:
                desc = assay.describe(env_id)
            except Exception:  # noqa: BLE001 - a broken env module must not take the listing down
                desc = ""
            out.append(EnvInfo(id=env_id, description=desc))
        return EnvsResponse(envs=out)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness and load: ``in_flight`` requests and the limit."""
        return {
            "status": "ok",
            "version": assay.__version__,
            "in_flight": stats.in_flight,
            "max_concurrency": config.max_concurrency,
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics (text exposition format)."""
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.state.stats = stats
    app.state.config = config
    app.add_middleware(
        Gate,
        max_concurrency=config.max_concurrency,
        max_body_bytes=config.max_body_bytes,
        token=config.token,
        stats=stats,
    )
    return app


class _RejectedCollector:
    """Exports the gate's rejection counts as the ``assay_rejected_total`` counter."""

    def __init__(self, stats: GateStats) -> None:
        self.stats = stats

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily

        family = CounterMetricFamily(
            "assay_rejected", "Requests rejected by the gate, by reason", labels=["reason"]
        )
        for reason, count in sorted(self.stats.rejected.items()):
            family.add_metric([reason], count)
        yield family
