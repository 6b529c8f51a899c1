"""Competition math: MATH (Hendrycks et al.) with its MATH-500 subset, and AIME.

``assay/MATH-v0``. ``subset="all"``: the schema of ``EleutherAI/hendrycks_math`` (seven subject
configs, concatenated): ``problem``, ``level`` ("Level 1".."Level 5"), ``type``, ``solution``
(the reference is the last ``\\boxed{}`` of the solution). ``subset="math500"``: the schema of
``HuggingFaceH4/MATH-500``: ``problem``, ``solution``, ``answer``, ``subject``, ``level`` (1-5),
``unique_id``. Filter with ``subjects`` and ``levels``.

``assay/AIME-v0``. The schema of ``HuggingFaceH4/aime_2024`` (split ``train``): ``id``,
``problem``, ``solution``, ``answer`` (an integer 0-999), ``url``, ``year``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay.envs.dataset import DataSpec, require
from assay.envs.math.dataset import MathDatasetEnv
from assay.errors import EnvError
from assay.verifiers.base import Task
from assay.verifiers.math import reference_answer

__all__ = ["SUBJECTS", "AIMEEnv", "MATHEnv"]

SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)
_SUBJECT_NAMES = {s.replace("_", " "): s for s in SUBJECTS} | {
    "counting & probability": "counting_and_probability"
}

_FULL = DataSpec("EleutherAI/hendrycks_math", "assay.envs.math:data/math.jsonl", configs=SUBJECTS)
_MATH500 = DataSpec("HuggingFaceH4/MATH-500", "assay.envs.math:data/math500.jsonl")


def _subject_key(name: str) -> str:
    key = name.strip().lower()
    return _SUBJECT_NAMES.get(key, key.replace(" ", "_"))


def _level(value: Any) -> int | None:
    text = str(value).lower().replace("level", "").strip()
    return int(text) if text.isdigit() else None


class MATHEnv(MathDatasetEnv):
    """Competition problems from MATH (hub ``EleutherAI/hendrycks_math``), or its MATH-500 subset.

    Args:
        subset: ``"all"`` (the seven subjects) or ``"math500"``.
        subjects: Keep only these subjects (e.g. ``["algebra", "number_theory"]``).
        levels: Keep only these difficulty levels (1-5).
        **kwargs: See `MathDatasetEnv` (``data``, ``columns``, ``split``, ``template``...).
    """

    NAME = "math"

    def __init__(
        self,
        subset: str = "all",
        *,
        subjects: Sequence[str] | None = None,
        levels: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        if subset not in ("all", "math500"):
            raise ValueError(f"subset must be 'all' or 'math500', got {subset!r}")
        self.subset = subset
        self.subjects = None if subjects is None else {_subject_key(s) for s in subjects}
        if self.subjects is not None and not self.subjects <= set(SUBJECTS):
            raise ValueError(
                f"unknown subjects {sorted(self.subjects - set(SUBJECTS))}; choose from {SUBJECTS}"
            )
        self.levels = None if levels is None else set(levels)
        super().__init__(**kwargs)

    def data_spec(self) -> DataSpec:
        """MATH-500's data for ``subset="math500"``, else the full MATH's."""
        return _MATH500 if self.subset == "math500" else _FULL

    def _subject(self, record: dict[str, Any]) -> str:
        return _subject_key(str(record.get("subject") or record.get("type") or ""))

    def select(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = records
        if self.subjects is not None:
            out = [r for r in out if self._subject(r) in self.subjects]
        if self.levels is not None:
            out = [r for r in out if _level(r.get("level")) in self.levels]
        return out

    def to_task(self, record: dict[str, Any], index: int) -> Task:
        require(record, "problem", "solution")
        solution = str(record["solution"])
        answer = str(record["answer"]) if record.get("answer") is not None else reference_answer(solution)
        if not answer or answer == solution.strip():
            raise EnvError(f"MATH record {index} has no \\boxed{{}} answer in its solution")
        meta = {"subject": self._subject(record), "level": _level(record.get("level")), "solution": solution}
        if record.get("unique_id"):
            meta["unique_id"] = str(record["unique_id"])
        task = self.make_task(index, str(record["problem"]), answer, meta)
        if self.subset == "math500":
            return Task(task.id.replace("math/", "math500/", 1), task.prompt, task.answer, task.meta)
        return task

    def task_by_id(self, task_id: str) -> Task:
        return super().task_by_id(task_id)


class AIMEEnv(MathDatasetEnv):
    """AIME problems, integer answers 0-999 (hub ``HuggingFaceH4/aime_2024``; shipped sample offline)."""

    SPEC = DataSpec("HuggingFaceH4/aime_2024", "assay.envs.math:data/aime.jsonl")
    NAME = "aime"
    DEFAULT_SPLIT = "train"

    def to_task(self, record: dict[str, Any], index: int) -> Task:
        require(record, "problem", "answer")
        meta = {k: record[k] for k in ("id", "year", "url") if record.get(k) is not None}
        if record.get("solution"):
            meta["solution"] = str(record["solution"])
        return self.make_task(index, str(record["problem"]), str(record["answer"]), meta)
