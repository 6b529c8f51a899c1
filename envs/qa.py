"""QA: a generic question-answer env over your own data, with a verifier you choose.

``assay/QA-v0``. The records come from any local JSONL, JSON, CSV or parquet file (a list or a
glob), or a Hugging Face hub dataset id (`DatasetEnv`'s ``data=``); a column mapping names the
prompt, the reference answer and, optionally, the task id and extra fields kept in the task's
``meta``. ``verifier=`` picks how completions are judged:

- ``"math"``: `MathVerifier` (symbolic equivalence, in a worker under a deadline);
- ``"exact"``: `ExactMatch` (case and spacing ignored) on the ``<answer>`` tag or ``\\boxed{}``;
- ``"number"``: `NumberMatch` (exact rationals: ``0.5 == 1/2``);
- ``"code"``: `CodeVerifier`: the answer column holds the tests (a `parse_tests` JSON spec or
  assert statements), run against the completion's program in a sandbox;
- ``"judge"``: an LLM judge on an OpenAI-compatible server (``judge_url``, ``judge_model``),
  which sees the prompt, the reference and the completion (`assay.rewards.judge.Judge`).

    assay eval --env assay/QA-v0 --env-args data=my.jsonl,prompt=question,answer=label,task_id=uid,verifier=math ...

Registered, so the trainers take it like any env. Leaving ``data`` out gives a four-line sample
shipped for demos and tests (not a benchmark). Not guaranteed: anything about your data; a
record without the mapped columns is an `EnvError` at construction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from assay.envs.dataset import DatasetEnv, DataSpec, require
from assay.errors import EnvError
from assay.verifiers.base import Task, Verifier
from assay.verifiers.extract import first_of, last_boxed, tagged
from assay.verifiers.match import ExactMatch, NumberMatch

__all__ = ["VERIFIERS", "QAEnv"]

VERIFIERS = ("math", "exact", "number", "code", "judge")
_EXTRACT = first_of(tagged("answer"), last_boxed)


def _verifier(kind: str, judge_url: str | None, judge_model: str | None) -> Verifier:
    if kind == "exact":
        return ExactMatch(extract=_EXTRACT)
    if kind == "number":
        return NumberMatch(extract=_EXTRACT)
    if kind == "math":
        from assay.verifiers.math import MathVerifier

        return MathVerifier()
    if kind == "code":
        from assay.verifiers.code import CodeVerifier

        return CodeVerifier()
    if kind == "judge":
        if not judge_url:
            raise ValueError("verifier=judge needs judge_url=http://host:port (an OpenAI-compatible server)")
        from assay.rewards.judge import Judge, rubric_template
        from assay.verifiers.sampler import OpenAISampler, served_model

        name = judge_model or served_model(judge_url, None, timeout_s=30.0)
        sampler = OpenAISampler(judge_url, name, logprobs=False)
        criteria = "The response's final answer agrees with the REFERENCE answer."
        return Judge(sampler, template=rubric_template(criteria))
    raise ValueError(f"verifier must be one of {VERIFIERS}, got {kind!r}")


class QAEnv(DatasetEnv):
    """Questions and reference answers from your data (see the module docstring).

    Args:
        data: A local file (list, glob) or hub dataset id; omitted: the shipped sample.
        prompt: The prompt column.
        answer: The reference-answer column (for ``verifier="code"``: the tests).
        task_id: The task-id column (default: the record's index). Not ``id``: that name is
            ``assay.make``'s.
        meta: Columns copied into ``task.meta``.
        verifier: ``"math"``, ``"exact"``, ``"number"``, ``"code"`` or ``"judge"``.
        judge_url, judge_model: The judge's server and model (``verifier="judge"``).
        split, name, revision: Hub split, config and revision (`DatasetEnv`).
        **kwargs: Passed on to `SingleTurnEnv` (``rubric``, ``system_prompt``, ...).
    """

    SPEC: ClassVar[DataSpec] = DataSpec("your/dataset", "assay.envs:qa_sample.jsonl")
    DEFAULT_SPLIT: ClassVar[str] = "test"

    def __init__(
        self,
        data: Any = None,
        *,
        prompt: str = "question",
        answer: str = "answer",
        task_id: str | None = None,
        meta: Sequence[str] = (),
        verifier: str = "exact",
        judge_url: str | None = None,
        judge_model: str | None = None,
        **kwargs: Any,
    ) -> None:
        if verifier not in VERIFIERS:
            raise ValueError(f"verifier must be one of {VERIFIERS}, got {verifier!r}")
        if isinstance(meta, str):
            meta = [m for m in meta.split("+") if m]  # key=value CLI spelling: meta=source+level
        super().__init__(data=data, verifier=_verifier(verifier, judge_url, judge_model), **kwargs)
        self.prompt_column, self.answer_column = prompt, answer
        self.id_column: str | None = task_id
        self.meta_columns: list[str] = list(meta)
        fields = [prompt, answer, *meta, *([task_id] if task_id else [])]
        for record in self.records[:1]:
            require(record, *fields)
        self.verifier_kind = verifier
        self.num_tasks = len(self.records)
        ids = [str(r.get(task_id)) for r in self.records] if task_id else []
        if task_id and len(set(ids)) != len(ids):
            raise EnvError(f"QA: column {task_id!r} has duplicate ids; task ids must be unique")

    def task_at(self, index: int) -> Task:
        r = self.records[index]
        missing = [c for c in (self.prompt_column, self.answer_column, *self.meta_columns) if c not in r]
        if missing:
            raise EnvError(f"QA: record {index} has no column {missing} (has {sorted(r)})")
        meta = {m: r[m] for m in self.meta_columns}
        answer = r[self.answer_column]
        if self.verifier_kind == "code":
            meta["tests"] = answer if isinstance(answer, dict | list) else _maybe_json(str(answer))
        task_id = f"qa/{r[self.id_column]}" if self.id_column else f"qa/{index}"
        return Task(
            id=task_id,
            prompt=str(r[self.prompt_column]),
            answer=None if answer is None else str(answer),
            meta=meta,
        )

    def task_by_id(self, task_id: str) -> Task:
        if self.id_column:
            key = task_id.removeprefix("qa/")
            for i, r in enumerate(self.records):
                if str(r.get(self.id_column)) == key:
                    return self.task_at(i)
        return super().task_by_id(task_id)

    def gold(self, task: Task) -> str:
        if self.verifier_kind == "code":
            return str(task.meta.get("gold", ""))
        return f"<answer>{task.answer}</answer>"


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"asserts": text}
