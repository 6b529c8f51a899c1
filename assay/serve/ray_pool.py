"""`RayVerifierPool`: spread verification over Ray actors; lose nothing when a worker dies.

Work is cut into chunks of ``chunk_size`` items and sent to the workers, at most ``prefetch``
chunks in flight per worker. When a chunk fails because its worker died (or the task could not
run), the worker is replaced and the chunk is sent again, up to ``max_retries`` times; after
that its items come back as ``ERROR`` verdicts saying why (a result, not a silent gap). Each
chunk's result is stored once, by position: the output has exactly one verdict per input, in
input order. Verification is idempotent, so running a chunk again after a crash is safe.

Workers build their verifier once (``verifier_factory()``, or the env's verifier and rubric for
``env=``), so expensive set-up (sympy worker processes, a sandbox pool) is paid per worker, not
per item. A verifier that raises on an item gives that item an ``ERROR`` verdict.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.envs.vector._ray import require_ray
from assay.rewards.base import Reward
from assay.verifiers.base import Status, Task, Verdict, Verifier

__all__ = ["PoolStats", "RayVerifierPool"]

Item = tuple[str, Task]
"""``(completion, task)``."""


class _VerifyWorker:
    """Runs inside a Ray actor: one verifier (and rubric), many items."""

    def __init__(
        self,
        factory: Callable[[], Verifier] | None,
        env_id: str | None,
        env_kwargs: Mapping[str, Any],
    ) -> None:
        self.env: Any = None
        self.verifier: Any = None
        if env_id is not None:
            from assay.registry import make

            self.env = make(env_id, **env_kwargs).unwrapped
            if not hasattr(self.env, "score"):
                raise TypeError(f"{env_id} has no verifier")
        elif factory is not None:
            self.verifier = factory()
        else:
            raise ValueError("need a verifier factory or an env id")

    def verify(self, items: Sequence[Item]) -> list[tuple[Verdict, Reward | None]]:
        out: list[tuple[Verdict, Reward | None]] = []
        for completion, task in items:
            if self.env is not None:
                verdict, reward = self.env.score(completion, task)  # never raises on model output
                out.append((verdict, reward))
                continue
            try:
                out.append((self.verifier(completion, task), None))
            except Exception as e:  # noqa: BLE001 - a verifier that raises: ERROR for this item
                out.append((Verdict(Status.ERROR, reason=f"verifier raised {type(e).__name__}: {e}"), None))
        return out

    def pid(self) -> int:
        import os

        return os.getpid()


@dataclass
class PoolStats:
    """Counters since the pool was created."""

    chunks: int = 0
    retries: int = 0
    """Chunks sent again after a failure."""
    replaced_workers: int = 0
    failed_chunks: int = 0
    """Chunks that ran out of retries (their items became ERROR verdicts)."""


class RayVerifierPool:
    """A pool of Ray actors that verify ``(completion, task)`` pairs.

    Args:
        verifier_factory: Builds the verifier inside each worker (must be picklable). Or:
        env: An env id whose verifier and rubric the workers use (`score` then also returns
            rewards); ``env_kwargs`` are its constructor arguments.
        num_workers: Actors in the pool.
        chunk_size: Items per task sent to a worker.
        prefetch: Chunks in flight per worker.
        max_retries: Times a chunk is sent again after its worker died.
        actor_options: Passed to ``ray.remote`` (e.g. ``{"num_cpus": 1}``, resources, a
            runtime_env); default ``{"num_cpus": 1}``: each worker reserves a CPU, so a pool
            larger than the cluster's free CPUs cannot start.
        startup_timeout_s: The constructor waits this long for every worker to be up (so a
            pool the cluster cannot place fails with a clear error instead of hanging).
    """

    def __init__(
        self,
        verifier_factory: Callable[[], Verifier] | None = None,
        *,
        env: str | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
        num_workers: int = 2,
        chunk_size: int = 16,
        prefetch: int = 2,
        max_retries: int = 3,
        actor_options: Mapping[str, Any] | None = None,
        startup_timeout_s: float = 300.0,
    ) -> None:
        ray = require_ray()
        if (verifier_factory is None) == (env is None):
            raise ValueError("give exactly one of verifier_factory and env")
        if num_workers < 1 or chunk_size < 1 or prefetch < 1 or max_retries < 0:
            raise ValueError("num_workers, chunk_size, prefetch must be >= 1 and max_retries >= 0")
        self._ray = ray
        self._cls = ray.remote(**dict(actor_options or {"num_cpus": 1}))(_VerifyWorker)
        self._args = (verifier_factory, env, dict(env_kwargs or {}))
        self.chunk_size = chunk_size
        self.prefetch = prefetch
        self.max_retries = max_retries
        self.workers = [self._cls.remote(*self._args) for _ in range(num_workers)]
        self.stats = PoolStats()
        try:
            ray.get([w.pid.remote() for w in self.workers], timeout=startup_timeout_s)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise RuntimeError(
                f"{num_workers} verifier workers did not start within {startup_timeout_s} s: the cluster "
                f"may lack the resources they ask for ({dict(actor_options or {'num_cpus': 1})})"
            ) from None

    def verify(self, items: Sequence[Item]) -> list[Verdict]:
        """One verdict per ``(completion, task)``, in order."""
        return [v for v, _ in self._run(items)]

    def score(self, items: Sequence[Item]) -> list[tuple[Verdict, Reward]]:
        """Verdicts and rewards (pools built with ``env=`` only), in order."""
        if self._args[1] is None:
            raise ValueError("score() needs a pool built with env=...")
        return [(v, r if r is not None else Reward(0.0, {})) for v, r in self._run(items)]

    def worker_pids(self) -> list[int]:
        """The process id of each worker (for monitoring and fault-injection tests)."""
        return [int(p) for p in self._ray.get([w.pid.remote() for w in self.workers])]

    def close(self) -> None:
        """Stop the workers."""
        for w in self.workers:
            self._ray.kill(w, no_restart=True)
        self.workers = []

    def __enter__(self) -> RayVerifierPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scheduling ----------------------------------------------------------------------------

    def _replace(self, w: int) -> None:
        with contextlib.suppress(Exception):  # already gone
            self._ray.kill(self.workers[w], no_restart=True)
        self.workers[w] = self._cls.remote(*self._args)
        self.stats.replaced_workers += 1

    def _run(self, items: Sequence[Item]) -> list[tuple[Verdict, Reward | None]]:
        ray = self._ray
        if not self.workers:
            raise RuntimeError("the pool is closed")
        chunks = [list(items[i : i + self.chunk_size]) for i in range(0, len(items), self.chunk_size)]
        results: list[list[tuple[Verdict, Reward | None]] | None] = [None] * len(chunks)
        attempts = [0] * len(chunks)
        queue = deque(range(len(chunks)))
        pending: dict[Any, tuple[int, int, Any]] = {}  # ref -> (chunk, worker index, worker handle)
        load = [0] * len(self.workers)

        def dispatch() -> None:
            while queue:
                w = min(range(len(self.workers)), key=load.__getitem__)
                if load[w] >= self.prefetch:
                    return
                c = queue.popleft()
                handle = self.workers[w]
                pending[handle.verify.remote(chunks[c])] = (c, w, handle)
                load[w] += 1
                self.stats.chunks += 1

        dispatch()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            c, w, handle = pending.pop(ref)
            load[w] -= 1
            try:
                value = ray.get(ref)
            except (
                ray.exceptions.RayActorError,
                ray.exceptions.RayTaskError,
                ray.exceptions.WorkerCrashedError,
            ) as e:
                if self.workers[w] is handle and isinstance(
                    e, ray.exceptions.RayActorError | ray.exceptions.WorkerCrashedError
                ):
                    self._replace(w)  # once per dead worker, not once per chunk it held
                attempts[c] += 1
                if attempts[c] > self.max_retries:
                    self.stats.failed_chunks += 1
                    why = Verdict(
                        Status.ERROR, reason=f"verification failed {attempts[c]} times: {type(e).__name__}"
                    )
                    results[c] = [(why, None)] * len(chunks[c])
                else:
                    self.stats.retries += 1
                    queue.appendleft(c)
            else:
                if results[c] is None:  # exactly once: the first result of a chunk is kept
                    results[c] = value
            dispatch()
        out: list[tuple[Verdict, Reward | None]] = []
        for c, part in enumerate(results):
            if part is None or len(part) != len(chunks[c]):
                raise AssertionError(f"chunk {c} has no result: a scheduling bug")  # pragma: no cover
            out.extend(part)
        return out
