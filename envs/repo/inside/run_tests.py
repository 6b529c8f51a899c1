"""Runs pytest on a repository and reports every test's outcome (shipped into a sandbox as source).

Started as ``python3 -I -S -B -c SOURCE CONFIG`` with the repository as the working directory:
no ``PYTHON*`` variables, no user or system site-packages, no bytecode written. CONFIG is JSON:
``site`` (the folder holding pytest), ``pythonpath`` (folders the tests import the library
from), ``args`` (test files or node ids) and ``nonce``. The process environment is replaced by
a fixed one before pytest is imported (so no variable the agent set reaches pytest or a test),
plugin autoloading is off and the cache provider disabled; pytest is imported from ``site``
before the repository is on ``sys.path`` (a ``pytest`` module in the repository cannot stand in
for it). The report is one line, ``NONCE`` then JSON, written at the end to a copy of the
original stdout: ``outcomes`` (node id -> passed, failed, skipped, xfailed, xpassed or error),
``failures`` (node id -> exception text and the frames it went through), ``exit``.

Not guaranteed: the library code under test runs in this process and could tamper with pytest
in memory; the grader removes files the agent added and restores tests and config, which closes
the file-based routes, not that one.
"""

import json
import os
import sys
from typing import Any


def _main() -> None:
    cfg = json.loads(sys.argv[1])
    nonce = cfg["nonce"]
    report_fd = os.dup(1)
    root = os.getcwd()
    os.environ.clear()
    os.environ.update(
        {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    sys.path.append(cfg["site"])
    import pytest  # from the site folder: the repository is not on sys.path yet

    for entry in cfg["pythonpath"]:
        sys.path.append(os.path.join(root, entry))

    outcomes: dict[str, str] = {}
    failures: dict[str, dict[str, Any]] = {}

    def _frames(tb: Any) -> list[list[Any]]:
        out = []
        while tb is not None:
            code = tb.tb_frame.f_code
            path = code.co_filename
            if path.startswith(root + os.sep):
                out.append([os.path.relpath(path, root), tb.tb_lineno, code.co_name])
            tb = tb.tb_next
        return out[-8:]

    class Recorder:
        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_logreport(self, report: Any) -> None:
            nid = report.nodeid
            if report.failed:
                state = "error" if report.when != "call" else "failed"
                if hasattr(report, "wasxfail"):
                    state = "xpassed"
                if outcomes.get(nid) not in ("failed", "error", "xpassed"):
                    outcomes[nid] = state
            elif report.skipped:
                if outcomes.get(nid) is None or outcomes[nid] == "passed":
                    outcomes[nid] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
            elif report.when == "call":
                outcomes.setdefault(nid, "xpassed" if hasattr(report, "wasxfail") else "passed")

        def pytest_collectreport(self, report: Any) -> None:
            if report.failed:
                outcomes[report.nodeid or "<collection>"] = "error"
                failures.setdefault(
                    report.nodeid or "<collection>", {"exception": str(report.longrepr)[-1500:], "frames": []}
                )

        def pytest_exception_interact(self, node: Any, call: Any, report: Any) -> None:
            if node.nodeid in failures or call.excinfo is None:
                return
            failures[node.nodeid] = {
                "exception": call.excinfo.exconly()[:1500],
                "frames": _frames(call.excinfo.tb),
            }

    args = ["-p", "no:cacheprovider", "-q", "--no-header", "-o", "console_output_style=classic", *cfg["args"]]
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        code = int(pytest.main(args, plugins=[Recorder()]))
    except BaseException as e:  # noqa: BLE001 - reported, never raised: the grader reads the report
        code = -1
        failures["<session>"] = {"exception": f"{type(e).__name__}: {e}"[:1500], "frames": []}
    line = nonce + json.dumps({"outcomes": outcomes, "failures": failures, "exit": code}) + "\n"
    data = line.encode()
    while data:
        data = data[os.write(report_fd, data) :]
    os._exit(0)


_main()
