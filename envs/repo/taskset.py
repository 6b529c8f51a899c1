"""RepoRepair tasks: the shipped, validated set (`load_tasks`) and how it is built (`build_tasks`).

A `RepoTask` is one or more `Mutation` s of a pinned package plus what its own tests showed:
the tests that fail with the bug in (``failing``) and a sample of those that still pass
(``passing``), and the issue text written from the failures. ``level`` is the difficulty: 1 is
one mutation, 2 is two in one file, 3 is two or three across files.

`build_tasks` validates in a sandbox workspace per package: the unmutated package must pass all
of its tests; then each candidate mutation (sampled per file by a seeded generator, dealt
round-robin across operators) is written in, the test files that name the mutated function or
its class run in a fresh pytest process, and the mutation is kept only if at least one test
that passed before now fails. Multi-mutation tasks combine kept mutations and are run again.
The same seed and package versions give the same task set.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.envs.repo.issue import write_issue
from assay.envs.repo.mutation import Mutation, apply_mutations, find_mutations
from assay.envs.repo.packages import PACKAGES, Package, package
from assay.envs.repo.testrun import TestRun, run_tests

__all__ = [
    "TASKS_PATH",
    "BuildStats",
    "RepoTask",
    "build_tasks",
    "load_tasks",
    "mutated_files",
    "save_tasks",
    "test_files",
]

TASKS_PATH = Path(__file__).with_name("tasks.jsonl.gz")
"""The validated task set shipped with assay."""
PASSING_SAMPLE = 8
"""How many still-passing tests a task records (run at grading to catch collateral damage)."""
MAX_FAILING = 30
"""At most this many failing tests are recorded (a seeded sample, when more fail)."""


def _cap(ids: list[str], rng: random.Random) -> list[str]:
    return ids if len(ids) <= MAX_FAILING else sorted(rng.sample(ids, MAX_FAILING))


@dataclass(frozen=True, slots=True)
class RepoTask:
    """One validated repository-repair task (see the module docstring)."""

    id: str
    package: str
    level: int
    mutations: tuple[Mutation, ...]
    failing: tuple[str, ...]
    passing: tuple[str, ...]
    issue: str

    @property
    def files(self) -> tuple[str, ...]:
        """The library files the bugs are in (sorted)."""
        return tuple(sorted({m.file for m in self.mutations}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "package": self.package,
            "level": self.level,
            "mutations": [m.to_dict() for m in self.mutations],
            "failing": list(self.failing),
            "passing": list(self.passing),
            "issue": self.issue,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> RepoTask:
        return RepoTask(
            id=str(d["id"]),
            package=str(d["package"]),
            level=int(d["level"]),
            mutations=tuple(Mutation.from_dict(m) for m in d["mutations"]),
            failing=tuple(d["failing"]),
            passing=tuple(d["passing"]),
            issue=str(d["issue"]),
        )


def load_tasks(path: str | Path = TASKS_PATH) -> tuple[RepoTask, ...]:
    """The tasks in a JSONL file (default: the shipped set), in file order."""
    opener: Any = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return tuple(RepoTask.from_dict(json.loads(line)) for line in f if line.strip())


def save_tasks(tasks: Iterable[RepoTask], path: str | Path) -> None:
    """Write tasks as JSONL (one per line, keys in a fixed order; gzipped when ``path`` ends in .gz)."""
    opener: Any = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        for t in tasks:
            f.write(json.dumps(t.to_dict(), ensure_ascii=False) + "\n")


def mutated_files(task: RepoTask, tree: Mapping[str, bytes]) -> dict[str, bytes]:
    """The files ``task`` changes, with its bugs in (``tree`` is the pristine package)."""
    out = {}
    for name in task.files:
        ms = [m for m in task.mutations if m.file == name]
        out[name] = apply_mutations(tree[name].decode(), ms).encode()
    return out


def test_files(pkg: Package, tree: Mapping[str, bytes]) -> list[str]:
    """The package's test modules (``test_*.py`` / ``*_test.py`` under its test paths), sorted."""
    out = []
    for name in tree:
        base = name.rsplit("/", 1)[-1]
        if not (base.startswith("test_") or base.endswith("_test.py")) or not base.endswith(".py"):
            continue
        if name in pkg.excluded:
            continue
        if any(name == t or name.startswith(t.rstrip("/") + "/") for t in pkg.tests):
            out.append(name)
    return sorted(out)


