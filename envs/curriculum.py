"""Curriculum: move a puzzle env's difficulty level toward a target pass rate.

`Curriculum` is the pure controller: feed it pass/fail outcomes with `update`; once it has seen
``window`` outcomes since the last change it compares their pass rate with ``target``: above
``target + band`` it moves one level harder, below ``target - band`` one level easier, and
clears the window either way (so each level is judged on its own episodes).

Two wrappers apply it, both through the env's `set_level` (see `assay.envs.logic.puzzle`):

- `CurriculumWrapper` wraps one env (a plain ``gymnasium.Env``).
- `CurriculumVectorEnv` wraps a vector env, sync or async (``assay.make_vec``). The controller
  lives in the trainer's process and sees every worker's outcomes; when the level changes it
  calls ``set_level`` in every worker (``VectorEnv.call``), so all copies always share one level
  and a GRPO group (``reset(seed=group_seeds(...))``) is still G copies of one task. Change
  takes effect at the next ``reset``.

A pass is a final step whose verdict is CORRECT (`Verdict.correct`); a step without a verdict
(a non-final turn of a multi-turn env) is not counted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, SupportsFloat, cast

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv, VectorWrapper

from assay.verifiers.base import Verdict

__all__ = ["Curriculum", "CurriculumVectorEnv", "CurriculumWrapper"]


class Curriculum:
    """Pass-rate controller over an ordered list of levels (easiest first).

    Args:
        levels: Level names, easiest first.
        target: The pass rate to steer toward.
        window: Outcomes judged per decision.
        band: No change while the pass rate is within ``target +- band``.
        start: The initial level (name or position).
    """

    def __init__(
        self,
        levels: Sequence[str],
        *,
        target: float = 0.5,
        window: int = 64,
        band: float = 0.1,
        start: str | int = 0,
    ) -> None:
        if not levels:
            raise ValueError("levels must be non-empty")
        if not 0.0 < target < 1.0:
            raise ValueError(f"target must be in (0, 1), got {target}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if not 0.0 <= band < min(target, 1.0 - target) + 1e-12:
            raise ValueError(f"band must be in [0, min(target, 1 - target)), got {band}")
        self.levels = list(levels)
        self.target, self.window, self.band = target, window, band
        self.position = self.levels.index(start) if isinstance(start, str) else int(start)
        if not 0 <= self.position < len(self.levels):
            raise ValueError(f"start {start!r} is not a level")
        self.recent: deque[bool] = deque(maxlen=window)
        self.history: list[tuple[str, float]] = []
        """(level left, its pass rate) for every change made."""

    @property
    def level(self) -> str:
        """The current level's name."""
        return self.levels[self.position]

    @property
    def pass_rate(self) -> float | None:
        """The pass rate of the outcomes seen since the last decision (None before any)."""
        return sum(self.recent) / len(self.recent) if self.recent else None

    def update(self, passed: Iterable[bool]) -> bool:
        """Record outcomes; returns True when the level changed."""
        changed = False
        for p in passed:
            self.recent.append(bool(p))
            if len(self.recent) < self.window:
                continue
            rate = sum(self.recent) / len(self.recent)
            step = 1 if rate > self.target + self.band else -1 if rate < self.target - self.band else 0
            new = min(max(self.position + step, 0), len(self.levels) - 1)
            if new != self.position:
                self.history.append((self.level, rate))
                self.position = new
                changed = True
            self.recent.clear()
        return changed


def _passed(verdict: Any) -> bool | None:
    return verdict.correct if isinstance(verdict, Verdict) else None


def _levels_of(env: Any) -> list[str]:
    names = env.get_wrapper_attr("level_names")
    return list(names())


class CurriculumWrapper(gym.Wrapper[str, str, str, str]):
    """Adjust a single puzzle env's level from its own recent pass rate.

    Args:
        env: An env whose unwrapped base has ``set_level`` and ``level_names`` (every
            `PuzzleEnv`).
        **kwargs: `Curriculum` arguments (``target``, ``window``, ``band``, ``start``).
    """

    def __init__(self, env: gym.Env[str, str], **kwargs: Any) -> None:
        super().__init__(env)
        self.curriculum = Curriculum(_levels_of(env), **kwargs)
        env.get_wrapper_attr("set_level")(self.curriculum.level)

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        passed = _passed(info.get("verdict"))
        if passed is not None and self.curriculum.update([passed]):
            self.env.get_wrapper_attr("set_level")(self.curriculum.level)
        info["level"] = self.curriculum.level
        return obs, reward, terminated, truncated, info


class CurriculumVectorEnv(VectorWrapper):
    """Adjust the level of every sub-env of a vector env from their pooled pass rate.

    Works with ``SyncVectorEnv`` and ``AsyncVectorEnv`` alike: outcomes are read from the
    ``verdict`` entries of the step ``info`` (the ``_verdict`` mask marks which envs finished),
    and a level change is sent to every worker with ``call("set_level", level)``.

    Args:
        env: A vector env of puzzle envs (e.g. ``assay.make_vec("assay/Sudoku-v0", 8)``).
        **kwargs: `Curriculum` arguments (``target``, ``window``, ``band``, ``start``).
    """

    def __init__(self, env: VectorEnv[Any, Any, Any], **kwargs: Any) -> None:
        super().__init__(env)
        self._call = cast(Any, env).call  # SyncVectorEnv and AsyncVectorEnv both have call()
        names = self._call("level_names")[0]
        self.curriculum = Curriculum(list(names), **kwargs)
        self._call("set_level", self.curriculum.level)

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        verdicts = info.get("verdict")
        if verdicts is not None:
            mask = info.get("_verdict", np.ones(len(verdicts), dtype=bool))
            outcomes = [p for v, m in zip(verdicts, mask, strict=True) if m and (p := _passed(v)) is not None]
            if self.curriculum.update(outcomes):
                self._call("set_level", self.curriculum.level)
        return obs, rewards, terminated, truncated, info
