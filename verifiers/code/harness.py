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
  them; decoding a reply counts inside its case's time; its exit status, stdout and stderr never
  decide anything for call tests (prints are fine), and for stdin/stdout tests only its stdout
  tokens and a zero exit status count;
- replies are bounded before they are decoded: a function case's reply may be at most
  `REPLY_FLOOR_BYTES` plus 16 times the encoded size of its expected value and arguments (the
  session's channel is capped at the sum), an assert-style call's at most
  `ASSERT_REPLY_FLOOR_BYTES` plus 16 times its arguments'; a larger reply fails its case unread;
- a function call that changes its arguments fails its case unless the case declares the
  arguments after the call (``args_after``); the candidate's side reports them, so this catches
  an honest in-place function, not a candidate that rewrites its own harness (which cannot pass
  a wrong result that way). Assert-style tests choose with ``"mutations"`` (see
  `assay.verifiers.code.spec.MUTATIONS`);
- nothing the candidate sends makes the verifier raise: any reply is a verdict.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assay.sandboxes import ExecResult, Limits, Sandbox, SandboxError, Session, get_sandbox
from assay.sandboxes.local import LocalSandbox
from assay.sandboxes.runtime import runtime_problem
from assay.sandboxes.worker import mark_own
from assay.verifiers.base import Status, Verdict
from assay.verifiers.code.spec import AssertTests, CallCase, FunctionTests, SpecError, StdioTests, parse_tests
from assay.verifiers.code.values import Tolerance, ValueRejected, compare_tokens, decode, encode, same

__all__ = ["ASSERT_REPLY_FLOOR_BYTES", "REPLY_FLOOR_BYTES", "Scoring", "default_runner", "verify_program"]

Scoring = Literal["all", "fraction"]

REPLY_FLOOR_BYTES = 1 << 20
"""Every function case may reply with this many bytes, whatever its expected value."""
ASSERT_REPLY_FLOOR_BYTES = 4 << 20
"""Every assert-style call may reply with this many bytes (its expected value is not known here)."""
_REPLY_FACTOR = 16
"""Room for an honest reply larger than the expected value (a float for an int, a tuple tag)."""


_SOURCES: dict[str, str] = {}


def _harness(name: str) -> str:
    """The source of one of our programs in ``inside/`` (our own: compiled on the host, see `mark_own`)."""
    if name not in _SOURCES:
        here = Path(__file__).parent
        source = (here / "values.py").read_text() + "\n\n" + (here / "inside" / name).read_text()
        mark_own(source)
        _SOURCES[name] = source
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


@dataclass(frozen=True, slots=True)
class _Reply:
    """A candidate's validated reply: ``kind`` is ``"value"``, ``"error"`` or ``"bad"``."""

    kind: str
    payload: Any
    """The decoded value, ``{"type", "message"}``, or why the reply is bad."""
    after: tuple[list[Any], dict[str, Any]] | None = None
    """The call's arguments as the call left them (None when not reported as plain data)."""


def _reply(raw: bytes, limit: int) -> _Reply:
    """Validate a candidate's reply of at most ``limit`` bytes (a larger one is not decoded)."""
    if len(raw) > limit:
        return _Reply("bad", f"sent a reply of {len(raw)} bytes, more than the {limit} this case allows")
    msg = _json_message(raw)
    if not isinstance(msg, Mapping):
        return _Reply("bad", "sent a malformed reply")
    after = _after(msg.get("after"))
    if msg.get("ok") is True and "value" in msg:
        try:
            return _Reply("value", decode(msg["value"]), after)
        except (ValueRejected, RecursionError):
            return _Reply("bad", "returned a value that is not plain data")
    err = msg.get("error")
    if msg.get("ok") is False and isinstance(err, Mapping):
        error = {
            "type": str(err.get("type", "Exception"))[:100],
            "message": str(err.get("message", ""))[:2000],
        }
        return _Reply("error", error, after)
    return _Reply("bad", "sent a malformed reply")


def _after(obj: Any) -> tuple[list[Any], dict[str, Any]] | None:
    if (
        not isinstance(obj, Mapping)
        or type(obj.get("args")) is not list
        or type(obj.get("kwargs")) is not dict
    ):
        return None
    try:
        return [decode(a) for a in obj["args"]], {str(k): decode(v) for k, v in obj["kwargs"].items()}
    except (ValueRejected, RecursionError):
        return None


def _mutation(
    after: tuple[list[Any], dict[str, Any]] | None,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    tol: Tolerance | None = None,
) -> str | None:
    """Why the arguments after a call differ from ``args``/``kwargs`` (None when they do not)."""
    if after is None:
        return "left its arguments as something that is not plain data"
    got_args, got_kwargs = after
    if len(got_args) != len(args) or set(got_kwargs) != set(kwargs):
        return "changed its arguments"
    for i, (want, got) in enumerate(zip(args, got_args, strict=True)):
        if not same(want, got, tol):
            return f"changed argument {i + 1} to {_show(got)}"
    for k, want in kwargs.items():
        if not same(want, got_kwargs[k], tol):
            return f"changed argument {k!r} to {_show(got_kwargs[k])}"
    return None


def _show(value: Any) -> str:
    """A short preview of a decoded value; never raises (a huge int has no ``repr``)."""
    if type(value) is int and value.bit_length() > 10_000:
        return f"an int of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    try:
        text = repr(value)
    except (ValueError, RecursionError, MemoryError):
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= 120 else text[:117] + "..."


def _size(value: Any) -> int:
    """Bytes of ``value`` on the wire (plain data from a spec)."""
    return len(json.dumps(encode(value), allow_nan=False, separators=(",", ":")))


def _reply_limit(case: CallCase) -> int:
    """The most bytes an honest reply to ``case`` needs (see the module docstring)."""
    try:
        size = _size(case.expected) + _size(list(case.args)) + _size(dict(case.kwargs))
        if case.args_after is not None:
            size += _size(list(case.args_after))
        if case.kwargs_after is not None:
            size += _size(dict(case.kwargs_after))
    except ValueRejected as e:  # a hand-built spec holding something that is not plain data
        raise SpecError(f"a function case: {e}") from e
    return REPLY_FLOOR_BYTES + _REPLY_FACTOR * size


def _finish(session: Session, out: _Outcome) -> ExecResult | None:
    """End the candidate (the tests are over: no need to wait for it to exit) and keep its stderr."""
    try:
        session.kill()
        result = session.result(timeout_s=10.0)
    except (SandboxError, TimeoutError):
        return None
    out.stderr = result.stderr[-2000:]
    out.oom = result.oom
    return result


def _gone(session: Session, out: _Outcome) -> str:
    """Why the candidate's channel closed during a call."""
    result = _finish(session, out)
    if result is not None and result.output_truncated:
        return "sent more than its replies may hold (killed)"
    return "the program exited during the call"


def _run_function_tests(
    program: str, tests: FunctionTests, sandbox: Sandbox, timeout_s: float, limits: Limits
) -> _Outcome:
    out = _Outcome(total=len(tests.cases))
    wall = timeout_s * (len(tests.cases) + 1) + 5.0
    reply_limits = [_reply_limit(case) for case in tests.cases]
    channel = min(limits.channel_bytes, REPLY_FLOOR_BYTES + sum(reply_limits))
    with sandbox.session(
        _harness("server.py"),
        files={"solution.py": program},
        limits=limits.with_(wall_s=wall, cpu_s=wall, channel_bytes=channel),
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
            late = False
            try:
                raw = session.recv(timeout_s)
            except TimeoutError:
                raw, late = None, True
            reply = None if raw is None else _reply(raw, reply_limits[i])
            seconds = time.monotonic() - t0  # decoding the reply counts
            if late or seconds > timeout_s:
                session.kill()
                out.add(i, False, f"timed out after {timeout_s:g} s", seconds, timeout=True)
                out.fail_rest("not run: an earlier case timed out")
                break
            if reply is None:
                out.add(i, False, _gone(session, out), seconds)
                out.fail_rest("not run: the program exited")
                break
            out.add(i, *_judge_call(case, reply, tests), seconds)
        _finish(session, out)
    return out


def _judge_call(case: CallCase, reply: _Reply, tests: FunctionTests) -> tuple[bool, str]:
    """Whether one function case passed, and why not."""
    if reply.kind == "error":
        return False, f"raised {reply.payload['type']}: {reply.payload['message'][:200]}"
    if reply.kind != "value":
        return False, str(reply.payload)
    if not same(case.expected, reply.payload, tests.tolerance):
        return False, f"wrong result: got {_show(reply.payload)}"
    declared = case.args_after is not None or case.kwargs_after is not None
    mutated = _mutation(
        reply.after,
        case.args if case.args_after is None else case.args_after,
        case.kwargs if case.kwargs_after is None else case.kwargs_after,
        tests.tolerance if declared else None,
    )
    if mutated is not None:
        return False, (
            f"wrong arguments after the call: {mutated}" if declared else f"mutated its arguments: {mutated}"
        )
    return True, "ok"


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
                _relay(cand, checker, out, timeout_s, tests.mutations)
            else:
                out.fail_rest(out.load_error or "the program failed to load")
            checker.kill()
        _finish(cand, out)
    return out


def _relay(cand: Session, checker: Session, out: _Outcome, timeout_s: float, mutations: str) -> None:
    """Carry calls from the tests to the candidate and plain results back, under deadlines."""
    case_start = time.monotonic()
    gone: str | None = None
    mutated: str | None = None
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
            passed = msg.get("passed") is True and gone is None and mutated is None
            reason = "ok" if passed else str(msg.get("error") or gone or mutated or "failed")[:500]
            out.add(current, passed, reason, time.monotonic() - case_start)
            case_start = time.monotonic()
            mutated = None
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
        encoded = json.dumps(request).encode()
        cand.send(encoded)
        left = case_start + timeout_s - time.monotonic()
        late = False
        try:
            raw = cand.recv(max(left, 0.0))
        except TimeoutError:
            raw, late = None, True
        limit = ASSERT_REPLY_FLOOR_BYTES + _REPLY_FACTOR * len(encoded)
        reply = None if raw is None else _reply(raw, limit)
        if late or time.monotonic() > case_start + timeout_s:  # decoding the reply counts
            cand.kill()
            checker.kill()
            out.add(current, False, f"timed out after {timeout_s:g} s", timeout_s, timeout=True)
            out.fail_rest("not run: an earlier case timed out")
            return
        if reply is None:
            gone = _gone(cand, out)
            checker.send(json.dumps({"gone": gone}).encode())
            continue
        answer: dict[str, Any]
        if reply.kind == "value":
            answer = {"ok": True, "value": encode(reply.payload)}
        elif reply.kind == "error":
            answer = {"ok": False, "error": reply.payload}
        else:
            answer = {"ok": False, "error": {"type": "ValueRejected", "message": reply.payload}}
        if reply.kind != "bad" and mutations != "hidden":
            why = _sent_args_changed(request, reply)
            if why is not None and mutations == "fail":
                mutated = mutated or f"{msg['call']} mutated its arguments: {why}"
            elif why is not None and reply.after is not None:
                answer["after"] = {"args": encode(reply.after[0]), "kwargs": encode(reply.after[1])}
        checker.send(json.dumps(answer, allow_nan=False).encode())


def _sent_args_changed(request: Mapping[str, Any], reply: _Reply) -> str | None:
    """Why the arguments the tests sent differ after the call (None when they do not)."""
    try:
        args = [decode(a) for a in request["args"]]
        kwargs = {str(k): decode(v) for k, v in request["kwargs"].items()}
    except (ValueRejected, RecursionError, AttributeError, TypeError):
        return None  # the test runner's own message: not the candidate's doing
    return _mutation(reply.after, args, kwargs)


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

    Never raises on a bad program. A sandbox failure, broken tests or a language whose runtime
    cannot start in the sandbox under ``limits`` (`runtime_problem`) give an ``ERROR`` verdict.

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
            problem = runtime_problem(box, spec.language, base)
            if problem is not None:  # could not judge: never a wrong answer
                return Verdict(
                    Status.ERROR, extracted=extracted, reason=problem, details={"sandbox": box.name}
                )
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
