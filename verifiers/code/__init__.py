"""The code verifier: run a candidate program against tests in a sandbox and decide outside it.

    >>> from assay.verifiers.code import CodeVerifier, verify_program

``spec`` reads the tests (`parse_tests`), ``program`` finds and composes the program text,
``harness`` runs the tests (see its docstring for the protocol and what it guarantees),
``verifier`` is `CodeVerifier`, ``values`` is the plain-data encoding that crosses the sandbox
wall, and ``inside/`` holds the programs whose *source* is shipped into the sandbox (never
imported by the host).
"""

from assay.verifiers.code.harness import Scoring, verify_program
from assay.verifiers.code.program import compose_program, extract_code
from assay.verifiers.code.spec import (
    AssertTests,
    CallCase,
    FunctionTests,
    IOCase,
    SpecError,
    StdioTests,
    TestSpec,
    parse_tests,
)
from assay.verifiers.code.verifier import CodeVerifier

__all__ = [
    "AssertTests",
    "CallCase",
    "CodeVerifier",
    "FunctionTests",
    "IOCase",
    "Scoring",
    "SpecError",
    "StdioTests",
    "TestSpec",
    "compose_program",
    "extract_code",
    "parse_tests",
    "verify_program",
]
