"""reasoning-gym interop: any reasoning-gym dataset as an assay env, scored by its own scorer.

``assay.envs.from_reasoning_gym("knights_knaves", size=500, seed=0, n_people=3)`` builds a
`ReasoningGymEnv`: task ``i`` is ``dataset[i]`` (reasoning-gym derives each item from its
``seed`` and ``i``); the prompt is the item's question plus an instruction to answer inside
``<answer></answer>``; the verifier extracts that span and calls the dataset's
``score_answer(answer, entry)``. A score of 1.0 is CORRECT; anything lower is INCORRECT with
reasoning-gym's score kept in the verdict (and paid out only with ``partial_credit=True``, since
some scorers give a small score to any non-empty answer). No answer tags: NO_ANSWER.

Needs the optional extra: ``pip install "assay[reasoning-gym]"``. reasoning-gym is imported
when the env is built, never by ``import assay``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assay.envs.base import SingleTurnEnv
from assay.envs.logic.puzzle import MAX_ANSWER_CHARS, PARTIAL, extract_answer
from assay.rewards.base import CORRECTNESS
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["ReasoningGymEnv", "ReasoningGymScorer", "from_reasoning_gym"]

INSTRUCTION = "\n\nPut your final answer inside <answer></answer> tags."


def _import() -> Any:
    try:
        import reasoning_gym
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled(
            'reasoning-gym is not installed: pip install "assay[reasoning-gym]"'
        ) from e
    return reasoning_gym


@dataclass(frozen=True, slots=True)
class ReasoningGymScorer:
    """Verifier: the ``<answer>`` span scored by the dataset's ``score_answer``."""

    dataset: Any

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        found = extract_answer(completion)
        if found is None:
            return Verdict(Status.NO_ANSWER, reason="no <answer>...</answer> found")
        if len(found) > MAX_ANSWER_CHARS:
            return Verdict(Status.NO_ANSWER, reason=f"answer longer than {MAX_ANSWER_CHARS} chars")
        entry = dict(task.meta["entry"])
        score = float(self.dataset.score_answer(found, entry))
        if math.isnan(score):
            return Verdict(Status.ERROR, extracted=found[:500], reason="reasoning-gym scored NaN")
        score = min(max(score, 0.0), 1.0)
        if score >= 1.0:
            return Verdict(Status.CORRECT, 1.0, found[:500], reason="reasoning-gym score 1.0")
        return Verdict(Status.INCORRECT, score, found[:500], reason=f"reasoning-gym score {score:g}")


class ReasoningGymEnv(SingleTurnEnv):
    """A reasoning-gym dataset behind the assay interface (finite: ``num_tasks = size``).

    Args:
        name: A reasoning-gym dataset name (``reasoning_gym.factory.DATASETS``).
        size: Items in the dataset.
        seed: reasoning-gym's dataset seed.
        partial_credit: Pay out reasoning-gym's scores below 1.0 (`PARTIAL` rubric).
        config: The dataset's own configuration fields.
        env_kwargs: Passed to `SingleTurnEnv` (``max_chars``, ``system_prompt``...).
    """

    def __init__(
        self,
        name: str,
        *,
        size: int = 500,
        seed: int = 0,
        partial_credit: bool = False,
        config: Mapping[str, Any] | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        rg = _import()
        self.dataset = rg.create_dataset(name, size=size, seed=seed, **dict(config or {}))
        super().__init__(
            ReasoningGymScorer(self.dataset),
            rubric=PARTIAL if partial_credit else CORRECTNESS,
            **dict(env_kwargs or {}),
        )
        self.name, self.num_tasks = name, len(self.dataset)
        self._prefix = f"reasoning_gym/{name}/s{seed}"

    def task_at(self, index: int) -> Task:
        entry = self.dataset[index]
        answer = entry.get("answer")
        return Task(
            id=f"{self._prefix}/{index}",
            prompt=str(entry["question"]) + INSTRUCTION,
            answer=None if answer is None else str(answer),
            meta={"entry": entry, "source": f"reasoning_gym:{self.name}"},
        )

    def gold(self, task: Task) -> str:
        return f"<answer>{task.answer or ''}</answer>"


def from_reasoning_gym(name: str, *, size: int = 500, seed: int = 0, **config: Any) -> ReasoningGymEnv:
    """A reasoning-gym dataset as an assay env; ``config`` is the dataset's own options."""
    return ReasoningGymEnv(name, size=size, seed=seed, config=config)
