"""MCP servers as tools: any Model Context Protocol server's tools become `Tool`s for `ToolEnv`.

Through the official ``mcp`` SDK (``pip install "assay[mcp]"``). A server is named by a
`MCPServerConfig`: a command to start (stdio transport) or a URL (streamable HTTP, e.g. a loopback
server). `mcp_tools` connects, lists the server's tools with their JSON schemas and returns one
``inline`` `Tool` per server tool; the connection is the tools' per-episode state, so the env
closes it with the tools (``ToolEnv.close``), and ``fresh_per_episode=True`` restarts it on every
``reset`` (for servers that keep state).

The SDK is async; the env is sync. Each `MCPConnection` runs one background thread with its own
event loop, where the SDK's ``Client`` lives for the connection's lifetime; a call is a coroutine
submitted to that loop and waited for with a deadline. `MCPConnection.close` stops the client
(which stops a stdio server process), then the loop, then joins the thread.

Guarantees: once the tools are listed, nothing the server does raises out of a tool call. A
call that overruns ``call_timeout_s``, a server that exits, a server that writes garbage, a tool
result with ``isError``, or a result the SDK rejects becomes an ``error: ...`` observation. After
the connection breaks, the next call reconnects (restarting a stdio server) once; if that fails
too, that call is an error observation as well. ``shared=True`` keeps one connection per process
for every env that names the same config (closed when the last env using it closes).

Non-guarantees: a tool call that timed out may still complete on the server (MCP cancellation is
advisory). Listing the tools at construction does raise (`MCPUnavailable`): a server that cannot
start is a configuration error, not a policy's mistake. Image, audio and resource contents are
described by type (``[image: image/png]``), not passed through. Tool names outside
``[A-Za-z0-9_-]`` are rewritten with ``_`` (the call still uses the server's name).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

from assay.envs.tools.tool import Tool, ToolError
from assay.errors import AssayError

__all__ = ["MCPConnection", "MCPServerConfig", "MCPUnavailable", "connect", "mcp_tools"]

_T = TypeVar("_T")
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class MCPUnavailable(AssayError):
    """An MCP server could not be started, reached, or listed (raised when tools are built)."""


@dataclass(frozen=True)
class MCPServerConfig:
    """Where an MCP server is and how to talk to it.

    Give ``command`` (stdio: the process is started with ``args``, ``env`` and ``cwd``) or ``url``
    (streamable HTTP, e.g. ``http://127.0.0.1:8000/mcp``), not both.

    Attributes:
        command: Executable of a stdio server.
        args: Its arguments.
        env: Extra environment variables for it (added to a minimal inherited set, as the SDK does).
        cwd: Its working directory.
        url: A streamable-HTTP endpoint.
        headers: HTTP headers sent with every request to ``url`` (e.g. ``{"Authorization":
            "Bearer ..."}`` for ``assay mcp serve`` with a token). Never shown by `describe`.
        call_timeout_s: Deadline of one tool call.
        startup_timeout_s: Deadline to connect and list the tools.
        shared: One connection per process for every env that names this config.
        fresh_per_episode: Reconnect (restart a stdio server) at every env reset.
        prefix: Prepended to every tool name (to keep two servers' tools apart).
        include: Only these server tool names (None: all).
    """

    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] | None = None
    call_timeout_s: float = 30.0
    startup_timeout_s: float = 30.0
    shared: bool = False
    fresh_per_episode: bool = False
    prefix: str = ""
    include: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of command (stdio) or url (streamable HTTP)")
        if self.headers is not None:
            if self.url is None:
                raise ValueError("headers are for a url (streamable HTTP), not a stdio command")
            object.__setattr__(self, "headers", {str(k): str(v) for k, v in self.headers.items()})
        if not self.call_timeout_s > 0 or not self.startup_timeout_s > 0:
            raise ValueError("call_timeout_s and startup_timeout_s must be > 0")
        if self.shared and self.fresh_per_episode:
            raise ValueError(
                "a shared connection cannot restart per episode (one env's reset would reset all)"
            )
        object.__setattr__(self, "args", tuple(self.args))
        if self.include is not None:
            object.__setattr__(self, "include", tuple(self.include))
        if self.env is not None:
            object.__setattr__(self, "env", dict(self.env))

    @classmethod
    def from_value(cls, value: MCPServerConfig | Mapping[str, Any] | str) -> MCPServerConfig:
        """A config from itself, a mapping of its fields (``--env-args`` JSON), or a URL string."""
        if isinstance(value, MCPServerConfig):
            return value
        if isinstance(value, str):
            return cls(url=value)
        if isinstance(value, Mapping):
            return cls(**dict(value))
        raise TypeError(f"an MCP server is a config, a mapping or a URL, got {type(value).__name__}")

    def key(self) -> str:
        """What makes two configs the same server (for ``shared``)."""
        env = sorted((self.env or {}).items())
        headers = sorted((self.headers or {}).items())
        return json.dumps([self.command, list(self.args), env, self.cwd, self.url, headers])

    def describe(self) -> str:
        return self.url if self.url is not None else " ".join([str(self.command), *self.args])


def _require_mcp() -> Any:
    try:
        import mcp
    except ImportError:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled('MCP tools need the mcp SDK: pip install "assay[mcp]"') from None
    return mcp


def _connection_lost(e: BaseException) -> bool:
    """Whether ``e`` means the transport is gone (not that one request failed)."""
    from mcp_types import CONNECTION_CLOSED

    code = getattr(e, "code", None)
    if code is not None:
        return bool(code == CONNECTION_CLOSED)
    return not isinstance(e, ValueError | TypeError)  # closed/broken streams, OS errors, ...


def _render(result: Any) -> tuple[bool, str]:
    """(ok, text) of a ``CallToolResult``."""
    parts: list[str] = []
    for item in getattr(result, "content", None) or []:
        kind = getattr(item, "type", "?")
        if kind == "text":
            parts.append(str(item.text))
        elif kind in ("image", "audio"):
            parts.append(f"[{kind}: {getattr(item, 'mime_type', '?')}]")
        elif kind in ("resource", "resource_link"):
            uri = getattr(item, "uri", None) or getattr(getattr(item, "resource", None), "uri", "?")
            parts.append(f"[{kind}: {uri}]")
        else:
            parts.append(f"[{kind}]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False, default=str))
    return not bool(getattr(result, "is_error", False)), "\n".join(parts)


class MCPConnection:
    """One live client session to one MCP server, driven from sync code (module docstring).

    Thread-safe: calls from several threads are submitted to the one loop.
    """

    def __init__(self, config: MCPServerConfig) -> None:
        _require_mcp()
        self.config = config
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._main: Future[None] | None = None
        self._users = 0
        self._broken = False
        self.restarts = 0
        """How many times the connection was re-established after it broke (or per episode)."""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread, connect, and wait until the session is ready."""
        with self._lock:
            try:
                self._start_locked()
            except MCPUnavailable:
                self._close_loop_locked()
                raise

    def _start_locked(self) -> None:
        if self._thread is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="assay-mcp", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        ready: Future[None] = Future()
        self._broken = False
        self._main = self._submit(self._session_main(ready))
        try:
            ready.result(timeout=self.config.startup_timeout_s)
        except BaseException as e:  # noqa: BLE001 - any failure to start is MCPUnavailable
            self._main.cancel()
            self._stop_session_locked()
            while isinstance(e, BaseExceptionGroup) and e.exceptions:
                e = e.exceptions[0]
            detail = "timed out" if isinstance(e, FutureTimeout) else f"{type(e).__name__}: {e}"
            raise MCPUnavailable(f"MCP server {self.config.describe()!r} did not start: {detail}") from None

    async def _session_main(self, ready: Future[None]) -> None:
        mcp = _require_mcp()
        config = self.config
        self._stop = asyncio.Event()
        if config.url is not None:
            server: Any = config.url
        else:
            server = mcp.StdioServerParameters(
                command=config.command,
                args=list(config.args),
                env=dict(config.env) if config.env else None,
                cwd=config.cwd,
            )
        errlog = open(os.devnull, "w")  # noqa: SIM115 - closed below, after the client stops
        stack = contextlib.AsyncExitStack()  # an HTTP client of our own (headers), closed last
        try:
            if config.url is None:
                from mcp.client.stdio import stdio_client

                transport = stdio_client(server, errlog=errlog)
                client = mcp.Client(transport, read_timeout_seconds=config.call_timeout_s, cache=None)
            elif config.headers:
                import httpx2
                from mcp.client.streamable_http import streamable_http_client

                http = httpx2.AsyncClient(
                    headers=dict(config.headers), timeout=httpx2.Timeout(30.0, read=300.0)
                )
                await stack.enter_async_context(http)
                transport = streamable_http_client(server, http_client=http)
                client = mcp.Client(transport, read_timeout_seconds=config.call_timeout_s, cache=None)
            else:
                client = mcp.Client(server, read_timeout_seconds=config.call_timeout_s, cache=None)
            async with client:
                self._client = client
                if not ready.done():
                    ready.set_result(None)
                await self._stop.wait()
        except BaseException as e:
            if not ready.done():
                ready.set_exception(e if isinstance(e, Exception) else RuntimeError(repr(e)))
            if not isinstance(e, Exception):
                raise
        finally:
            self._client = None
            await stack.aclose()
            errlog.close()

    def _submit(self, coro: Coroutine[Any, Any, _T]) -> Future[_T]:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def alive(self) -> bool:
        """Whether the session is up (False after the server exited or the connection broke)."""
        return (
            self._main is not None and not self._main.done() and self._client is not None and not self._broken
        )

    def _stop_session_locked(self) -> None:
        main, stop, loop = self._main, self._stop, self._loop
        self._main = None
        if main is None or loop is None:
            return
        if stop is not None and not main.done():
            loop.call_soon_threadsafe(stop.set)
        try:
            main.result(timeout=10.0)
        except BaseException:  # noqa: BLE001 - closing: whatever the session died of is moot now
            main.cancel()
            with contextlib.suppress(BaseException):
                main.result(timeout=5.0)

    def restart(self) -> None:
        """Close the session and open a new one (a stdio server is restarted)."""
        with self._lock:
            self._stop_session_locked()
            self.restarts += 1
            self._start_locked()

    def close(self) -> None:
        """Stop the session (and a stdio server), stop the loop, join the thread. Idempotent."""
        with self._lock:
            self._stop_session_locked()
            self._close_loop_locked()

    def _close_loop_locked(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10.0)
            if not thread.is_alive():
                loop.close()

    # -- requests -------------------------------------------------------------------------

    def _ensure(self) -> None:
        with self._lock:
            if self._loop is None:
                raise ToolError("the MCP connection is closed")
            if not self.alive():
                self._stop_session_locked()
                self.restarts += 1
                try:
                    self._start_locked()
                except MCPUnavailable as e:
                    raise ToolError(f"the MCP server is down and did not restart ({e})") from None

    def _await(self, make: Any, timeout_s: float, what: str) -> Any:
        self._ensure()

        async def run() -> Any:
            client = self._client
            if client is None:
                raise ToolError("the MCP server is not connected")
            return await asyncio.wait_for(make(client), timeout_s)

        future = self._submit(run())
        try:
            return future.result(timeout=timeout_s + 2.0)
        except (TimeoutError, FutureTimeout):
            future.cancel()
            self._broken = True  # a hung server is replaced at the next call
            raise ToolError(f"{what} timed out after {timeout_s:g} s") from None
        except ToolError:
            raise
        except Exception as e:
            if _connection_lost(e):
                self._broken = True  # a dead server is restarted at the next call
            raise

    def list_tools(self) -> list[Any]:
        """Every tool the server lists (all pages), as the SDK's ``Tool`` models."""
        tools: list[Any] = []
        cursor: str | None = None
        for _ in range(100):
            page = self._await(
                lambda c, cur=cursor: c.list_tools(cursor=cur),
                self.config.startup_timeout_s,
                "listing the tools",
            )
            tools.extend(page.tools)
            cursor = getattr(page, "next_cursor", None)
            if not cursor:
                break
        return tools

    def call(self, name: str, arguments: Mapping[str, Any]) -> str:
        """The text of calling tool ``name``; raises `ToolError` for every failure (see the module)."""
        args = dict(arguments)
        try:
            result = self._await(
                lambda c: c.call_tool(name, args), self.config.call_timeout_s, f"MCP tool {name!r}"
            )
        except ToolError:
            raise
        except Exception as e:  # noqa: BLE001 - whatever the server did is the model's observation
            message = str(e).strip().splitlines()[0][:500] if str(e).strip() else ""
            raise ToolError(
                f"MCP call failed: {type(e).__name__}{': ' + message if message else ''}"
            ) from None
        ok, text = _render(result)
        if not ok:
            raise ToolError(text or "the MCP tool reported an error")
        return text

    # -- per-episode state (the `Stateful` protocol) --------------------------------------

    def reset(self) -> None:
        if self.config.fresh_per_episode:
            self.restart()


class _Handle:
    """One env's hold on a (possibly shared) connection: `Stateful` for `ToolEnv`."""

    def __init__(self, connection: MCPConnection, shared: bool) -> None:
        self.connection, self.shared, self._closed = connection, shared, False

    def reset(self) -> None:
        self.connection.reset()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.shared:
            _release(self.connection)
        else:
            self.connection.close()


_SHARED: dict[str, MCPConnection] = {}
_SHARED_LOCK = threading.Lock()


def _release(connection: MCPConnection) -> None:
    with _SHARED_LOCK:
        connection._users -= 1
        if connection._users > 0:
            return
        _SHARED.pop(connection.config.key(), None)
    connection.close()


def connect(config: MCPServerConfig) -> MCPConnection:
    """A started connection; with ``shared`` the process-wide one for this config.

    Each `connect` of a shared config must be matched by a close of the handle `mcp_tools` makes
    (or `MCPConnection.close` when not shared).
    """
    if not config.shared:
        connection = MCPConnection(config)
        connection.start()
        return connection
    with _SHARED_LOCK:
        found = _SHARED.get(config.key())
        if found is None or found._loop is None:
            found = MCPConnection(config)
            found.start()
            _SHARED[config.key()] = found
        found._users += 1
        return found


def _caller(connection: MCPConnection, remote: str) -> Callable[..., str]:
    def call(**arguments: Any) -> str:
        return connection.call(remote, arguments)

    call.__name__ = remote
    return call


def _tool_name(prefix: str, name: str) -> str:
    clean = "".join(ch if ch in _NAME_OK else "_" for ch in prefix + name)[:64]
    return clean or "tool"


def _schema(raw: Any) -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    schema = dict(raw) if isinstance(raw, Mapping) else {}
    schema.setdefault("type", "object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        schema = {"type": "object"}
    return schema


def mcp_tools(
    server: MCPServerConfig | Mapping[str, Any] | str,
    *,
    connection: MCPConnection | None = None,
) -> list[Tool]:
    """The server's tools as `Tool`s (inline; deadline and errors handled by the connection).

    Args:
        server: A `MCPServerConfig`, a mapping of its fields, or a streamable-HTTP URL.
        connection: Use this started connection instead of opening one (the caller closes it).

    Raises:
        MCPUnavailable: the server cannot be started, reached or listed in ``startup_timeout_s``.
    """
    config = MCPServerConfig.from_value(server)
    owned = connection is None
    conn = connect(config) if connection is None else connection
    try:
        listed = conn.list_tools()
    except ToolError as e:
        if owned:
            _Handle(conn, config.shared).close()
        raise MCPUnavailable(f"MCP server {config.describe()!r}: {e}") from None
    handle = _Handle(conn, config.shared) if owned else None
    from jsonschema import Draft202012Validator

    tools: list[Tool] = []
    seen: set[str] = set()
    for listed_tool in listed:
        remote = str(listed_tool.name)
        if config.include is not None and remote not in config.include:
            continue
        name = _tool_name(config.prefix, remote)
        if name in seen:
            continue
        seen.add(name)
        schema = _schema(getattr(listed_tool, "input_schema", None))

        tools.append(
            Tool(
                name=name,
                fn=_caller(conn, remote),
                description=str(listed_tool.description or listed_tool.title or ""),
                parameters=schema,
                isolation="inline",
                timeout_s=config.call_timeout_s,
                state=handle if not tools else None,
                _validator=Draft202012Validator(schema),
            )
        )
    if not tools and handle is not None:
        handle.close()
    return tools
