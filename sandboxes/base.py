"""The sandbox contract: `Limits`, `Language`, `ExecResult`, `Session` and the `Sandbox` protocol.

A sandbox runs one program under limits and returns an `ExecResult`. What the program does is
always a *value*: a crash is a non-zero ``exit_code``, a loop is ``timed_out=True``, a memory
bomb is ``oom=True``, a flood of output is ``output_truncated=True``. Exceptions
(`SandboxError`, `SandboxUnavailable`) mean the sandbox itself could not run it.

Besides batch runs (`Sandbox.run`: files + stdin in, exit status + output out), a sandbox can
start a program with a *channel* (`Sandbox.session`): length-prefixed messages over the
program's fds 3 (in) and 4 (out), separate from its stdout so that debug prints never mix with
protocol traffic. The code verifier uses sessions to call a candidate's functions across the
process boundary.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_ENV",
    "LANGUAGES",
    "ExecResult",
    "Language",
    "Limits",
    "Sandbox",
    "Session",
    "frame",
]

MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for one execution. ``None`` leaves a limit to the sandbox's own cap.

    Attributes:
        wall_s: Wall-clock seconds, measured and enforced by the supervisor outside the program
            (the program cannot stop, slow or fool that clock).
        cpu_s: CPU seconds (``RLIMIT_CPU``); exceeding it counts as ``timed_out``.
        memory_bytes: Address space per process (``RLIMIT_AS``); Docker also caps the container.
        processes: Processes and threads (``RLIMIT_NPROC`` locally, the pids cgroup in Docker).
        output_bytes: stdout + stderr together; the program is killed when it writes more.
        file_size_bytes: Largest file the program may write (``RLIMIT_FSIZE``).
        channel_bytes: Total bytes the program may send over its session channel.
        open_files: Open file descriptors (``RLIMIT_NOFILE``). Also what bounds the kernel memory
            a job can pin in socket and pipe buffers where no memory cgroup does (see
            `LocalSandbox`).
    """

    wall_s: float = 10.0
    cpu_s: float | None = 10.0
    memory_bytes: int | None = 512 * MiB
    processes: int | None = 32
    output_bytes: int = 1 * MiB
    file_size_bytes: int | None = 16 * MiB
    channel_bytes: int = 64 * MiB
    open_files: int | None = 256

    def __post_init__(self) -> None:
        if not self.wall_s > 0:
            raise ValueError(f"wall_s must be > 0, got {self.wall_s}")
        for name in ("cpu_s", "memory_bytes", "processes", "file_size_bytes", "open_files"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None, got {value}")
        if self.output_bytes < 0 or self.channel_bytes < 0:
            raise ValueError("output_bytes and channel_bytes must be >= 0")

    def with_(self, **changes: Any) -> Limits:
        """A copy with some limits changed."""
        return replace(self, **changes)

    def to_wire(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "memory_bytes": self.memory_bytes,
            "processes": self.processes,
            "output_bytes": self.output_bytes,
            "file_size_bytes": self.file_size_bytes,
            "channel_bytes": self.channel_bytes,
            "open_files": self.open_files,
        }


@dataclass(frozen=True, slots=True)
class Language:
    """How to run a program in one language.

    Python runs on the fast path: the sandbox forks its warm interpreter and executes the file in
    it (no ``execve``, no interpreter start-up). Every other language names commands: an optional
    ``compile`` step and the ``run`` command, where ``{file}`` stands for the source file's name.
    The binaries must exist inside the sandbox (the default Docker image has Python only; see
    `assay sandbox build --help`). Runtimes that reserve a large address space up front (V8,
    the JVM, Go) need ``Limits(memory_bytes=None)`` (or a few GiB): ``memory_bytes`` is an
    address-space limit, not a resident-memory one. `assay.sandboxes.runtime_problem` checks
    that a runtime starts under given limits (the code verifier gives ERROR, not INCORRECT,
    when it does not).

    Attributes:
        name: Key in `LANGUAGES`.
        filename: Name the source is written under in the work dir.
        run: Command that runs the program (empty: the Python fast path).
        compile: Command that builds it first, or ``None``.
    """

    name: str
    filename: str
    run: tuple[str, ...] = ()
    compile: tuple[str, ...] | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "run": list(self.run), "compile": list(self.compile or [])}


