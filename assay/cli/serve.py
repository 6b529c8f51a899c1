"""``assay serve``: the verification service (HTTP, FastAPI and uvicorn)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from assay.cli.options import check_env_id

__all__ = ["app"]

app = typer.Typer(name="serve", help="Serve verification and rewards over HTTP.", invoke_without_command=True)


@app.callback()
def serve_cmd(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (0.0.0.0 for all)."),
    port: int = typer.Option(8000, help="TCP port."),
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            help="Env id to serve (repeatable; module:ID imports module first; default: all assay/*).",
        ),
    ] = None,
    token_env: str = typer.Option(
        "ASSAY_SERVE_TOKEN",
        help="Name of the environment variable holding the bearer token (unset: no auth).",
    ),
    max_concurrency: int = typer.Option(64, help="API requests in flight; more get 429."),
    max_body_bytes: int = typer.Option(4 * 2**20, help="Largest request body; larger gets 413."),
    max_batch: int = typer.Option(1024, help="Most items per batch request."),
    threads: int = typer.Option(8, help="Verifier calls running at once."),
    verify_timeout: float = typer.Option(60.0, help="Seconds before a request's verdicts become ERROR."),
    client_kwarg: Annotated[
        list[str] | None,
        typer.Option(help="ENV=NAME[,NAME]: env arguments clients may set (repeatable; default none)."),
    ] = None,
    allow_client_tests: bool = typer.Option(
        False, help="Run clients' test code (in the candidate's sandbox)."
    ),
    body_timeout: float = typer.Option(10.0, help="Seconds to receive a request body; later gets 408."),
    graceful_timeout: float = typer.Option(30.0, help="Seconds to finish in-flight requests on SIGTERM."),
    max_sessions: int = typer.Option(1024, help="Env sessions (WS/HTTP reset-step) open at once."),
    max_sessions_per_client: int = typer.Option(256, help="Env sessions one client address may hold."),
    session_idle: float = typer.Option(300.0, help="Seconds before an idle env session is closed."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Serve POST /v1/verify, /v1/reward (and /batch), GET /v1/envs, /healthz, /metrics.

    The token is read from an environment variable (never a flag, which would show in ps). Every
    --env id is checked before the server starts.
    """
    for env_id in env or ():
        check_env_id(env_id)
    from assay.serve.app import ServeConfig
    from assay.serve.server import run

    token = os.environ.get(token_env) or None
    config = ServeConfig(
        envs=tuple(env or ()),
        token=token,
        max_concurrency=max_concurrency,
        max_body_bytes=max_body_bytes,
        max_batch=max_batch,
        threads=threads,
        verify_timeout_s=verify_timeout,
        client_kwargs=ServeConfig.client_kwargs_from(client_kwarg or ()),
        allow_client_tests=allow_client_tests,
        body_timeout_s=body_timeout,
        max_sessions=max_sessions,
        max_sessions_per_client=max_sessions_per_client,
        session_idle_s=session_idle,
    )
    typer.echo(
        f"assay serve on http://{host}:{port} (auth {'on' if token else 'off'}, "
        f"max_concurrency={max_concurrency}); docs at /docs",
        err=True,
    )
    run(config, host=host, port=port, graceful_timeout_s=graceful_timeout, log_level=log_level)
