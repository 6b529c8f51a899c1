"""`RecurringSeeds`: the fast path of `TextEnv.reset` for a seed it has seen before.

Why: GRPO reseeds G sub-envs with each seed, and gymnasium's seeding (~15 us) is most of a vector
reset's cost (benchmarks/vector_overhead.py: 128 seeded resets ~7x faster with it on).

``reset(seed=s)`` gives the env gymnasium's generator, ``Generator(PCG64(SeedSequence(s)))``
(`gymnasium.utils.seeding.np_random`). Building it costs about 15 us, mostly hashing ``s`` into
the SeedSequence's pool and PCG64's state; the default `TextEnv.sample_task` then draws
``integers(high)`` from it (another 2 us), as does each later unseeded reset. For a seed seen
before, a `_SeedRecord` holds the pristine SeedSequence (as its pickled state) and the PCG64 state
after each sequence of such draws (a "path" of highs), so the task index of a default reset is read
off the record, and the generator itself is built only when something reads it
(`RecurringSeeds._np_random`): `_generator` makes a new, independent generator in exactly that
state, a fresh PCG64 object (constructed from a constant, then restored as numpy's own unpickling
does) carrying its own copy of the SeedSequence, so ``seed_seq``, ``spawn`` and every draw are as
if built from scratch.

Guarantees: the same task, the same ``np_random`` (state, seed sequence, spawns, draws) and the
same ``np_random_seed`` as gymnasium's path; `_fast_seeding` checks this against gymnasium once per
process and turns the path off where it does not hold (numpy < 2 cannot restore a seed_seq).
The path is taken only where it skips nothing: ``gymnasium.Env.reset`` is the next ``reset`` after
`TextEnv` in the MRO, and the task index is read off the record only with the default
`TextEnv.sample_task` and `TextEnv._pick_task`. Tests: tests/unit/test_vector_fast_path.py, which
compares it with gymnasium's path call by call.

Non-guarantees: the speed-up holds for integer seeds ``>= 0`` seen before (up to
`_MAX_SEED_RECORDS` of them, oldest forgotten first) and up to `_MAX_PATH` default draws after a
seeded reset; other resets take the plain path at its plain cost.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from numpy.random.bit_generator import ISeedSequence

from assay.verifiers.base import Task

__all__ = ["ENABLED", "RecurringSeeds"]

ENABLED = True
"""Set False to seed through `gymnasium.Env.reset` every time (benchmarks/vector_overhead.py)."""

_MAX_PATH = 4
"""Default draws after a seeded reset that a record remembers (a GRPO rollout makes one or two)."""


class _ConstantSeed(ISeedSequence):
    """Seeds a PCG64 that is about to be restored to another state (any state would do)."""

    _WORDS = np.ones(4, dtype=np.uint64)

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> np.ndarray:
        if n_words == 4 and dtype is np.uint64:  # PCG64's request
            return self._WORDS
        return np.ones(n_words, dtype=dtype)


_CONSTANT_SEED = _ConstantSeed()

Path = tuple[int, ...]


@dataclass(slots=True)
class _SeedRecord:
    """One seed: its SeedSequence's pickled form and the PCG64 state after each path of draws."""

    seed_seq: tuple[Any, ...]
    """``(constructor, args, state)``: how `pickle` rebuilds the pristine SeedSequence."""
    pool_at: int
    """Where its pool (an array, copied for each generator) sits in that state."""
    draws: dict[Path, tuple[int, dict[str, Any]]]
    """Path ``(h1, ..., hk)`` -> (the k-th index, the state after): ``int(rng.integers(h))`` for each
    ``h`` in turn from the pristine generator. ``()`` -> (-1, the pristine state)."""


_SEED_RECORDS: dict[int, _SeedRecord] = {}
_MAX_SEED_RECORDS = 4096
_SEED_LOCK = threading.Lock()


