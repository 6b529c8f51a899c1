"""Verifiers: judge a completion against a task and return a `Verdict`."""

from assay.verifiers.base import Status, Task, Verdict, Verifier
from assay.verifiers.match import ExactMatch, NumberMatch

__all__ = ["ExactMatch", "NumberMatch", "Status", "Task", "Verdict", "Verifier"]
