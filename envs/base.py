"""Text environments: `TextEnv`, `SingleTurnEnv`, `MultiTurnEnv`.

Observations and actions are plain ``str`` (spaces: `Utf8Text`). The observation of `reset` is
the task's prompt; the observation of a later step is the environment's reply to the last action
(empty when the episode ends). `ChatObservation` turns observations into chat messages
(``[{"role": ..., "content": ...}]``, the whole conversation so far) for chat-template policies.

Each env is an indexed collection of tasks: `task_at(i)` for ``i`` in ``range(num_tasks)``
(``num_tasks is None`` for procedural envs, where any ``i >= 0`` works). ``reset(seed=s)`` draws an
index from the env's own RNG (never the global one), so the same seed gives the same task on any
machine. ``options`` pins a task: ``{"task_id": str}``, ``{"index": int}`` or ``{"task": Task}``.

``step`` always returns the same ``info`` keys (see `STEP_INFO_KEYS`): ``task_id``, ``turn``,
``verdict`` (a `Verdict` on the final step, else None), ``reward_terms`` (the per-term breakdown of
the reward, empty on non-final steps without turn rewards).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, SupportsFloat, cast

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from numpy.random.bit_generator import ISeedSequence

from assay.envs.spaces import Utf8Text, is_utf8_text
from assay.errors import UnknownTask
from assay.rewards.base import CORRECTNESS, Reward, Rubric
from assay.verifiers.base import Status, Task, Verdict, Verifier

__all__ = [
    "RESET_INFO_KEYS",
    "STEP_INFO_KEYS",
    "MultiTurnEnv",
    "Reply",
    "SingleTurnEnv",
    "TextEnv",
]

RESET_INFO_KEYS = ("task_id",)
STEP_INFO_KEYS = ("task_id", "turn", "verdict", "reward_terms")

Message = dict[str, str]


# -- seeded generators for recurring seeds ------------------------------------------------------
#
# ``reset(seed=s)`` gives the env gymnasium's generator, ``Generator(PCG64(SeedSequence(s)))``
# (`gymnasium.utils.seeding.np_random`). Building it costs about 15 us, mostly hashing ``s`` into
# the SeedSequence's pool and PCG64's state; a GRPO step resets G sub-envs with each seed, and the
# default `TextEnv.sample_task` then draws ``integers(high)`` from it (another 2 us), as does each
# later unseeded reset. For a seed seen before, `_SeedRecord` holds the pristine SeedSequence (as
# its pickled state) and the PCG64 state after each sequence of such draws (a "path" of highs), so
# the task index of a default reset is read off the record, and the generator itself is built only
# when something reads it (`TextEnv._np_random`): `_generator` makes a new, independent generator
# in exactly that state, a fresh PCG64 object (constructed from a constant, then restored as numpy's
# own unpickling does) carrying its own copy of the SeedSequence, so ``seed_seq``, ``spawn`` and
# every draw are as if built from scratch. `_fast_seeding` checks this against gymnasium once per
# process and turns the shortcut off where it does not hold (numpy < 2 cannot restore a seed_seq).

_RESET_SHORTCUT = True
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


_SHORTCUTS: dict[type, tuple[bool, bool]] = {}


def _reset_shortcuts(cls: type[TextEnv]) -> tuple[bool, bool]:
    """(seeding, sampling): may ``cls.reset`` seed itself and draw the default task index directly?

    Seeding skips `gymnasium.Env.reset` only where that is the next ``reset`` after `TextEnv` in the
    MRO; sampling also needs the default `TextEnv.sample_task` and `TextEnv._pick_task`.
    """
    found = _SHORTCUTS.get(cls)
    if found is None:
        mro = cls.__mro__
        after = next((c for c in mro[mro.index(TextEnv) + 1 :] if "reset" in c.__dict__), None)
        seeds = after is gym.Env and _fast_seeding()
        samples = seeds and cls.sample_task is TextEnv.sample_task and cls._pick_task is TextEnv._pick_task
        found = _SHORTCUTS[cls] = (seeds, samples)
    return found


class TextEnv(gym.Env[str, str]):
    """Base of every assay environment: one task per episode, text in, text out.

    Subclasses implement `task_at` (and set `num_tasks` when finite) and `step`.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 1}  # noqa: RUF012 - gymnasium's type

    num_tasks: int | None = None
    """How many tasks `task_at` accepts; None means unbounded (procedural)."""

    def __init__(
        self,
        *,
        max_chars: int = 32_768,
        system_prompt: str | None = None,
        render_mode: str | None = None,
    ) -> None:
        if max_chars < 1:
            raise ValueError(f"max_chars must be >= 1, got {max_chars}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.max_chars = max_chars
        self.system_prompt = system_prompt
        self.render_mode = render_mode
        self.observation_space = Utf8Text(max_chars)
        self.action_space = Utf8Text(max_chars)
        self.task: Task | None = None
        self.transcript: list[Message] = []

    # -- the task collection -------------------------------------------------------------

    def task_at(self, index: int) -> Task:
        """The task at ``index`` (deterministic: the same index gives the same task)."""
        raise NotImplementedError(f"{type(self).__name__} must implement task_at()")

    def task_by_id(self, task_id: str) -> Task:
        """The task whose ``id`` is ``task_id``. Default: ids end in ``/<index>``."""
        head, _, tail = task_id.rpartition("/")
        if head and tail.isdigit():
            task = self._task_at_checked(int(tail))
            if task.id == task_id:
                return task
        raise UnknownTask(f"{type(self).__name__} has no task with id {task_id!r}")

    def sample_task(self, rng: np.random.Generator) -> Task:
        """Draw a task with ``rng`` (the env's own generator, seeded by ``reset``)."""
        high = self.num_tasks if self.num_tasks is not None else 2**31
        if high == 0:
            raise UnknownTask(f"{type(self).__name__} has no tasks")
        return self.task_at(int(rng.integers(high)))

    def gold(self, task: Task) -> str:
        """A completion that earns the maximum reward for ``task``."""
        return task.answer or ""

    def gold_actions(self, task: Task) -> list[str]:
        """The sequence of actions of a full-reward episode (one action for single-turn envs)."""
        return [self.gold(task)]

    def _task_at_checked(self, index: int) -> Task:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise TypeError(f"task index must be an int, got {type(index).__name__}")
        index = int(index)
        if index < 0 or (self.num_tasks is not None and index >= self.num_tasks):
            raise UnknownTask(
                f"{type(self).__name__}: index {index} out of range (num_tasks={self.num_tasks})"
            )
        return self.task_at(index)

    # -- the episode -------------------------------------------------------------------

    def messages(self, task: Task) -> list[Message]:
        """The chat form of ``task``'s prompt (optional system message, then the user turn)."""
        head = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*head, {"role": "user", "content": task.prompt}]

    def current_task(self) -> Task:
        """The task of the running episode; raises `gymnasium.error.ResetNeeded` before reset."""
        if self.task is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        return self.task

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        pending = self._rng_pending
        if seed is None and not options and pending is not None and _reset_shortcuts(type(self))[1]:
            self.task = self._sample_on_record(*pending)  # gymnasium's reset does nothing without a seed
        elif type(seed) is int and seed >= 0 and _RESET_SHORTCUT and _reset_shortcuts(type(self))[0]:
            # gymnasium.Env.reset(seed=seed); a generator on record is built when first read
            record, fresh = _seed_record(seed)
            self._rng, self._rng_pending = fresh, None if fresh is not None else (record, ())
            self._np_random_seed = seed  # gymnasium's: SeedSequence(seed).entropy, i.e. seed
            if not options and _reset_shortcuts(type(self))[1]:
                self.task = self._sample_on_record(record, (), fresh)
            else:
                self.task = self._pick_task(options or {})
        else:
            super().reset(seed=seed)
            self.task = self._pick_task(options or {})
        if len(self.task.prompt) > self.max_chars:
            raise ValueError(
                f"task {self.task.id!r}: prompt has {len(self.task.prompt)} chars, "
                f"more than max_chars={self.max_chars}"
            )
        self.transcript = self.messages(self.task)
        self.on_reset(self.task)
        return self.task.prompt, {"task_id": self.task.id}

    def on_reset(self, task: Task) -> None:
        """Hook: set up per-episode state. Called by `reset` after the task is chosen."""

    def _sample_on_record(
        self, record: _SeedRecord, path: Path, rng: np.random.Generator | None = None
    ) -> Task:
        """The default ``self.sample_task(self.np_random)``, the generator at ``path`` of ``record``.

        ``rng`` is that generator if it exists (and nothing has drawn from it); None means it is
        still pending.
        """
        high = self.num_tasks if self.num_tasks is not None else 2**31
        key = (*path, high)
        if rng is None:
            drawn = record.draws.get(key)
            if drawn is not None:
                self._rng, self._rng_pending = None, (record, key)
                return self.task_at(drawn[0])
            rng = self.np_random  # built now
        if high == 0:
            return self.sample_task(rng)  # raises UnknownTask
        index = int(rng.integers(high))
        if len(key) <= _MAX_PATH:
            record.draws[key] = (index, dict(rng.bit_generator.state))
        return self.task_at(index)

    # gymnasium.Env keeps its generator in ``_np_random`` (read by ``np_random``, `check_env` and
    # gymnasium's reset); here that is a property, so that a seeded reset whose task is on record
    # can defer building the generator until something reads it (a GRPO rollout never does).

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

    def _pick_task(self, options: Mapping[str, Any]) -> Task:
        if not options:
            return self.sample_task(self.np_random)
        unknown = set(options) - {"task", "task_id", "index"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; use task, task_id or index")
        if len(options) > 1:
            raise ValueError(f"give at most one of task, task_id, index; got {sorted(options)}")
        if "task" in options:
            task = options["task"]
            if not isinstance(task, Task):
                raise TypeError(f"options['task'] must be a Task, got {type(task).__name__}")
            return task
        if "task_id" in options:
            return self.task_by_id(str(options["task_id"]))
        if "index" in options:
            return self._task_at_checked(options["index"])
        return self.sample_task(self.np_random)

    def invalid_action(self, action: Any) -> Verdict | None:
        """A NO_ANSWER verdict with a reason if ``action`` is not an acceptable string."""
        if type(action) is str and action.isascii() and len(action) <= self.max_chars:
            return None  # the common case: ASCII always encodes as UTF-8
        if not isinstance(action, str):
            return Verdict(Status.NO_ANSWER, reason=f"action must be str, got {type(action).__name__}")
        if len(action) > self.max_chars:
            return Verdict(
                Status.NO_ANSWER,
                reason=f"action has {len(action)} chars, more than max_chars={self.max_chars}",
            )
        if not is_utf8_text(action, self.max_chars):
            return Verdict(Status.NO_ANSWER, reason="action is not valid UTF-8 text")
        return None

    def render(self) -> str | None:  # type: ignore[override]
        if self.render_mode != "ansi":
            return None
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self.transcript)


