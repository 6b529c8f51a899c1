"""``assay mcp``: the Model Context Protocol. ``assay mcp serve`` offers assay's tools to any MCP client."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

import typer

from assay.cli.errors import UsageError
from assay.cli.options import ENV_ARGS, check_env_id, env_args

__all__ = ["app"]

app = typer.Typer(help="Model Context Protocol: serve assay's tools to MCP clients.", no_args_is_help=True)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("serve")
def serve_cmd(
    tools: Annotated[
        str | None,
        typer.Option(help="Built-in tools, comma-separated: calculator,search,dates,units,memory."),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option("--env", help="Serve this tool env's tools (module:ID imports module first)."),
    ] = None,
    env_arg: list[str] | None = ENV_ARGS,
    seed: int = typer.Option(0, help="Reset seed of --env (its per-episode state, e.g. a world)."),
    transport: str = typer.Option("stdio", help="stdio, or http (streamable HTTP)."),
    host: str = typer.Option("127.0.0.1", help="HTTP interface (loopback by default; others need a token)."),
    port: int = typer.Option(8765, help="HTTP port."),
    path: str = typer.Option("/mcp", help="HTTP endpoint path."),
    token_env: str = typer.Option(
        "ASSAY_MCP_TOKEN",
        help="Name of the environment variable holding the HTTP bearer token (unset: no auth, loopback only).",
    ),
) -> None:
    """Serve tools over MCP: --tools (default: all built-ins when no --env) and/or --env's tools.

    stdio is for clients that start the server themselves (e.g. a desktop app's config:
    ``assay mcp serve --tools calculator``); http serves http://HOST:PORT/mcp, to requests with
    ``Authorization: Bearer $ASSAY_MCP_TOKEN`` when that is set (read from the environment, never
    a flag, which would show in ps). A non-loopback --host needs the token.
    """
    if transport not in ("stdio", "http"):
        raise UsageError(f"--transport must be stdio or http, got {transport!r}")
    token = os.environ.get(token_env) or None
    if transport == "http" and token is None and not _loopback(host):
        raise UsageError(f"--host {host} is not loopback: set a bearer token in ${token_env} first")
    try:
        import mcp  # noqa: F401
    except ImportError:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled('assay mcp serve needs the mcp SDK: pip install "assay[mcp]"') from None
    from assay.serve.mcp_server import (
        BUILTIN_TOOLS,
        builtin_tools,
        env_tools,
        mcp_server,
        serve_http,
        serve_stdio,
    )

    names = [n.strip() for n in tools.split(",") if n.strip()] if tools else []
    if not names and env is None:
        names = list(BUILTIN_TOOLS)
    try:
        offered = builtin_tools(names)
    except ValueError as e:
        raise UsageError(str(e)) from None
    made = None
    runner = None
    if env is not None:
        check_env_id(env)
        try:
            made, from_env = env_tools(env, seed=seed, **(env_args(env_arg) or {}))
        except ValueError as e:
            raise UsageError(str(e)) from None
        if not offered:
            runner = made.unwrapped.runner  # the env's own: its per-episode state and isolation
        offered += from_env
    clash = sorted({t.name for t in offered if [u.name for u in offered].count(t.name) > 1})
    if clash:
        raise UsageError(f"tool names offered twice: {clash}; drop them from --tools")
    server = mcp_server(offered, runner=runner)
    auth = "" if transport == "stdio" else f", auth {'on' if token else 'off'}"
    typer.echo(f"assay mcp serve ({transport}{auth}): {', '.join(t.name for t in offered)}", err=True)
    try:
        if transport == "stdio":
            serve_stdio(server)
        else:
            serve_http(server, host=host, port=port, path=path, token=token)
    finally:
        if made is not None:
            made.close()