@dataclass(frozen=True, slots=True)
class BuildStats:
    """What `build_tasks` did for one package: candidates tried and kept, per level."""

    package: str
    tried: int
    kept: int
    combos_tried: int
    combos_kept: int
    baseline_tests: int


def _selected(m: Mutation, files: Sequence[str], texts: Mapping[str, str]) -> list[str]:
    names = [p for p in m.function.split(".") if not p.startswith("__")] or [m.function.split(".")[-1]]
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b")
    return [f for f in files if pattern.search(texts[f])]


def _failing(run: TestRun, baseline: set[str], files: Sequence[str]) -> list[str]:
    """Tests of ``files`` that passed on the pristine package and failed (or errored) in ``run``."""
    prefixes = tuple(f + "::" for f in files)
    return sorted(
        i for i in baseline if i.startswith(prefixes) and run.outcomes.get(i) in ("failed", "error")
    )


def _still_passing(run: TestRun, baseline: set[str], files: Sequence[str]) -> list[str]:
    prefixes = tuple(f + "::" for f in files)
    return sorted(i for i in baseline if i.startswith(prefixes) and run.outcomes.get(i) == "passed")


def _build_package(
    sandbox: Any,
    pkg: Package,
    tree: Mapping[str, bytes],
    *,
    seed: int,
    singles: int,
    tries: int,
    combos: int,
    site: str,
    python: str,
    log: Callable[[str], None],
) -> tuple[list[RepoTask], BuildStats]:
    files = test_files(pkg, tree)
    texts = {f: tree[f].decode("utf-8", "replace") for f in files}
    rng = random.Random(f"{seed}/{pkg.key}")
    per_file = {
        f: find_mutations(f, tree[f].decode(), rng=random.Random(f"{seed}/{pkg.key}/{f}"), limit=tries)
        for f in pkg.sources
    }
    order: list[Mutation] = []
    for i in range(tries):  # deal across files
        order.extend(per_file[f][i] for f in pkg.sources if i < len(per_file[f]))
    tasks: list[RepoTask] = []
    kept: list[tuple[Mutation, list[str], list[str]]] = []
    tried = 0

    def run(ws: Any, changed: Mapping[str, bytes], selected: Sequence[str]) -> TestRun:
        for name, data in changed.items():
            ws.write(name, data)
        try:
            return run_tests(
                ws, selected, site=site, pythonpath=pkg.pythonpath, python=python, timeout_s=120.0
            )
        finally:
            for name in changed:
                ws.write(name, tree[name])

    with sandbox.workspace(files=dict(tree)) as ws:
        base = run_tests(ws, files, site=site, pythonpath=pkg.pythonpath, python=python, timeout_s=600.0)
        bad = {i: o for i, o in base.outcomes.items() if o not in ("passed", "skipped", "xfailed")}
        if not base.reported or bad:
            raise RuntimeError(
                f"{pkg.key}: the unmutated package does not pass its tests: {base.detail or bad}"
            )
        baseline = {i for i, o in base.outcomes.items() if o == "passed"}
        log(f"{pkg.key}: baseline {len(baseline)} tests pass")
        for m in order:
            if len(kept) >= singles or tried >= tries:
                break
            selected = _selected(m, files, texts)
            if not selected:
                continue
            tried += 1
            result = run(ws, {m.file: apply_mutations(tree[m.file].decode(), [m]).encode()}, selected)
            failing = _failing(result, baseline, selected) if result.reported else []
            if not failing:
                continue
            kept.append((m, selected, failing))
            still = _still_passing(result, baseline, selected)
            trng = random.Random(f"{seed}/{pkg.key}/{len(kept)}")
            passing = sorted(trng.sample(still, min(PASSING_SAMPLE, len(still))))
            tid = f"{pkg.key}/L1-{len(kept):03d}"
            issue = write_issue(pkg.key, result.failures, failing, pkg.tests, trng)
            tasks.append(RepoTask(tid, pkg.key, 1, (m,), tuple(_cap(failing, trng)), tuple(passing), issue))
        log(f"{pkg.key}: single mutations tried {tried}, kept {len(kept)}")
        combos_tried = combos_kept = 0
        attempts = 0
        while combos_kept < combos and attempts < combos * 4 and len(kept) >= 2:
            attempts += 1
            level = 2 if attempts % 2 else 3
            if level == 2:
                by_file: dict[str, list[int]] = {}
                for i, (m, _, _) in enumerate(kept):
                    by_file.setdefault(m.file, []).append(i)
                pools = [v for v in by_file.values() if len({kept[i][0].function for i in v}) >= 2]
                if not pools:
                    continue
                pool = rng.choice(sorted(pools))
                picks = rng.sample(pool, 2)
                if kept[picks[0]][0].function == kept[picks[1]][0].function:
                    continue
            else:
                files_of = sorted({m.file for m, _, _ in kept})
                if len(files_of) < 2:
                    continue
                chosen = rng.sample(files_of, min(len(files_of), rng.choice((2, 3))))
                picks = [rng.choice([i for i, (m, _, _) in enumerate(kept) if m.file == f]) for f in chosen]
            muts = tuple(sorted((kept[i][0] for i in picks), key=lambda m: (m.file, m.line, m.col)))
            selected = sorted({f for i in picks for f in kept[i][1]})
            try:
                changed = {
                    f: apply_mutations(tree[f].decode(), [m for m in muts if m.file == f]).encode()
                    for f in {m.file for m in muts}
                }
            except ValueError:
                continue
            combos_tried += 1
            result = run(ws, changed, selected)
            failing = _failing(result, baseline, selected) if result.reported else []
            if not failing:
                continue
            combos_kept += 1
            still = _still_passing(result, baseline, selected)
            trng = random.Random(f"{seed}/{pkg.key}/combo/{combos_kept}")
            passing = sorted(trng.sample(still, min(PASSING_SAMPLE, len(still))))
            tid = f"{pkg.key}/L{level}-{combos_kept:03d}"
            issue = write_issue(pkg.key, result.failures, failing, pkg.tests, trng)
            tasks.append(
                RepoTask(tid, pkg.key, level, muts, tuple(_cap(failing, trng)), tuple(passing), issue)
            )
        log(f"{pkg.key}: multi-mutation tasks tried {combos_tried}, kept {combos_kept}")
    stats = BuildStats(pkg.key, tried, len(kept), combos_tried, combos_kept, len(baseline))
    return tasks, stats


