"""Competitive programming over stdin/stdout: APPS, CodeContests or LiveCodeBench records.

``assay/CompetitiveCode-v0``. Each task is a problem statement; the program reads standard input
and writes standard output, and each test case is one run compared token by token (floats only
within a tolerance the env declares). Records are read in any of three schemas (detected per
record, or forced with ``schema=``):

- APPS: ``question``, ``input_output`` (``{"inputs": [...], "outputs": [...]}``, JSON text or an
  object; call-based problems with ``fn_name`` are skipped), ``solutions`` (JSON list);
- CodeContests: ``description``, ``public_tests`` / ``private_tests`` / ``generated_tests``
  (``{"input": [...], "output": [...]}``), ``solutions`` (``{"language": [...], "solution": [...]}``,
  Python 3 is language 3), ``time_limit``;
- LiveCodeBench: ``question_content``, ``public_test_cases`` / ``private_test_cases`` (JSON text,
  or base64 of zlib of a pickled JSON string, which is unpickled with no globals allowed),
  ``testtype`` ``"stdin"`` only.

Data (``data=``, see `assay.envs.dataset`): a Hub dataset id (through ``datasets``; needs the
network), a local file, or by default
``competitive_sample.jsonl``, a few problems written for assay's tests in the CodeContests schema
(``competitive_apps_sample.jsonl`` and ``competitive_lcb_sample.jsonl`` hold the other two).
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zlib
from collections.abc import Mapping
from typing import Any

from assay.envs.code.base import CodeDatasetEnv
from assay.envs.dataset import Data, DataSpec
from assay.errors import EnvError
from assay.verifiers.base import Task

__all__ = ["PROMPT", "SCHEMAS", "CompetitiveCodeEnv", "competitive_task"]

SCHEMAS = ("apps", "codecontests", "livecodebench")
PROMPT = (
    "Solve the following competitive programming problem in Python 3. Read the input from standard "
    "input and write the answer to standard output. Reply with your program in a single ```python "
    "code block.\n\n{statement}"
)
_PY3 = 3  # CodeContests' language id for Python 3


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from task data")


def _json_or(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _lcb_cases(value: Any) -> list[dict[str, Any]]:
    value = _json_or(value)
    if isinstance(value, str) and value:  # base64(zlib(pickle(json text)))
        raw = _NoGlobals(io.BytesIO(zlib.decompress(base64.b64decode(value)))).load()
        value = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return list(value or [])


def detect_schema(record: dict[str, Any]) -> str:
    if "input_output" in record or "question" in record:
        return "apps"
    if "public_tests" in record or "description" in record:
        return "codecontests"
    if "public_test_cases" in record or "question_content" in record:
        return "livecodebench"
    raise ValueError(f"unknown record schema (fields: {sorted(record)[:12]})")


def competitive_task(
    record: dict[str, Any], index: int, *, schema: str = "auto", which: str = "all", max_cases: int = 50
) -> Task | None:
    """A `Task` (stdin/stdout tests in ``meta``) from one record, or None if it has no stdin tests.

    ``which``: ``"public"``, ``"private"`` or ``"all"`` test cases (CodeContests' generated tests
    count as private).
    """
    schema = detect_schema(record) if schema == "auto" else schema
    public: list[tuple[str, str]] = []
    private: list[tuple[str, str]] = []
    gold = None
    time_limit = None
    if schema == "apps":
        io_spec = _json_or(record.get("input_output")) or {}
        if not isinstance(io_spec, dict) or io_spec.get("fn_name"):
            return None
        private = [
            (str(i), str(o))
            for i, o in zip(io_spec.get("inputs", []), io_spec.get("outputs", []), strict=False)
        ]
        statement = str(record.get("question", ""))
        solutions = _json_or(record.get("solutions")) or []
        gold = solutions[0] if isinstance(solutions, list) and solutions else None
        task_id = f"apps/{record.get('problem_id', index)}"
    elif schema == "codecontests":

        def pairs(key: str) -> list[tuple[str, str]]:
            t = record.get(key) or {}
            return [(str(i), str(o)) for i, o in zip(t.get("input", []), t.get("output", []), strict=False)]

        public = pairs("public_tests")
        private = pairs("private_tests") + pairs("generated_tests")
        statement = str(record.get("description", ""))
        sols = record.get("solutions") or {}
        gold = next(
            (
                s
                for lang, s in zip(sols.get("language", []), sols.get("solution", []), strict=False)
                if lang == _PY3
            ),
            None,
        )
        limit = record.get("time_limit") or {}
        if isinstance(limit, dict) and limit.get("seconds") is not None:
            time_limit = float(limit.get("seconds") or 0) + float(limit.get("nanos") or 0) / 1e9
        task_id = f"codecontests/{record.get('name', index)}"
    elif schema == "livecodebench":

        def stdin_cases(key: str) -> list[tuple[str, str]]:
            cases = _lcb_cases(record.get(key))
            return [
                (str(c["input"]), str(c["output"])) for c in cases if c.get("testtype", "stdin") == "stdin"
            ]

        public = stdin_cases("public_test_cases")
        private = stdin_cases("private_test_cases")
        statement = str(record.get("question_content", ""))
        gold = record.get("solution")
        task_id = f"livecodebench/{record.get('question_id', index)}"
    else:
        raise ValueError(f"schema must be 'auto' or one of {SCHEMAS}, got {schema!r}")
    chosen = {"public": public, "private": private, "all": public + private}[which]
    if not chosen:
        return None
    cases = [{"stdin": i, "stdout": o} for i, o in chosen[:max_cases]]
    meta: dict[str, Any] = {"tests": {"cases": cases}, "schema": schema, "index": index}
    if time_limit:
        meta["time_limit_s"] = time_limit
    return Task(id=task_id, prompt=PROMPT.format(statement=statement.strip()), answer=gold, meta=meta)


class CompetitiveCodeEnv(CodeDatasetEnv):
    """One stdin/stdout problem per episode.

    Args:
        data: Omitted for the shipped sample, a local file, or a Hub dataset id (e.g.
            ``"deepmind/code_contests"``); see `assay.envs.dataset`.
        columns: ``{field the env reads: column in the data}``.
        split: Split to load from the Hub.
        name: Hub config.
        schema: ``"auto"`` (per record) or one of `SCHEMAS`.
        tests: ``"all"``, ``"public"`` or ``"private"`` cases.
        max_cases: At most this many cases per problem.
        tolerance: Float tolerance for outputs, e.g. ``{"rel": 1e-6, "abs": 1e-6}`` (default: exact).
        **kwargs: Passed to `CodeEnv` (``sandbox``, ``timeout_s``, ``scoring``, ...).
    """

    SPEC = DataSpec("deepmind/code_contests", "assay.envs.code:competitive_sample.jsonl")

    def __init__(
        self,
        *,
        data: Data | None = None,
        columns: Mapping[str, str] | None = None,
        split: str = "test",
        name: str | None = None,
        schema: str = "auto",
        tests: str = "all",
        max_cases: int = 50,
        tolerance: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if tests not in ("all", "public", "private"):
            raise ValueError(f"tests must be 'all', 'public' or 'private', got {tests!r}")
        super().__init__(data=data, columns=columns, split=split, name=name, **kwargs)
        tasks = [
            competitive_task(r, i, schema=schema, which=tests, max_cases=max_cases)
            for i, r in enumerate(self.records)
        ]
        self.tasks = [t for t in tasks if t is not None]
        if tolerance is not None:
            self.tasks = [
                Task(
                    t.id, t.prompt, t.answer, {**t.meta, "tests": {**t.meta["tests"], "tolerance": tolerance}}
                )
                for t in self.tasks
            ]
        if not self.tasks:
            raise EnvError(f"no stdin/stdout problems in {self.data_name(data)}")
        self.num_tasks = len(self.tasks)
