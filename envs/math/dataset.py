"""`MathDatasetEnv`: the base of the dataset-backed math envs (GSM8K, MATH, AIME).

A dataset env is an indexed list of records turned into `Task`s; it is verified with
`assay.verifiers.math.MathVerifier` and its gold completion is ``\\boxed{<reference answer>}``.
See `assay.envs.math.data` for where records come from and `assay.envs.math.prompts` for the
templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from assay.envs.base import SingleTurnEnv
from assay.envs.math.data import HubSpec, load_records
from assay.envs.math.prompts import render, system_prompt_for
from assay.errors import EnvError
from assay.verifiers.base import Task
from assay.verifiers.math import MathVerifier

__all__ = ["MathDatasetEnv"]


class MathDatasetEnv(SingleTurnEnv):
    """A math dataset as a single-turn env (subclasses define `SPEC`, `NAME` and `to_task`).

    Args:
        split: Dataset split (``"test"``, ``"train"``...). The fixture ignores it.
        source: ``"fixture"`` (default, shipped problems), ``"hub"`` or ``"auto"``.
        data_files: Local files in the dataset's schema (overrides ``source``).
        template: Prompt template name or format string (see `assay.envs.math.prompts`).
        limit: Keep only the first ``limit`` problems.
        verifier: Defaults to ``MathVerifier()``.
        **kwargs: Passed to `SingleTurnEnv` (``rubric``, ``max_chars``, ``system_prompt``...).
    """

    SPEC: ClassVar[HubSpec]
    NAME: ClassVar[str]
    DEFAULT_SPLIT: ClassVar[str] = "test"

    def __init__(
        self,
        *,
        split: str | None = None,
        source: str = "fixture",
        data_files: str | Sequence[str] | None = None,
        template: str = "boxed",
        limit: int | None = None,
        verifier: Any = None,
        **kwargs: Any,
    ) -> None:
        self.split = split or self.DEFAULT_SPLIT
        self.template = template
        render(template, "")  # validate early
        kwargs["system_prompt"] = system_prompt_for(template, kwargs.get("system_prompt"))
        super().__init__(verifier=verifier if verifier is not None else MathVerifier(), **kwargs)
        records = self.select(
            load_records(self.hub_spec(), source=source, data_files=data_files, split=self.split)
        )
        if limit is not None:
            if limit < 1:
                raise ValueError(f"limit must be >= 1, got {limit}")
            records = records[:limit]
        if not records:
            raise EnvError(f"{self.NAME}: no problems left after filtering")
        self.records = records
        self.source = "data_files" if data_files is not None else source
        self.num_tasks = len(records)

    def hub_spec(self) -> HubSpec:
        """Where the data lives (subclasses may pick by constructor arguments)."""
        return self.SPEC

    def select(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Filter the loaded records (default: all)."""
        return records

    def to_task(self, record: dict[str, Any], index: int) -> Task:
        """Turn one record into a `Task` (``id`` must end in ``/<index>``)."""
        raise NotImplementedError

    def task_at(self, index: int) -> Task:
        return self.to_task(self.records[index], index)

    def make_task(self, index: int, problem: str, answer: str, meta: dict[str, Any]) -> Task:
        if not answer.strip():
            raise EnvError(f"{self.NAME} record {index} has no reference answer")
        return Task(
            id=f"{self.NAME}/{self.split}/{index}",
            prompt=render(self.template, problem),
            answer=answer.strip(),
            meta={"source": self.source, **meta},
        )

    def gold(self, task: Task) -> str:
        return f"The final answer is $\\boxed{{{task.answer}}}$."
