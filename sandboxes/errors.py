"""Sandbox errors: raised only when the sandbox itself fails, never for what a program does.

A program that loops, crashes or exhausts memory is an `ExecResult` (``timed_out``, ``oom``,
``exit_code``); these exceptions mean the infrastructure could not run it at all.
"""

from __future__ import annotations

from assay.errors import AssayError

__all__ = ["SandboxError", "SandboxUnavailable"]


class SandboxError(AssayError):
    """The sandbox itself failed (not the program inside it): e.g. the daemon died mid-run."""


class SandboxUnavailable(SandboxError):
    """The sandbox cannot be used here: no Docker daemon, no image, no permission. Fail closed."""
