"""`run`: serve the app with uvicorn, shutting down gracefully.

On SIGTERM or SIGINT uvicorn stops accepting connections, lets the requests in flight finish
(up to ``graceful_timeout_s``), then exits. Access logs are off (they cost more than a cheap
verification); ``/metrics`` has the counts.
"""

from __future__ import annotations

from assay.serve.app import ServeConfig, create_app

__all__ = ["run"]


def run(
    config: ServeConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    graceful_timeout_s: float = 30.0,
    log_level: str = "warning",
) -> None:
    """Serve until SIGTERM/SIGINT, then finish the requests in flight and exit.

    (uvicorn re-raises the signal after its graceful shutdown, so the exit status is that of
    the signal, e.g. -15 for SIGTERM, as for any process that a signal ended.)
    """
    import uvicorn

    app = create_app(config)
    uvicorn_config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=int(graceful_timeout_s) if graceful_timeout_s else None,
        backlog=4096,
        server_header=False,
    )
    uvicorn.Server(uvicorn_config).run()
