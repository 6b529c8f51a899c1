"""Killable worker processes for math comparisons: a hard wall-clock budget from outside.

Every comparison that parses model text runs in a worker process. The caller sends the two
answers over a socket and waits at most ``timeout_s``; when the budget runs out the worker is
killed (SIGKILL) and replaced, so nothing inside the computation (a sympy call, a C loop) can
hold the caller past its budget. This works from any thread (no ``signal.alarm``) and bounds
memory (``RLIMIT_AS`` in each worker).

Workers are forked from a *zygote*: one helper process per pool started with
``python -c ...`` that imports sympy and mpmath once, then forks a ready worker on request
in a few milliseconds. Forking from the zygote rather than from the caller keeps workers small
and independent of whatever the caller has loaded (torch, CUDA, threads), and never re-imports
the caller's ``__main__``. Start-up of the zygote (about a second, once per process) and of a
worker (milliseconds) is not counted in a comparison's budget; `MathWorkers.warm` front-loads it.
The workers are kept in the sandboxes' `WorkerPool` (``assay.sandboxes.pool``), unbounded.

Guarantees: a call to `MathWorkers.run` returns within ``timeout_s`` plus the time to fork a
worker (if none is idle) plus a few milliseconds; a worker that times out, dies or exceeds its
memory is discarded; workers exit when the owning process closes the pool or dies (their
socket reaches EOF); a pool is never shared across ``fork`` (the child builds its own).
Non-guarantees: this is resource isolation, not a security sandbox (workers run as the same
user with the same filesystem access; the parser they run never executes model text).
POSIX only (``os.fork``, ``socket.send_fds``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from assay.errors import VerifierError
from assay.sandboxes.pool import WorkerPool

__all__ = ["MathWorkers", "get_pool"]

_ZYGOTE_CODE = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[2]); "
    "from assay.verifiers.math.worker import _zygote_main; _zygote_main(int(sys.argv[1]))"
)
"""The helper's entry: the caller's ``sys.path`` is passed on, so it imports the same assay."""
ZYGOTE_START_TIMEOUT_S = 120.0
"""How long to wait for the zygote to import sympy (a cold disk cache can be slow)."""


# -- inside the worker ---------------------------------------------------------------------


def _limit_memory(memory_mb: int) -> None:
    import resource

    base = 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    base = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    limit = base + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _handle(request: dict[str, Any]) -> dict[str, Any]:
    from assay.verifiers.math.equiv import judge

    j = judge(str(request["pred"]), str(request["gold"]), approx_digits=int(request.get("approx_digits", 6)))
    return {"status": j.status, "reason": j.reason, "path": j.path}


def _serve(fd: int, memory_mb: int) -> None:
    """The worker loop: one JSON request in, one JSON result out, until EOF."""
    conn = Connection(fd)
    with contextlib.suppress(ValueError, OSError):
        _limit_memory(memory_mb)
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            os._exit(0)
        retire = False
        try:
            out = _handle(json.loads(data))
        except MemoryError:
            out = {
                "status": "timeout",
                "reason": f"the comparison exceeded the {memory_mb} MiB memory budget",
            }
            retire = True
        except RecursionError:
            out = {"status": "timeout", "reason": "the answer is nested too deeply to compare"}
            retire = True
        except Exception as e:  # noqa: BLE001 - our bug on model input: ERROR, never INCORRECT
            out = {"status": "error", "reason": f"verifier failed: {type(e).__name__}: {e}"[:500]}
        out["retire"] = retire
        try:
            conn.send_bytes(json.dumps(out).encode())
        except (OSError, ValueError):
            os._exit(0)
        if retire:
            os._exit(0)


def _warm_imports() -> None:
    """Import and exercise the heavy paths once, so forked workers start hot."""
    from assay.verifiers.math.equiv import judge

    for pred, gold in (
        ("\\sqrt{8}", "2\\sqrt{2}"),
        ("x \\in (-1, 1)", "|x| < 1"),
        ("\\tan^2 x + 1", "\\sec^2 x"),
        ("\\sum_{k=1}^{n} k", "\\sum_{j=1}^{n} j"),
        ("0.70710678", "\\frac{\\sqrt2}{2}"),
    ):
        with contextlib.suppress(Exception):  # warming only
            judge(pred, gold)


def _zygote_main(fd: int) -> None:
    """The zygote: import once, then fork a worker per request and hand its socket back."""
    ctrl = socket.socket(fileno=fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped automatically
    _warm_imports()
    ctrl.sendall(b"R")
    buf = b""
    while True:
        try:
            chunk = ctrl.recv(64)
        except OSError:
            os._exit(0)
        if not chunk:
            os._exit(0)
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            memory_mb = int(line.decode())
            parent_end, child_end = socket.socketpair()
            pid = os.fork()
            if pid == 0:
                ctrl.close()
                parent_end.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _serve(child_end.detach(), memory_mb)
                os._exit(0)
            child_end.close()
            fds = [parent_end.fileno()]
            pidfd = -1
            if hasattr(os, "pidfd_open"):
                try:
                    pidfd = os.pidfd_open(pid)
                    fds.append(pidfd)
                except OSError:
                    pidfd = -1
            socket.send_fds(ctrl, [f"{pid}\n".encode()], fds)
            parent_end.close()
            if pidfd != -1:
                os.close(pidfd)


# -- in the caller ---------------------------------------------------------------------------


class _Worker:
    __slots__ = ("conn", "pid", "pidfd")

    def __init__(self, pid: int, conn: Connection, pidfd: int) -> None:
        self.pid = pid
        self.conn = conn
        self.pidfd = pidfd

    @property
    def alive(self) -> bool:
        """An idle worker never has anything to read: readable means its end closed (it died).

        One ``poll(2)`` call: a few times cheaper than ``Connection.poll``, and the pool asks
        twice per comparison (when it hands the worker out and when it takes it back).
        """
        try:
            fd = self.conn.fileno()
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        """Kill the process (SIGKILL, through its pidfd where there is one) and close our ends."""
        try:
            if self.pidfd != -1 and hasattr(signal, "pidfd_send_signal"):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)
        except (ProcessLookupError, OSError):
            pass
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.pidfd != -1:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = -1


class _Zygote:
    def __init__(self) -> None:
        if not hasattr(os, "fork") or not hasattr(socket, "send_fds"):
            raise VerifierError("the math verifier's worker processes need a POSIX system (os.fork)")
        ours, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _ZYGOTE_CODE, str(theirs.fileno()), json.dumps(sys.path)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            theirs.close()
        self.sock = ours
        self.sock.settimeout(ZYGOTE_START_TIMEOUT_S)
        try:
            ready = self.sock.recv(1)
        except OSError as e:
            self.close()
            raise VerifierError(f"the math verifier's helper process did not start: {e}") from e
        if ready != b"R":
            code = self.proc.poll()
            self.close()
            raise VerifierError(
                f"the math verifier's helper process exited (code {code}); "
                'is assay importable by this interpreter, with its math extra (pip install "assay[math]")?'
            )
        self.sock.settimeout(30.0)
        self.lock = threading.Lock()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fork(self, memory_mb: int) -> _Worker:
        with self.lock:
            self.sock.sendall(f"{memory_mb}\n".encode())
            msg, fds, _, _ = socket.recv_fds(self.sock, 64, 2)
        if not msg or not fds:
            raise VerifierError("the math verifier's helper process stopped")
        pid = int(msg.decode().strip())
        return _Worker(pid, Connection(fds[0]), fds[1] if len(fds) > 1 else -1)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


class MathWorkers:
    """Worker processes that each run one comparison at a time under a hard deadline.

    Threads share it: each call takes an idle worker from its `WorkerPool` (the sandboxes' pool,
    unbounded here) or forks a new one, so concurrent callers never queue behind each other's
    budgets. Up to ``max_idle`` idle workers are kept.
    """

    def __init__(self, memory_mb: int = 1024, max_idle: int = 8) -> None:
        if memory_mb < 64:
            raise ValueError(f"memory_mb must be >= 64, got {memory_mb}")
        self.memory_mb = memory_mb
        self.pid = os.getpid()
        self._lock = threading.Lock()  # guards the zygote
        self._zygote: _Zygote | None = None
        self.workers: WorkerPool[_Worker] = WorkerPool(
            self._fork, None, max_idle=max_idle, name="worker pool", error=VerifierError
        )
        """The idle and busy workers."""

    @property
    def max_idle(self) -> int:
        """Most idle workers kept; may be raised (`MathVerifier.batch` does)."""
        return self.workers.max_idle or 0

    @max_idle.setter
    def max_idle(self, value: int) -> None:
        self.workers.max_idle = value

    def _zygote_ready(self) -> _Zygote:
        with self._lock:
            if self.workers.closed:
                raise VerifierError("the worker pool is closed")
            if self._zygote is None or not self._zygote.alive():
                if self._zygote is not None:
                    self._zygote.close()
                self._zygote = _Zygote()
            return self._zygote

    def _fork(self, slot: int = 0) -> _Worker:
        zygote = self._zygote_ready()
        try:
            return zygote.fork(self.memory_mb)
        except (OSError, VerifierError):
            with self._lock:  # the zygote died: start a new one once
                if self._zygote is zygote:
                    zygote.close()
                    self._zygote = None
            return self._zygote_ready().fork(self.memory_mb)

    def warm(self, workers: int = 1) -> None:
        """Start the helper and ``workers`` idle workers now, outside any budget."""
        self.workers.warm(workers)

    def run(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send ``request`` to a worker and wait at most ``timeout_s`` seconds for the result.

        Returns the worker's dict, or ``{"status": "timeout"|"error", "reason": ...}`` when it
        ran out of time or died. Adds ``elapsed_s`` (the time inside the budget).
        """
        payload = json.dumps(request).encode()
        worker = self.workers.acquire()
        try:
            worker.conn.send_bytes(payload)
        except OSError:  # it died while idle: nothing was computed yet, so use another
            self.workers.discard(worker)
            worker = self.workers.acquire()
            try:
                worker.conn.send_bytes(payload)
            except OSError as e:
                self.workers.discard(worker)
                return {
                    "status": "error",
                    "reason": f"could not reach a worker process ({e})",
                    "elapsed_s": 0.0,
                }
        start = time.monotonic()
        try:
            if not worker.conn.poll(timeout_s):
                self.workers.discard(worker)
                return {
                    "status": "timeout",
                    "reason": f"no result within the {timeout_s:g} s budget (worker killed)",
                    "elapsed_s": time.monotonic() - start,
                }
            data = worker.conn.recv_bytes()
        except (EOFError, OSError) as e:
            self.workers.discard(worker)
            return {
                "status": "error",
                "reason": f"the worker process died ({type(e).__name__})",
                "elapsed_s": time.monotonic() - start,
            }
        out: dict[str, Any] = json.loads(data)
        out["elapsed_s"] = time.monotonic() - start
        if out.pop("retire", False):
            self.workers.discard(worker)
        else:
            self.workers.release(worker)
        return out

    def close(self) -> None:
        """Kill every idle worker and the helper process (busy ones die when given back)."""
        self.workers.close()
        with self._lock:
            zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.close()


_POOLS: dict[int, MathWorkers] = {}
_POOLS_LOCK = threading.Lock()


def get_pool(memory_mb: int = 1024) -> MathWorkers:
    """The process-wide pool for ``memory_mb`` (a forked child gets its own)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(memory_mb)
        if pool is None or pool.pid != os.getpid():
            pool = MathWorkers(memory_mb)
            _POOLS[memory_mb] = pool
        return pool


def _close_all() -> None:
    with _POOLS_LOCK:
        pools = [p for p in _POOLS.values() if p.pid == os.getpid()]
        _POOLS.clear()
    for p in pools:
        p.close()


def _forget_after_fork() -> None:  # the child must not touch the parent's sockets or locks
    global _POOLS_LOCK
    _POOLS_LOCK = threading.Lock()
    _POOLS.clear()


atexit.register(_close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
