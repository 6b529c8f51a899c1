"""Sandboxes: run untrusted programs under isolation and resource limits.

- `DockerSandbox`: a warm pool of locked-down containers (no network, read-only root, non-root,
  no capabilities, memory/pids/CPU caps). Fails closed: no daemon or no image raises
  `SandboxUnavailable`.
- `LocalSandbox`: no daemon needed; Linux namespaces where the kernel allows them, rlimits
  always. A guardrail, not a container: its docstring says what it does not protect against.

Both run one program per `Sandbox.run` and return an `ExecResult`; `Sandbox.session` starts a
program with a message channel; ``sandbox.workspace()`` opens a `Workspace` (files, a shell and a
Python interpreter that persist for one episode; ``workspace.py``). Both are a `PooledSandbox` (``pooled.py``): warm workers in the
`WorkerPool` (``pool.py``) that the math verifier's worker processes use too. `get_sandbox` builds (and caches, per process) the default ones.
`runtime_problem` says whether a sandbox can run a language at all under given limits
(``runtime.py`` lists what each sandbox supports).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from typing import TYPE_CHECKING, Any

from assay.sandboxes.base import LANGUAGES, ExecResult, Language, Limits, Sandbox, Session
from assay.sandboxes.errors import SandboxError, SandboxUnavailable
from assay.sandboxes.local import LocalSandbox
from assay.sandboxes.runtime import runtime_problem
from assay.sandboxes.workspace import CellResult, Snapshot, Workspace, WorkspaceLost

if TYPE_CHECKING:
    from assay.sandboxes.docker import DockerSandbox

__all__ = [
    "LANGUAGES",
    "CellResult",
    "DockerSandbox",
    "ExecResult",
    "Language",
    "Limits",
    "LocalSandbox",
    "Sandbox",
    "SandboxError",
    "SandboxUnavailable",
    "Session",
    "Snapshot",
    "Workspace",
    "WorkspaceLost",
    "get_sandbox",
    "runtime_problem",
]

_SHARED: dict[tuple[int, str], Sandbox] = {}
_LOCK = threading.Lock()


def __getattr__(name: str) -> Any:
    if name == "DockerSandbox":  # imports the docker SDK: only on demand
        from assay.sandboxes.docker import DockerSandbox

        return DockerSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_sandbox(kind: str | Sandbox = "auto") -> Sandbox:
    """The shared sandbox of this process for ``kind``: ``"docker"``, ``"local"`` or ``"auto"``.

    ``"auto"`` is Docker when a daemon answers and the image is there, else local; the choice is
    visible as ``sandbox.name``. ``"docker"`` never falls back: it raises `SandboxUnavailable`.
    A `Sandbox` instance is returned as is. Instances are per process (a forked child gets its
    own) and closed at exit.
    """
    if not isinstance(kind, str):
        return kind
    if kind not in ("auto", "docker", "local"):
        raise ValueError(f"sandbox must be 'auto', 'docker', 'local' or a Sandbox, got {kind!r}")
    key = (os.getpid(), kind)
    with _LOCK:
        found = _SHARED.get(key)
        if found is not None:
            return found
        sandbox: Sandbox
        if kind == "local":
            sandbox = LocalSandbox()
        else:
            from assay.sandboxes.docker import DockerSandbox, docker_ready

            if kind == "docker" or docker_ready():
                sandbox = DockerSandbox()
            else:
                sandbox = _SHARED.get((os.getpid(), "local")) or LocalSandbox()
                _SHARED[(os.getpid(), "local")] = sandbox
        _SHARED[key] = sandbox
        return sandbox


@atexit.register
def _close_shared() -> None:
    for (pid, _), sandbox in list(_SHARED.items()):
        if pid == os.getpid():
            with contextlib.suppress(Exception):
                sandbox.close()
