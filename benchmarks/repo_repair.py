"""RepoRepair: verification time against a fresh ``docker run`` per verification; tasks per second.

One run measures, side by side on this machine:

- verification of a gold repair (the task's failing tests plus its passing sample, one pytest
  process), p50 and max over the same tasks, for: a fresh ``docker run --rm --network none`` of
  the ``assay-repo`` image per verification with the tree mounted from a host temp dir (the
  baseline), assay's `grade_repair` on the Docker pool (a new workspace from the warm pool per
  verification) and on the local sandbox;
- tasks per second: materialising a shipped task (mutated files and prompt), finding checked
  mutation candidates, and validating new tasks end to end (a small build on one package).

Usage: ``python benchmarks/repo_repair.py [--tasks 8]``. Needs the bundle and the image
(``assay sandbox build --repo-tasks``). Timings on a shared machine are noisy: compare the rows
of one run, not runs with each other.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any


def _ms(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples) * 1e3, max(samples) * 1e3


def measure(n_tasks: int = 8) -> tuple[list[tuple[str, list[float]]], list[tuple[str, float]], str]:
    """Verification samples (seconds) per method, rates (tasks/s) and a note on the validation run."""
    from assay.envs.repo.bundle import IMAGE_SITE, REPO_IMAGE, read_tree, site_dir
    from assay.envs.repo.grade import grade_repair, library_paths
    from assay.envs.repo.mutation import find_mutations
    from assay.envs.repo.packages import PACKAGES, package
    from assay.envs.repo.taskset import build_tasks, load_tasks, mutated_files
    from assay.envs.repo.testrun import RUNNER_SOURCE
    from assay.sandboxes.docker import DockerSandbox
    from assay.sandboxes.local import LocalSandbox

    tasks = random.Random(0).sample(list(load_tasks()), n_tasks)
    trees = {p.key: read_tree(p) for p in PACKAGES}
    site = str(site_dir())

    def gold(t: Any) -> dict[str, bytes | None]:
        pkg = package(t.package)
        return {n: trees[t.package][n] for n in library_paths(pkg, trees[t.package])}

    def docker_run(t: Any) -> bool:
        pkg = package(t.package)
        nonce = "r-" + secrets.token_hex(8) + " "
        with tempfile.TemporaryDirectory(prefix="assay-bench-") as tmp:
            for name, data in trees[t.package].items():
                path = os.path.join(tmp, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
            os.chmod(tmp, 0o755)
            cfg = json.dumps(
                {
                    "site": IMAGE_SITE,
                    "pythonpath": list(pkg.pythonpath),
                    "args": [*t.failing, *t.passing],
                    "nonce": nonce,
                }
            )
            proc = subprocess.run(
                [
                    "docker",
                    "run",
                    "-i",
                    "--rm",
                    "--network",
                    "none",
                    "-v",
                    f"{tmp}:/repo",
                    "-w",
                    "/repo",
                    REPO_IMAGE,
                    "python3",
                    "-I",
                    "-S",
                    "-B",
                    "-",
                    cfg,
                ],
                input=RUNNER_SOURCE,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
        line = next(x for x in proc.stdout.splitlines() if x.startswith(nonce))
        outcomes = json.loads(line[len(nonce) :])["outcomes"]
        return all(outcomes.get(i) == "passed" for i in [*t.failing, *t.passing])

    def timed(fn: Callable[[Any], bool]) -> list[float]:
        out = []
        for t in tasks:
            t0 = time.perf_counter()
            ok = fn(t)
            out.append(time.perf_counter() - t0)
            assert ok, t.id
        return out

    samples: list[tuple[str, list[float]]] = [
        ("fresh `docker run` per verification (baseline)", timed(docker_run))
    ]
    with DockerSandbox(REPO_IMAGE, workers=1, workspaces=2) as dsb:
        dsb.warm(workspaces=2)

        def on_docker(t: Any) -> bool:
            pkg = package(t.package)
            return grade_repair(dsb, pkg, trees[t.package], t, gold(t), site=IMAGE_SITE).correct

        samples.append(("assay grade_repair, Docker pool", timed(on_docker)))
    with LocalSandbox(workers=1, workspaces=2, extra_binds=[site]) as lsb:
        lsb.warm(workspaces=2)

        def on_local(t: Any) -> bool:
            pkg = package(t.package)
            return grade_repair(lsb, pkg, trees[t.package], t, gold(t), site=site, python=lsb.python).correct

        samples.append(("assay grade_repair, local sandbox", timed(on_local)))

    every = load_tasks()
    t0 = time.perf_counter()
    for t in every:
        mutated_files(t, trees[t.package])
    mat = len(every) / (time.perf_counter() - t0)
    pkg = package("toolz")
    t0 = time.perf_counter()
    n = sum(
        len(find_mutations(f, trees[pkg.key][f].decode(), rng=random.Random(1), limit=40))
        for f in pkg.sources
    )
    cand = n / (time.perf_counter() - t0)
    with LocalSandbox(workers=1, workspaces=1, extra_binds=[site]) as lsb:
        t0 = time.perf_counter()
        built, stats = build_tasks(
            lsb,
            site=site,
            python=lsb.python,
            seed=123,
            packages=["toolz"],
            singles=8,
            tries=12,
            combos=2,
            threads=1,
        )
        val = len(built) / (time.perf_counter() - t0)
    rates = [
        ("materialise a shipped task (mutated files)", mat),
        ("checked mutation candidates (toolz, 4 files)", cand),
        ("validated new tasks, local (toolz, incl. baseline)", val),
    ]
    return samples, rates, f"validation run: {stats[0]}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=8)
    args = ap.parse_args()
    samples, rates, note = measure(args.tasks)
    print(f"\nRepoRepair verification of {args.tasks} gold repairs (ms, p50 / max)")
    for name, values in samples:
        p50, worst = _ms(values)
        print(f"  {name:<52} {p50:>7.0f} / {worst:.0f}")
    speedup = statistics.median(samples[0][1]) / statistics.median(samples[1][1])
    print(f"  speed-up of the Docker pool over `docker run`: {speedup:.2f}x")
    print("\nTasks per second")
    for name, rate in rates:
        print(f"  {name:<52} {rate:>14.2f}")
    print(f"  ({note})")


if __name__ == "__main__":
    main()
