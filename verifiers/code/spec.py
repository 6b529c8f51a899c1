"""What the code verifier runs: test specs, read from plain JSON by `parse_tests`.

Three kinds of tests:

- **function calls** ``{"entry_point": "f", "cases": [{"args": [...], "kwargs": {...},
  "expected": ...}], "tolerance": {"rel": 1e-9, "abs": 0}}``; a call that changes its arguments
  fails its case unless the case declares what they must be after the call (``"args_after":
  [...]``, ``"kwargs_after": {...}``: an in-place function's tests);
- **stdin/stdout** ``[{"stdin": "...", "stdout": "..."}]`` (or ``{"cases": [...],
  "tolerance": ...}``): token-exact, floats within a tolerance only when the task declares one;
- **assert-style** ``{"setup": "...", "asserts": ["assert f(1) == 2", ...], "entry_point": "f"}``
  (each assert one case) or HumanEval's ``check(candidate)`` as one case. The test code passes
  copies of its arguments; ``"mutations"`` says what a call that changes them does (`MUTATIONS`).

Values in function cases are decoded leniently (`assay.verifiers.code.values`): spec files may
use plain JSON objects for ``str``-keyed dicts. A spec that does not fit raises `SpecError` (a
`ValueError`), whatever the reason: bad JSON, a missing field, a value that is not plain data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.sandboxes.base import LANGUAGES
from assay.verifiers.code.values import Tolerance, ValueRejected, decode
from assay.verifiers.errors import VerifierError

__all__ = [
    "MUTATIONS",
    "AssertTests",
    "CallCase",
    "FunctionTests",
    "IOCase",
    "SpecError",
    "StdioTests",
    "TestSpec",
    "parse_tests",
]


class SpecError(VerifierError, ValueError):
    """The tests given to the code verifier do not make a `TestSpec` (the message says why)."""


MUTATIONS = ("hidden", "fail", "visible")
"""What an assert-style call that changes its arguments does: ``"hidden"`` (the default) the test
never sees it (its arguments cross as copies; HumanEval's canonical solution of problem 70 empties
its argument list, harmlessly, since the test passes a literal); ``"fail"`` fails the case;
``"visible"`` writes the changes back into the test's own lists, dicts and sets, so that tests of
in-place functions see them as in one process."""


@dataclass(frozen=True, slots=True)
class CallCase:
    """Call ``entry_point(*args, **kwargs)`` and expect ``expected`` (plain values).

    ``args_after``/``kwargs_after``: the arguments as they must be after the call, when the
    function changes them in place; ``None`` means unchanged.
    """

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    expected: Any
    args_after: tuple[Any, ...] | None = None
    kwargs_after: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FunctionTests:
    """Call ``entry_point`` once per case; results compared outside the sandbox."""

    entry_point: str
    cases: tuple[CallCase, ...]
    tolerance: Tolerance | None = None


@dataclass(frozen=True, slots=True)
class IOCase:
    """Feed ``stdin``; expect ``stdout`` (compared token by token)."""

    stdin: str
    stdout: str


@dataclass(frozen=True, slots=True)
class StdioTests:
    """Run the whole program once per case; only a zero exit status and stdout count."""

    cases: tuple[IOCase, ...]
    tolerance: Tolerance | None = None
    language: str = "python"


@dataclass(frozen=True, slots=True)
class AssertTests:
    """Trusted test code: ``setup`` runs once, then each case; ``names`` are proxied."""

    setup: str
    cases: tuple[str, ...]
    names: tuple[str, ...]
    mutations: str = "hidden"
    """One of `MUTATIONS`."""


TestSpec = FunctionTests | StdioTests | AssertTests


def _tolerance(obj: Any) -> Tolerance | None:
    if obj is None:
        return None
    if not isinstance(obj, Mapping) or set(obj) - {"rel", "abs"}:
        raise SpecError(f"tolerance must be {{'rel': x, 'abs': y}}, got {obj!r}")
    try:
        return Tolerance(rel=obj.get("rel", 0.0), abs=obj.get("abs", 0.0))
    except ValueError as e:  # Tolerance checks its own arguments
        raise SpecError(str(e)) from e


def _identifier(name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise SpecError(f"entry_point must be a Python identifier, got {name!r}")
    return name


def _io_cases(items: Any) -> tuple[IOCase, ...]:
    cases = []
    for i, c in enumerate(items):
        if (
            not isinstance(c, Mapping)
            or not isinstance(c.get("stdin", ""), str)
            or not isinstance(c.get("stdout"), str)
        ):
            raise SpecError(f"stdin/stdout case {i} must be {{'stdin': str, 'stdout': str}}")
        cases.append(IOCase(c.get("stdin", ""), c["stdout"]))
    return tuple(cases)


def parse_tests(obj: Any) -> TestSpec:
    """A `TestSpec` from plain JSON data (see the module docstring); `SpecError` if malformed."""
    if isinstance(obj, FunctionTests | StdioTests | AssertTests):
        return obj
    if isinstance(obj, str | bytes):
        try:
            obj = json.loads(obj)
        except ValueError as e:
            raise SpecError(str(e)) from e
    if isinstance(obj, Sequence):
        return StdioTests(_io_cases(obj))
    if not isinstance(obj, Mapping):
        raise SpecError(f"tests must be a JSON object or list, got {type(obj).__name__}")
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
            raise SpecError("assert-style tests need at least one assert")
        mutations = obj.get("mutations", "hidden")
        if mutations not in MUTATIONS:
            raise SpecError(f"mutations must be one of {MUTATIONS}, got {mutations!r}")
        return AssertTests(setup, cases, names, mutations)
    if "entry_point" in obj:
        entry = _identifier(obj["entry_point"])
        calls = []
        for i, c in enumerate(obj.get("cases", [])):
            if not isinstance(c, Mapping) or "expected" not in c:
                raise SpecError(f"function case {i} must have 'expected' (and 'args'/'kwargs')")
            try:
                args = decode(c.get("args", []), lenient=True)
                kwargs = decode(c.get("kwargs", {}), lenient=True)
                args_after = decode(c["args_after"], lenient=True) if "args_after" in c else None
                kwargs_after = decode(c["kwargs_after"], lenient=True) if "kwargs_after" in c else None
                if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
                    raise SpecError(f"function case {i}: 'args' must be a list and 'kwargs' an object")
                if not (
                    args_after is None
                    or (isinstance(args_after, list | tuple) and len(args_after) == len(args))
                ):
                    raise SpecError(f"function case {i}: 'args_after' must be a list as long as 'args'")
                if not (
                    kwargs_after is None
                    or (isinstance(kwargs_after, dict) and set(kwargs_after) == set(kwargs))
                ):
                    raise SpecError(f"function case {i}: 'kwargs_after' must have the keys of 'kwargs'")
                calls.append(
                    CallCase(
                        tuple(args),
                        kwargs,
                        decode(c["expected"], lenient=True),
                        None if args_after is None else tuple(args_after),
                        kwargs_after,
                    )
                )
            except ValueRejected as e:  # a value that is not plain data
                raise SpecError(str(e)) from e
        if not calls:
            raise SpecError("function tests need at least one case")
        return FunctionTests(entry, tuple(calls), tol)
    if "cases" in obj:
        language = obj.get("language", "python")
        if language not in LANGUAGES:
            raise SpecError(f"unknown language {language!r}; one of {sorted(LANGUAGES)}")
        return StdioTests(_io_cases(obj["cases"]), tol, language)
    raise SpecError(
        "unrecognised tests: expected 'entry_point' + 'cases', stdin/stdout 'cases', or 'asserts'"
    )
