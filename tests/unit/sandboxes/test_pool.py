"""WorkerPool: the one pool behind both sandboxes and the math verifier's worker processes."""

import threading
import time

import pytest

from assay.errors import VerifierError
from assay.sandboxes import SandboxError
from assay.sandboxes.pool import WorkerPool


class FakeWorker:
    def __init__(self, slot: int) -> None:
        self.slot = slot
        self.alive = True
        self.closed = threading.Event()

    def close(self) -> None:
        self.alive = False
        self.closed.set()


def counting_pool(size, **kw):
    made: list[FakeWorker] = []

    def create(slot: int) -> FakeWorker:
        made.append(FakeWorker(slot))
        return made[-1]

    return WorkerPool(create, size, **kw), made


def test_a_released_worker_is_reused():
    pool, made = counting_pool(2)
    w = pool.acquire()
    pool.release(w)
    assert pool.acquire() is w and len(made) == 1


def test_a_dead_worker_is_never_handed_out_again_and_is_closed():
    pool, made = counting_pool(1)
    w = pool.acquire()
    pool.release(w)
    w.alive = False
    fresh = pool.acquire()
    assert fresh is not w and len(made) == 2
    assert w.closed.wait(5)


def test_slots_are_distinct_and_a_dead_workers_slot_is_reused():
    pool, _ = counting_pool(2)
    a, b = pool.acquire(), pool.acquire()
    assert {a.slot, b.slot} == {0, 1}
    a.alive = False
    pool.release(a)
    assert pool.acquire().slot == a.slot


def test_a_full_bounded_pool_waits_then_times_out_with_its_error():
    pool, _ = counting_pool(1, name="sandbox")
    pool.acquire()
    t0 = time.monotonic()
    with pytest.raises(SandboxError, match="no sandbox worker free within"):
        pool.acquire(timeout_s=0.2)
    assert time.monotonic() - t0 >= 0.2


def test_a_waiting_caller_gets_the_worker_another_releases():
    pool, _ = counting_pool(1)
    w = pool.acquire()
    threading.Timer(0.1, pool.release, args=(w,)).start()
    assert pool.acquire(timeout_s=5) is w


def test_an_unbounded_pool_never_waits():
    pool, made = counting_pool(None)
    workers = [pool.acquire(timeout_s=0) for _ in range(5)]
    assert len(made) == 5 and len({w.slot for w in workers}) == 5


def test_surplus_idle_workers_beyond_max_idle_are_closed():
    pool, _ = counting_pool(None, max_idle=1)
    a, b = pool.acquire(), pool.acquire()
    pool.release(a)
    pool.release(b)
    assert pool.idle == 1 and pool.idle_workers() == [a]
    assert b.closed.wait(5)


def test_discard_closes_now_and_frees_the_slot():
    pool, made = counting_pool(1)
    w = pool.acquire()
    pool.discard(w)
    assert w.closed.is_set()
    assert pool.acquire(timeout_s=0) is not w and len(made) == 2


def test_a_failing_create_frees_its_slot():
    calls = []

    def create(slot: int) -> FakeWorker:
        calls.append(slot)
        if len(calls) == 1:
            raise OSError("boom")
        return FakeWorker(slot)

    pool = WorkerPool(create, 1)
    with pytest.raises(OSError, match="boom"):
        pool.acquire()
    assert pool.acquire(timeout_s=0).slot == 0


def test_warm_starts_all_slots_of_a_bounded_pool_and_n_of_an_unbounded_one():
    bounded, made = counting_pool(3)
    bounded.warm()
    assert bounded.idle == 3 and len(made) == 3
    unbounded, made = counting_pool(None)
    unbounded.warm(2)
    assert unbounded.idle == 2 and len(made) == 2


def test_close_closes_idle_workers_now_and_busy_ones_when_released():
    pool, _ = counting_pool(2)
    idle, busy = pool.acquire(), pool.acquire()
    pool.release(idle)
    pool.close()
    assert idle.closed.is_set() and not busy.closed.is_set()
    pool.release(busy)
    assert busy.closed.wait(5)


def test_a_closed_pool_raises_the_error_it_was_given():
    pool, _ = counting_pool(None, name="worker pool", error=VerifierError)
    pool.close()
    with pytest.raises(VerifierError, match="the worker pool is closed"):
        pool.acquire()


def test_size_must_be_positive():
    with pytest.raises(ValueError, match="pool size"):
        WorkerPool(FakeWorker, 0)
