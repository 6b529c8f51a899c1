"""`check_text_env`: Gymnasium's `check_env` plus the text-env contract.

The contract, beyond Gymnasium's: the gold answer earns the rubric's maximum with a CORRECT
verdict; random text earns the minimum without raising; ``info`` carries the stable keys; the
same seed gives the same prompt (also in a fresh instance); and neither ``reset`` nor ``step``
touches the global ``random``/``numpy.random`` state.
"""

from __future__ import annotations

import copy
import random
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

from assay.envs.base import RESET_INFO_KEYS, STEP_INFO_KEYS, SingleTurnEnv, TextEnv
from assay.errors import ContractError
from assay.verifiers.base import Status, Verdict

__all__ = ["check_text_env"]


def _global_rng_state() -> tuple[Any, Any]:
    return random.getstate(), copy.deepcopy(np.random.get_state())


def _same_rng(a: tuple[Any, Any], b: tuple[Any, Any]) -> bool:
    (pa, na), (pb, nb) = a, b
    return bool(pa == pb and all(np.array_equal(x, y) for x, y in zip(na, nb, strict=True)))


def _episode(
    env: gym.Env[Any, Any], actions: list[Any], seed: int
) -> tuple[float, dict[str, Any], bool, bool]:
    env.reset(seed=seed)
    info: dict[str, Any] = {}
    total, terminated, truncated = 0.0, False, False
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        if terminated or truncated:
            break
    return total, info, terminated, truncated


def check_text_env(
    env: gym.Env[Any, Any], *, seeds: tuple[int, ...] = (0, 1, 2), gym_check: bool = True
) -> None:
    """Raise `ContractError` listing every way ``env`` breaks the text-env contract.

    Args:
        env: An assay env, bare or wrapped (e.g. from ``gymnasium.make``).
        seeds: Seeds to check the gold answer, random text and determinism with.
        gym_check: Run `gymnasium.utils.env_checker.check_env` first.
    """
    base = env.unwrapped
    if not isinstance(base, TextEnv):
        raise ContractError(f"{type(base).__name__} is not a TextEnv")
    problems: list[str] = []
    if gym_check:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                check_env(env, skip_render_check=True)
            except Exception as e:  # noqa: BLE001 - report every failure together
                problems.append(f"gymnasium check_env: {type(e).__name__}: {e}")

    low, high = base.rubric.bounds if isinstance(base, SingleTurnEnv) else (0.0, 1.0)
    before = _global_rng_state()
    for seed in seeds:
        prompt, info = env.reset(seed=seed)
        missing = [k for k in RESET_INFO_KEYS if k not in info]
        if missing:
            problems.append(f"seed {seed}: reset info lacks {missing}")
        task = base.current_task()
        again, _ = env.reset(seed=seed)
        if again != prompt:
            problems.append(f"seed {seed}: same seed gave a different prompt")
        spec = getattr(env, "spec", None) or getattr(base, "spec", None)
        if spec is not None:
            fresh = gym.make(spec)
            if fresh.reset(seed=seed)[0] != prompt:
                problems.append(f"seed {seed}: a fresh instance gave a different prompt")
            fresh.close()

        total, info, terminated, _ = _episode(env, base.gold_actions(task), seed)
        missing = [k for k in STEP_INFO_KEYS if k not in info]
        if missing:
            problems.append(f"seed {seed}: step info lacks {missing}")
        verdict = info.get("verdict")
        if not terminated:
            problems.append(f"seed {seed}: the gold actions did not terminate the episode")
        if not isinstance(verdict, Verdict) or verdict.status is not Status.CORRECT:
            problems.append(f"seed {seed}: gold answer got verdict {verdict!r}")
        if not np.isclose(total, high):
            problems.append(f"seed {seed}: gold answer earned {total}, not the maximum {high}")

        env.reset(seed=seed)
        base.action_space.seed(seed)
        rewards = []
        for _ in range(getattr(base, "max_turns", 1)):
            try:
                _, reward, terminated, truncated, info = env.step(base.action_space.sample())
            except Exception as e:  # noqa: BLE001 - report, do not crash the checker
                problems.append(f"seed {seed}: random text raised {type(e).__name__}: {e}")
                break
            rewards.append(float(reward))
            if terminated or truncated:
                break
        if rewards and not np.isclose(sum(rewards), low):
            problems.append(f"seed {seed}: random text earned {sum(rewards)}, not the minimum {low}")
    for bad in (12345, "x" * (base.max_chars + 1)):
        env.reset(seed=seeds[0])
        try:
            _, reward, *_, info = env.step(bad)
        except Exception as e:  # noqa: BLE001
            problems.append(f"a bad action ({type(bad).__name__}) raised {type(e).__name__}: {e}")
            continue
        verdict = info.get("verdict")
        if float(reward) != low and not (isinstance(verdict, Verdict) and verdict.status is Status.NO_ANSWER):
            problems.append(f"a bad action ({type(bad).__name__}) was not rejected")
    if not _same_rng(before, _global_rng_state()):
        problems.append("reset/step changed the global random or numpy.random state")
    if problems:
        raise ContractError(
            f"{base.spec.id if base.spec else type(base).__name__}:\n  " + "\n  ".join(problems)
        )
