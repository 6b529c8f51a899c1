"""`WorkerPool`: a fixed number of warm sandbox workers, handed out one user at a time.

Workers are created lazily (or up front with `warm`), reused while healthy and replaced when
they break: a worker whose supervisor died, whose container vanished or whose daemon went away
is closed and its slot freed, so the next `acquire` builds a fresh one.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from assay.sandboxes.errors import SandboxError
from assay.sandboxes.worker import Worker

__all__ = ["WorkerPool"]


class WorkerPool:
    """Up to ``size`` workers; ``create(slot)`` builds the worker for a free slot number."""

    def __init__(self, create: Callable[[int], Worker], size: int) -> None:
        if size < 1:
            raise ValueError(f"pool size must be >= 1, got {size}")
        self._create = create
        self.size = size
        self._idle: list[tuple[int, Worker]] = []
        self._free_slots = list(range(size - 1, -1, -1))
        self._busy: dict[int, int] = {}  # id(worker) -> slot
        self._cond = threading.Condition()
        self._closed = False

    def acquire(self, timeout_s: float | None = None) -> Worker:
        """A healthy worker (waits while all are busy; `SandboxError` on timeout or when closed)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while True:
                if self._closed:
                    raise SandboxError("the sandbox is closed")
                while self._idle:
                    slot, worker = self._idle.pop()
                    if worker.alive:
                        self._busy[id(worker)] = slot
                        return worker
                    self._discard(worker, slot)
                if self._free_slots:
                    slot = self._free_slots.pop()
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise SandboxError(f"no sandbox worker free within {timeout_s} s")
                self._cond.wait(left)
        try:
            worker = self._create(slot)
        except BaseException:
            with self._cond:
                self._free_slots.append(slot)
                self._cond.notify()
            raise
        with self._cond:
            self._busy[id(worker)] = slot
        return worker

    def release(self, worker: Worker) -> None:
        """Give ``worker`` back; a dead one is closed and its slot rebuilt on demand."""
        with self._cond:
            slot = self._busy.pop(id(worker))
            if worker.alive and not self._closed:
                self._idle.append((slot, worker))
            else:
                self._discard(worker, slot)
            self._cond.notify()

    def _discard(self, worker: Worker, slot: int) -> None:
        threading.Thread(target=_close_quietly, args=(worker,), daemon=True).start()
        self._free_slots.append(slot)

    def warm(self, n: int | None = None) -> None:
        """Start ``n`` workers now (default: all), so later executions skip the start-up cost."""
        got = [self.acquire() for _ in range(min(n or self.size, self.size))]
        for worker in got:
            self.release(worker)

    @property
    def idle(self) -> int:
        with self._cond:
            return len(self._idle)

    def close(self) -> None:
        """Close idle workers now; busy ones close when released."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for _, worker in idle:
            _close_quietly(worker)


def _close_quietly(worker: Worker) -> None:
    with contextlib.suppress(Exception):
        worker.close()
