"""PrimeIntellect verifiers interop: verifiers 0.4 tasks as an assay env, scored by their rewards.

``assay.envs.from_verifiers(tasks)`` takes a verifiers 0.4 ``Taskset`` (bounded) or a sequence of
its ``Task`` objects and builds a `VerifiersEnv` (a `SingleTurnEnv`): task ``i`` is the ``i``-th
task, its prompt the task data's ``prompt_text``. A completion is scored by verifiers itself, as
its own offline re-scoring does: a ``Trace`` holding the prompt and the completion as the
assistant's reply goes to ``Task.score(trace)``, which runs the task's ``@vf.reward`` and
``@vf.metric`` functions and judges; the trace's total reward is the verdict's score (CORRECT at
``reward_range``'s best, INCORRECT below it, partial credit with ``partial_credit=True``).

Not guaranteed: signals that need a runtime (a sandbox the harness provisions) are skipped by
verifiers when scoring offline, as it logs; LLM judges call their model. verifiers 0.4's pins
clash with ours (it would move ``mcp``), so it lives in its own venv (``ASSAY_VERIFIERS_VENV``);
this module imports nothing from it until an env is built.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from assay.envs.base import SingleTurnEnv
from assay.envs.logic.puzzle import PARTIAL
from assay.rewards.base import CORRECTNESS
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["VerifiersEnv", "VerifiersScorer", "from_verifiers"]


def _import() -> Any:
    try:
        import verifiers.v1 as vf
    except ImportError as e:  # pragma: no cover - exercised only without verifiers
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled("verifiers 0.4 is not installed (see assay.envs.verifiers_env)") from e
    return vf


@dataclass(frozen=True, slots=True)
class VerifiersScorer:
    """Verifier: the completion scored by the verifiers task's own ``score`` (module docstring)."""

    tasks: tuple[Any, ...]
    reward_range: tuple[float, float] = (0.0, 1.0)

    def trace_of(self, vf_task: Any, completion: str) -> Any:
        """A verifiers ``Trace``: the task's prompt, then ``completion`` as the sampled reply."""
        from pydantic import TypeAdapter
        from verifiers.v1.graph import MessageNode
        from verifiers.v1.trace import AgentInfo, Trace, TraceTask

        vf = _import()
        as_message = TypeAdapter(vf.Message).validate_python
        messages = [
            {"role": "user", "content": vf_task.data.prompt_text},
            {"role": "assistant", "content": completion},
        ]
        nodes = [
            MessageNode(parent=i - 1 if i else None, message=as_message(m), sampled=m["role"] == "assistant")
            for i, m in enumerate(messages)
        ]
        return Trace(
            task=TraceTask(type=type(vf_task).__name__, data=vf_task.data),
            agent=AgentInfo(config=vf.AgentConfig()),
            nodes=nodes,
        )

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        vf_task = self.tasks[int(task.meta["index"])]
        trace = self.trace_of(vf_task, completion)
        asyncio.run(vf_task.score(trace))
        reward = float(trace.reward)
        terms = {k: (None if r is None else float(r.score)) for k, r in trace.rewards.items()}
        if not math.isfinite(reward):
            return Verdict(Status.ERROR, reason="verifiers scored a non-finite reward")
        low, high = self.reward_range
        score = min(max((reward - low) / (high - low), 0.0), 1.0)
        status = Status.CORRECT if reward >= high else Status.INCORRECT
        return Verdict(
            status, score, completion[:500], reason=f"verifiers reward {reward:g}", details={"rewards": terms}
        )


class VerifiersEnv(SingleTurnEnv):
    """verifiers 0.4 tasks behind the assay interface (finite: ``num_tasks = len(tasks)``).

    Args:
        tasks: A bounded verifiers ``Taskset`` or an iterable of its ``Task`` objects.
        name: Names the task ids (``verifiers/<name>/<index>``).
        reward_range: The tasks' (worst, best) total reward.
        partial_credit: Pay the normalised score below the best (`PARTIAL`).
        env_kwargs: Passed to `SingleTurnEnv` (``max_chars``, ``system_prompt``...).
    """

    def __init__(
        self,
        tasks: Iterable[Any],
        *,
        name: str | None = None,
        reward_range: tuple[float, float] = (0.0, 1.0),
        partial_credit: bool = False,
        **env_kwargs: Any,
    ) -> None:
        _import()
        if getattr(tasks, "bounded", True) is False:
            raise ValueError("an unbounded verifiers taskset: take(n) a bounded view first")
        items = tuple(tasks)
        low, high = (float(v) for v in reward_range)
        if not high > low:
            raise ValueError(f"reward_range must be (low, high) with high > low, got {reward_range}")
        super().__init__(
            VerifiersScorer(items, (low, high)),
            rubric=PARTIAL if partial_credit else CORRECTNESS,
            **env_kwargs,
        )
        self.vf_tasks, self.num_tasks = items, len(items)
        self.name = name or type(tasks).__name__

    def task_at(self, index: int) -> Task:
        vf_task = self.vf_tasks[index]
        answer = getattr(vf_task.data, "answer", None)
        return Task(
            id=f"verifiers/{self.name}/{index}",
            prompt=str(vf_task.data.prompt_text),
            answer=None if answer is None else str(answer),
            meta={"index": index, "source": f"verifiers:{type(vf_task).__name__}"},
        )


def from_verifiers(tasks: Iterable[Any], **kwargs: Any) -> VerifiersEnv:
    """verifiers 0.4 tasks (a bounded ``Taskset`` or ``Task`` objects) as an assay env."""
    return VerifiersEnv(tasks, **kwargs)
