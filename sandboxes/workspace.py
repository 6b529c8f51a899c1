"""`Workspace`: a sandboxed work dir, shell and interpreter that persist for one episode.

A workspace is one sandbox session (`Sandbox.session`) whose program is the workspace agent
(``inside/workspace_agent.py``). It holds a sandbox worker from `PooledSandbox.workspace`'s own
warm pool for its whole life, so everything the sandbox guarantees for a job holds for it (no
network, dropped capabilities, seccomp keyring filter, rlimits, the worker's memory cgroup or the
container's caps, a uid of its own); what persists is what the job leaves behind between calls::

    ws = sandbox.workspace(files={"data.csv": "a,b\\n1,2\\n"})
    ws.exec("cd sub 2>/dev/null || mkdir sub && cd sub; export N=3")
    ws.exec("pwd; echo $N").stdout          # '/work/job/sub\\n3\\n' (local and Docker)
    ws.python("x = 41")
    ws.python("x + 1").stdout               # '42\\n'
    ws.close()

Guarantees:
- Between calls persist: the files under `Workspace.root` (and ``/tmp``), the shell's working
  directory, its variables (exported or not) and functions, background processes (``cmd &``),
  and the Python interpreter's globals.
- Each `Workspace.exec` and `Workspace.python` call has its own wall-clock limit, enforced by
  the agent, and an output cap: output past it is read and dropped (the command keeps running;
  ``output_truncated`` says so). A timed-out ``exec`` is killed with every process of its call
  (its process group), background ones started by that call included; earlier calls'
  background processes survive, and the shell state is the one before the call.
- `Workspace.close` (or leaving the ``with`` block) ends the session: the supervisor kills every
  process (``kill(-1)`` in the sandbox's PID namespace), wipes ``/work``, ``/tmp`` and
  ``/dev/shm`` and removes IPC objects, as after any job; the worker goes back to the warm pool.
- The owner dying ends the workspace too: the supervisor reads EOF from the host and exits, and
  it is PID 1 of its PID namespace (local) or of its container (Docker, ``auto_remove``), so the
  kernel kills everything left. Host dirs of a killed owner's workers (``assay-root-<pid>-*``)
  and its memory cgroups are removed by the next sandbox created on the machine.
- `Workspace.fork` copies: a tar of the files plus the shell state go through the host into a
  new workspace (in either backend). It is not copy-on-write; cost grows with the bytes (see
  ``benchmarks/agentic.py``). Processes and the interpreter's state are not forked.

Non-guarantees: the workspace's own commands run as the same uid as the agent, so a command can
kill the agent (or stop it): the workspace then ends and later calls raise `WorkspaceLost`
(never a silent fresh workspace). Shell options (``set -e``) do not persist. Output a background
process writes after its call returned is dropped. With `LocalSandbox` at isolation ``"none"``
nothing outside the sandbox's descendants is protected (see its docstring).
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from assay.sandboxes.base import ExecResult, Limits, MiB
from assay.sandboxes.errors import SandboxError
from assay.sandboxes.worker import mark_own

if TYPE_CHECKING:
    from assay.sandboxes.base import Session

__all__ = [
    "AGENT_SOURCE",
    "WORKSPACE_LIMITS",
    "CellResult",
    "Snapshot",
    "Workspace",
    "WorkspaceLost",
    "open_workspace",
]

AGENT_SOURCE = (Path(__file__).parent / "inside" / "workspace_agent.py").read_text()
"""The program of every workspace session (ours: compiled once on the host)."""
mark_own(AGENT_SOURCE)

WORKSPACE_LIMITS = Limits(
    wall_s=3600.0,
    cpu_s=None,
    memory_bytes=1024 * MiB,
    processes=64,
    output_bytes=64 * 1024,
    file_size_bytes=64 * MiB,
    channel_bytes=1 << 40,
    open_files=256,
)
"""Limits of a whole workspace: ``wall_s`` is its lifetime; the others hold for every process in
it (address space, file size, open files per process; ``processes`` per uid). Per-call time
and output limits are arguments of `Workspace.exec` and `Workspace.python`."""

GRACE_S = 5.0
"""How long past a call's own limit the host waits for the agent's answer before giving up."""


class WorkspaceLost(SandboxError):
    """The workspace ended under its user: a command killed its agent, it outlived its lifetime
    limit, or the sandbox failed. Its files and processes are gone; open a new one."""


@dataclass(frozen=True, slots=True)
class CellResult:
    """What one `Workspace.python` cell did.

    Attributes:
        ok: The cell ran to its end without an exception (and within its time limit).
        stdout: What it printed (and the value of a final bare expression), UTF-8 decoded.
        stderr: Its standard error: tracebacks, warnings.
        timed_out: It hit its time limit and was interrupted.
        output_truncated: It wrote more than the output limit; the rest was dropped.
        lost_state: The interpreter died (it did not stop at an interrupt, or the cell killed
            it): the next cell starts a fresh one, with no earlier variables.
        fresh: This cell started a new interpreter (the first cell, or after a lost one).
        duration_s: Wall-clock seconds of the cell, measured inside the sandbox.
    """

    ok: bool
    stdout: str
    stderr: str
    timed_out: bool = False
    output_truncated: bool = False
    lost_state: bool = False
    fresh: bool = False
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A workspace's files (an uncompressed tar of its root) and its shell state, as bytes on the
    host: `Workspace.snapshot` makes one, ``sandbox.workspace(snapshot=...)`` starts from one."""

    tar: bytes
    shell_state: str = ""

    @property
    def size(self) -> int:
        return len(self.tar) + len(self.shell_state)


