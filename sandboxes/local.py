"""`LocalSandbox`: the embedded sandbox, no daemon needed. A guardrail, not a container.

Each worker is a fork server (see ``inside/supervisor.py``) started from this machine's Python. How much
it isolates depends on what the kernel lets this process do; `LocalSandbox.isolation` says which
level is in force:

``"namespaces"`` (running as root)
    Guarantees: fresh mount, network, IPC, UTS and PID namespaces per worker; the network has
    only a loopback interface; the program sees a minimal read-only root (the host's ``/usr``
    and the Python installation, read-only, a fresh ``/proc`` showing only its own processes, a
    synthetic ``/etc``, size-capped tmpfs ``/tmp``, ``/work``, ``/dev/shm``) and no other host
    file; it runs as an unprivileged uid unique to its worker (a uid block held machine-wide
    while the sandbox lives), with ``no_new_privs``, rlimits (address space, CPU, processes,
    file size, open files) and an empty environment; every process it started is killed when it
    ends (``kill(-1)`` inside its PID namespace), the scratch dirs are wiped and every System V
    IPC object and POSIX message queue is removed, so nothing carries over to the next execution.
``"userns"`` (unprivileged, user namespaces allowed)
    The same, inside a user namespace: the program runs as that namespace's uid 0 with every
    capability dropped. ``RLIMIT_NPROC`` counts the invoking user's other processes too.
``"none"`` (no namespaces available)
    Only rlimits, a private work dir, a scrubbed environment and killing every descendant (the
    forker is a child subreaper). The program can read whatever the invoking user can read, use
    the network, see other processes and share the host's IPC namespace.

At every level the kernel keyring calls are refused (a seccomp filter), since a key outlives
the job that added it.

Memory: ``memory_bytes`` limits each process's address space. Kernel memory a job pins (socket
and pipe buffers) is outside that limit. Where the machine gives this process a memory cgroup
(cgroup v2, or v1's memory hierarchy; in practice as root), each worker's whole process tree is
held to ``memory_bytes (default 512 MiB) + 256 MiB``, kernel memory included, and the kernel
OOM-kills inside it (`kernel_memory_bound` says whether it is in force). Without one, the bound
is the open-file limit: at most ``open_files`` sockets or pipes, about 1 MiB of buffers each at
the kernel's defaults (measured: 256 files held 29 MB of socket buffers; without the limit a job
held 2.6 GiB).

Non-guarantees, at every level: this is not a security boundary against kernel exploits (it
shares the host kernel, and the seccomp filter refuses only the keyring calls); the CPU is not
shared fairly between workers.
Use `DockerSandbox` where isolation matters. `LocalSandbox` never pretends to be it: what is in
force is always readable from `isolation`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from assay.sandboxes.base import DEFAULT_ENV, Limits, MiB
from assay.sandboxes.cgroup import PREFIX as CGROUP_PREFIX
from assay.sandboxes.cgroup import MemoryCgroup, remove_stale_cgroups
from assay.sandboxes.errors import SandboxError, SandboxUnavailable
from assay.sandboxes.pooled import PooledSandbox, default_workers, remove_stale_dirs
from assay.sandboxes.worker import BOOT, PYTHON_FLAGS, SUPERVISOR_ENV, Worker, supervisor_source

__all__ = ["ISOLATION_LEVELS", "LocalSandbox"]

ISOLATION_LEVELS = ("namespaces", "userns", "none")
UID_BASE = 2_000_000_000
"""Jobs run as uids from here up (namespaces level): ids no real user has. Each live sandbox on
the machine holds its own block of `MAX_WORKERS` uids (see `_UidBlock`), so two sandboxes never
share a uid, nor the per-uid process limit."""
MAX_WORKERS = 32
_CGROUPS = itertools.count()
UID_BLOCKS_DIR = "/run/assay/uid-blocks"
"""One lock file per uid block; a live sandbox holds a ``flock`` on its block's file."""


