"""The error hierarchy. Every error assay raises on purpose derives from `AssayError`.

Outcomes are values, not exceptions: a wrong answer is a `Verdict`, a program that loops is an
`ExecResult` with ``timed_out=True``. Exceptions are for programmer and infrastructure errors.
"""

from __future__ import annotations

__all__ = ["AssayError", "ContractError", "EnvError", "UnknownTask", "VerifierError"]


class AssayError(Exception):
    """Root of every error this library raises on purpose."""


class VerifierError(AssayError):
    """A verifier is misconfigured or missing a dependency, or a reader under it refuses its input.

    The readers' errors (`assay.verifiers.arithmetic.ExpressionError`, the math parser's
    ``ParseError``/``TooComplex``, the code verifier's ``SpecError``) are also ValueErrors.
    """


class EnvError(AssayError):
    """An environment is misconfigured or its data is missing."""


class UnknownTask(EnvError, KeyError):
    """``reset(options=...)`` named a task id or index the environment does not have."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ContractError(AssayError, AssertionError):
    """An environment broke the text-env contract (see `assay.envs.check_text_env`)."""