def _b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else bytes(data)).decode("ascii")


class Workspace:
    """One episode's workspace in a sandbox (see the module docstring). Not thread-safe: one
    caller at a time (a lock serialises concurrent calls). Use as a context manager.

    Made by ``sandbox.workspace(...)`` (`PooledSandbox.workspace`), not directly.
    """

    def __init__(
        self, session: Session, *, sandbox: Any, limits: Limits, boot_timeout_s: float = 30.0
    ) -> None:
        self._session = session
        self.sandbox = sandbox
        """The sandbox this workspace runs in (`fork` opens the copy there)."""
        self.limits = limits
        self._lock = threading.Lock()
        self._lost: str | None = None
        self._closed = False
        hello = self._recv(boot_timeout_s)
        if not hello.get("ready"):
            self.close()
            raise SandboxError(f"the workspace agent did not start: {hello}")
        self.root: str = str(hello["root"])
        """Absolute path of the workspace's directory inside the sandbox (the shell starts here;
        relative paths of `read` and `write` are relative to it)."""

    # -- transport -----------------------------------------------------------------------

    def _recv(self, timeout_s: float) -> dict[str, Any]:
        try:
            message = self._session.recv(timeout_s)
        except TimeoutError:
            self._lose(f"the workspace agent did not answer within {timeout_s:g} s")
            raise WorkspaceLost(self._lost) from None
        except SandboxError as e:
            self._lose(f"the sandbox failed: {e}")
            raise WorkspaceLost(self._lost) from e
        if message is None:
            self._lose("the workspace agent exited (a command killed it, or its lifetime ran out)")
            raise WorkspaceLost(self._lost)
        return dict(json.loads(message))

    def _lose(self, why: str) -> None:
        if self._lost is None:
            self._lost = why
        self._end()

    def _call(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        with self._lock:
            if self._closed:
                raise SandboxError("the workspace is closed")
            if self._lost is not None:
                raise WorkspaceLost(self._lost)
            try:
                self._session.send(json.dumps(request).encode())
            except SandboxError as e:
                self._lose(f"the sandbox failed: {e}")
                raise WorkspaceLost(self._lost) from e
            reply = self._recv(timeout_s + GRACE_S)
        if "errno" in reply:
            raise OSError(int(reply["errno"]), str(reply["error"]), reply.get("path"))
        if "error" in reply:
            raise SandboxError(f"workspace request failed: {reply['error']}")
        return reply

    @property
    def alive(self) -> bool:
        """Open and not lost."""
        return not self._closed and self._lost is None

    # -- calls ---------------------------------------------------------------------------

    def exec(
        self,
        cmd: str,
        *,
        timeout_s: float = 30.0,
        output_limit: int = 64 * 1024,
        env: Mapping[str, str] | None = None,
        stdin: str | bytes = b"",
        fresh: bool = False,
    ) -> ExecResult:
        """Run ``cmd`` in the workspace's shell (bash) and return what it did.

        ``cd``, variable assignments and function definitions persist to the next call.
        ``exit_code`` is the shell's; ``timed_out`` means the call was killed at ``timeout_s``;
        ``output_truncated`` means stdout + stderr exceeded ``output_limit`` bytes (the rest was
        dropped; the command was not killed for it). ``env`` adds variables for this call only.
        ``fresh=True`` runs ``cmd`` in a shell that neither restores nor saves the workspace's
        shell state (no functions or variables the workspace's commands defined: for checks).

        Raises:
            WorkspaceLost: The workspace ended (see the module docstring).
        """
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        reply = self._call(
            {
                "op": "exec",
                "cmd": cmd,
                "timeout_s": timeout_s,
                "output_limit": max(0, int(output_limit)),
                "env": dict(env or {}),
                "stdin": _b64(stdin),
                "fresh": fresh,
            },
            timeout_s,
        )
        return ExecResult(
            exit_code=reply["exit_code"],
            stdout=base64.b64decode(reply["stdout"]).decode("utf-8", "replace"),
            stderr=base64.b64decode(reply["stderr"]).decode("utf-8", "replace"),
            timed_out=bool(reply["timed_out"]),
            duration_s=float(reply["duration_s"]),
            signal=reply["signal"],
            output_truncated=bool(reply["output_truncated"]),
        )

    def python(self, code: str, *, timeout_s: float = 30.0, output_limit: int = 64 * 1024) -> CellResult:
        """Run ``code`` in the workspace's persistent Python interpreter (started on first use,
        in the workspace root, standard library only). A final bare expression's value is shown.
        See `CellResult` for what a timeout does to the interpreter's state."""
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        reply = self._call(
            {"op": "python", "code": code, "timeout_s": timeout_s, "output_limit": max(0, int(output_limit))},
            timeout_s + 1.0,
        )
        return CellResult(
            ok=bool(reply["ok"]),
            stdout=base64.b64decode(reply["stdout"]).decode("utf-8", "replace"),
            stderr=base64.b64decode(reply["stderr"]).decode("utf-8", "replace"),
            timed_out=bool(reply["timed_out"]),
            output_truncated=bool(reply["output_truncated"]),
            lost_state=bool(reply["lost_state"]),
            fresh=bool(reply["fresh"]),
            duration_s=float(reply["duration_s"]),
        )

    def quiesce(self) -> int:
        """Kill every process the workspace's calls started (background ones included) and its
        interpreter; files stay. For checking a workspace after an episode without the policy's
        processes changing it meanwhile. Returns how many processes were signalled.

        A process that left the workspace's session (``setsid``) is not found: it dies at
        `close`."""
        return int(self._call({"op": "quiesce"}, 10.0)["killed"])

    def python_reset(self) -> None:
        """End the interpreter: the next `python` call starts an empty one."""
        self._call({"op": "python_reset"}, 10.0)

    def write(self, path: str, data: str | bytes, *, mode: int | None = None) -> None:
        """Write ``data`` to ``path`` (relative to `root`, or absolute), creating parent dirs.

        Raises `OSError` (e.g. `PermissionError`) as the sandbox reports it."""
        self._call({"op": "write", "path": path, "data": _b64(data), "mode": mode}, 30.0)

    def read(self, path: str, *, limit: int | None = None) -> bytes:
        """The bytes of ``path`` (at most ``limit``). Raises `FileNotFoundError` and the like."""
        reply = self._call({"op": "read", "path": path, "limit": limit}, 30.0)
        return base64.b64decode(reply["data"])

    def snapshot(self) -> Snapshot:
        """The workspace's files and shell state now (processes are not captured)."""
        reply = self._call({"op": "snapshot"}, 60.0)
        return Snapshot(base64.b64decode(reply["tar"]), str(reply.get("state", "")))

    def restore(self, snapshot: Snapshot) -> None:
        """Unpack ``snapshot`` over this workspace (files replaced, shell state replaced)."""
        self._call({"op": "restore", "tar": _b64(snapshot.tar), "state": snapshot.shell_state}, 60.0)

    def fork(self) -> Workspace:
        """A new workspace in the same sandbox with a copy of this one's files and shell state
        (a copy through the host, not copy-on-write; processes and interpreter state are not
        copied). Close it separately."""
        snap = self.snapshot()
        return self.sandbox.workspace(snapshot=snap, limits=self.limits)  # type: ignore[no-any-return]

    # -- life cycle ----------------------------------------------------------------------

    def _end(self) -> None:
        with contextlib.suppress(SandboxError):
            self._session.kill()
        with contextlib.suppress(SandboxError, TimeoutError):
            self._session.result(timeout_s=10.0)
        self._session.__exit__(None, None, None)

    def close(self) -> None:
        """End the workspace: every process killed, every file removed (idempotent)."""
        if self._closed:
            return
        with self._lock:
            self._closed = True
            if self._lost is None:
                self._end()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("lost" if self._lost else "open")
        return f"Workspace({self.sandbox.name}, root={getattr(self, 'root', '?')!r}, {state})"


def open_workspace(
    sandbox: Any,
    session: Session,
    *,
    limits: Limits,
    files: Mapping[str, str | bytes] | None,
    snapshot: Snapshot | None,
) -> Workspace:
    """Wrap a started agent session: wait for it, then unpack ``snapshot`` and write ``files``."""
    ws = Workspace(session, sandbox=sandbox, limits=limits)
    try:
        if snapshot is not None:
            ws.restore(snapshot)
        for name, data in (files or {}).items():
            ws.write(name, data)
    except BaseException:
        ws.close()
        raise
    return ws
