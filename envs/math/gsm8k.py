"""GSM8K: grade-school math word problems with integer answers.

``assay/GSM8K-v0``. Schema of ``openai/gsm8k`` (config ``main``): ``question``, ``answer`` (a
worked solution ending in ``#### <number>``). The reference is the number after ``####``
(thousands separators removed). Verified with `MathVerifier`, so ``\\boxed{1,200}``, "the answer
is 1200" and ``#### 1200`` all count.
"""

from __future__ import annotations

from typing import Any

from assay.envs.dataset import DataSpec, require
from assay.envs.math.dataset import MathDatasetEnv
from assay.verifiers.base import Task

__all__ = ["GSM8KEnv"]


def gsm8k_answer(solution: str) -> str:
    """The number after the last ``####`` of a GSM8K solution, without separators."""
    tail = solution.rsplit("####", 1)[-1] if "####" in solution else ""
    return tail.strip().replace(",", "").replace("$", "").strip()


class GSM8KEnv(MathDatasetEnv):
    """GSM8K grade-school word problems (hub ``openai/gsm8k``; shipped sample offline)."""

    SPEC = DataSpec("openai/gsm8k", "assay.envs.math:data/gsm8k.jsonl", configs=("main",))
    NAME = "gsm8k"

    def to_task(self, record: dict[str, Any], index: int) -> Task:
        require(record, "question", "answer")
        solution = str(record["answer"])
        return self.make_task(index, str(record["question"]), gsm8k_answer(solution), {"solution": solution})
