"""The code verifier: run a candidate program against tests in a sandbox and decide outside it.

    >>> from assay.verifiers.code import CodeVerifier, verify_program

``harness`` runs the tests (see its docstring for the protocol and what it guarantees),
``values`` is the plain-data encoding that crosses the sandbox wall, and ``inside/`` holds the
programs whose *source* is shipped into the sandbox (never imported by the host).
"""

from assay.verifiers.code.harness import (
    AssertTests,
    CallCase,
    CodeVerifier,
    FunctionTests,
    IOCase,
    Scoring,
    StdioTests,
    TestSpec,
    compose_program,
    extract_code,
    parse_tests,
    verify_program,
)

__all__ = [
    "AssertTests",
    "CallCase",
    "CodeVerifier",
    "FunctionTests",
    "IOCase",
    "Scoring",
    "StdioTests",
    "TestSpec",
    "compose_program",
    "extract_code",
    "parse_tests",
    "verify_program",
]
