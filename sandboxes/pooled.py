"""`PooledSandbox`: the `Sandbox` protocol over a `WorkerPool` of warm supervisor workers.

`DockerSandbox` and `LocalSandbox` are both this. Each worker is one supervisor (a fork server,
see ``inside/supervisor.py``) that runs one job at a time; a job is a spec built here
(`build_spec`) and sent to a worker taken from the pool. The two sandboxes differ only in how a
worker is created and reaped (`PooledSandbox._create`: a container, or a local process), in the
base environment of a job (`PooledSandbox._base_env`), and in their isolation: each module's
docstring lists its own guarantees and non-guarantees.

Guarantees common to both: a worker runs one job at a time; a worker that broke (its supervisor
died, its container vanished, its daemon went away, or a job retired it) is never handed out
again; a bad argument (an unknown language, a file name with ``..``) raises `ValueError` and runs
nothing; ``close`` stops idle workers at once and busy ones when their job ends, and a closed
sandbox raises `SandboxError` when used.
Non-guarantees: isolation, limits and clean-up between jobs are the subclass's (and its
supervisor's) to give; no fairness between callers waiting for a worker.

Workers leave host directories named ``assay-<kind>-<pid>-*`` (socket dirs, root and work dirs);
`remove_stale_dirs` removes those of processes that died without closing their sandbox.
"""

from __future__ import annotations

import abc
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from assay.sandboxes.base import DEFAULT_ENV, ExecResult, Limits, Session
from assay.sandboxes.pool import WorkerPool
from assay.sandboxes.worker import Worker, WorkerSession, build_spec

if TYPE_CHECKING:
    from assay.sandboxes.workspace import Snapshot, Workspace

__all__ = ["PooledSandbox", "default_workers", "pid_alive", "remove_stale_dirs"]


def default_workers() -> int:
    """Workers of a sandbox when the caller names none: the number of CPUs, at least 2."""
    return max(2, os.cpu_count() or 2)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_dirs(*prefixes: str) -> None:
    """Remove the temp dirs ``<prefix><pid>-*`` whose process ``pid`` is gone (e.g. ended by
    ``os._exit`` without closing its sandbox). Each prefix has the form ``assay-<kind>-``."""
    base = tempfile.gettempdir()
    for name in os.listdir(base):
        parts = name.split("-")
        ours = name.startswith(prefixes) and len(parts) >= 4 and parts[2].isdigit()
        if ours and not pid_alive(int(parts[2])):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)


class PooledSandbox(abc.ABC):
    """A `Sandbox` whose jobs run on a pool of ``workers`` warm workers (created on first use).

    Subclasses create (and so reap) the workers, and may change the base environment of a job;
    `run`, `session`, `warm` and `close` are the same for every pooled sandbox.
    """

    name: str
    """``"docker"`` or ``"local"``."""

    def __init__(self, *, workers: int, limits: Limits | None, workspaces: int = 8) -> None:
        self.limits = limits or Limits()
        """Default limits of each execution."""
        self._pool: WorkerPool[Worker] = WorkerPool(self._create, workers)
        if workspaces < 1:
            raise ValueError(f"workspaces must be >= 1, got {workspaces}")
        self._ws_pool: WorkerPool[Worker] = WorkerPool(lambda slot: self._create(workers + slot), workspaces)
        """Warm workers for workspaces: a workspace holds one for its whole life, so they are
        kept apart from the job workers (slots ``workers ..``), and jobs never queue behind them."""

    # -- what a subclass provides ----------------------------------------------------------

    @abc.abstractmethod
    def _create(self, slot: int) -> Worker:
        """A booted worker for pool slot ``slot``; closing it reaps everything it made.

        Raises `SandboxUnavailable` (or `SandboxError`) when no worker can be had.
        """

    def _base_env(self) -> Mapping[str, str]:
        """The environment every job starts from (the caller's ``env`` is added on top)."""
        return DEFAULT_ENV

    # -- the Sandbox protocol --------------------------------------------------------------

    def _spec(
        self,
        source: str | bytes,
        language: str,
        stdin: str | bytes,
        argv: Sequence[str],
        env: Mapping[str, str] | None,
        files: Mapping[str, str | bytes] | None,
        limits: Limits | None,
        channel: bool,
    ) -> dict[str, Any]:
        return build_spec(
            source,
            language=language,
            stdin=stdin,
            argv=argv,
            env=env,
            files=files,
            limits=limits or self.limits,
            channel=channel,
            base_env=self._base_env(),
        )

    def run(
        self,
        source: str | bytes,
        *,
        language: str = "python",
        stdin: str | bytes = b"",
        argv: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        files: Mapping[str, str | bytes] | None = None,
        limits: Limits | None = None,
    ) -> ExecResult:
        spec = self._spec(source, language, stdin, argv, env, files, limits, False)
        worker = self._pool.acquire()
        try:
            return worker.execute(spec)
        finally:
            self._pool.release(worker)

    def session(
        self,
        source: str | bytes,
        *,
        language: str = "python",
        argv: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        files: Mapping[str, str | bytes] | None = None,
        limits: Limits | None = None,
    ) -> Session:
        spec = self._spec(source, language, b"", argv, env, files, limits, True)
        return WorkerSession(self._pool.acquire(), spec, self._pool.release)

    def workspace(
        self,
        *,
        files: Mapping[str, str | bytes] | None = None,
        limits: Limits | None = None,
        env: Mapping[str, str] | None = None,
        snapshot: Snapshot | None = None,
    ) -> Workspace:
        """A new `Workspace` (``assay.sandboxes.workspace``): a work dir, shell and Python
        interpreter that persist across calls until it is closed.

        Args:
            files: Written into the workspace root (after ``snapshot``, so they win).
            limits: Limits of the whole workspace (default `WORKSPACE_LIMITS`: ``wall_s`` is its
                lifetime); per-call limits are arguments of its calls.
            env: Variables every command sees (on top of the sandbox's base environment).
            snapshot: Start from a copy of another workspace (`Workspace.snapshot`).

        Waits while all of this sandbox's workspace workers are held by open workspaces.
        """
        from assay.sandboxes.workspace import AGENT_SOURCE, WORKSPACE_LIMITS, open_workspace

        lim = limits or WORKSPACE_LIMITS
        spec = self._spec(AGENT_SOURCE, "python", b"", (), env, None, lim, True)
        session = WorkerSession(self._ws_pool.acquire(), spec, self._ws_pool.release)
        return open_workspace(self, session, limits=lim, files=files, snapshot=snapshot)

    def warm(self, n: int | None = None, *, workspaces: int = 0) -> None:
        """Start ``n`` job workers now (default: all) and ``workspaces`` workspace workers, so
        later executions and workspaces skip the start-up cost."""
        self._pool.warm(n or None)
        if workspaces:
            self._ws_pool.warm(workspaces)

    def close(self) -> None:
        """Stop idle workers now and busy ones when their job ends; later use raises `SandboxError`."""
        self._pool.close()
        self._ws_pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
