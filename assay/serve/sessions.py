"""Env sessions over the network: reset/step/state in OpenEnv's WebSocket protocol.

``assay serve`` hosts live env episodes for remote clients (`assay.envs.remote.RemoteEnv`, or any
OpenEnv client such as ``openenv.core.GenericEnvClient(base_url=".../v1/envs/<env id>")``):

- ``WS /v1/envs/{env_id}/ws``: one connection is one session with its own env instance. Messages
  follow ``openenv-core``'s: the client sends ``{"type": "reset", "data": {"seed", "task_id",
  "index"}}``, ``{"type": "step", "data": {"text": <action>}}``, ``{"type": "state"}`` or
  ``{"type": "close"}``; the server answers ``{"type": "observation", "data": {"observation":
  {"text", "info"}, "reward", "done", "terminated", "truncated"}}``, ``{"type": "state", "data":
  {"episode_id", "step_count", "env", "task_id"}}`` or ``{"type": "error", "data": {"message",
  "code"}}``. An error never ends the session; the connection closing does.
- The same over HTTP: ``POST /v1/sessions`` (``{"env"}``; ``{"session_id"}``), then ``POST
  /v1/sessions/{id}/reset`` and ``/step`` with the same ``data`` bodies, ``GET
  /v1/sessions/{id}`` (state) and ``DELETE /v1/sessions/{id}``. HTTP requests go through the
  service's gate (auth, body size, back-pressure) like every ``/v1`` route.

Trust rules (the service's): only allow-listed envs, built with the operator's ``env_kwargs``
(a client sets none); the bearer token on the WebSocket handshake too (refused before accept);
an action is text of at most the env's ``max_chars``, never code the server runs outside the env's
own verifier and sandbox; at most ``max_sessions`` sessions at once and
``max_sessions_per_client`` per client address (more get an error, code ``SESSION_LIMIT``);
a session idle for ``session_idle_s`` is closed and its env freed. Env work runs in a pool of
``threads`` threads, one call per session at a time, so a slow verifier never blocks the event
loop.

Not guaranteed: a step that never returns (a verifier without its own deadline) holds its thread
(assay's verifiers, tools and sandboxes all have deadlines); sessions do not survive a restart.
OpenEnv's client sends no headers, so with a token set it cannot connect: use `RemoteEnv` (or
OpenEnv's client behind a proxy that adds the header).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fastapi import Body, FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect

import assay
from assay.errors import AssayError, UnknownTask
from assay.verifiers.base import Verdict

__all__ = ["EnvSessions", "Session", "SessionError", "jsonable"]


class SessionError(AssayError):
    """A session request refused: ``code`` is the wire error code, ``status`` the HTTP status."""

    def __init__(self, message: str, code: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def jsonable(value: Any) -> Any:
    """``value`` as JSON data: `Verdict`s as dicts, numpy values as lists/numbers, else ``str``."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Verdict):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    item = getattr(value, "tolist", None)
    if callable(item):
        return jsonable(item())
    return str(value)


@dataclass
class Session:
    """One client's env (unwrapped: the session enforces reset-before-step itself) and episode.

    ``env`` is None while ``building`` (the env's construction in the session thread pool) runs;
    `EnvSessions` waits for it before any call on the env.
    """

    id: str
    env_id: str
    client: str
    env: Any = None
    building: asyncio.Future[Any] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = field(default_factory=time.monotonic)
    episode_id: str | None = None
    step_count: int = 0
    done: bool = True
    closed: bool = False

    @property
    def failed(self) -> bool:
        """Whether building the env failed (the session can do nothing more)."""
        b = self.building
        return b is not None and b.done() and (b.cancelled() or b.exception() is not None)

    def state(self) -> dict[str, Any]:
        task = getattr(self.env, "task", None)
        return {
            "episode_id": self.episode_id,
            "step_count": self.step_count,
            "env": self.env_id,
            "task_id": getattr(task, "id", None),
            "done": self.done,
        }


