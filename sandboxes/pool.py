"""`WorkerPool`: warm workers handed out one user at a time, reused while alive, replaced when not.

The one pool of the library. The sandboxes keep their supervisors in one (a fixed number of
slots: a caller waits while every worker is busy), and so does the math verifier (forked
comparison processes, no bound: a caller never queues behind another's budget, and only up to
``max_idle`` idle workers are kept).

Guarantees: a worker is held by one user at a time, between `WorkerPool.acquire` and
`WorkerPool.release` (or `WorkerPool.discard`); workers are created lazily (or up front with
`WorkerPool.warm`) by the ``create`` callable, outside the pool's lock; a worker whose ``alive``
is false is never handed out again: it is closed and its slot freed, so the next ``acquire``
creates a fresh one; a bounded pool never holds more than ``size`` workers; ``close`` closes the
idle workers at once and every busy one when it is given back.

Non-guarantees: ``alive`` is only as fresh as the worker's own check (a worker can die right
after it was handed out: its user finds out and gives it back); a slow ``close`` of a worker given
back dead runs on a daemon thread, so it may still be under way when ``release`` returns; no
fairness between waiting callers.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from assay.sandboxes.errors import SandboxError

__all__ = ["PooledWorker", "WorkerPool"]


class PooledWorker(Protocol):
    """What a pool needs of a worker: whether it can still be used, and how to end it."""

    @property
    def alive(self) -> bool: ...

    def close(self) -> None: ...


W = TypeVar("W", bound=PooledWorker)


class WorkerPool(Generic[W]):
    """Workers built by ``create(slot)``, where ``slot`` is a small number no other live worker has.

    Args:
        create: Builds the worker for a free slot (may raise: the slot is freed again).
        size: Most workers at once; ``acquire`` waits while all are busy. ``None``: no bound,
            ``acquire`` creates a worker whenever none is idle.
        max_idle: Most idle workers kept for reuse (default: all); a surplus one is closed.
        name: What the pool holds, in its error messages (``"the {name} is closed"``).
        error: The exception class raised when the pool is closed or no worker frees up in time.
    """

    def __init__(
        self,
        create: Callable[[int], W],
        size: int | None,
        *,
        max_idle: int | None = None,
        name: str = "sandbox",
        error: Callable[[str], Exception] = SandboxError,
    ) -> None:
        if size is not None and size < 1:
            raise ValueError(f"pool size must be >= 1, got {size}")
        self._create = create
        self.size = size
        self.max_idle = max_idle
        """Most idle workers kept (``None``: no limit besides ``size``); may be raised later."""
        self._name = name
        self._error = error
        self._idle: list[tuple[int, W]] = []
        self._free_slots = list(range(size - 1, -1, -1)) if size is not None else []
        self._next_slot = 0 if size is None else size
        self._busy: dict[int, int] = {}  # id(worker) -> slot
        self._cond = threading.Condition()
        self._closed = False

    def acquire(self, timeout_s: float | None = None) -> W:
        """A live worker, idle or new; waits while a bounded pool is full (``error`` on timeout
        or when the pool is closed). An exception from ``create`` propagates."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while True:
                if self._closed:
                    raise self._error(f"the {self._name} is closed")
                while self._idle:
                    slot, worker = self._idle.pop()
                    if worker.alive:
                        self._busy[id(worker)] = slot
                        return worker
                    self._drop(worker, slot)
                if self._free_slots:
                    slot = self._free_slots.pop()
                    break
                if self.size is None:
                    slot, self._next_slot = self._next_slot, self._next_slot + 1
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise self._error(f"no {self._name} worker free within {timeout_s} s")
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

    def release(self, worker: W) -> None:
        """Give ``worker`` back: kept for reuse if alive (and wanted), else closed on a daemon
        thread and its slot freed."""
        with self._cond:
            slot = self._busy.pop(id(worker))
            wanted = self.max_idle is None or len(self._idle) < self.max_idle
            if worker.alive and wanted and not self._closed:
                self._idle.append((slot, worker))
            else:
                self._drop(worker, slot)
            self._cond.notify()

    def discard(self, worker: W) -> None:
        """Give back a worker that must not be reused (it overran a deadline, say): it is
        closed now, in the caller's thread, and its slot freed."""
        with self._cond:
            slot = self._busy.pop(id(worker))
            self._free_slots.append(slot)
            self._cond.notify()
        _close_quietly(worker)

    def _drop(self, worker: W, slot: int) -> None:
        threading.Thread(target=_close_quietly, args=(worker,), daemon=True).start()
        self._free_slots.append(slot)

    def warm(self, n: int | None = None) -> None:
        """Start ``n`` workers now (default: ``size``, or one in an unbounded pool), so that
        later users skip the start-up cost."""
        want = (self.size or 1) if n is None else n
        got = [self.acquire() for _ in range(want if self.size is None else min(want, self.size))]
        for worker in got:
            self.release(worker)

    @property
    def idle(self) -> int:
        """How many workers are idle now."""
        with self._cond:
            return len(self._idle)

    def idle_workers(self) -> list[W]:
        """The idle workers now (a snapshot, for inspection: they stay in the pool)."""
        with self._cond:
            return [worker for _, worker in self._idle]

    @property
    def closed(self) -> bool:
        """`close` was called."""
        return self._closed

    def close(self) -> None:
        """Close idle workers now; busy ones close when released."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for _, worker in idle:
            _close_quietly(worker)


def _close_quietly(worker: PooledWorker) -> None:
    with contextlib.suppress(Exception):
        worker.close()
