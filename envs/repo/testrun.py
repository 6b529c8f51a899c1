"""`run_tests`: one fresh pytest process in a workspace, and its report read back on the host.

The runner (``inside/run_tests.py``) goes in on stdin to ``python3 -I -S -B -``: nothing from the
workspace's environment, site-packages or bytecode caches is used. Its report is the line on its
stdout that starts with a fresh random nonce; output without that line (the process crashed,
timed out, or the code under test ended it early) is a run with no report, never a pass.
"""

from __future__ import annotations

import json
import secrets
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["RUNNER_SOURCE", "TestRun", "run_tests"]

RUNNER_SOURCE = (Path(__file__).parent / "inside" / "run_tests.py").read_text()
"""The program each run executes (read once; the host never imports it)."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TestRun:
    """What one pytest run reported.

    Attributes:
        reported: The runner's nonce-marked report arrived (otherwise every other field is empty).
        outcomes: Node id -> ``passed``, ``failed``, ``error``, ``skipped``, ``xfailed``, ``xpassed``.
        failures: Node id -> ``{"exception": str, "frames": [[path, line, function], ...]}``.
        exit_code: pytest's exit code (``-1``: pytest itself raised).
        timed_out: The run hit its time limit.
        duration_s: Wall-clock seconds of the run, measured in the sandbox.
        detail: Why there is no report, when there is none (the tail of the output).
    """

    __test__ = False  # not a pytest test class

    reported: bool
    outcomes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    failures: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _EMPTY)
    exit_code: int | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    detail: str = ""

    def passed(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` whose outcome is ``passed``."""
        return [i for i in ids if self.outcomes.get(i) == "passed"]


def run_tests(
    workspace: Any,
    args: Sequence[str],
    *,
    site: str,
    pythonpath: Sequence[str] = (".",),
    python: str = "python3",
    timeout_s: float = 120.0,
    max_fail: int | None = None,
) -> TestRun:
    """Run pytest on ``args`` (test files or node ids) in ``workspace``'s root, in a new process.

    ``max_fail`` stops the run after that many failures (the rest are then not in ``outcomes``).
    """
    if max_fail is not None:
        args = [f"--maxfail={int(max_fail)}", *args]
    nonce = "assay-report-" + secrets.token_hex(16) + " "
    config = json.dumps({"site": site, "pythonpath": list(pythonpath), "args": list(args), "nonce": nonce})
    cmd = f"cd {shlex.quote(workspace.root)} && exec {shlex.quote(python)} -I -S -B - {shlex.quote(config)}"
    result = workspace.exec(cmd, timeout_s=timeout_s, output_limit=16 << 20, stdin=RUNNER_SOURCE)
    for line in result.stdout.splitlines():
        if line.startswith(nonce):
            try:
                report = json.loads(line[len(nonce) :])
            except ValueError:
                break
            return TestRun(
                reported=True,
                outcomes=MappingProxyType(dict(report["outcomes"])),
                failures=MappingProxyType(dict(report["failures"])),
                exit_code=int(report["exit"]),
                timed_out=result.timed_out,
                duration_s=result.duration_s,
            )
    tail = (result.stdout[-800:] + result.stderr[-800:]).strip()
    return TestRun(
        reported=False,
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        duration_s=result.duration_s,
        detail=tail or f"no report (exit {result.exit_code})",
    )
