"""Vector-env overhead on the GRPO hot path: Gymnasium's SyncVectorEnv beside ``assay.make_vec``.

Each GRPO step of ``benchmarks/grpo_vs_trl.py`` resets a vector of 128 Arithmetic sub-envs with
``reset(seed=assay.group_seeds(step, 8, 16))`` (8 prompts x 16 copies), steps it once with 128 short
answers; a multi-turn rollout (agents/rollout.py) also resets ended sub-envs with
``reset(options={"reset_mask": mask})`` before its next vector step (a single-turn one never
does: every episode has ended). This script times those three calls, in that order, for:

- gymnasium: ``gymnasium.vector.SyncVectorEnv`` over ``gymnasium.make`` envs, with the envs seeded
  by Gymnasium's own ``Env.reset`` (``seeding.np_random``: assay's recurring-seed shortcut off);
- assay: ``assay.make_vec(..., vectorization_mode="sync")`` (`assay.envs.vector.sync.TextSyncVectorEnv`),
  with the shortcut on.

Both wrap each env in Gymnasium's checker wrappers (``gymnasium.make``). Rounds alternate which
vector env goes first; each round uses new seeds, as training does. The env's own task builder is
memoised per task (and shared by both), so before each round an untimed pass builds that round's
tasks: the table is the vector and seeding overhead, not task generation. The results of every
call are compared (observations, rewards, flags, infos, then each sub-env's ``np_random``) and
must be identical. Prints medians.

assay defers building a seeded sub-env's generator until something reads it (the task index of
the reset is on record), so a masked reset, which draws from it, pays that cost: the table shows
the single-turn sequence (reset + step) and the full one separately.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import assay
import assay.envs.seed_cache as seed_cache

ENV_KWARGS: dict[str, Any] = {
    "level": "easy",
    "operations": "+",
    "max_operand": 5,
    "prompt_template": "{expr}=",
}
CALLS = ("reset(seed=...)", "step(actions)", "reset(reset_mask)")


def _answers(obs: Any, round_: int) -> tuple[str, ...]:
    """Short answers: about half right (the sum), the rest off by one or a word."""
    out = []
    for i, prompt in enumerate(obs):
        a, b = (int(x) for x in prompt.rstrip("=").split("+"))
        out.append(str(a + b + (i + round_) % 3 - (1 if i % 5 == 0 else 0)) if i % 7 else "no idea")
    return tuple(out)


def _play(envs: Any, seeds: list[int], round_: int, clock: Callable[[], float]) -> tuple[list[float], Any]:
    t0 = clock()
    obs, reset_info = envs.reset(seed=seeds)
    t1 = clock()
    actions = _answers(obs, round_)
    t2 = clock()
    step = envs.step(actions)
    t3 = clock()
    mask = np.ones(envs.num_envs, dtype=bool)
    mask[round_ % 4 :: 4] = False
    t4 = clock()
    obs2, mask_info = envs.reset(options={"reset_mask": mask})
    t5 = clock()
    draws = [float(r.random()) for r in envs.get_attr("np_random")]
    return [t1 - t0, t3 - t2, t5 - t4], (obs, reset_info, step, obs2, mask_info, draws)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and all(_same(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True))
        )
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(type(a) is type(b) and a == b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="assay/Arithmetic-v0")
    parser.add_argument("--num-envs", type=int, default=128)
    parser.add_argument("--group-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    kwargs = ENV_KWARGS if args.env == "assay/Arithmetic-v0" else {}
    n, g = args.num_envs, args.group_size

    def plain() -> SyncVectorEnv[Any, Any]:
        return SyncVectorEnv(
            [lambda: gym.make(args.env, **kwargs) for _ in range(n)], autoreset_mode=AutoresetMode.DISABLED
        )

    impls = {
        "gymnasium": (plain(), False),
        "assay": (assay.make_vec(args.env, n, vectorization_mode="sync", **kwargs), True),
    }
    times: dict[str, list[list[float]]] = {name: [] for name in impls}
    identical = True
    for r in range(args.rounds + 2):  # the first two rounds warm up and are not counted
        seeds = assay.group_seeds(1_000 + r, n // g, g)
        seed_cache.ENABLED = False
        _play(impls["gymnasium"][0], seeds, r, time.perf_counter)  # builds this round's tasks
        order = list(impls) if r % 2 else list(reversed(impls))
        results = {}
        for name in order:
            envs, shortcut = impls[name]
            seed_cache.ENABLED = shortcut
            spent, results[name] = _play(envs, seeds, r, time.perf_counter)
            if r >= 2:
                times[name].append(spent)
        identical &= _same(results["gymnasium"], results["assay"])
    seed_cache.ENABLED = True
    for envs, _ in impls.values():
        envs.close()

    print(f"{args.env} {ENV_KWARGS if kwargs else ''}")
    print(
        f"{n} sub-envs ({n // g} seeds x {g}), {args.rounds} rounds, medians; "
        f"gymnasium {gym.__version__}, numpy {np.__version__}"
    )
    print(f"{'call':<24} {'gymnasium SyncVectorEnv':>24} {'assay.make_vec sync':>20} {'speed-up':>9}")
    rows = [(call, (c,)) for c, call in enumerate(CALLS)]
    rows += [("reset(seed) + step", (0, 1)), ("all three", (0, 1, 2))]
    for label, cols in rows:
        base = statistics.median(sum(t[c] for c in cols) for t in times["gymnasium"]) * 1e3
        ours = statistics.median(sum(t[c] for c in cols) for t in times["assay"]) * 1e3
        print(f"{label:<24} {base:>21.3f} ms {ours:>17.3f} ms {base / ours:>8.2f}x")
    print(f"identical results (observations, rewards, flags, infos, np_random draws): {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
