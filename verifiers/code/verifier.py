"""`CodeVerifier`: a completion's code, run against the task's tests (`verify_program`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assay.sandboxes import Limits, Sandbox
from assay.verifiers.base import Status, Task, Verdict
from assay.verifiers.code.harness import Scoring, verify_program
from assay.verifiers.code.program import compose_program, extract_code, parses
from assay.verifiers.code.spec import AssertTests, FunctionTests, parse_tests
from assay.verifiers.code.values import ValueRejected

__all__ = ["CodeVerifier"]


@dataclass(frozen=True)
class CodeVerifier:
    """Verify a completion's program against ``task.meta[tests_key]`` (see `verify_program`).

    The program is the completion's code (`extract_code`) after ``task.meta["preamble"]`` when the
    task has one (`compose_program`); a completion that is a bare continuation of the preamble
    (parses only after it, see `parses`: never more than ``MAX_PARSE_CHARS`` together) is taken as
    is. No extractable code is ``NO_ANSWER``.

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
        if code is None and preamble and parses(preamble + completion):
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
