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

What a client sends is data, never code or configuration:

- **Test code.** An inline task whose tests are code (assert-style ``setup``/``asserts``/
  ``check``) gets 400 unless the operator set ``allow_client_tests``; then that code runs in the
  candidate's own sandbox, never in the host's test runner. Function-call and stdin/stdout tests
  are plain data and always accepted.
- **Env settings.** A request's ``env_kwargs`` may name only the arguments the operator listed
  for that env (``client_kwargs``, empty by default); anything else is a 400 naming it. Sandbox,
  timeouts, limits, file paths and data locations (`operator_only`) cannot be listed at all, so
  no client-chosen path reaches the file system. A failure to build an env is a 422 that does
  not repeat the server's own error text.

Verifiers run in worker processes (`ScoringWorkers`, ``threads`` at a time), so a slow verifier
never blocks the event loop; each request waits at most ``verify_timeout_s`` for its verdicts
and gets ``ERROR`` verdicts after that, never a hang. A worker whose request ran out of time is
killed and its slot is free at that moment.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

import assay
from assay.envs.base import SingleTurnEnv
from assay.errors import UnknownTask
from assay.rewards.base import Reward
from assay.sandboxes import SandboxError, get_sandbox
from assay.serve.limits import Gate, GateStats
from assay.serve.workers import ScoringWorkers, WorkerDied
from assay.verifiers.base import Status, Task, Verdict
from assay.verifiers.code import AssertTests, CodeVerifier, parse_tests

__all__ = ["OPERATOR_ONLY", "ServeConfig", "create_app", "operator_only"]

_log = logging.getLogger("assay.serve")

OPERATOR_ONLY = frozenset(
    {
        "sandbox",
        "limits",
        "verifier",
        "rubric",
        "tools",
        "env_kwargs",
        "data",
        "data_files",
        "source",
        "path",
        "name",
        "split",
        "subset",
        "max_chars",
        "max_output_chars",
        "max_cases",
        "max_turns",
        "max_calls_per_turn",
    }
)
"""Env arguments only the operator sets: where code runs, what it may use, what data is read."""
_OPERATOR_SUFFIXES = ("_s", "timeout", "_mb", "_bytes", "_path", "_paths", "_dir", "_file", "_files")


