"""`CodeEnv`: a single-turn env whose verifier runs the completion's program against tests.

`CodeDatasetEnv`: a `CodeEnv` over a dataset (`assay.envs.dataset`) whose tasks are built up front.
"""

from __future__ import annotations

from typing import Any

from assay.envs.base import SingleTurnEnv
from assay.envs.dataset import DatasetEnv
from assay.rewards.base import CORRECTNESS, Rubric, Term
from assay.sandboxes import Limits, Sandbox
from assay.verifiers.base import Status, Task, Verdict
from assay.verifiers.code import CodeVerifier, Scoring

__all__ = ["FRACTION", "CodeDatasetEnv", "CodeEnv", "fenced", "passed_fraction"]


def passed_fraction(completion: str, task: Task, verdict: Verdict) -> float:
    """The fraction of tests passed (``verdict.score`` under ``scoring="fraction"``); 0 for errors."""
    ran = (Status.CORRECT, Status.INCORRECT, Status.TIMEOUT)
    return verdict.score if verdict.status in ran else 0.0


FRACTION = Rubric([Term("passed", passed_fraction)])
"""Reward = fraction of tests passed (use with ``scoring="fraction"``)."""


def fenced(code: str) -> str:
    """``code`` in a Markdown python fence (the answer format the prompts ask for)."""
    return f"```python\n{code.rstrip()}\n```"


class CodeEnv(SingleTurnEnv):
    """Base of the code envs.

    Args:
        sandbox: Where programs run: ``"auto"`` (Docker when its daemon and image are ready,
            else the local sandbox), ``"docker"``, ``"local"`` or a `Sandbox`.
        timeout_s: Per test case.
        scoring: ``"all"`` (reward 1 only when every test passes) or ``"fraction"``.
        limits: Memory, process and output limits for the program.
        **kwargs: Passed to `SingleTurnEnv` (``rubric``, ``max_chars``, ``system_prompt``...).
    """

    def __init__(
        self,
        *,
        sandbox: str | Sandbox = "auto",
        timeout_s: float = 5.0,
        scoring: Scoring = "all",
        limits: Limits | None = None,
        **kwargs: Any,
    ) -> None:
        verifier = CodeVerifier(sandbox=sandbox, timeout_s=timeout_s, scoring=scoring, limits=limits)
        kwargs.setdefault("rubric", FRACTION if scoring == "fraction" else CORRECTNESS)
        super().__init__(verifier=verifier, **kwargs)


class CodeDatasetEnv(DatasetEnv, CodeEnv):
    """A `CodeEnv` over a dataset (``data=``, ``columns=``...) whose tasks are built up front.

    Subclasses set ``tasks`` (and ``num_tasks``) from ``records`` in their ``__init__``, skipping
    the records they cannot use. The gold completion is the task's answer in a python fence.
    """

    tasks: list[Task]

    def task_at(self, index: int) -> Task:
        """``tasks[index]``."""
        return self.tasks[index]

    def task_by_id(self, task_id: str) -> Task:
        """The task whose ``id`` is ``task_id`` (a linear search, then the default ``/<index>`` rule)."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        return super().task_by_id(task_id)

    def gold(self, task: Task) -> str:
        """The reference solution in a python fence."""
        return fenced(task.answer or "")
