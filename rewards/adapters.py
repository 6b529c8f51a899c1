"""Adapters: an assay `Rubric` (plus an optional verifier) as another trainer's reward function.

- `to_trl(rubric, verifier)`: TRL's reward-function convention (``GRPOTrainer(reward_funcs=[...])``):
  ``fn(prompts, completions, completion_ids=None, **kwargs) -> list[float | None]``. Prompts and
  completions may be plain text or conversations (lists of ``{"role", "content"}`` messages: the
  completion's assistant messages are joined, the prompt's last user message is the task
  prompt). Dataset columns arrive as keyword lists (TRL repeats them per generation): the
  ``answer_key`` column becomes ``Task.answer``, the ``task_id_key`` column ``Task.id`` (else a
  hash of the prompt), every other column ``Task.meta``. Rewards are computed with
  `Rubric.batch` (judge terms send one batch). Each term's batch mean goes to TRL's
  ``log_metric`` as ``"<name>/<term>"`` and its per-sample values to ``log_extra`` (the
  completions table). A completion whose terms are all not applicable gets None (TRL turns it
  into NaN and leaves it out of the weighted sum). The object pickles (TRL's async workers send
  reward functions to a subprocess) when the rubric's functions do.
- `to_verl(rubric, verifier)`: verl's ``compute_score(data_source, solution_str, ground_truth,
  extra_info=None, **kwargs)``, called by keyword by its reward managers (``NaiveRewardManager``
  and the reward loop). Returns a dict with ``"score"`` (the total) and one key per term (NaN
  when not applicable), the same keys for every sample, as verl's ``reward_extra_info`` requires.
  Point verl's ``custom_reward_function.path`` at a file that sets ``compute_score =
  to_verl(...)`` and ``name`` at ``compute_score``.

With no verifier the rubric sees ``Verdict(NO_ANSWER, reason="no verifier")`` (use `outcome`
terms inside the rubric instead); a verifier that raises gives an ``ERROR`` verdict.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from assay.rewards.base import Reward, Rubric
from assay.verifiers.base import Status, Task, Verdict, Verifier

__all__ = ["TRLReward", "VerlScore", "message_text", "to_trl", "to_verl"]

_NO_VERIFIER = Verdict(Status.NO_ANSWER, reason="no verifier")
_TRL_RESERVED = frozenset({"trainer_state", "log_extra", "log_metric", "environments", "completion_ids"})


def message_text(value: Any, *, role: str | None = None, last: bool = False) -> str:
    """Text of a plain string or of a conversation (``[{"role", "content"}, ...]``).

    ``role`` keeps only that role's messages; ``last`` keeps only the last of them.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        value = [value]
    messages = [m for m in value if isinstance(m, Mapping) and (role is None or m.get("role") == role)]
    if not messages and role is not None:
        messages = [m for m in value if isinstance(m, Mapping)]
    if last:
        messages = messages[-1:]
    parts = []
    for m in messages:
        content = m.get("content", "")
        if isinstance(content, list):  # multimodal content parts
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
        parts.append(str(content or ""))
    return "\n".join(parts)


def _verify(verifier: Verifier | None, completion: str, task: Task) -> Verdict:
    if verifier is None:
        return _NO_VERIFIER
    try:
        return verifier(completion, task)
    except Exception as e:  # noqa: BLE001 - a verifier that raises is an ERROR verdict
        return Verdict(Status.ERROR, reason=f"verifier raised {type(e).__name__}: {e}")


