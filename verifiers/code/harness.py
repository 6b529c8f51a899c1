"""The code verifier: run a candidate program against tests in a sandbox and decide outside it.

Three kinds of tests (`parse_tests` reads them from plain JSON):

- **function calls** ``{"entry_point": "f", "cases": [{"args": [...], "kwargs": {...},
  "expected": ...}], "tolerance": {"rel": 1e-9, "abs": 0}}``;
- **stdin/stdout** ``[{"stdin": "...", "stdout": "..."}]`` (or ``{"cases": [...],
  "tolerance": ...}``): token-exact, floats within a tolerance only when the task declares one;
- **assert-style** ``{"setup": "...", "asserts": ["assert f(1) == 2", ...], "entry_point": "f"}``
  (each assert one case) or HumanEval's ``check(candidate)`` as one case.

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

import ast
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assay.sandboxes import Limits, Sandbox, SandboxError, Session, get_sandbox
from assay.sandboxes.local import LocalSandbox
from assay.verifiers.base import Status, Task, Verdict
from assay.verifiers.code.values import Tolerance, ValueRejected, compare_tokens, decode, encode, same

__all__ = [
    "AssertTests",
    "CallCase",
    "CodeVerifier",
    "FunctionTests",
    "IOCase",
    "StdioTests",
    "TestSpec",
    "compose_program",
    "extract_code",
    "parse_tests",
    "verify_program",
]

Scoring = Literal["all", "fraction"]


# -- test specs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallCase:
    """Call ``entry_point(*args, **kwargs)`` and expect ``expected`` (plain values)."""

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    expected: Any


@dataclass(frozen=True, slots=True)
class FunctionTests:
    entry_point: str
    cases: tuple[CallCase, ...]
    tolerance: Tolerance | None = None


@dataclass(frozen=True, slots=True)
class IOCase:
    stdin: str
    stdout: str


@dataclass(frozen=True, slots=True)
class StdioTests:
    cases: tuple[IOCase, ...]
    tolerance: Tolerance | None = None
    language: str = "python"


@dataclass(frozen=True, slots=True)
class AssertTests:
    """Trusted test code: ``setup`` runs once, then each case; ``names`` are proxied."""

    setup: str
    cases: tuple[str, ...]
    names: tuple[str, ...]


TestSpec = FunctionTests | StdioTests | AssertTests


def _tolerance(obj: Any) -> Tolerance | None:
    if obj is None:
        return None
    if not isinstance(obj, Mapping) or set(obj) - {"rel", "abs"}:
        raise ValueError(f"tolerance must be {{'rel': x, 'abs': y}}, got {obj!r}")
    return Tolerance(rel=obj.get("rel", 0.0), abs=obj.get("abs", 0.0))


def _identifier(name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"entry_point must be a Python identifier, got {name!r}")
    return name


def _io_cases(items: Any) -> tuple[IOCase, ...]:
    cases = []
    for i, c in enumerate(items):
        if (
            not isinstance(c, Mapping)
            or not isinstance(c.get("stdin", ""), str)
            or not isinstance(c.get("stdout"), str)
        ):
            raise ValueError(f"stdin/stdout case {i} must be {{'stdin': str, 'stdout': str}}")
        cases.append(IOCase(c.get("stdin", ""), c["stdout"]))
    return tuple(cases)


def parse_tests(obj: Any) -> TestSpec:
    """A `TestSpec` from plain JSON data (see the module docstring); `ValueError` if malformed."""
    if isinstance(obj, FunctionTests | StdioTests | AssertTests):
        return obj
    if isinstance(obj, str | bytes):
        obj = json.loads(obj)
    if isinstance(obj, Sequence):
        return StdioTests(_io_cases(obj))
    if not isinstance(obj, Mapping):
        raise ValueError(f"tests must be a JSON object or list, got {type(obj).__name__}")
    tol = _tolerance(obj.get("tolerance"))
    if "asserts" in obj or "check" in obj:
        names = obj.get("names") or [obj.get("entry_point")]
        names = tuple(_identifier(n) for n in names)
        setup = str(obj.get("setup", ""))
        if "check" in obj:
            cases: tuple[str, ...] = (f"{obj['check']}({names[0]})",)
        else:
            cases = tuple(str(a) for a in obj["asserts"])
        if not cases:
            raise ValueError("assert-style tests need at least one assert")
        return AssertTests(setup, cases, names)
    if "entry_point" in obj:
        entry = _identifier(obj["entry_point"])
        calls = []
        for i, c in enumerate(obj.get("cases", [])):
            if not isinstance(c, Mapping) or "expected" not in c:
                raise ValueError(f"function case {i} must have 'expected' (and 'args'/'kwargs')")
            args = decode(c.get("args", []), lenient=True)
            kwargs = decode(c.get("kwargs", {}), lenient=True)
            if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
                raise ValueError(f"function case {i}: 'args' must be a list and 'kwargs' an object")
            calls.append(CallCase(tuple(args), kwargs, decode(c["expected"], lenient=True)))
        if not calls:
            raise ValueError("function tests need at least one case")
        return FunctionTests(entry, tuple(calls), tol)
    if "cases" in obj:
        return StdioTests(_io_cases(obj["cases"]), tol, str(obj.get("language", "python")))
    raise ValueError(
        "unrecognised tests: expected 'entry_point' + 'cases', stdin/stdout 'cases', or 'asserts'"
    )


# -- programs -----------------------------------------------------------------------------------


def extract_code(text: str, language: str = "python") -> str | None:
    """The program in a completion: the last fenced code block in ``language`` (or untagged).

    An unterminated last fence (a truncated completion) runs to the end. Without fences, the
    whole text is taken if it parses as Python. Linear in the text.
    """
    aliases = {"python": {"python", "py", "python3"}}.get(language, {language})
    blocks: list[tuple[str, str]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        stripped = lines[i].lstrip()
        if stripped.startswith("```"):
            tag = stripped[3:].strip().lower()
            body = []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith("```"):
                body.append(lines[i])
                i += 1
            blocks.append((tag, "\n".join(body)))
        i += 1
    chosen = [b for t, b in blocks if t in aliases or t == ""]
    if chosen:
        code = chosen[-1]
        return code if code.strip() else None
    if blocks or not text.strip() or language != "python":
        return None
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return text


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _defines(code: str, names: Sequence[str]) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    top = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    return all(n in top for n in names)


def compose_program(preamble: str, code: str, names: Sequence[str] = ()) -> str:
    """``preamble`` (e.g. HumanEval's prompt) and the candidate's ``code``.

    Code that defines every tested name is a whole solution and goes after the preamble (which
    supplies imports and helpers); otherwise it continues the preamble (a function body).
    """
    if not preamble:
        return code
    if _defines(code, names):
        return preamble.rstrip("\n") + "\n\n\n" + code
    return preamble + code


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
            request = {
                "id": i,
                "call": tests.entry_point,
                "args": [encode(a) for a in case.args],
                "kwargs": {k: encode(v) for k, v in case.kwargs.items()},
            }
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


@dataclass(frozen=True)
class CodeVerifier:
    """Verify a completion's program against ``task.meta[tests_key]`` (see `verify_program`).

    The program is the completion's code (`extract_code`) after ``task.meta["preamble"]`` when the
    task has one (`compose_program`); a completion that is a bare continuation of the preamble
    (parses only after it) is taken as is. No extractable code is ``NO_ANSWER``.

    Attributes:
        sandbox: ``"auto"`` (Docker when ready, else local), ``"docker"``, ``"local"`` or a `Sandbox`.
        timeout_s: Per test case.
        scoring: ``"all"`` or ``"fraction"``.
        limits: Limits for the candidate (memory, processes, output).
        extract: Completion -> program text, or None.
        tests_key: Where the tests live in ``task.meta``.
        runner: Where assert-style test code runs (default: this process's local test runner,
            for the env's own trusted tests). Give the candidate's own sandbox when the test
            code comes from someone else (``assay serve --allow-client-tests``).
    """

    sandbox: str | Sandbox = "auto"
    timeout_s: float = 5.0
    scoring: Scoring = "all"
    limits: Limits | None = None
    extract: Callable[[str], str | None] = extract_code
    tests_key: str = "tests"
    runner: Sandbox | None = None

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        try:
            code = self.extract(completion)
        except (ValueError, RecursionError, MemoryError) as e:
            return Verdict(Status.NO_ANSWER, reason=f"could not extract code: {type(e).__name__}")
        preamble = str(task.meta.get("preamble", ""))
        if code is None and preamble and _parses(preamble + completion):
            code = completion  # a bare continuation of the prompt (HumanEval's original format)
        if code is None:
            return Verdict(Status.NO_ANSWER, reason="no code block found")
        if self.tests_key not in task.meta:
            return Verdict(
                Status.ERROR, extracted=code, reason=f"task {task.id!r} has no meta[{self.tests_key!r}]"
            )
        tests = task.meta[self.tests_key]
        names: Sequence[str] = ()
        try:
            spec = parse_tests(tests)
        except (ValueError, ValueRejected, TypeError) as e:
            return Verdict(Status.ERROR, extracted=code, reason=f"bad tests: {e}")
        if isinstance(spec, FunctionTests):
            names = (spec.entry_point,)
        elif isinstance(spec, AssertTests):
            names = spec.names
        program = compose_program(preamble, code, names)
        return verify_program(
            program,
            spec,
            sandbox=self.sandbox,
            runner=self.runner,
            timeout_s=self.timeout_s,
            scoring=self.scoring,
            limits=self.limits,
            extracted=code,
        )
