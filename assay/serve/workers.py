"""`ScoringWorkers`: forked processes that run the service's scoring, each killable at a deadline.

The service's verifiers run here, not in its threads: a thread cannot be stopped, so a slow
verification would keep its slot after its request had given up. Each worker is a child forked
from the server that runs ``work(payload)`` for one job at a time; the server sends a job over a
socket pair and awaits the answer on its event loop (no thread is held while waiting).

Guarantees: at most ``size`` jobs run at once, and a job waits (without a thread) for a free
worker; when a job's deadline passes (`asyncio.wait_for` or any cancellation), its worker's
process group is killed (SIGKILL) and its slot is free at once (the next job forks a fresh
worker); a worker that dies mid-job costs that job only (`WorkerDied`); workers close every file
descriptor they inherited (the server's listening socket among them) but their own socket, and
exit when the server process goes away (they watch their parent) or `close` is called.
Non-guarantees: a worker is not a sandbox (same user, same file system; the candidate programs
that verifiers run go to their sandboxes as before); forking a server whose other threads hold
locks can deadlock a worker, which its deadline then kills; what a killed worker had started
outside its process group (a Docker container) ends by that thing's own limits.
POSIX only (``os.fork``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import socket
import struct
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from assay.errors import AssayError

__all__ = ["ScoringWorkers", "WorkerDied"]

_HEADER = struct.Struct(">Q")
_PARENT_POLL_S = 0.5


class WorkerDied(AssayError, RuntimeError):
    """The worker process ended before it answered (it crashed or was killed by the OS)."""


# -- inside a worker ----------------------------------------------------------------------------


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(0)


def _serve(sock: socket.socket, work: Callable[[Any], Any], parent: int) -> None:
    """The worker's loop (in the forked child; never returns)."""
    try:
        os.setpgid(0, 0)  # its own group: killing the group ends what the job started
        keep = sock.fileno()
        with contextlib.suppress(OSError):
            os.closerange(3, keep)
            os.closerange(keep + 1, 1 << 20)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the server decides
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
        while True:
            head = _recv_exactly(sock, _HEADER.size)
            if head is None:
                break
            body = _recv_exactly(sock, _HEADER.unpack(head)[0])
            if body is None:
                break
            try:
                reply = (True, work(pickle.loads(body)))
            except BaseException as e:  # noqa: BLE001 - reported to the server, which decides
                reply = (False, f"{type(e).__name__}: {e}")
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
            sock.sendall(_HEADER.pack(len(data)) + data)
    finally:
        os._exit(0)


# -- in the server --------------------------------------------------------------------------------


class _Worker:
    def __init__(self, work: Callable[[Any], Any]) -> None:
        parent, child = socket.socketpair()
        me = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; covered by the service tests
            parent.close()
            _serve(child, work, me)
        child.close()
        parent.setblocking(False)
        self.pid = pid
        self.sock = parent

    async def call(self, payload: bytes) -> Any:
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(self.sock, _HEADER.pack(len(payload)) + payload)
        head = await self._recv(loop, _HEADER.size)
        ok, value = pickle.loads(await self._recv(loop, _HEADER.unpack(head)[0]))
        if not ok:
            raise WorkerDied(f"the scoring worker raised {value}")
        return value

    async def _recv(self, loop: asyncio.AbstractEventLoop, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = await loop.sock_recv(self.sock, n - len(buf))
            if not chunk:
                raise WorkerDied("the scoring worker exited")
            buf += chunk
        return bytes(buf)

    def kill(self) -> None:
        """SIGKILL its process group and reap it in the background (never blocks)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)  # in case it died before setpgid
        self.sock.close()
        threading.Thread(target=_reap, args=(self.pid,), daemon=True).start()


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


class ScoringWorkers:
    """Up to ``size`` forked workers running ``work(payload)``, one job each (see module doc).

    ``work`` runs in the child, so it need not be picklable; its argument and result are.
    Usable from any event loop and thread (a `fastapi.testclient.TestClient` runs each request
    in a loop of its own).
    """

    def __init__(self, work: Callable[[Any], Any], size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.work = work
        self.size = size
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._slots = 0
        """Workers started or being started (idle or busy), at most ``size``."""
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[_Worker | None]]] = deque()
        self._closed = False
        self.pid = os.getpid()
        weakref.finalize(self, _kill_idle, self._idle, self.pid)  # an app dropped without shutdown

    @property
    def busy(self) -> int:
        """Jobs running now."""
        with self._lock:
            return self._slots - len(self._idle)

    async def run(self, payload: Any) -> Any:
        """``work(payload)`` in a worker. Cancel it (a deadline) and the worker is killed.

        Raises `WorkerDied` when the worker ended or raised before answering.
        """
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        worker = await self._acquire()
        try:
            result = await worker.call(data)
        except BaseException:  # a deadline (CancelledError), a dead worker: never reuse it
            worker.kill()
            self._release(None)
            raise
        self._release(worker)
        return result

    async def _acquire(self) -> _Worker:
        future: asyncio.Future[_Worker | None] | None = None
        with self._lock:
            if self._closed or os.getpid() != self.pid:
                raise RuntimeError("the scoring workers are closed")
            if self._idle:
                return self._idle.pop()
            if self._slots < self.size:
                self._slots += 1
            else:
                loop = asyncio.get_running_loop()
                future = loop.create_future()
                self._waiters.append((loop, future))
        got: _Worker | None = None
        if future is not None:
            try:
                got = await future
            except asyncio.CancelledError:
                with self._lock, contextlib.suppress(ValueError):
                    self._waiters.remove((loop, future))
                if future.done() and not future.cancelled():  # handed a slot as we were cancelled
                    self._release(future.result())
                raise
        if got is not None:
            return got
        try:  # this slot is ours: start a worker in it
            return _Worker(self.work)
        except OSError:
            self._release(None)
            raise

    def _release(self, worker: _Worker | None) -> None:
        """Give a worker (or, with None, the slot of a killed one) to a waiter, else keep it."""
        with self._lock:
            while self._waiters:
                loop, future = self._waiters.popleft()
                if future.done():
                    continue
                try:
                    loop.call_soon_threadsafe(self._hand, future, worker)
                except RuntimeError:  # that waiter's loop is closed
                    continue
                return
            if worker is None:
                self._slots -= 1
            elif self._closed:
                self._slots -= 1
                worker.kill()
            else:
                self._idle.append(worker)

    def _hand(self, future: asyncio.Future[_Worker | None], worker: _Worker | None) -> None:
        if future.done():  # cancelled meanwhile: pass it on
            self._release(worker)
        else:
            future.set_result(worker)

    def close(self) -> None:
        """Kill every idle worker; busy ones are killed as their jobs end (idempotent)."""
        with self._lock:
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
            self._slots -= len(idle)
        _kill_idle(idle, self.pid)


def _kill_idle(idle: list[_Worker], pid: int) -> None:
    if os.getpid() == pid:  # never from a forked child's copy
        for w in idle:
            w.kill()
