"""MBPP: write a short Python function from a one-line description, checked by asserts.

``assay/MBPP-v0``. Records in MBPP's schema (``task_id``, ``text`` or ``prompt``, ``code``,
``test_list``, ``test_setup_code``, ``test_imports``): the full or sanitized MBPP from the Hub
(``data="google-research-datasets/mbpp"``, needs the network and the ``datasets`` extra), a local
file (``data=``), or, by default, ``mbpp_sample.jsonl``: a few tasks in MBPP's format written for assay's
tests (not MBPP's own problems; MBPP itself is not on PyPI). Each assert is one test case, run
in the separate test runner against a proxy of the candidate's functions. Tasks whose tests need
more than plain data across the boundary (e.g. they build objects of a class the solution
defines) are skipped when the data is loaded.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from assay.envs.code.base import CodeDatasetEnv
from assay.envs.dataset import Data, DataSpec
from assay.errors import EnvError
from assay.verifiers.base import Task

__all__ = ["PROMPT", "MBPPEnv", "mbpp_task"]

PROMPT = "{text}\nYour code should pass these tests:\n\n{tests}\n\nReply with your solution in a single ```python code block."


def _called_names(tests: list[str]) -> set[str]:
    names: set[str] = set()
    for test in tests:
        for node in ast.walk(ast.parse(test)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                names.add(node.func.id)
    return names


def mbpp_task(record: dict[str, Any], index: int, *, show_tests: bool = True) -> Task | None:
    """A `Task` from one MBPP record, or None when its tests cannot run across the boundary."""
    tests = [str(t) for t in record.get("test_list") or []]
    code = str(record.get("code") or "")
    if not tests or not code:
        return None
    try:
        defined = ast.parse(code).body
        called = _called_names(tests)
    except SyntaxError:
        return None
    functions = {n.name for n in defined if isinstance(n, ast.FunctionDef)}
    classes = {n.name for n in defined if isinstance(n, ast.ClassDef)}
    names = sorted(functions & called)
    if not names or classes & called:
        return None
    imports = record.get("test_imports") or []
    setup = "\n".join([*map(str, imports), str(record.get("test_setup_code") or "")])
    text = str(record.get("text") or record.get("prompt") or "")
    shown = "\n".join(tests) if show_tests else tests[0]
    return Task(
        id=f"mbpp/{record.get('task_id', index)}",
        prompt=PROMPT.format(text=text.strip(), tests=shown),
        answer=code,
        meta={"tests": {"setup": setup, "asserts": tests, "names": names}, "index": index},
    )


class MBPPEnv(CodeDatasetEnv):
    """One MBPP task per episode.

    Args:
        data: Omitted for the shipped sample, a local file, or a Hub dataset id
            (``"google-research-datasets/mbpp"``); see `assay.envs.dataset`.
        columns: ``{field the env reads: column in the data}``.
        split: Split to load from the Hub (``"test"``: 500 tasks in full MBPP).
        name: Hub config (``"full"`` or ``"sanitized"``).
        show_tests: Put every test in the prompt (MBPP's usual prompt) or only the first.
        **kwargs: Passed to `CodeEnv` (``sandbox``, ``timeout_s``, ``scoring``, ...).
    """

    SPEC = DataSpec("google-research-datasets/mbpp", "assay.envs.code:mbpp_sample.jsonl")

    def __init__(
        self,
        *,
        data: Data | None = None,
        columns: Mapping[str, str] | None = None,
        split: str = "test",
        name: str | None = None,
        show_tests: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(data=data, columns=columns, split=split, name=name, **kwargs)
        tasks = [mbpp_task(r, i, show_tests=show_tests) for i, r in enumerate(self.records)]
        self.tasks = [t for t in tasks if t is not None]
        self.skipped = len(tasks) - len(self.tasks)
        if not self.tasks:
            raise EnvError(f"no usable MBPP tasks in {self.data_name(data)}")
        self.num_tasks = len(self.tasks)