def _answer(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _prompt_id(prompt: str) -> str:
    return "h/" + hashlib.sha1(prompt.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class TRLReward:
    """A `Rubric` as a TRL reward function (see `to_trl`)."""

    def __init__(
        self,
        rubric: Rubric,
        verifier: Verifier | None = None,
        *,
        name: str = "assay",
        answer_key: str = "answer",
        task_id_key: str = "task_id",
        log_terms: bool = True,
    ) -> None:
        self.rubric = rubric
        self.verifier = verifier
        self.__name__ = name  # TRL names the reward column after it
        self.answer_key = answer_key
        self.task_id_key = task_id_key
        self.log_terms = log_terms

    def tasks(self, prompts: Sequence[Any], kwargs: Mapping[str, Any]) -> list[Task]:
        """The `Task` of each sample, from its prompt and dataset columns."""
        columns = {k: v for k, v in kwargs.items() if k not in _TRL_RESERVED and isinstance(v, (list, tuple))}
        out = []
        for i, p in enumerate(prompts):
            prompt = message_text(p, role="user", last=True)
            row = {k: v[i] for k, v in columns.items() if i < len(v)}
            answer = _answer(row.pop(self.answer_key, None))
            task_id = row.pop(self.task_id_key, None)
            out.append(
                Task(str(task_id) if task_id not in (None, "") else _prompt_id(prompt), prompt, answer, row)
            )
        return out

    def rewards(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[Reward]:
        """The full `Reward` (total and breakdown) of each sample."""
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        texts = [message_text(c, role="assistant") for c in completions]
        tasks = self.tasks(prompts, kwargs)
        verdicts = [_verify(self.verifier, c, t) for c, t in zip(texts, tasks, strict=True)]
        return self.rubric.batch(texts, tasks, verdicts)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float | None]:
        rewards = self.rewards(prompts, completions, **kwargs)
        if self.log_terms:
            self._log(rewards, kwargs.get("log_metric"), kwargs.get("log_extra"))
        return [None if all(v is None for v in r.terms.values()) else r.total for r in rewards]

    def _log(self, rewards: Sequence[Reward], log_metric: Any, log_extra: Any) -> None:
        for term in self.rubric.terms:
            values = [r.terms[term.name] for r in rewards]
            present = [v for v in values if v is not None]
            key = f"{self.__name__}/{term.name}"
            if callable(log_metric) and present:
                log_metric(key, math.fsum(present) / len(present))
            if callable(log_extra):
                log_extra(key, values)

    def __repr__(self) -> str:
        return f"TRLReward({self.rubric!r}, verifier={self.verifier!r})"


to_trl = TRLReward
"""``to_trl(rubric, verifier, *, name, answer_key, task_id_key, log_terms)``: ``rubric`` (with
``verifier``'s verdict) as a TRL reward function (module docstring); the class under its verb."""


class VerlScore:
    """A `Rubric` as verl's ``compute_score`` (see `to_verl`)."""

    def __init__(self, rubric: Rubric, verifier: Verifier | None = None) -> None:
        names = [t.name for t in rubric.terms]
        if "score" in names:
            raise ValueError('a term named "score" would collide with verl\'s "score" key: rename it')
        self.rubric = rubric
        self.verifier = verifier
        self.__name__ = "compute_score"

    def task(self, data_source: str, ground_truth: Any, extra_info: Mapping[str, Any] | None) -> Task:
        info = dict(extra_info or {})
        prompt = info.get("prompt") or info.get("question") or ""
        prompt = message_text(prompt, role="user", last=True) if not isinstance(prompt, str) else prompt
        answer = _answer(ground_truth)
        index = info.get("task_id", info.get("index"))
        task_id = (
            f"{data_source}/{index}"
            if index is not None
            else f"{data_source}/{_prompt_id(prompt + (answer or ''))}"
        )
        return Task(task_id, prompt, answer, {"data_source": data_source, **info})

    def __call__(
        self,
        data_source: str,
        solution_str: str,
        ground_truth: Any,
        extra_info: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, float]:
        task = self.task(data_source, ground_truth, extra_info)
        verdict = _verify(self.verifier, solution_str, task)
        reward = self.rubric(solution_str, task, verdict)
        out = {"score": float(reward.total)}
        for name, value in reward.terms.items():
            out[name] = math.nan if value is None else float(value)
        return out


to_verl = VerlScore
"""``to_verl(rubric, verifier)``: ``rubric`` (with ``verifier``'s verdict) as verl's
``compute_score`` (module docstring); the class under its verb."""
