"""`assay.errors` promises that every error assay raises on purpose derives from `AssayError`.

The audit imports every assay module (in a subprocess, so the heavy imports stay out of this
one), finds each exception class it defines and checks its bases. Programs shipped into a sandbox
as source cannot be imported (they run at import); their classes are read from the syntax tree.
"""

import ast
import builtins
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import assay.sandboxes.inside
import assay.verifiers.code.inside
from assay.errors import AssayError, VerifierError

EXEMPT = {
    "assay.verifiers.code.values.ValueRejected": (
        "values.py is shipped as source into the sandbox, where assay is not installed; on the host"
        " parse_tests and the harness turn it into SpecError, and a reply that is not plain data"
        " into a failed case"
    ),
    "assay.verifiers.code.inside.checker.CandidateGone": (
        "runs inside the test runner (no assay there); a BaseException so that test code's"
        " `except Exception` cannot swallow it; never leaves that process"
    ),
    "assay.verifiers.code.inside.checker.HarnessError": (
        "runs inside the test runner (no assay there); reported to the host as a message, which"
        " makes an ERROR verdict; never leaves that process"
    ),
}
"""Public exception classes that do not derive from `AssayError`, with the reason."""

CONTROL_FLOW = {
    "assay.verifiers.math.equiv._False": "a definite 'not equal' from deep in a comparison; judge() catches it",
    "assay.verifiers.math.equiv._FalseStatement": "an answer stating a false equality (a _False); judge() catches it",
    "assay.verifiers.math.exact._Singular": "a denominator vanished mod p: the identity test tries another point",
}
"""Private exceptions used for control flow: raised and caught inside one module, never escaping."""

_AUDIT = textwrap.dedent(
    """
    import importlib, inspect, json, pkgutil
    import assay
    from assay.errors import AssayError

    found, skipped = [], []
    # each top-level folder is its own package (pyproject's package-dir mapping): walk each one
    roots = ["assay", "assay.envs", "assay.verifiers", "assay.rewards", "assay.agents", "assay.sandboxes"]
    names = set()
    for root in roots:
        package = importlib.import_module(root)
        names.update(info.name for info in pkgutil.walk_packages(package.__path__, root + "."))
    for name in sorted(names):
        if ".inside" in name or name.endswith(".__main__"):
            continue  # run at import (in-sandbox programs, the CLI entry point)
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            if e.name is None or e.name.split(".")[0] == "assay":
                raise  # a broken import of our own is a failure, not a skip
            skipped.append(f"{name}: {e}")  # an optional extra that is not installed
            continue
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == name
            ):
                found.append([f"{name}.{obj.__qualname__}", issubclass(obj, AssayError)])
    print(json.dumps({"found": found, "skipped": skipped}))
    """
)


@pytest.fixture(scope="module")
def audit() -> dict[str, list]:
    out = subprocess.run(
        [sys.executable, "-c", _AUDIT], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_exception_assay_defines_derives_from_assay_error(audit):
    outside = {name for name, derives in audit["found"] if not derives}
    assert outside <= set(EXEMPT) | set(CONTROL_FLOW), sorted(outside - set(EXEMPT) - set(CONTROL_FLOW))
    audited = {name for name, _ in audit["found"]}
    assert {"assay.verifiers.arithmetic.ExpressionError", "assay.envs.tools.tool.ToolError"} <= audited


def test_the_exemption_lists_name_real_classes(audit):
    found = {name for name, _ in audit["found"]} | set(_inside_exceptions())
    assert set(EXEMPT) | set(CONTROL_FLOW) <= found
    assert all(name.rsplit(".", 1)[1].startswith("_") for name in CONTROL_FLOW)


def _inside_exceptions() -> list[str]:
    """Exception classes defined in the in-sandbox programs (read, not imported: they run on import)."""
    names = []
    for package in (assay.verifiers.code.inside, assay.sandboxes.inside):
        for path in sorted(Path(package.__file__).parent.glob("*.py")):
            exceptions = {
                n
                for n in dir(builtins)
                if isinstance(getattr(builtins, n), type) and issubclass(getattr(builtins, n), BaseException)
            }
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.ClassDef) and any(
                    isinstance(b, ast.Name) and b.id in exceptions for b in node.bases
                ):
                    exceptions.add(node.name)
                    names.append(f"{package.__name__}.{path.stem}.{node.name}")
    return names


def test_in_sandbox_exceptions_are_all_exempt():
    assert set(_inside_exceptions()) <= set(EXEMPT)


def test_input_errors_keep_their_standard_type():
    """Callers that catch ValueError / ZeroDivisionError still catch assay's subclasses."""
    from assay.verifiers.arithmetic import DivisionByZero, ExpressionError
    from assay.verifiers.code import SpecError
    from assay.verifiers.math import ParseError, TooComplex

    for cls in (ExpressionError, SpecError, ParseError, TooComplex):
        assert issubclass(cls, VerifierError) and issubclass(cls, ValueError)
    assert issubclass(DivisionByZero, ZeroDivisionError) and issubclass(DivisionByZero, ExpressionError)
    assert issubclass(VerifierError, AssayError)