class EnvSessions:
    """The live sessions of one server: limits, the env thread pool, the idle reaper."""

    def __init__(
        self,
        allowed: frozenset[str],
        env_kwargs: Mapping[str, Mapping[str, Any]],
        *,
        max_sessions: int,
        max_sessions_per_client: int,
        idle_s: float,
        threads: int,
        make: Callable[..., Any] = assay.make,
    ) -> None:
        if min(max_sessions, max_sessions_per_client, threads) < 1 or not idle_s > 0:
            raise ValueError("session limits, threads and idle_s must be positive")
        self.allowed = allowed
        self.env_kwargs = env_kwargs
        self.max_sessions = max_sessions
        self.max_per_client = max_sessions_per_client
        self.idle_s = idle_s
        self._make = make
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="assay-session")
        self._sessions: dict[str, Session] = {}
        self._per_client: Counter[str] = Counter()
        self._reaper: asyncio.Task[None] | None = None
        self.opened = 0
        self.reaped = 0

    def __len__(self) -> int:
        return len(self._sessions)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def open(self, env_id: str, client: str, *, wait: bool = True) -> Session:
        """A new session on ``env_id`` for ``client``; `SessionError` when not served or full.

        The env is built in the thread pool. With ``wait`` (HTTP), the call returns once it is
        built and raises `SessionError` (``ENV_ERROR``) when building fails; without it (the
        WebSocket), the call returns at once, and the session's first reset waits for the env
        (and reports a failed build), so accepting many sessions at once stays cheap.
        """
        if env_id not in self.allowed:
            raise SessionError(
                f"env {env_id!r} is not served here (GET /v1/envs lists them)", "UNKNOWN_ENV", 404
            )
        if len(self._sessions) >= self.max_sessions:
            raise SessionError(
                f"the server holds {self.max_sessions} sessions, its limit", "SESSION_LIMIT", 429
            )
        if self._per_client[client] >= self.max_per_client:
            raise SessionError(
                f"this client holds {self.max_per_client} sessions, the per-client limit",
                "SESSION_LIMIT",
                429,
            )
        self._per_client[client] += 1  # held while the env is built, so racing opens count
        kwargs = dict(self.env_kwargs.get(env_id, {}))
        session = Session(uuid.uuid4().hex, env_id, client)
        session.building = asyncio.ensure_future(self._run(lambda: self._make(env_id, **kwargs).unwrapped))
        self._sessions[session.id] = session
        self.opened += 1
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_forever())
        if wait:
            try:
                await self.env_of(session)
            except SessionError:
                await self.close(session)
                raise
        return session

    async def env_of(self, session: Session) -> Any:
        """The session's env, once built; `SessionError` (``ENV_ERROR``) when building failed."""
        if session.env is None and session.building is not None:
            try:
                session.env = await asyncio.shield(session.building)
            except Exception as e:  # noqa: BLE001 - the text may describe the server's files: type only
                raise SessionError(
                    f"cannot build {session.env_id} ({type(e).__name__})", "ENV_ERROR", 422
                ) from None
            finally:
                self._touch(session)
        return session.env

    def get(self, session_id: str, client: str) -> Session:
        """The open session ``session_id`` of ``client`` (another client's id is not found)."""
        session = self._sessions.get(session_id)
        if session is None or session.client != client:
            raise SessionError(f"no open session {session_id!r}", "UNKNOWN_SESSION", 404)
        return session

    async def reset(self, session: Session, data: Mapping[str, Any]) -> dict[str, Any]:
        """Start an episode: ``data`` may give ``seed`` (int) and one of ``task_id``, ``index``."""
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise SessionError("seed must be an integer", "VALIDATION_ERROR")
        options = {k: data[k] for k in ("task_id", "index") if data.get(k) is not None}
        if "index" in options and (
            isinstance(options["index"], bool) or not isinstance(options["index"], int)
        ):
            raise SessionError("index must be an integer", "VALIDATION_ERROR")
        if "task_id" in options and not isinstance(options["task_id"], str):
            raise SessionError("task_id must be a string", "VALIDATION_ERROR")
        async with session.lock:
            self._touch(session)
            env = await self.env_of(session)
            try:
                observation, info = await self._run(lambda: env.reset(seed=seed, options=options or None))
            except (UnknownTask, ValueError, IndexError, TypeError, KeyError) as e:
                raise SessionError(f"reset refused: {e}", "VALIDATION_ERROR") from None
            except Exception as e:  # noqa: BLE001 - the env's own failure: a reply, not a dead session
                raise SessionError(f"reset failed ({type(e).__name__})", "ENV_ERROR", 500) from None
            session.episode_id = data.get("episode_id") if isinstance(data.get("episode_id"), str) else None
            session.episode_id = session.episode_id or uuid.uuid4().hex
            session.step_count, session.done = 0, False
            self._touch(session)
        return _observation(observation, None, False, False, info)

    async def step(self, session: Session, data: Mapping[str, Any]) -> dict[str, Any]:
        """One action (``data["text"]``, a string) in the session's episode."""
        action = data.get("text")
        if not isinstance(action, str):
            raise SessionError('a step needs {"text": <action string>}', "VALIDATION_ERROR")
        async with session.lock:
            self._touch(session)
            if session.done:
                raise SessionError("no episode running: send reset first", "RESET_NEEDED", 409)
            try:
                observation, reward, terminated, truncated, info = await self._run(session.env.step, action)
            except Exception as e:  # noqa: BLE001 - the env's own failure: a reply, not a dead session
                session.done = True
                raise SessionError(f"step failed ({type(e).__name__}): reset", "ENV_ERROR", 500) from None
            session.step_count += 1
            session.done = bool(terminated or truncated)
            self._touch(session)
        return _observation(observation, float(reward), bool(terminated), bool(truncated), info)

    async def close(self, session: Session) -> None:
        """End ``session`` and free its env (idempotent)."""
        if session.closed:
            return
        session.closed = True
        self._sessions.pop(session.id, None)
        self._per_client[session.client] -= 1
        if self._per_client[session.client] <= 0:
            del self._per_client[session.client]
        async with session.lock:  # after a step in flight
            try:
                env = await self.env_of(session)
            except SessionError:  # never built: nothing to free
                return
            await self._run(env.close)

    async def close_all(self) -> None:
        """Close every session and the thread pool (server shutdown)."""
        if self._reaper is not None:
            self._reaper.cancel()
        for session in list(self._sessions.values()):
            await self.close(session)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _touch(self, session: Session) -> None:
        session.last_used = time.monotonic()

    async def reap_idle(self) -> int:
        """Close sessions idle for over ``idle_s`` (not those in a call); how many were closed."""
        now = time.monotonic()
        stale = [
            s for s in self._sessions.values() if now - s.last_used > self.idle_s and not s.lock.locked()
        ]
        for session in stale:
            await self.close(session)
        self.reaped += len(stale)
        return len(stale)

    async def _reap_forever(self) -> None:
        while self._sessions:
            await asyncio.sleep(min(self.idle_s / 4, 5.0))
            await self.reap_idle()