class SingleTurnEnv(TextEnv):
    """One prompt, one completion, one verdict. The episode terminates after the first step."""

    def __init__(self, verifier: Verifier, rubric: Rubric = CORRECTNESS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verifier = verifier
        self.rubric = rubric

    def score(self, action: Any, task: Task) -> tuple[Verdict, Reward]:
        """Verify ``action`` against ``task`` and apply the rubric (never raises on bad text)."""
        verdict = self.invalid_action(action)
        completion = action if verdict is None else ""
        if verdict is None:
            try:
                verdict = self.verifier(action, task)
            except Exception as e:  # noqa: BLE001 - a broken verifier is ERROR, not a crash
                verdict = Verdict(Status.ERROR, reason=f"verifier raised {type(e).__name__}: {e}")
        return verdict, self.rubric(completion, task, verdict)

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        task = self.current_task()
        verdict, reward = self.score(action, task)
        if isinstance(action, str):
            self.transcript.append({"role": "assistant", "content": action})
        info = {"task_id": task.id, "turn": 1, "verdict": verdict, "reward_terms": reward.terms}
        return "", float(reward.total), True, False, info


@dataclass(frozen=True, slots=True)
class Reply:
    """What a `MultiTurnEnv` answers to one action.

    Attributes:
        observation: The environment's message to the policy (tool output, feedback, ...).
        final: True when this action ends the episode and should be verified.
        answer: The completion to verify when ``final`` (default: the action itself).
        reward_terms: Per-turn reward terms (added to this step's reward).
        messages: The transcript entries for this reply (e.g. one ``{"role": "tool", ...}``
            message per tool result); None means one user message holding ``observation``.
    """

    observation: str = ""
    final: bool = False
    answer: str | None = None
    reward_terms: Mapping[str, float] = field(default_factory=dict)
    messages: Sequence[Message] | None = None


class MultiTurnEnv(SingleTurnEnv):
    """Several turns: the env replies to each action until a final answer or ``max_turns``.

    Subclasses implement `respond`. The final answer is verified with the verifier and scored
    with the rubric; reaching ``max_turns`` without one ends the episode with ``truncated=True``
    (Gymnasium's meaning: a limit outside the task), a NO_ANSWER verdict and the rubric's reward
    for it.
    """

    def __init__(self, verifier: Verifier, *, max_turns: int = 8, **kwargs: Any) -> None:
        super().__init__(verifier, **kwargs)
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        self.max_turns = max_turns
        self.turn = 0

    def on_reset(self, task: Task) -> None:
        self.turn = 0

    def respond(self, action: str) -> Reply:
        """The environment's reply to one (valid) action."""
        raise NotImplementedError(f"{type(self).__name__} must implement respond()")

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        task = self.current_task()
        if self.turn >= self.max_turns:
            raise gym.error.ResetNeeded("episode is over: call reset()")
        self.turn += 1
        info: dict[str, Any] = {"task_id": task.id, "turn": self.turn}
        bad = self.invalid_action(action)
        if bad is None:
            self.transcript.append({"role": "assistant", "content": action})
            try:
                reply = self.respond(action)
            except Exception as e:  # noqa: BLE001 - the env's own failure ends the episode as ERROR
                verdict = Verdict(Status.ERROR, reason=f"respond() raised {type(e).__name__}: {e}")
                reward = self.rubric("", task, verdict)
                self.turn = self.max_turns
                return (
                    "",
                    reward.total,
                    True,
                    False,
                    {**info, "verdict": verdict, "reward_terms": reward.terms},
                )
        else:
            reply = Reply(observation=f"error: {bad.reason}")
        turn_terms = {k: float(v) for k, v in reply.reward_terms.items()}
        turn_reward = sum(turn_terms.values())
        if reply.final:
            answer = action if reply.answer is None else reply.answer
            verdict, reward = self.score(answer, task)
            self.turn = self.max_turns  # no step after the end
            terms = {**reward.terms, **turn_terms}
            return (
                "",
                reward.total + turn_reward,
                True,
                False,
                {**info, "verdict": verdict, "reward_terms": terms},
            )
        if self.turn >= self.max_turns:
            verdict = Verdict(Status.NO_ANSWER, reason=f"no final answer within max_turns={self.max_turns}")
            reward = self.rubric("", task, verdict)
            terms = {**reward.terms, **turn_terms}
            return (
                "",
                reward.total + turn_reward,
                False,
                True,
                {**info, "verdict": verdict, "reward_terms": terms},
            )
        observation = reply.observation[: self.max_chars]
        if reply.messages is None:
            self.transcript.append({"role": "user", "content": observation})
        else:
            self.transcript.extend(dict(m) for m in reply.messages)
        return observation, turn_reward, False, False, {**info, "verdict": None, "reward_terms": turn_terms}