class _UidBlock:
    """A block of `MAX_WORKERS` uids held by one sandbox for its lifetime, machine-wide.

    Claimed by taking an exclusive ``flock`` on the block's file in `UID_BLOCKS_DIR` (the first
    free one); the kernel drops the lock when the sandbox closes it or its process dies, so a
    crashed process never strands a block and no two live sandboxes (in any processes) hold one.
    """

    def __init__(self) -> None:
        import fcntl

        os.makedirs(UID_BLOCKS_DIR, mode=0o700, exist_ok=True)
        for block in range((2**32 - 2 - UID_BASE) // MAX_WORKERS):
            fd = os.open(
                os.path.join(UID_BLOCKS_DIR, str(block)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._fd = fd
            self.uids = range(UID_BASE + block * MAX_WORKERS, UID_BASE + (block + 1) * MAX_WORKERS)
            return
        raise SandboxUnavailable("no free uid block for a LocalSandbox")  # pragma: no cover

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _PipeTransport:
    def __init__(self, proc: subprocess.Popen[bytes], stderr: Any) -> None:
        self.proc = proc
        self.stderr = stderr
        assert proc.stdin is not None and proc.stdout is not None
        self._in = proc.stdin.fileno()
        self._out = proc.stdout.fileno()
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        with self._lock:
            while view:
                view = view[os.write(self._in, view) :]

    def read(self) -> bytes:
        return os.read(self._out, 1 << 16)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def describe_eof(self) -> str:
        code = self.proc.poll()
        why = "the local supervisor exited" + ("" if code is None else f" with status {code}")
        try:
            self.stderr.seek(0)
            tail = self.stderr.read()[-2000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            tail = ""
        return f"{why}: {tail}" if tail else why


def _python_binds(python: str) -> list[str]:
    """Host paths the sandboxed Python needs, read-only (besides /usr and the lib dirs)."""
    out = []
    for path in (sys.base_prefix, os.path.dirname(os.path.dirname(os.path.realpath(python)))):
        if path and not path.startswith("/usr/") and path not in ("/", "/usr") and path not in out:
            out.append(path)
    return out


def _user_process_count() -> int:
    uid = os.getuid()
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


class LocalSandbox(PooledSandbox):
    """Runs programs in forked, namespaced children of a warm local interpreter.

    See the module docstring for guarantees and non-guarantees per isolation level.

    Args:
        isolation: ``"auto"`` (strongest that works here), or one of `ISOLATION_LEVELS`; an
            explicit level that cannot be had raises `SandboxUnavailable` (no silent downgrade).
        workers: Concurrent executions (default: the number of CPUs, at least 2).
        limits: Default limits of each execution.
        python: The interpreter to run (default: this one). Programs see its standard library
            only: no site-packages.
        tmpfs_size: Size cap of the program's ``/work`` and of ``/tmp`` (namespaces levels).
        extra_binds: More host paths to expose read-only (namespaces levels).
        workspaces: Workspaces open at once (`PooledSandbox.workspace`; default 8, fewer where
            the uid block has no room): each holds a worker of its own.
    """

    name = "local"

    def __init__(
        self,
        *,
        isolation: str = "auto",
        workers: int | None = None,
        limits: Limits | None = None,
        python: str | None = None,
        tmpfs_size: str = "64m",
        extra_binds: Sequence[str] = (),
        workspaces: int | None = None,
    ) -> None:
        if isolation != "auto" and isolation not in ISOLATION_LEVELS:
            raise ValueError(f"isolation must be 'auto' or one of {ISOLATION_LEVELS}, got {isolation!r}")
        if not sys.platform.startswith("linux"):
            raise SandboxUnavailable("LocalSandbox needs Linux")
        self.requested = isolation
        self.python = os.path.realpath(python or sys.executable)
        self.tmpfs_size = tmpfs_size
        self.extra_binds = tuple(extra_binds)
        self._level: str | None = None if isolation == "auto" else isolation
        self._level_lock = threading.Lock()
        self._source = supervisor_source("local_main", "local_boot.py")
        remove_stale_dirs("assay-root-", "assay-work-")  # of sandboxes whose process died
        if os.geteuid() == 0:
            remove_stale_cgroups()
        self.kernel_memory_bound = False
        """Whether the workers' memory cgroups bound kernel memory (socket buffers, pipes); see
        the module docstring for the bound that holds without them."""
        self._nproc_offset = 0
        size = workers or default_workers()
        if not 1 <= size <= MAX_WORKERS:
            raise ValueError(f"workers must be in 1..{MAX_WORKERS}, got {size}")
        spaces = workspaces if workspaces is not None else max(1, min(8, MAX_WORKERS - size))
        if not 1 <= spaces <= MAX_WORKERS - size:
            raise ValueError(f"workers + workspaces must be at most {MAX_WORKERS}, got {size} + {spaces}")
        self._uid_block = _UidBlock() if os.geteuid() == 0 else None
        self.uids = self._uid_block.uids if self._uid_block else range(0)
        """The uids this sandbox's jobs run as (namespaces level: root only)."""
        super().__init__(workers=size, limits=limits, workspaces=spaces)

    # -- workers ---------------------------------------------------------------------------

    @property
    def isolation(self) -> str:
        """The isolation level in force (starts a worker to find out, under ``"auto"``)."""
        if self._level is None:
            self._pool.release(self._pool.acquire())
        assert self._level is not None
        return self._level

    def _candidates(self) -> list[str]:
        if self._level is not None:
            return [self._level]
        return ["namespaces", "userns", "none"] if os.geteuid() == 0 else ["userns", "none"]

    def _create(self, slot: int) -> Worker:
        with self._level_lock:
            errors = []
            for level in self._candidates():
                try:
                    worker = self._start(slot, level)
                except SandboxUnavailable as e:
                    errors.append(f"{level}: {e}")
                    continue
                self._level = level
                return worker
        raise SandboxUnavailable("; ".join(errors))

    def _start(self, slot: int, level: str) -> Worker:
        cleanup: list[str] = []
        cfg: dict[str, Any] = {"isolation": level, "host_pid": os.getpid(), "deny_keyrings": True}
        if level == "none":
            work = tempfile.mkdtemp(prefix=f"assay-work-{os.getpid()}-")
            cleanup.append(work)
            cfg.update(workdir=work, scratch=[work], pidns=False, rlimit_nproc=True)
            if not self._nproc_offset:
                self._nproc_offset = _user_process_count() + 64
            cfg["nproc_offset"] = self._nproc_offset
        else:
            root = tempfile.mkdtemp(prefix=f"assay-root-{os.getpid()}-")
            cleanup.append(root)
            binds = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
            binds += _python_binds(self.python) + list(self.extra_binds)
            cfg.update(
                root_dir=root,
                binds=binds,
                tmpfs={"tmp": self.tmpfs_size, "work": self.tmpfs_size, "shm": "16m"},
                workdir="/work",
                scratch=["/work", "/tmp", "/dev/shm"],
                pidns=True,
                rlimit_nproc=True,
                private_ipc=True,
                mqueue="/dev/mqueue",
            )
            if level == "namespaces":
                cfg.update(uid=self.uids[slot], gid=self.uids[slot])
            else:
                cfg.update(drop_caps=True, require_undumpable=True)
                if not self._nproc_offset:
                    self._nproc_offset = _user_process_count() + 64
                cfg["nproc_offset"] = self._nproc_offset
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        try:
            proc = subprocess.Popen(
                [self.python, *PYTHON_FLAGS, "-c", BOOT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=dict(SUPERVISOR_ENV),
                cwd="/",
                start_new_session=True,
            )
        except OSError as e:
            stderr.close()
            for path in cleanup:
                shutil.rmtree(path, ignore_errors=True)
            raise SandboxUnavailable(f"cannot start {self.python}: {e}") from e

        cgroup = MemoryCgroup.create(
            f"{CGROUP_PREFIX}{os.getpid()}-{next(_CGROUPS)}",
            (self.limits.memory_bytes or 512 * MiB) + 256 * MiB,
        )
        if cgroup is not None:
            try:
                cgroup.add(proc.pid)  # before the boot frame: everything it forks is born inside
                cfg["oom_file"] = cgroup.oom_file
            except OSError:
                cgroup.remove()
                cgroup = None
        self.kernel_memory_bound = cgroup is not None

        def on_close() -> None:
            if cgroup is not None:
                cgroup.remove()
            for path in cleanup:
                shutil.rmtree(path, ignore_errors=True)

        worker = Worker(_PipeTransport(proc, stderr), name=f"local-{slot}", on_close=on_close)
        try:
            worker.boot(self._source, cfg, timeout_s=30.0)
        except SandboxError as e:
            worker.close()
            raise SandboxUnavailable(str(e)) from e
        return worker

    def _base_env(self) -> Mapping[str, str]:
        if self.isolation == "none":  # no private /work or /tmp: home and temp are the work dir
            return {**DEFAULT_ENV, "HOME": ".", "TMPDIR": "."}
        return DEFAULT_ENV

    def close(self) -> None:
        super().close()
        if self._uid_block is not None:
            self._uid_block.release()  # after the pool: no job runs as these uids any more

    def __repr__(self) -> str:
        return f"LocalSandbox(isolation={self._level or self.requested!r}, workers={self._pool.size})"
