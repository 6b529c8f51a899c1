"""Grading a repair: the agent's library edits, pristine everything else, tests in a fresh workspace.

`library_edits` reads the agent's workspace (a `Snapshot` tar, parsed on the host) and keeps only
regular files at the paths of the package's own library files: test files, pytest config files,
``conftest.py``, ``sitecustomize.py``, a ``pytest`` module, fake result files, ``.pth`` files,
bytecode caches, symlinks and anything else the agent added are never carried over; a library
file the agent deleted stays deleted. `grade_repair` then opens a *new* workspace holding the
pristine sdist with those edits on top (no process of the agent's exists there), runs the
task's failing tests plus its sample of passing ones in one fresh pytest process (see
`assay.envs.repo.testrun`: clean environment, no site-packages, plugin autoload off, report
marked with a nonce and read from that process's stdout on the host), and scores: 1 only if
every one of them passed (skipped is not passed; a test that did not run is not passed).

A heuristic guard (`tampering`) rejects edits that add references to the test machinery or to
process-level escape hatches (``pytest``, ``sys.modules``, ``os._exit``, ``builtins``, ...) that
the pristine file does not have: library code runs inside the test process, so that is the one
route the file-level rules above do not close. It is a deny list, not a proof.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Mapping
from typing import Any

from assay.envs.repo.packages import Package
from assay.envs.repo.taskset import RepoTask
from assay.envs.repo.testrun import TestRun, run_tests
from assay.verifiers.base import Status, Verdict

__all__ = ["FORBIDDEN", "grade_repair", "library_edits", "library_paths", "tampering"]

FORBIDDEN = re.compile(
    r"\b(?:_?pytest|unittest|sys\s*\.\s*modules|builtins|__builtins__|_exit|atexit|settrace|setprofile"
    r"|_getframe|faulthandler|ctypes|importlib|__import__|subprocess|signal|gc\s*\.\s*get_referrers"
    r"|os\s*\.\s*(?:kill|fork|exec\w*|dup2?|environ|putenv|system|popen))\b"
)
"""Names whose appearance (more often than in the pristine file) marks an edit as tampering."""


def library_paths(pkg: Package, tree: Mapping[str, bytes]) -> set[str]:
    """Paths of ``tree`` an agent may change: Python files outside the tests and config."""

    def under(name: str, roots: tuple[str, ...]) -> bool:
        return any(name == r or name.startswith(r.rstrip("/") + "/") for r in roots)

    return {
        name
        for name in tree
        if name.endswith(".py")
        and not under(name, pkg.tests)
        and name not in pkg.config
        and name.rsplit("/", 1)[-1] not in ("conftest.py", "sitecustomize.py", "usercustomize.py", "setup.py")
    }


def library_edits(snapshot_tar: bytes, pkg: Package, tree: Mapping[str, bytes]) -> dict[str, bytes | None]:
    """The agent's version of each library file (``None``: deleted), from a workspace tar.

    Only regular files at library paths are read; nothing in the tar is extracted to disk.
    """
    allowed = library_paths(pkg, tree)
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(snapshot_tar), mode="r:") as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if name in allowed and member.isreg():
                data = tar.extractfile(member)
                if data is not None:
                    found[name] = data.read()
    return {name: found.get(name) for name in sorted(allowed)}


def tampering(edits: Mapping[str, bytes | None], tree: Mapping[str, bytes]) -> list[str]:
    """Library files whose edit adds a `FORBIDDEN` reference (see the module docstring)."""
    out = []
    for name, data in edits.items():
        if data is None or data == tree.get(name):
            continue
        before = len(FORBIDDEN.findall(tree[name].decode("utf-8", "replace")))
        if len(FORBIDDEN.findall(data.decode("utf-8", "replace"))) > before:
            out.append(name)
    return out


def grade_repair(
    sandbox: Any,
    pkg: Package,
    tree: Mapping[str, bytes],
    task: RepoTask,
    edits: Mapping[str, bytes | None],
    *,
    site: str,
    python: str = "python3",
    timeout_s: float = 120.0,
    partial_credit: bool = False,
) -> Verdict:
    """Run ``task``'s tests on the pristine package with ``edits`` and score them (see above).

    Returns CORRECT (score 1) when every test passed; INCORRECT otherwise, with score 0, or the
    fraction that passed when ``partial_credit``; TIMEOUT when the run hit ``timeout_s``;
    INCORRECT with score 0 when the run gave no report (library code that ends the test process).
    """
    ids = [*task.failing, *task.passing]
    changed = [n for n, d in edits.items() if d != tree.get(n)]
    details: dict[str, Any] = {"differs_from_pristine": changed, "tests": len(ids)}
    bad = tampering(edits, tree)
    if bad:
        return Verdict(
            Status.INCORRECT, 0.0, reason=f"edit touches the test machinery: {bad}", details=details
        )
    files = {n: d for n, d in tree.items() if n not in edits}
    files.update({n: d for n, d in edits.items() if d is not None})
    with sandbox.workspace(files=files) as ws:
        run: TestRun = run_tests(
            ws, ids, site=site, pythonpath=pkg.pythonpath, python=python, timeout_s=timeout_s
        )
    details["duration_s"] = run.duration_s
    if run.timed_out:
        return Verdict(Status.TIMEOUT, 0.0, reason="the tests ran past their time limit", details=details)
    if not run.reported:
        # Library code that kills the test process leaves no report: the repair's fault.
        return Verdict(
            Status.INCORRECT, 0.0, reason=f"the test run gave no report: {run.detail[-300:]}", details=details
        )
    passed = run.passed(ids)
    details["passed"] = len(passed)
    details["failed"] = [i for i in ids if i not in set(passed)][:20]
    if len(passed) == len(ids):
        return Verdict(Status.CORRECT, 1.0, reason=f"all {len(ids)} tests pass", details=details)
    score = len(passed) / len(ids) if partial_credit else 0.0
    return Verdict(
        Status.INCORRECT, score, reason=f"{len(ids) - len(passed)} of {len(ids)} tests fail", details=details
    )
