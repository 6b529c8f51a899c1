"""Reset + step throughput of 128 single-turn math envs: assay beside GEM and verifiers 0.4.

One round = reset all 128 envs, then step each with one answer (half the gold answer in
``\\boxed{}``, half a wrong one), then read the 128 rewards. The tasks are assay's
``assay/Arithmetic-v0`` (level "medium": three 2-digit operands, ``+ - *``); each library scores
them with its own math check, as it ships:

- assay: ``assay.make_vec("assay/Arithmetic-v0", 128, vectorization_mode="sync")`` (the in-process
  vector path), ``reset(seed=...)`` then ``step(actions)``; the env's verifier (``NumberMatch``
  on the boxed answer) and rubric.
- GEM (``gem-llm``, venv /work/venvs/gem): the same 128 tasks as a ``datasets.Dataset`` behind
  ``gem.envs.math_env:MathEnv`` (registered, built with ``gem.make_vec``: its ``SyncVectorEnv``),
  ``reset(seed=...)`` then ``step(actions)``; its grader is ``boxed_reward_fn`` under a 1 s signal
  timeout. ``use_mp=False``: the default starts one grading process per env (128 processes on
  this 2-core machine).
- verifiers 0.4 (venv /work/venvs/verifiers): its math scoring as a reward function runs it:
  ``extract_boxed_answer`` on the completion, then Math-Verify ``parse`` + ``verify`` against
  the gold (no model client, no rollout machinery: the timing is its scoring alone, a lower
  bound for its env path). It has no reset, so its "reset" column is n/a.

Every library must score exactly the gold half correct (checked each round). Peers run in their
own interpreters (subprocesses); each prints its per-round timings as JSON. Prints medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

N = 128
PEERS = {"GEM": "/work/venvs/gem/bin/python", "verifiers 0.4": "/work/venvs/verifiers/bin/python"}


def _answers(golds: list[str]) -> list[str]:
    return [
        f"So the result is \\boxed{{{g}}}." if i % 2 == 0 else f"\\boxed{{{g}1}}" for i, g in enumerate(golds)
    ]


def _check(rewards: list[float]) -> None:
    want = [1.0 if i % 2 == 0 else 0.0 for i in range(len(rewards))]
    if [float(r) for r in rewards] != want:
        raise SystemExit(f"wrong rewards: {rewards}")


def run_assay(rounds: int) -> dict[str, list[float]]:
    import assay

    envs = assay.make_vec("assay/Arithmetic-v0", N, vectorization_mode="sync", level="medium")
    subs = [e.unwrapped for e in envs.envs]  # type: ignore[attr-defined]
    out: dict[str, list[float]] = {"reset": [], "step": []}
    for r in range(rounds):
        t0 = time.perf_counter()
        envs.reset(seed=[1000 * r + i for i in range(N)])
        t1 = time.perf_counter()
        actions = _answers([str(s.current_task().answer) for s in subs])
        t2 = time.perf_counter()
        _, rewards, *_ = envs.step(tuple(actions))
        t3 = time.perf_counter()
        _check(list(rewards))
        out["reset"].append(t1 - t0)
        out["step"].append(t3 - t2)
    envs.close()
    return out


def run_gem(rounds: int, tasks: list[dict[str, str]]) -> dict[str, list[float]]:
    import gem
    from datasets import Dataset

    ds = Dataset.from_list(tasks)
    gem.register("bench:Arith", "gem.envs.math_env:MathEnv", dataset=ds, use_mp=False)
    envs = gem.make_vec(["bench:Arith"] * N)
    out: dict[str, list[float]] = {"reset": [], "step": []}
    for r in range(rounds):
        t0 = time.perf_counter()
        envs.reset(seed=[1000 * r + i for i in range(N)])
        t1 = time.perf_counter()
        actions = _answers([str(e.answer) for e in envs.envs])
        t2 = time.perf_counter()
        _, rewards, *_ = envs.step(actions)
        t3 = time.perf_counter()
        _check(list(rewards))
        out["reset"].append(t1 - t0)
        out["step"].append(t3 - t2)
    return out


def run_verifiers(rounds: int, tasks: list[dict[str, str]]) -> dict[str, list[float]]:
    from math_verify import parse, verify
    from verifiers.v1.utils.score import extract_boxed_answer

    golds = [t["answer"] for t in tasks[:N]]
    actions = _answers(golds)
    out: dict[str, list[float]] = {"step": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        rewards = [
            1.0 if verify(parse(f"${g}$"), parse(f"${extract_boxed_answer(a)}$")) else 0.0
            for a, g in zip(actions, golds, strict=True)
        ]
        out["step"].append(time.perf_counter() - t0)
        _check(rewards)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--peer", choices=["gem", "verifiers"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        tasks = json.loads(sys.stdin.read())
        fn = run_gem if args.peer == "gem" else run_verifiers
        print(json.dumps(fn(args.rounds, tasks)))
        return
    import assay

    env = assay.make("assay/Arithmetic-v0", level="medium").unwrapped
    tasks = [{"problem": env.task_at(i).prompt, "answer": str(env.task_at(i).answer)} for i in range(N)]
    results: dict[str, dict[str, list[float]]] = {"assay": run_assay(args.rounds)}
    for name, python in PEERS.items():
        if not Path(python).exists():
            print(f"{name}: no venv at {python}, skipped")
            continue
        peer = "gem" if name == "GEM" else "verifiers"
        proc = subprocess.run(
            [python, __file__, "--peer", peer, "--rounds", str(args.rounds)],
            input=json.dumps(tasks),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode:
            print(f"{name} failed:\n{proc.stderr[-2000:]}")
            continue
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n{N} envs, {args.rounds} rounds, medians (ms); envs/s = {N} / (reset + step)\n")
    print(f"{'library':<16}{'reset':>10}{'step':>10}{'total':>10}{'envs/s':>10}")
    for name, t in results.items():
        reset = statistics.median(t["reset"]) * 1e3 if "reset" in t else None
        step = statistics.median(t["step"]) * 1e3
        total = step + (reset or 0.0)
        reset_s = f"{reset:10.2f}" if reset is not None else f"{'n/a':>10}"
        print(f"{name:<16}{reset_s}{step:10.2f}{total:10.2f}{N / total * 1e3:10.0f}")


if __name__ == "__main__":
    main()
