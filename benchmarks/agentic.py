"""Agentic sessions: workspace call latency and the python tool, against the usual designs.

One run measures, side by side on this machine:

- one workspace call (``Workspace.exec("true")``, ``Workspace.python("pass")``), p50 and p99, in
  assay's local and Docker sandboxes, beside ``docker exec`` into a warm container through the
  SDK (``exec_run``: how most agent harnesses run a shell command; no shell state kept);
- opening a workspace from the warm pool, and forking one (a copy through the host; the size of
  the workspace is given);
- the python tool's latency at cell 1, 10 and 50 of an episode: assay's live interpreter
  (``envs/tools/python.py`` now) beside the replay design it replaced (every call re-runs the
  episode's earlier cells in a fresh sandboxed process; its harness is copied below from
  commit 17be9f2).

Usage: ``python benchmarks/agentic.py [--runs 200] [--skip-docker]``. Timings on a shared machine
are noisy: compare the rows of one run, not runs with each other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

REPLAY_HARNESS = r"""
import ast, contextlib, io, json, linecache, sys, traceback

cells = json.loads(sys.stdin.read())
scope = {"__name__": "__main__", "__builtins__": __builtins__}


def run(index, source, show):
    name = "<cell %d>" % index
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    tree = ast.parse(source, name, "exec")
    last = None
    if show and tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, name, "exec"), scope)
    if last is not None:
        value = eval(compile(last, name, "eval"), scope)
        if value is not None:
            print(repr(value))


for i, source in enumerate(cells[:-1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            run(i, source, False)
        except BaseException:
            pass
try:
    run(len(cells) - 1, cells[-1], True)
except BaseException as e:
    traceback.print_exception(type(e), e, e.__traceback__)
    sys.exit(1)
"""
"""The replay tool's program (assay before this round, ``envs/tools/python.py`` at 17be9f2)."""

CELL = "import math\nv{i} = sum(math.isqrt(k) for k in range(2000))\n"
"""A small cell (~0.3 ms of work), so the rows compare the designs, not the cell."""


def pct(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s) * 1e3, s[min(len(s) - 1, round(0.99 * (len(s) - 1)))] * 1e3


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def row(name: str, samples: list[float], note: str = "") -> None:
    p50, p99 = pct(samples)
    print(f"| {name:<58} | {p50:9.2f} | {p99:9.2f} | {len(samples):5d} | {note}")


def header(title: str) -> None:
    print(f"\n{title}\n| {'':<58} | {'p50 ms':>9} | {'p99 ms':>9} | {'n':>5} |")


def session_rows(box: Any, label: str, runs: int) -> None:
    with box.workspace() as ws:
        ws.exec("true")
        ws.python("pass")
        row(f"{label}: Workspace.exec('true')", timed(lambda: ws.exec("true"), runs))
        row(f"{label}: Workspace.python('pass')", timed(lambda: ws.python("pass"), runs))
        ws.exec(
            "head -c 1000000 /dev/urandom > blob.bin; mkdir -p src; for i in $(seq 1 50); do echo $i > src/f$i.py; done"
        )

        def fork() -> None:
            ws.fork().close()

        size = ws.snapshot().size
        row(f"{label}: Workspace.fork() + close ({size / 1e6:.1f} MB)", timed(fork, max(5, runs // 20)))

    def open_close() -> None:
        box.workspace().close()

    row(f"{label}: open + close a workspace (warm pool)", timed(open_close, max(10, runs // 10)))


def docker_exec_rows(runs: int) -> None:
    from assay.sandboxes.daemon import docker_client
    from assay.sandboxes.image import DEFAULT_IMAGE

    client = docker_client()
    c = client.containers.run(
        DEFAULT_IMAGE, ["sleep", "3600"], detach=True, network_mode="none", remove=True, user="65534:65534"
    )
    try:
        c.exec_run(["bash", "-c", "true"])
        c.exec_run(["bash", "-c", "true"])
        row(
            "peer: docker exec_run(bash -c 'true') into a warm container",
            timed(lambda: c.exec_run(["bash", "-c", "true"]), runs),
        )
    finally:
        c.remove(force=True)
        client.close()


def python_tool_rows(box: Any, label: str) -> None:
    from assay.sandboxes import Limits

    limits = Limits(wall_s=60.0, cpu_s=60.0)
    for at in (1, 10, 50):
        cells = [CELL.format(i=i) for i in range(at)]
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            r = box.run(REPLAY_HARNESS, stdin=json.dumps(cells), limits=limits)
            samples.append(time.perf_counter() - t0)
            assert r.ok, r
        row(f"{label}: replay tool (17be9f2), cell {at}", samples)
    for at in (1, 10, 50):
        samples = []
        for _ in range(5):
            with box.workspace() as ws:
                for i in range(at - 1):
                    ws.python(CELL.format(i=i))
                t0 = time.perf_counter()
                r = ws.python(CELL.format(i=at))
                samples.append(time.perf_counter() - t0)
                assert r.ok, r
        row(f"{label}: live interpreter (now), cell {at}", samples)


def repo_repair_rows(n_tasks: int) -> None:
    """RepoRepair (benchmarks/repo_repair.py): verification beside a fresh ``docker run``; tasks/s."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from repo_repair import measure

    samples, rates, note = measure(n_tasks)
    header(f"RepoRepair: verification of a gold repair ({n_tasks} tasks, the same for each row)")
    for name, values in samples:
        row(name, values)
    print(f"\nRepoRepair: tasks per second ({note})")
    for name, rate in rates:
        print(f"| {name:<58} | {rate:9.2f} /s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--skip-docker", action="store_true")
    parser.add_argument(
        "--repo-tasks", type=int, default=8, help="RepoRepair gold repairs to verify (0: skip)"
    )
    args = parser.parse_args()
    from assay.sandboxes import LocalSandbox

    boxes: list[tuple[str, Any]] = [("local", LocalSandbox(workers=1, workspaces=3))]
    if not args.skip_docker:
        from assay.sandboxes.docker import DockerSandbox

        boxes.append(("docker", DockerSandbox(workers=1, workspaces=3)))
    try:
        header("One call in a workspace (per-call latency seen by the host)")
        for label, box in boxes:
            box.warm(1, workspaces=2)
            session_rows(box, label, args.runs)
        if not args.skip_docker:
            docker_exec_rows(args.runs)
        header("python tool: latency of the n-th cell of an episode")
        for label, box in boxes:
            python_tool_rows(box, label)
        if args.repo_tasks and not args.skip_docker:
            repo_repair_rows(args.repo_tasks)
    finally:
        for _, box in boxes:
            box.close()


if __name__ == "__main__":
    main()
