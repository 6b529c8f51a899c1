"""assay's tools as an MCP server (``assay mcp serve``), through the official ``mcp`` SDK.

`builtin_tools` names the tools any client may use (``calculator``, ``search`` over the bundled
world corpus, ``dates``, ``units``, ``memory``); `env_tools` takes a registered env's tools (after
a seeded reset, so per-episode state such as a shop's orders exists). `mcp_server` wraps them in
the SDK's low-level ``Server``: ``tools/list`` gives each tool's JSON schema as assay derived it,
``tools/call`` runs the call through a `ToolRunner` (the schema check, the tool's isolation and
timeout, the output cap), one call at a time, in a worker thread so the event loop stays free.
A failed call is a result with ``isError: true`` and the ``error: ...`` text, never a protocol
error. `serve_stdio` and `serve_http` run it (streamable HTTP binds loopback by default; the SDK
then also turns on its DNS-rebinding protection).

`serve_http` with a ``token`` answers only requests carrying ``Authorization: Bearer <token>``
(401 otherwise, compared in constant time); ``assay mcp serve`` reads it from ``ASSAY_MCP_TOKEN``
and refuses a non-loopback interface without one. Clients send it with
`assay.envs.tools.mcp_client.MCPServerConfig`'s ``headers``.

Non-guarantees: the tools of one env share one episode's state across every client of this
server; there is no TLS (put it behind your own proxy for that).
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Sequence
from typing import Any

from assay.envs.tools.calls import ToolCall
from assay.envs.tools.env import FINAL_ANSWER
from assay.envs.tools.runner import ToolRunner
from assay.envs.tools.tool import Tool

__all__ = ["BUILTIN_TOOLS", "builtin_tools", "env_tools", "mcp_server", "serve_http", "serve_stdio"]

BUILTIN_TOOLS = ("calculator", "search", "dates", "units", "memory")


def builtin_tools(names: Sequence[str] = BUILTIN_TOOLS) -> list[Tool]:
    """The named built-in tools; `ValueError` for an unknown name."""
    unknown = sorted(set(names) - set(BUILTIN_TOOLS))
    if unknown:
        raise ValueError(f"unknown tools {unknown}; choose from {', '.join(BUILTIN_TOOLS)}")
    out: list[Tool] = []
    for name in dict.fromkeys(names):
        if name == "calculator":
            from assay.envs.tools.calculator import calculator_tool

            out.append(calculator_tool())
        elif name == "search":
            from assay.envs.tools.search import Corpus, search_tool
            from assay.envs.tools.world import CORPUS_FILE, DATA_DIR

            out.append(search_tool(Corpus.from_jsonl(DATA_DIR / CORPUS_FILE)))
        elif name == "dates":
            from assay.envs.tools.dates import date_tools

            out += date_tools()
        elif name == "units":
            from assay.envs.tools.units import units_tool

            out.append(units_tool())
        else:
            from assay.envs.tools.memory import Memory

            out += Memory().tools()
    return out


def env_tools(env_id: str, *, seed: int = 0, **env_kwargs: Any) -> tuple[Any, list[Tool]]:
    """``(env, its tools but final_answer)`` for a registered tool env, reset with ``seed``.

    The caller closes ``env``. `ValueError` when the env has no tools.
    """
    from assay.registry import make

    env = make(env_id, **env_kwargs)
    base = env.unwrapped
    tools = [t for t in getattr(base, "tool_list", ()) if t.name != FINAL_ANSWER]
    if not tools:
        env.close()
        raise ValueError(f"{env_id} has no tools to serve")
    env.reset(seed=seed)
    return env, tools


def mcp_server(tools: Sequence[Tool], *, name: str = "assay", runner: ToolRunner | None = None) -> Any:
    """The SDK's low-level ``Server`` offering ``tools`` (see the module docstring).

    ``runner`` runs the calls (an env's own, so its per-episode state is used); by default a new
    `ToolRunner` over ``tools``.
    """
    import anyio
    import mcp_types as types
    from mcp.server import Server

    by_name = {t.name: t for t in tools}
    run = runner if runner is not None else ToolRunner(list(tools), max_output_chars=100_000)
    lock = threading.Lock()
    listed = [
        types.Tool(name=t.name, description=t.description, input_schema=dict(t.parameters)) for t in tools
    ]

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=listed)

    def call(name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        with lock:
            result = run.run(ToolCall(id="mcp", name=name, arguments=arguments))
        return result.ok, result.content

    async def call_tool(ctx: Any, params: Any) -> Any:
        if params.name not in by_name:
            ok, text = (
                False,
                f"error: unknown tool {params.name[:100]!r}; the tools are: {', '.join(by_name)}",
            )
        else:
            ok, text = await anyio.to_thread.run_sync(call, params.name, dict(params.arguments or {}))
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=not ok)

    return Server(name, on_list_tools=list_tools, on_call_tool=call_tool)


def serve_stdio(server: Any) -> None:
    """Serve on this process's stdin/stdout until the client closes them."""
    import anyio
    from mcp.server.stdio import stdio_server

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)


class BearerAuth:
    """ASGI middleware: every HTTP request needs ``Authorization: Bearer <token>``; others get 401
    (lifespan events pass through)."""

    def __init__(self, app: Any, token: str) -> None:
        if not token:
            raise ValueError("the token must not be empty")
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            given = dict(scope.get("headers") or ()).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = b'{"error": "missing or wrong bearer token"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b"Bearer"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def serve_http(
    server: Any, *, host: str = "127.0.0.1", port: int = 8765, path: str = "/mcp", token: str | None = None
) -> None:
    """Serve streamable HTTP at ``http://host:port{path}`` until interrupted (with ``token``:
    only to requests that carry it as a bearer token)."""
    import uvicorn

    app = server.streamable_http_app(streamable_http_path=path, host=host)
    uvicorn.run(BearerAuth(app, token) if token else app, host=host, port=port, log_level="warning")