def build_tasks(
    sandbox: Any,
    *,
    site: str,
    python: str = "python3",
    seed: int = 0,
    packages: Sequence[str] | None = None,
    singles: int = 80,
    tries: int = 160,
    combos: int = 16,
    threads: int = 2,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[list[RepoTask], list[BuildStats]]:
    """Validate mutations of each package in ``sandbox`` and return the kept tasks and the numbers.

    Args:
        sandbox: A sandbox with workspaces and pytest at ``site`` (see `assay.envs.repo.bundle`).
        site: Where pytest is inside the sandbox.
        python: The interpreter inside the sandbox.
        seed: Chooses the candidate mutations, the passing-test samples and the issue wording.
        packages: Package names (default: all of `PACKAGES`).
        singles: Single-mutation tasks to keep per package (at most).
        tries: Candidate single mutations to run per package (at most).
        combos: Multi-mutation tasks to keep per package (at most; levels 2 and 3 alternate).
        threads: Packages validated at once (one workspace each).
    """
    from assay.envs.repo.bundle import read_tree

    chosen = [package(n) for n in packages] if packages else list(PACKAGES)
    lock = threading.Lock()

    def one(pkg: Package) -> tuple[list[RepoTask], BuildStats]:
        def say(msg: str) -> None:
            with lock:
                log(msg)

        return _build_package(
            sandbox,
            pkg,
            read_tree(pkg),
            seed=seed,
            singles=singles,
            tries=tries,
            combos=combos,
            site=site,
            python=python,
            log=say,
        )

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(pool.map(one, chosen))
    tasks = [t for ts, _ in results for t in ts]
    return tasks, [s for _, s in results]
