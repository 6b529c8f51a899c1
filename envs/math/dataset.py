"""`MathDatasetEnv`: the base of the dataset-backed math envs (GSM8K, MATH, AIME).

A dataset env is an indexed list of records turned into `Task`s; it is verified with
`assay.verifiers.math.MathVerifier` and its gold completion is ``\\boxed{<reference answer>}``.
See `assay.envs.dataset` for how records are given (``data=``, ``columns=``) and
`assay.envs.math.prompts` for the templates. The samples shipped with assay are in
``envs/math/data/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from assay.envs.dataset import Data, DatasetEnv, warn_deprecated
from assay.envs.math.prompts import render, system_prompt_for
from assay.errors import EnvError
from assay.verifiers.base import Task
from assay.verifiers.math import MathVerifier

__all__ = ["SOURCES", "MathDatasetEnv"]

SOURCES = ("fixture", "hub", "auto")
"""The values of the deprecated ``source=`` keyword."""

_SOURCE_OF_KIND = {"sample": "fixture", "local": "data_files", "hub": "hub"}


class MathDatasetEnv(DatasetEnv):
    """A math dataset as a single-turn env (subclasses define `SPEC`, `NAME` and `to_task`).

    Args:
        data: Omitted for the shipped sample, a local file in the dataset's schema, or a hub
            dataset id (``SPEC.hub_id`` loads the env's own dataset); see `assay.envs.dataset`.
        columns: ``{field the env reads: column in the data}``.
        split: Dataset split (``"test"``, ``"train"``...). The shipped sample ignores it.
        template: Prompt template name or format string (see `assay.envs.math.prompts`).
        limit: Keep only the first ``limit`` problems.
        verifier: Defaults to ``MathVerifier()``.
        source: Deprecated: ``"fixture"`` (leave ``data`` out), ``"hub"`` (``data=SPEC.hub_id``)
            or ``"auto"`` (the hub, else the sample with a warning).
        data_files: Deprecated: use ``data=``.
        **kwargs: Passed to `SingleTurnEnv` (``rubric``, ``max_chars``, ``system_prompt``...).

    ``source`` (also ``Task.meta["source"]``) says where the records came from: ``"fixture"``,
    ``"data_files"`` (local files) or ``"hub"`` (``"auto"`` when asked for).
    """

    NAME: str

    def __init__(
        self,
        *,
        data: Data | None = None,
        columns: Mapping[str, str] | None = None,
        split: str | None = None,
        template: str = "boxed",
        limit: int | None = None,
        verifier: Any = None,
        source: str | None = None,
        data_files: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        asked = source if source is not None and data is None and data_files is None else None
        if source is not None:
            warn_deprecated("source=", "data= (leave it out for the shipped sample, or give a hub id)")
            if source not in SOURCES:
                raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
            if source != "fixture" and data is None and data_files is None:
                data = self.data_spec().hub_id
                self._hub_else_sample = source == "auto"
        if data_files is not None:
            warn_deprecated("data_files=", "data=")
            data = data_files
        self.template = template
        render(template, "")  # validate early
        kwargs["system_prompt"] = system_prompt_for(template, kwargs.get("system_prompt"))
        super().__init__(
            data=data,
            columns=columns,
            split=split,
            verifier=verifier if verifier is not None else MathVerifier(),
            **kwargs,
        )
        records = self.select(self.records)
        if limit is not None:
            if limit < 1:
                raise ValueError(f"limit must be >= 1, got {limit}")
            records = records[:limit]
        if not records:
            raise EnvError(f"{self.NAME}: no problems left after filtering")
        self.records = records
        self.source = asked or _SOURCE_OF_KIND[self.data_kind]
        self.num_tasks = len(records)

    def select(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Filter the loaded records (default: all)."""
        return records

    def to_task(self, record: dict[str, Any], index: int) -> Task:
        """Turn one record into a `Task` (``id`` must end in ``/<index>``)."""
        raise NotImplementedError

    def task_at(self, index: int) -> Task:
        """The task of record ``index`` (built on each call; see `to_task`)."""
        return self.to_task(self.records[index], index)

    def make_task(self, index: int, problem: str, answer: str, meta: dict[str, Any]) -> Task:
        """The `Task` of one problem: prompt from the template, id ``<NAME>/<split>/<index>``."""
        if not answer.strip():
            raise EnvError(f"{self.NAME} record {index} has no reference answer")
        return Task(
            id=f"{self.NAME}/{self.split}/{index}",
            prompt=render(self.template, problem),
            answer=answer.strip(),
            meta={"source": self.source, **meta},
        )

    def gold(self, task: Task) -> str:
        """``The final answer is $\\boxed{<answer>}$.``"""
        return f"The final answer is $\\boxed{{{task.answer}}}$."