def _observation(
    text: Any, reward: float | None, terminated: bool, truncated: bool, info: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "observation": {"text": str(text), "info": jsonable(info)},
        "reward": reward,
        "done": terminated or truncated,
        "terminated": terminated,
        "truncated": truncated,
    }


def error_message(message: str, code: str) -> str:
    """The wire form of an error (OpenEnv's ``WSErrorResponse``)."""
    return json.dumps({"type": "error", "data": {"message": message, "code": code}})


def mount(app: FastAPI, sessions: EnvSessions) -> None:
    """Add the session routes (module docstring) to the FastAPI ``app``."""

    def client_of(conn: Request | WebSocket) -> str:
        return conn.client.host if conn.client else "unknown"

    @app.websocket("/v1/envs/{env_id:path}/ws")
    async def env_socket(websocket: WebSocket, env_id: str) -> None:
        await websocket.accept()
        try:  # the env is built in the pool; the first reset waits for it
            session = await sessions.open(env_id, client_of(websocket), wait=False)
        except SessionError as e:
            await websocket.send_text(error_message(str(e), e.code))
            await websocket.close(code=1008 if e.code == "SESSION_LIMIT" else 1003)
            return
        try:
            while True:
                raw = await websocket.receive_text()
                await websocket.send_text(await _answer(sessions, session, raw))
                if session.closed:
                    break
                if session.failed:  # the reply said why; nothing more can work
                    await websocket.close(code=1011)
                    break
        except WebSocketDisconnect:
            pass
        finally:
            await sessions.close(session)

    def refuse(e: SessionError) -> HTTPException:
        return HTTPException(e.status, {"message": str(e), "code": e.code})

    @app.post("/v1/sessions")
    async def open_session(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        """Open a session on ``body["env"]`` (the operator's env settings): its ``session_id``."""
        env_id = body.get("env")
        if not isinstance(env_id, str) or set(body) - {"env"}:
            raise HTTPException(422, 'send {"env": <env id>} (env settings are the operator\'s)')
        try:
            session = await sessions.open(env_id, client_of(request))
        except SessionError as e:
            raise refuse(e) from None
        return {"session_id": session.id, "env": env_id}

    @app.post("/v1/sessions/{session_id}/reset")
    async def reset_session(
        session_id: str,
        request: Request,
        body: dict[str, Any] = Body(default_factory=dict),  # noqa: B008
    ) -> dict[str, Any]:
        """Start an episode (``seed``, ``task_id`` or ``index``): the observation."""
        try:
            return await sessions.reset(sessions.get(session_id, client_of(request)), body)
        except SessionError as e:
            raise refuse(e) from None

    @app.post("/v1/sessions/{session_id}/step")
    async def step_session(
        session_id: str,
        request: Request,
        body: dict[str, Any] = Body(...),  # noqa: B008
    ) -> dict[str, Any]:
        """One action (``{"text": ...}``): observation, reward, done."""
        try:
            return await sessions.step(sessions.get(session_id, client_of(request)), body)
        except SessionError as e:
            raise refuse(e) from None

    @app.get("/v1/sessions/{session_id}")
    async def session_state(session_id: str, request: Request) -> dict[str, Any]:
        """The session's state: episode id, step count, env, task id."""
        try:
            return sessions.get(session_id, client_of(request)).state()
        except SessionError as e:
            raise refuse(e) from None

    @app.delete("/v1/sessions/{session_id}")
    async def close_session(session_id: str, request: Request) -> dict[str, Any]:
        """Close the session and free its env."""
        try:
            await sessions.close(sessions.get(session_id, client_of(request)))
        except SessionError as e:
            raise refuse(e) from None
        return {"closed": session_id}


async def _answer(sessions: EnvSessions, session: Session, raw: str) -> str:
    """The reply to one WebSocket message (errors are replies, never a dropped session)."""
    try:
        message = json.loads(raw)
    except ValueError as e:
        return error_message(f"invalid JSON: {e}", "INVALID_JSON")
    if not isinstance(message, dict):
        return error_message("a message is a JSON object with a type", "VALIDATION_ERROR")
    if session.closed:
        return error_message(f"session closed after {sessions.idle_s} s idle", "SESSION_CLOSED")
    kind, data = message.get("type"), message.get("data") or {}
    if not isinstance(data, dict):
        return error_message("data must be a JSON object", "VALIDATION_ERROR")
    try:
        if kind == "reset":
            return json.dumps({"type": "observation", "data": await sessions.reset(session, data)})
        if kind == "step":
            return json.dumps({"type": "observation", "data": await sessions.step(session, data)})
        if kind == "state":
            return json.dumps({"type": "state", "data": session.state()})
        if kind == "close":
            await sessions.close(session)
            return json.dumps({"type": "closed", "data": {}})
    except SessionError as e:
        return error_message(str(e), e.code)
    return error_message(f"unknown message type: {kind!r}", "UNKNOWN_TYPE")