def operator_only(name: str) -> bool:
    """True for an env argument no request may set (`OPERATOR_ONLY`, timeouts, sizes, paths)."""
    return name in OPERATOR_ONLY or name.endswith(_OPERATOR_SUFFIXES)


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
    """Verifications running at once (worker processes, killed when their request times out)."""
    verify_timeout_s: float = 60.0
    """A request's verdicts that take longer come back as ERROR (and its workers are killed)."""
    max_env_variants: int = 32
    """Distinct (env, env_kwargs) instances kept per worker; the least recently used is dropped."""
    env_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Constructor arguments per env id, fixed by the operator (a request cannot override them)."""
    client_kwargs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per env id, the constructor arguments a request's ``env_kwargs`` may set (an allow-list;
    empty: none). Names that are `operator_only` are refused here with ``ValueError``."""
    allow_client_tests: bool = False
    """Accept inline tasks whose tests are code (assert-style); it runs in the candidate's sandbox."""
    body_timeout_s: float = 10.0
    """A request body not complete within this time gets 408; until then it holds no slot."""

    def __post_init__(self) -> None:
        for env_id, names in self.client_kwargs.items():
            bad = sorted(n for n in names if operator_only(n))
            if bad:
                raise ValueError(
                    f"client_kwargs[{env_id!r}]: {bad} are set by the operator only (sandbox, "
                    "timeouts, limits, paths, data locations)"
                )
        for name in ("verify_timeout_s", "body_timeout_s"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, got {value!r}")

    @staticmethod
    def client_kwargs_from(pairs: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """`client_kwargs` from ``ENV=NAME[,NAME...]`` strings (``assay serve --client-kwarg``)."""
        out: dict[str, tuple[str, ...]] = {}
        for pair in pairs:
            env_id, sep, names = pair.rpartition("=")
            if not sep or not env_id or not names:
                raise ValueError(f"expected ENV=NAME[,NAME...], got {pair!r}")
            out[env_id] = out.get(env_id, ()) + tuple(n.strip() for n in names.split(",") if n.strip())
        return out


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
    """Allow-listed env instances, built on first use, at most ``size`` variants (LRU).

    Lives in each scoring worker (built there, never sent over the wire).
    """

    def __init__(self, config: ServeConfig) -> None:
        self.defaults = config.env_kwargs
        self.size = config.max_env_variants
        self._cache: OrderedDict[str, SingleTurnEnv] = OrderedDict()

    def get(self, env_id: str, kwargs: dict[str, Any], *, client_tests: bool = False) -> SingleTurnEnv:
        """The env; with ``client_tests``, a copy whose assert-style tests run in its sandbox."""
        merged = {**kwargs, **self.defaults.get(env_id, {})}  # the operator's settings win
        key = env_id + "\0" + json.dumps(merged, sort_keys=True, default=str) + f"\0{client_tests}"
        env = self._cache.get(key)
        if env is not None:
            self._cache.move_to_end(key)
            return env
        if client_tests:
            env = _with_tests_in_sandbox(self.get(env_id, kwargs))
        else:
            env = self._build(env_id, kwargs, merged)
        self._cache[key] = env
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return env

    @staticmethod
    def _build(env_id: str, kwargs: dict[str, Any], merged: dict[str, Any]) -> SingleTurnEnv:
        try:
            made = assay.make(env_id, **merged).unwrapped
        except (TypeError, ValueError) as e:
            raise HTTPException(422, f"cannot build {env_id} with {kwargs}: {e}") from None
        except Exception as e:  # noqa: BLE001 - the text may describe the server's files: log it only
            _log.warning("cannot build %s with %s: %s: %s", env_id, kwargs, type(e).__name__, e)
            raise HTTPException(422, f"cannot build {env_id} with {kwargs}") from None
        if not isinstance(made, SingleTurnEnv):
            raise HTTPException(422, f"{env_id} has no verifier to call")
        return made


def _with_tests_in_sandbox(env: SingleTurnEnv) -> SingleTurnEnv:
    """A shallow copy of ``env`` whose code verifier runs assert-style tests in its own sandbox."""
    verifier = env.verifier
    if not isinstance(verifier, CodeVerifier):
        return env
    try:
        box = get_sandbox(verifier.sandbox)
    except SandboxError as e:
        raise HTTPException(503, f"the sandbox is not available: {type(e).__name__}") from None
    out = copy.copy(env)
    out.verifier = dataclasses.replace(verifier, sandbox=box, runner=box)
    return out


def _tests_are_code(env: SingleTurnEnv, task: Task) -> bool:
    """True when ``env`` would run ``task``'s tests as code (assert-style tests)."""
    verifier = env.verifier
    if not isinstance(verifier, CodeVerifier) or verifier.tests_key not in task.meta:
        return False
    try:
        return isinstance(parse_tests(task.meta[verifier.tests_key]), AssertTests)
    except (ValueError, TypeError, RecursionError):
        return False  # not code: the verifier reports the malformed tests as an ERROR verdict


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


_Scored = tuple[str, Verdict, Reward]
"""What a worker returns per item: the task id, the verdict and the reward."""


_Refusal = tuple[int, str]
"""A worker's refusal of a request: the HTTP status and its detail."""


def _score(envs: _Envs, config: ServeConfig, reqs: Sequence[VerifyRequest]) -> list[_Scored] | _Refusal:
    """Score ``reqs`` in order (in a worker); the first refusal ends the chunk."""
    out = []
    for req in reqs:
        try:
            env = envs.get(req.env, req.env_kwargs)
            task = _task(env, req)
            if req.task is not None and _tests_are_code(env, task):
                if not config.allow_client_tests:
                    raise HTTPException(
                        400,
                        f"task {task.id!r}: its tests are code (assert-style setup/asserts/check), "
                        "which this server does not run for clients; send function-call or "
                        "stdin/stdout tests, or use a task_id (the operator may allow test code "
                        "with --allow-client-tests: it then runs in the candidate's sandbox)",
                    )
                env = envs.get(req.env, req.env_kwargs, client_tests=True)
        except HTTPException as e:
            return e.status_code, str(e.detail)
        verdict, reward = env.score(req.completion, task)
        out.append((task.id, verdict, reward))
    return out


def _check_request(config: ServeConfig, allowed: frozenset[str], req: VerifyRequest) -> None:
    """Refuse (404/400) what no worker should see: an env not served, env_kwargs not allowed."""
    if req.env not in allowed:
        raise HTTPException(404, f"env {req.env!r} is not served here (GET /v1/envs lists them)")
    settable = config.client_kwargs.get(req.env, ())
    for name in req.env_kwargs:
        if operator_only(name):
            raise HTTPException(
                400, f"env_kwargs[{name!r}] is set by the server's operator, never by a request"
            )
        if name not in settable:
            raise HTTPException(
                400,
                f"env_kwargs[{name!r}] may not be set by clients of {req.env} "
                f"(settable here: {', '.join(sorted(settable)) or 'none'})",
            )


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

    allowed = frozenset(config.envs or assay.list_envs(None))
    envs = _Envs(config)  # filled in each worker, after the fork
    workers = ScoringWorkers(lambda reqs: _score(envs, config, reqs), config.threads)
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
        workers.close()  # after uvicorn has drained the requests

    app = FastAPI(
        lifespan=lifespan,
        title="assay verifier service",
        version=assay.__version__,
        description="Verification and rewards for assay environments.",
    )

    async def score_chunk(reqs: Sequence[VerifyRequest]) -> list[_Scored] | _Refusal:
        try:
            done: list[_Scored] | _Refusal = await workers.run(reqs)
        except WorkerDied as e:
            _log.warning("a scoring worker failed on %s: %s", reqs[0].env, e)
            failed = Verdict(Status.ERROR, reason="the scoring worker failed (see the server's log)")
            return [(r.task_id or "inline", failed, Reward(0.0, {})) for r in reqs]
        return done

    async def run(reqs: Sequence[VerifyRequest]) -> list[_Scored]:
        """Score ``reqs`` in up to ``threads`` workers, within ``verify_timeout_s``."""
        if len(reqs) > config.max_batch:
            raise HTTPException(413, f"{len(reqs)} items in one batch; the limit is {config.max_batch}")
        for req in reqs:
            _check_request(config, allowed, req)
        chunks = max(1, min(config.threads, len(reqs)))
        size = -(-len(reqs) // chunks)
        parts = [score_chunk(reqs[i : i + size]) for i in range(0, len(reqs), size)]
        try:
            done = await asyncio.wait_for(asyncio.gather(*parts), config.verify_timeout_s)
        except TimeoutError:  # the workers still scoring were killed: their slots are free
            timeout = Verdict(Status.ERROR, reason=f"verification took over {config.verify_timeout_s} s")
            return [(r.task_id or "inline", timeout, Reward(0.0, {})) for r in reqs]
        out: list[_Scored] = []
        for part in done:
            if isinstance(part, tuple):
                raise HTTPException(*part)
            out.extend(part)
        for req, (_, verdict, _) in zip(reqs, out, strict=True):
            verdicts.labels(req.env, verdict.status.value).inc()
        return out

    def verify_json(task_id: str, verdict: Verdict) -> dict[str, Any]:
        return {"task_id": task_id, "verdict": verdict.to_dict()}

    def reward_json(task_id: str, verdict: Verdict, reward: Reward) -> dict[str, Any]:
        return {
            "task_id": task_id,
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
        for env_id in sorted(allowed):
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
        body_timeout_s=config.body_timeout_s,
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
