"""Running a program against tests in a sandbox, and deciding outside it (`verify_program`).

The tests are a `TestSpec` (see `assay.verifiers.code.spec` for the three kinds and their JSON).
The harness only an honest program passes. Expected values never enter a process that runs
candidate code, and no object made by candidate code is ever compared:

- the candidate runs in the sandbox as a *server* (``inside/server.py``): it receives plain-data
  arguments and sends back its results encoded as plain data (`assay.verifiers.code.values`);
- function-call and stdin/stdout results are decoded and compared *here*, outside the sandbox;
- assert-style tests, which carry their expected values, run in a separate *test runner*
  process (``inside/checker.py``, a local sandbox that never runs candidate code) where each tested
  name is a proxy: the host relays plain-data calls and results between the two processes;
- time limits are enforced from outside (per call, per case), so the candidate cannot disable
  them; its exit status, stdout and stderr never decide anything for call tests (prints are
  fine), and for stdin/stdout tests only its stdout tokens and a zero exit status count.

Scores are all-or-nothing (``scoring="all"``) or the fraction of cases passed
(``scoring="fraction"``, where a failed verdict carries that fraction as its ``score``). After a
timeout or crash the remaining call cases are not run and count as failed.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assay.sandboxes import Limits, Sandbox, SandboxError, Session, get_sandbox
from assay.sandboxes.local import LocalSandbox
from assay.verifiers.base import Status, Verdict
from assay.verifiers.code.spec import AssertTests, FunctionTests, SpecError, StdioTests, parse_tests
from assay.verifiers.code.values import ValueRejected, compare_tokens, decode, encode, same

__all__ = ["Scoring", "default_runner", "verify_program"]

Scoring = Literal["all", "fraction"]


_SOURCES: dict[str, str] = {}


def _harness(name: str) -> str:
    if name not in _SOURCES:
        here = Path(__file__).parent
        _SOURCES[name] = (here / "values.py").read_text() + "\n\n" + (here / "inside" / name).read_text()
    return _SOURCES[name]


_RUNNERS: dict[int, LocalSandbox] = {}
_RUNNER_LOCK = threading.Lock()


def default_runner() -> LocalSandbox:
    """This process's test runner: a local sandbox that runs trusted test code, never candidates."""
    with _RUNNER_LOCK:
        runner = _RUNNERS.get(os.getpid())
        if runner is None:
            runner = _RUNNERS[os.getpid()] = LocalSandbox(workers=2)
        return runner


# -- running ---------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    total: int
    cases: list[dict[str, Any]] = field(default_factory=list)
    timed_out: bool = False
    error: str | None = None
    """A harness failure (our fault): the verdict is ERROR."""
    load_error: str | None = None
    stderr: str = ""
    oom: bool = False

    def add(self, index: int, passed: bool, reason: str, seconds: float = 0.0, timeout: bool = False) -> None:
        self.cases.append({"index": index, "passed": passed, "reason": reason, "time_s": round(seconds, 4)})
        self.timed_out = self.timed_out or timeout

    def fail_rest(self, reason: str) -> None:
        done = {c["index"] for c in self.cases}
        for i in range(self.total):
            if i not in done:
                self.add(i, False, reason)


