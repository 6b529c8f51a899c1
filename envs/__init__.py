"""Environments: the base classes and every registered ``assay/*`` env.

Registration only records entry points with Gymnasium; an env's module is imported when the env
is made, so ``import assay`` stays light.
"""

from assay.envs.base import (
    RESET_INFO_KEYS,
    STEP_INFO_KEYS,
    MultiTurnEnv,
    Reply,
    SingleTurnEnv,
    TextEnv,
)
from assay.envs.checker import check_text_env
from assay.envs.dataset import DatasetEnv
from assay.envs.open_env import from_openenv
from assay.envs.reasoning_gym import from_reasoning_gym
from assay.envs.spaces import Utf8Text
from assay.envs.text_arena import from_textarena
from assay.envs.trl_environment import to_trl_environment
from assay.envs.verifiers_env import from_verifiers
from assay.envs.wrappers import ChatObservation, Messages
from assay.registry import register
from assay.verifiers.base import Status, Task, Verdict, Verifier

__all__ = [
    "RESET_INFO_KEYS",
    "STEP_INFO_KEYS",
    "ChatObservation",
    "DatasetEnv",
    "Messages",
    "MultiTurnEnv",
    "Reply",
    "SingleTurnEnv",
    "Status",
    "Task",
    "TextEnv",
    "Utf8Text",
    "Verdict",
    "Verifier",
    "check_text_env",
    "from_openenv",
    "from_reasoning_gym",
    "from_textarena",
    "from_verifiers",
    "to_trl_environment",
]

_BUILTIN = {
    "assay/Arithmetic-v0": "assay.envs.math.arithmetic:ArithmeticEnv",
    "assay/GSM8K-v0": "assay.envs.math.gsm8k:GSM8KEnv",
    "assay/MATH-v0": "assay.envs.math.competition:MATHEnv",
    "assay/AIME-v0": "assay.envs.math.competition:AIMEEnv",
    "assay/MathGen-v0": "assay.envs.math.mathgen:MathGenEnv",
    "assay/GuessNumber-v0": "assay.envs.logic.guess_number:GuessNumberEnv",
    "assay/KnightsKnaves-v0": "assay.envs.logic.knights_knaves:KnightsKnavesEnv",
    "assay/Sudoku-v0": "assay.envs.logic.sudoku:SudokuEnv",
    "assay/Zebra-v0": "assay.envs.logic.zebra:ZebraEnv",
    "assay/Countdown-v0": "assay.envs.logic.countdown:CountdownEnv",
    "assay/GraphColoring-v0": "assay.envs.logic.graph_coloring:GraphColoringEnv",
    "assay/SAT-v0": "assay.envs.logic.sat:SatEnv",
    "assay/Maze-v0": "assay.envs.logic.maze:MazeEnv",
    "assay/Cryptarithm-v0": "assay.envs.logic.cryptarithm:CryptarithmEnv",
    "assay/Nonogram-v0": "assay.envs.logic.nonogram:NonogramEnv",
    "assay/Sequence-v0": "assay.envs.logic.sequence:SequenceEnv",
    "assay/Syllogism-v0": "assay.envs.logic.syllogism:SyllogismEnv",
    "assay/Entailment-v0": "assay.envs.logic.entailment:EntailmentEnv",
    "assay/Almanac-v0": "assay.envs.tools.almanac:AlmanacEnv",
    "assay/MultiHopQA-v0": "assay.envs.tools.multihop:MultiHopQAEnv",
    "assay/PythonMath-v0": "assay.envs.tools.python_math:PythonMathEnv",
    "assay/Terminal-v0": "assay.envs.tools.terminal_env:TerminalEnv",
    "assay/Retail-v0": "assay.envs.tools.retail:RetailEnv",
    "assay/HumanEval-v0": "assay.envs.code.humaneval:HumanEvalEnv",
    "assay/MBPP-v0": "assay.envs.code.mbpp:MBPPEnv",
    "assay/CompetitiveCode-v0": "assay.envs.code.competitive:CompetitiveCodeEnv",
    "assay/QA-v0": "assay.envs.qa:QAEnv",
    "assay/RepoRepair-v0": "assay.envs.repo.env:RepoRepairEnv",
}

for _id, _entry in _BUILTIN.items():
    register(_id, entry_point=_entry, disable_env_checker=False)

# An env served by `assay serve` (needs url= and env=); outside the assay/ namespace, so listings of
# local envs (and the service's default allow-list) leave it out.
register("assay-remote/Remote-v0", entry_point="assay.envs.remote:RemoteEnv", disable_env_checker=False)