def _generator(record: _SeedRecord, path: Path) -> np.random.Generator:
    """A new ``Generator(PCG64(SeedSequence(seed)))`` of ``record``'s seed, after ``path``'s draws."""
    ctor, args, ss_state = record.seed_seq
    ss_state = list(ss_state)
    ss_state[record.pool_at] = ss_state[record.pool_at].copy()
    seed_seq = ctor(*args)
    seed_seq.__setstate__(tuple(ss_state))
    bit_generator: Any = np.random.PCG64(_CONSTANT_SEED)  # type: ignore[arg-type]
    bit_generator.__setstate__((record.draws[path][1], seed_seq))  # numpy's unpickling
    return np.random.Generator(bit_generator)


def _seed_record(seed: int) -> tuple[_SeedRecord, np.random.Generator | None]:
    """The record of ``seed``, and gymnasium's generator for it if the record was just built."""
    record = _SEED_RECORDS.get(seed)
    if record is not None:
        return record, None
    seed_seq = np.random.SeedSequence(seed)
    bit_generator = np.random.PCG64(seed_seq)
    ctor, args, state = cast(tuple[Any, Any, Any], seed_seq.__reduce_ex__(2))
    pool_at = next(i for i, x in enumerate(state) if isinstance(x, np.ndarray))
    record = _SeedRecord((ctor, args, state), pool_at, {(): (-1, dict(bit_generator.state))})
    with _SEED_LOCK:
        if len(_SEED_RECORDS) >= _MAX_SEED_RECORDS:
            del _SEED_RECORDS[next(iter(_SEED_RECORDS))]
        _SEED_RECORDS[seed] = record
    return record, np.random.Generator(bit_generator)


@functools.cache
def _fast_seeding() -> bool:
    """True if `_generator` reproduces gymnasium's seeded generator exactly on this numpy."""
    try:
        for seed in (0, 12345, 2**32 - 1, 2**40 + 3):
            record, fresh = _seed_record(seed)
            for ours in (fresh or _generator(record, ()), _generator(record, ())):
                if not _same_generator(ours, seeding.np_random(seed)[0]):
                    return False
        return True
    except Exception:  # noqa: BLE001 - a numpy that cannot do this takes gymnasium's own path
        return False
    finally:
        with _SEED_LOCK:
            _SEED_RECORDS.clear()


def _same_generator(ours: np.random.Generator, ref: np.random.Generator) -> bool:
    ss, ref_ss = ours.bit_generator.seed_seq, ref.bit_generator.seed_seq
    return bool(
        type(ours.bit_generator) is type(ref.bit_generator)
        and type(ss) is type(ref_ss)
        and (ss.entropy, ss.spawn_key, ss.pool_size, ss.n_children_spawned)  # type: ignore[attr-defined]
        == (ref_ss.entropy, ref_ss.spawn_key, ref_ss.pool_size, ref_ss.n_children_spawned)  # type: ignore[attr-defined]
        and np.array_equal(ss.pool, ref_ss.pool)  # type: ignore[attr-defined]
        and ours.bit_generator.state == ref.bit_generator.state
        and ours.integers(2**62, size=4).tolist() == ref.integers(2**62, size=4).tolist()
        and ours.spawn(1)[0].random() == ref.spawn(1)[0].random()
    )


_SHORTCUTS: dict[tuple[type, type], tuple[bool, bool]] = {}


def _shortcuts(cls: type, plain: type) -> tuple[bool, bool]:
    """(seeding, sampling): may ``cls`` seed itself and draw the default task index off the record?

    ``plain`` is the class whose ``reset`` calls `RecurringSeeds._task_on_record` (`TextEnv`).
    Seeding skips `gymnasium.Env.reset` only where that is the next ``reset`` after ``plain`` in the
    MRO; sampling also needs ``plain``'s own ``sample_task`` and ``_pick_task``.
    """
    found = _SHORTCUTS.get((cls, plain))
    if found is None:
        mro = cls.__mro__
        after = next((c for c in mro[mro.index(plain) + 1 :] if "reset" in c.__dict__), None)
        seeds = after is gym.Env and _fast_seeding()
        samples = (
            seeds
            and getattr(cls, "sample_task", None) is getattr(plain, "sample_task", None)
            and getattr(cls, "_pick_task", None) is getattr(plain, "_pick_task", None)
        )
        found = _SHORTCUTS[(cls, plain)] = (seeds, samples)
    return found