def _json_message(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return {"malformed": True}


def _load(session: Session, timeout_s: float, out: _Outcome) -> bool:
    """Wait for the candidate module to load; record why not."""
    t0 = time.monotonic()
    try:
        ready = _json_message(session.recv(timeout_s))
    except TimeoutError:
        session.kill()
        out.timed_out = True
        out.load_error = f"the program did not finish loading within {timeout_s:g} s"
        return False
    if isinstance(ready, Mapping) and ready.get("ready") is True:
        return True
    if isinstance(ready, Mapping) and isinstance(ready.get("error"), Mapping):
        err = ready["error"]
        out.load_error = (
            f"the program failed to load: {str(err.get('type'))[:80]}: {str(err.get('message'))[:300]}"
        )
    else:
        out.load_error = f"the program exited while loading (after {time.monotonic() - t0:.2f} s)"
    return False


def _reply(raw: bytes | None) -> tuple[str, Any]:
    """Validate a candidate's reply: ``("value", v)``, ``("error", {...})`` or ``("bad", why)``."""
    msg = _json_message(raw)
    if not isinstance(msg, Mapping):
        return "bad", "sent a malformed reply"
    if msg.get("ok") is True and "value" in msg:
        try:
            return "value", decode(msg["value"])
        except (ValueRejected, RecursionError):
            return "bad", "returned a value that is not plain data"
    err = msg.get("error")
    if msg.get("ok") is False and isinstance(err, Mapping):
        return "error", {
            "type": str(err.get("type", "Exception"))[:100],
            "message": str(err.get("message", ""))[:2000],
        }
    return "bad", "sent a malformed reply"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _finish(session: Session, out: _Outcome) -> None:
    """End the candidate (the tests are over: no need to wait for it to exit) and keep its stderr."""
    try:
        session.kill()
        result = session.result(timeout_s=10.0)
    except (SandboxError, TimeoutError):
        return
    out.stderr = result.stderr[-2000:]
    out.oom = result.oom


def _run_function_tests(
    program: str, tests: FunctionTests, sandbox: Sandbox, timeout_s: float, limits: Limits
) -> _Outcome:
    out = _Outcome(total=len(tests.cases))
    wall = timeout_s * (len(tests.cases) + 1) + 5.0
    with sandbox.session(
        _harness("server.py"),
        files={"solution.py": program},
        limits=limits.with_(wall_s=wall, cpu_s=wall),
    ) as session:
        if not _load(session, timeout_s, out):
            out.fail_rest(out.load_error or "the program failed to load")
            _finish(session, out)
            return out
        for i, case in enumerate(tests.cases):
            try:
                request = {
                    "id": i,
                    "call": tests.entry_point,
                    "args": [encode(a) for a in case.args],
                    "kwargs": {k: encode(v) for k, v in case.kwargs.items()},
                }
            except ValueRejected as e:  # a hand-built spec holding something that is not plain data
                raise SpecError(f"function case {i}: {e}") from e
            session.send(json.dumps(request, allow_nan=False).encode())
            t0 = time.monotonic()
            try:
                raw = session.recv(timeout_s)
            except TimeoutError:
                session.kill()
                out.add(i, False, f"timed out after {timeout_s:g} s", timeout_s, timeout=True)
                out.fail_rest("not run: an earlier case timed out")
                break
            seconds = time.monotonic() - t0
            if raw is None:
                out.add(i, False, "the program exited during the call", seconds)
                out.fail_rest("not run: the program exited")
                break
            kind, value = _reply(raw)
            if kind == "value":
                if same(case.expected, value, tests.tolerance):
                    out.add(i, True, "ok", seconds)
                else:
                    out.add(i, False, f"wrong result: got {_show(value)}", seconds)
            elif kind == "error":
                out.add(i, False, f"raised {value['type']}: {value['message'][:200]}", seconds)
            else:
                out.add(i, False, str(value), seconds)
        _finish(session, out)
    return out


def _run_assert_tests(
    program: str, tests: AssertTests, sandbox: Sandbox, runner: Sandbox, timeout_s: float, limits: Limits
) -> _Outcome:
    out = _Outcome(total=len(tests.cases))
    wall = timeout_s * (len(tests.cases) + 1) + 5.0
    budget = limits.with_(wall_s=wall, cpu_s=wall)
    job = json.dumps({"setup": tests.setup, "cases": list(tests.cases), "names": list(tests.names)}).encode()
    with sandbox.session(_harness("server.py"), files={"solution.py": program}, limits=budget) as cand:
        # the test runner starts while the candidate loads; its first call waits for the load
        with runner.session(_harness("checker.py"), limits=Limits(wall_s=wall, cpu_s=wall)) as checker:
            checker.send(job)
            if _load(cand, timeout_s, out):
                _relay(cand, checker, out, timeout_s)
            else:
                out.fail_rest(out.load_error or "the program failed to load")
            checker.kill()
        _finish(cand, out)
    return out


def _relay(cand: Session, checker: Session, out: _Outcome, timeout_s: float) -> None:
    """Carry calls from the tests to the candidate and plain results back, under deadlines."""
    case_start = time.monotonic()
    gone: str | None = None
    next_id = 0
    while True:
        current = len(out.cases)
        left = case_start + timeout_s - time.monotonic()
        try:
            msg = _json_message(checker.recv(max(left, 0.0)))
        except TimeoutError:
            cand.kill()
            checker.kill()
            out.add(current, False, f"timed out after {timeout_s:g} s", timeout_s, timeout=True)
            out.fail_rest("not run: an earlier case timed out")
            return
        if not isinstance(msg, Mapping):
            out.error = "the test runner stopped unexpectedly"
            return
        if "harness_error" in msg:
            out.error = str(msg["harness_error"])[:1000]
            return
        if msg.get("done"):
            out.fail_rest("not run")
            return
        if "case" in msg:
            passed = msg.get("passed") is True and gone is None
            reason = "ok" if passed else str(msg.get("error") or gone or "failed")[:500]
            out.add(current, passed, reason, time.monotonic() - case_start)
            case_start = time.monotonic()
            continue
        if "call" not in msg:
            out.error = "the test runner sent a malformed message"
            return
        if gone is not None:
            checker.send(json.dumps({"gone": gone}).encode())
            continue
        request = {
            "id": next_id,
            "call": msg["call"],
            "args": msg.get("args", []),
            "kwargs": msg.get("kwargs", {}),
        }
        next_id += 1
        cand.send(json.dumps(request).encode())
        left = case_start + timeout_s - time.monotonic()
        try:
            raw = cand.recv(max(left, 0.0))
        except TimeoutError:
            cand.kill()
            checker.kill()
            out.add(current, False, f"timed out after {timeout_s:g} s", timeout_s, timeout=True)
            out.fail_rest("not run: an earlier case timed out")
            return
        if raw is None:
            gone = "the program exited during a call"
            checker.send(json.dumps({"gone": gone}).encode())
            continue
        kind, value = _reply(raw)
        if kind == "value":
            checker.send(json.dumps({"ok": True, "value": encode(value)}, allow_nan=False).encode())
        elif kind == "error":
            checker.send(json.dumps({"ok": False, "error": value}).encode())
        else:
            checker.send(
                json.dumps({"ok": False, "error": {"type": "ValueRejected", "message": value}}).encode()
            )


def _run_stdio_tests(
    program: str, tests: StdioTests, sandbox: Sandbox, timeout_s: float, limits: Limits, stop_early: bool
) -> _Outcome:
    out = _Outcome(total=len(tests.cases))
    for i, case in enumerate(tests.cases):
        result = sandbox.run(
            program,
            language=tests.language,
            stdin=case.stdin,
            limits=limits.with_(wall_s=timeout_s, cpu_s=timeout_s),
        )
        if result.timed_out:
            out.add(i, False, f"timed out after {timeout_s:g} s", result.duration_s, timeout=True)
        elif result.oom:
            out.add(i, False, "ran out of memory", result.duration_s)
        elif result.output_truncated:
            out.add(i, False, "wrote more output than allowed", result.duration_s)
        elif result.compile_error:
            out.add(i, False, "did not compile", result.duration_s)
        elif result.exit_code != 0:
            why = (
                f"exit status {result.exit_code}"
                if result.exit_code is not None
                else f"killed by signal {result.signal}"
            )
            out.add(i, False, why, result.duration_s)
        else:
            ok, reason = compare_tokens(case.stdout, result.stdout, tests.tolerance)
            out.add(i, ok, "ok" if ok else reason, result.duration_s)
        out.stderr = result.stderr[-2000:]
        out.oom = out.oom or result.oom
        if stop_early and not out.cases[-1]["passed"]:
            out.fail_rest("not run: an earlier case failed")
            break
    return out


def verify_program(
    program: str,
    tests: Any,
    *,
    sandbox: str | Sandbox = "auto",
    runner: Sandbox | None = None,
    timeout_s: float = 5.0,
    scoring: Scoring = "all",
    limits: Limits | None = None,
    extracted: str | None = None,
) -> Verdict:
    """Run ``program`` against ``tests`` (a `TestSpec` or its JSON form) and judge it.

    Never raises on a bad program. A sandbox failure or broken tests give an ``ERROR`` verdict.

    Args:
        program: The candidate's full source.
        tests: What to run (see the module docstring).
        sandbox: Where the candidate runs: ``"docker"``, ``"local"``, ``"auto"`` or a `Sandbox`.
        runner: Where assert-style test code runs (default: this process's local runner).
        timeout_s: Per test case (per call for function tests), enforced from outside.
        scoring: ``"all"`` (1 or 0) or ``"fraction"`` of cases passed.
        limits: Memory/process/output limits for the candidate (times come from ``timeout_s``).
        extracted: Recorded as the verdict's ``extracted`` (default: ``program``).
    """
    if scoring not in ("all", "fraction"):
        raise ValueError(f"scoring must be 'all' or 'fraction', got {scoring!r}")
    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise ValueError(f"timeout_s must be a positive number, got {timeout_s!r}")
    extracted = program if extracted is None else extracted
    try:
        spec = parse_tests(tests)
    except (ValueError, ValueRejected, TypeError) as e:
        return Verdict(Status.ERROR, extracted=extracted, reason=f"bad tests: {e}")
    base = limits or Limits()
    try:
        box = get_sandbox(sandbox)
        if isinstance(spec, FunctionTests):
            out = _run_function_tests(program, spec, box, timeout_s, base)
        elif isinstance(spec, AssertTests):
            out = _run_assert_tests(program, spec, box, runner or default_runner(), timeout_s, base)
        else:
            out = _run_stdio_tests(program, spec, box, timeout_s, base, stop_early=scoring == "all")
    except SandboxError as e:
        return Verdict(Status.ERROR, extracted=extracted, reason=f"sandbox failure: {e}")
    return _verdict(out, box.name, scoring, extracted)


def _verdict(out: _Outcome, sandbox_name: str, scoring: Scoring, extracted: str) -> Verdict:
    out.cases.sort(key=lambda c: c["index"])
    passed = sum(1 for c in out.cases if c["passed"])
    details: dict[str, Any] = {
        "sandbox": sandbox_name,
        "passed": passed,
        "total": out.total,
        "cases": out.cases,
        "stderr": out.stderr,
    }
    if out.error is not None:
        return Verdict(
            Status.ERROR, extracted=extracted, reason=f"harness failure: {out.error}", details=details
        )
    if out.total and passed == out.total:
        return Verdict(Status.CORRECT, 1.0, extracted, f"all {out.total} tests passed", details)
    score = passed / out.total if scoring == "fraction" and out.total else 0.0
    first = next((c for c in out.cases if not c["passed"]), None)
    reason = out.load_error or (f"test {first['index'] + 1}: {first['reason']}" if first else "no tests")
    if out.oom and "memory" not in reason:
        reason += " (out of memory)"
    status = Status.TIMEOUT if out.timed_out else Status.INCORRECT
    return Verdict(status, score, extracted, f"{passed}/{out.total} tests passed; {reason}", details)
