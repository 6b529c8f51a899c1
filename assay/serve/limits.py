"""The service's front gate, a pure ASGI middleware: auth, body size, concurrency.

- **Auth.** With a token configured, every route but ``/healthz`` and the API docs needs
  ``Authorization: Bearer <token>`` (compared in constant time); otherwise 401. A WebSocket
  handshake without it is refused before it is accepted (HTTP 403).
- **Body size.** A body over ``max_body_bytes`` gets 413, whether or not the client sent a
  ``Content-Length`` (the body is read up to the limit, never further).
- **Body deadline.** The whole body must arrive within ``body_timeout_s``, else 408. A request
  counts as in flight only once its body is in, so clients that stall mid-body hold no slot.
- **Back-pressure.** At most ``max_concurrency`` API requests are in flight; one more gets an
  immediate 429 with ``Retry-After`` instead of queueing without bound, so latency stays flat
  and the process stays up under overload.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["Gate", "GateStats"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_GONE = b"<client gone>"
"""`Gate._read_body`'s answer when the client disconnected before its body was in."""

OPEN_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


class GateStats:
    """Counters the gate keeps (read by ``/healthz`` and ``/metrics``)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.rejected: dict[str, int] = {"busy": 0, "too_large": 0, "unauthorized": 0, "slow_body": 0}
        self.observe: Callable[[str, int, float], None] | None = None
        """Called with (route, status code, seconds) after each API request."""


class Gate:
    """Wraps an ASGI app with auth, a body-size limit and a concurrency limit (see module doc)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_concurrency: int,
        max_body_bytes: int,
        body_timeout_s: float = 10.0,
        token: str | None = None,
        stats: GateStats | None = None,
        retry_after_s: int = 1,
    ) -> None:
        if max_concurrency < 1 or max_body_bytes < 1:
            raise ValueError("max_concurrency and max_body_bytes must be >= 1")
        if not body_timeout_s > 0:
            raise ValueError(f"body_timeout_s must be > 0, got {body_timeout_s}")
        self.app = app
        self.max_concurrency = max_concurrency
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self._token = token.encode() if token else None
        self.stats = stats or GateStats()
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self._token is not None and not _authorised(scope, self._token):
            self.stats.rejected["unauthorized"] += 1
            await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if self._token is not None and path not in OPEN_PATHS and not _authorised(scope, self._token):
            self.stats.rejected["unauthorized"] += 1
            await _reply(send, 401, "missing or wrong bearer token", {"www-authenticate": "Bearer"})
            return
        if not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        if self._busy(path):  # cheap: no body read while full
            await self._reply_busy(send)
            return
        try:
            async with asyncio.timeout(self.body_timeout_s):
                body = await self._read_body(scope, receive)
        except TimeoutError:
            self.stats.rejected["slow_body"] += 1
            await _reply(send, 408, f"request body not received within {self.body_timeout_s:g} s")
            self._observe(path, 408, time.perf_counter() - start)
            return
        if body is None:
            self.stats.rejected["too_large"] += 1
            await _reply(send, 413, f"request body over {self.max_body_bytes} bytes")
            self._observe(path, 413, time.perf_counter() - start)
            return
        if body is _GONE:
            return
        if self._busy(path):
            await self._reply_busy(send)
            return
        self.stats.in_flight += 1  # only now, with the whole body in
        status = [500]
        try:
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            async def send_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status[0] = int(message["status"])
                await send(message)

            await self.app(scope, replay, send_status)
        finally:
            self.stats.in_flight -= 1
            self._observe(path, status[0], time.perf_counter() - start)

    def _busy(self, path: str) -> bool:
        if self.stats.in_flight < self.max_concurrency:
            return False
        self.stats.rejected["busy"] += 1
        self._observe(path, 429, 0.0)
        return True

    async def _reply_busy(self, send: Send) -> None:
        await _reply(
            send,
            429,
            f"busy: {self.stats.in_flight} requests in flight (limit {self.max_concurrency}); retry later",
            {"retry-after": str(self.retry_after_s)},
        )

    def _observe(self, path: str, code: int, seconds: float) -> None:
        if self.stats.observe is not None:
            self.stats.observe(path, code, seconds)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > self.max_body_bytes:
                        return None
                except ValueError:
                    return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _GONE
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _authorised(scope: Scope, token: bytes) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, given = bytes(value).partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)
    return False


async def _reply(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