class _TaskEnv(Protocol):
    """What `RecurringSeeds._task_on_record` needs of the env (`TextEnv` has it)."""

    num_tasks: int | None
    _rng: np.random.Generator | None
    _rng_pending: tuple[_SeedRecord, Path] | None
    _np_random_seed: int | None

    @property
    def np_random(self) -> np.random.Generator: ...

    def task_at(self, index: int) -> Task: ...

    def sample_task(self, rng: np.random.Generator) -> Task: ...

    def _pick_task(self, options: Mapping[str, Any]) -> Task: ...


class RecurringSeeds(gym.Env[str, str]):
    """The base of `TextEnv` that holds its generator, built only when something reads it.

    gymnasium.Env keeps its generator in ``_np_random`` (read by ``np_random``, `check_env` and
    gymnasium's reset); here that is a property, so that a seeded reset whose task is on record
    can defer building the generator until something reads it (a GRPO rollout never does).
    """

    _rng: np.random.Generator | None = None
    _rng_pending: tuple[_SeedRecord, Path] | None = None
    """A seed's record and the draws made since seeding: the generator to build when read."""

    @property  # type: ignore[override]
    def _np_random(self) -> np.random.Generator | None:
        pending = self._rng_pending
        if pending is not None:
            self._rng, self._rng_pending = _generator(*pending), None
        return self._rng

    @_np_random.setter
    def _np_random(self, value: np.random.Generator | None) -> None:
        self._rng, self._rng_pending = value, None

    def __getstate__(self) -> object:
        self._np_random  # noqa: B018 - build a deferred generator: copies and pickles carry it, as before
        return super().__getstate__()

    def _task_on_record(
        self: _TaskEnv, seed: int | None, options: Mapping[str, Any] | None, plain: type
    ) -> Task | None:
        """Seed as ``gymnasium.Env.reset(seed=seed)`` and return ``plain._pick_task(options)``'s task.

        None (having done nothing) where this path does not apply: ``plain.reset`` then takes its
        own. ``plain`` is the class whose ``reset`` calls this (see `_shortcuts`).
        """
        pending = self._rng_pending
        if seed is None:
            if options or pending is None or not _shortcuts(type(self), plain)[1]:
                return None
            return _sample_on_record(self, *pending)  # gymnasium's reset does nothing without a seed
        if type(seed) is not int or seed < 0 or not ENABLED:
            return None
        seeds, samples = _shortcuts(type(self), plain)
        if not seeds:
            return None
        # gymnasium.Env.reset(seed=seed); a generator on record is built when first read
        record, fresh = _seed_record(seed)
        self._rng, self._rng_pending = fresh, None if fresh is not None else (record, ())
        self._np_random_seed = seed  # gymnasium's: SeedSequence(seed).entropy, i.e. seed
        if not options and samples:
            return _sample_on_record(self, record, (), fresh)
        return self._pick_task(options or {})


def _sample_on_record(
    env: _TaskEnv, record: _SeedRecord, path: Path, rng: np.random.Generator | None = None
) -> Task:
    """The default ``env.sample_task(env.np_random)``, the generator at ``path`` of ``record``.

    ``rng`` is that generator if it exists (and nothing has drawn from it); None means it is
    still pending.
    """
    high = env.num_tasks if env.num_tasks is not None else 2**31
    key = (*path, high)
    if rng is None:
        drawn = record.draws.get(key)
        if drawn is not None:
            env._rng, env._rng_pending = None, (record, key)
            return env.task_at(drawn[0])
        rng = env.np_random  # built now
    if high == 0:
        return env.sample_task(rng)  # raises UnknownTask
    index = int(rng.integers(high))
    if len(key) <= _MAX_PATH:
        record.draws[key] = (index, dict(rng.bit_generator.state))
    return env.task_at(index)