LANGUAGES: Mapping[str, Language] = MappingProxyType(
    {
        "python": Language("python", "main.py"),
        "python-exec": Language("python-exec", "main.py", run=("python3", "{file}")),
        "c": Language("c", "main.c", run=("./main",), compile=("gcc", "-O2", "-o", "main", "{file}", "-lm")),
        "cpp": Language("cpp", "main.cpp", run=("./main",), compile=("g++", "-O2", "-o", "main", "{file}")),
        "javascript": Language("javascript", "main.js", run=("node", "{file}")),
        "sh": Language("sh", "main.sh", run=("sh", "{file}")),
    }
)
"""Languages every sandbox understands; whether the tools exist inside is up to the sandbox."""

DEFAULT_ENV: Mapping[str, str] = MappingProxyType(
    {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/work",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }
)
"""The whole environment of a sandboxed program (plus what the caller adds); nothing from the host."""


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What one execution did.

    Attributes:
        exit_code: The exit status, or ``None`` when a signal killed the program.
        stdout: Standard output, decoded as UTF-8 (invalid bytes replaced), at most the limit.
        stderr: Standard error, likewise.
        timed_out: The wall-clock or CPU limit was hit (the program was killed).
        oom: The program ran out of memory (a ``MemoryError`` escaped, or the kernel's OOM
            killer took it).
        duration_s: Wall-clock seconds from fork to exit, measured inside the sandbox.
        signal: The signal that ended the program, if any.
        output_truncated: The program wrote more than ``output_bytes`` (or flooded its channel)
            and was killed.
        compile_error: The language's compile step failed (the compiler's output is in stderr).
        cpu_s: CPU seconds the program used (user + system).
        max_rss_kb: Peak resident memory of the program's main process, in KiB.
    """

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    oom: bool = False
    duration_s: float = 0.0
    signal: int | None = None
    output_truncated: bool = False
    compile_error: bool = False
    cpu_s: float = 0.0
    max_rss_kb: int = 0

    @property
    def ok(self) -> bool:
        """Exited with status 0 within every limit."""
        return (
            self.exit_code == 0
            and not self.timed_out
            and not self.oom
            and not self.output_truncated
            and not self.compile_error
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "timed_out": self.timed_out,
            "oom": self.oom,
            "duration_s": self.duration_s,
            "signal": self.signal,
            "output_truncated": self.output_truncated,
            "compile_error": self.compile_error,
            "cpu_s": self.cpu_s,
            "max_rss_kb": self.max_rss_kb,
        }


FRAME = struct.Struct(">I")


def frame(message: bytes) -> bytes:
    """One channel message as it travels: a 4-byte big-endian length, then the bytes."""
    return FRAME.pack(len(message)) + message


@runtime_checkable
class Session(Protocol):
    """A running program with a message channel (its fds 3 and 4). Use as a context manager."""

    def send(self, message: bytes) -> None:
        """Send one message to the program (it reads a 4-byte length, then the bytes, on fd 3)."""
        ...

    def recv(self, timeout_s: float) -> bytes | None:
        """The program's next message, or ``None`` once the program has exited or closed fd 4.

        Raises `TimeoutError` when no message arrives within ``timeout_s`` (the program keeps
        running: `kill` it or wait longer).
        """
        ...

    def kill(self) -> None:
        """Kill the program now (its result then says ``exit_code=None``)."""
        ...

    def result(self, timeout_s: float | None = None) -> ExecResult:
        """Close the channel, wait for the program to exit (or kill it at its wall limit)."""
        ...

    def __enter__(self) -> Session: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Sandbox(Protocol):
    """Runs untrusted programs under isolation and limits. Thread-safe; ``close()`` when done."""

    name: str
    """``"docker"`` or ``"local"``."""

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
        """Run ``source`` to completion (or to a limit) and return what it did."""
        ...

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
        """Start ``source`` with a message channel; the sandbox slot is held until it ends."""
        ...

    def close(self) -> None:
        """Stop every worker; a closed sandbox raises `SandboxError` when used."""
        ...


@dataclass(frozen=True, slots=True)
class _Spec:
    """One job, as the host builds it (internal)."""

    source: bytes
    language: Language
    stdin: bytes = b""
    argv: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    channel: bool = False
