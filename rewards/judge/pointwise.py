"""`Judge`: a pointwise LLM judge, grading one response at a time on its template's scale.

A `Verifier` (``judge(completion, task) -> Verdict``) with a batch form, ``term()`` for a rubric
(value: the normalised score; None when the judge failed) and ``step_scorer()`` for process
rewards. ``samples > 1`` (in `JudgeSampling`) asks for several replies per item and aggregates
them (mean of the parsed scores), reporting their agreement. A reply with no parsable score is
dropped (and counted); an item with none is ``Status.ERROR``, as is a sampler that fails: a broken
judge is never a zero.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.rewards.base import Scored, Term
from assay.rewards.judge.asker import AskingJudge
from assay.rewards.judge.reply import parse_score
from assay.rewards.judge.template import STEP_TEMPLATE, JudgeTemplate, cut, rubric_template
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["Judge", "JudgeTerm", "agreement", "error_verdict"]


def error_verdict(reason: str, **details: Any) -> Verdict:
    """``Status.ERROR`` with score 0.0: the judge could not judge (never a zero grade)."""
    return Verdict(Status.ERROR, 0.0, None, reason, details)


def agreement(passed: Sequence[bool]) -> float:
    """Fraction of votes that agree with the majority (1.0 for one vote)."""
    yes = sum(passed)
    return max(yes, len(passed) - yes) / len(passed)


@dataclass
class Judge(AskingJudge):
    """A pointwise LLM judge; also a `Verifier` (see the module docstring).

    The verdict's ``score`` is the mean parsed score mapped to ``[0, 1]`` (``(s - low) / (high -
    low)``), whatever the status; the status is ``CORRECT`` when that reaches ``pass_threshold``
    and ``INCORRECT`` otherwise (``ERROR`` when nothing could be parsed or the sampler failed).
    Details: ``critiques`` (the replies), ``scores`` (raw, None where unparsable), ``agreement``
    (fraction of parsed replies on the majority side of the threshold), ``std`` (of the
    normalised scores), ``unparsed``.

    Attributes:
        template: The prompt (`rubric_template`, `constitution_template`, or your own).
        pass_threshold: Normalised score from which the verdict is ``CORRECT`` (keyword only).
        sampler, sampling, cache, identity, max_chars: as in `AskingJudge` (``samples``,
            ``temperature``, ``max_new_tokens``, ``seed`` are accepted as keywords too).
    """

    template: JudgeTemplate = field(
        default_factory=lambda: rubric_template("The response is correct and helpful.")
    )
    pass_threshold: float = field(default=0.5, kw_only=True)

    def __post_init__(self, *sampling_keywords: Any) -> None:
        super().__post_init__(*sampling_keywords)
        if not 0.0 <= self.pass_threshold <= 1.0:
            raise ValueError(f"pass_threshold must be in [0, 1], got {self.pass_threshold}")

    def render(self, completion: str, task: Task, step: str = "") -> str:
        return self.template.render(task.prompt, cut(completion, self.max_chars), task.answer or "", step)

    def verdict(self, replies: list[str] | BaseException) -> Verdict:
        """The verdict for one item's replies (or for the error that replaced them)."""
        if isinstance(replies, BaseException):
            return error_verdict(f"judge failed: {type(replies).__name__}: {replies}")
        low, high = self.template.low, self.template.high
        raw = [parse_score(text, low, high) for text in replies]
        parsed = [s for s in raw if s is not None]
        details: dict[str, Any] = {
            "critiques": list(replies),
            "scores": raw,
            "unparsed": len(raw) - len(parsed),
        }
        if not parsed:
            return error_verdict("judge gave no parsable score", **details)
        normalised = [(s - low) / (high - low) for s in parsed]
        score = math.fsum(normalised) / len(normalised)
        details["agreement"] = agreement([x >= self.pass_threshold for x in normalised])
        details["std"] = statistics.pstdev(normalised) if len(normalised) > 1 else 0.0
        status = Status.CORRECT if score >= self.pass_threshold else Status.INCORRECT
        return Verdict(status, score, f"{math.fsum(parsed) / len(parsed):g}", "judged", details)

    def batch(self, completions: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]:
        """Judge many items with one sampler call (cache hits skip it)."""
        if len(completions) != len(tasks):
            raise ValueError(f"{len(completions)} completions but {len(tasks)} tasks")
        prompts = [self.render(c, t) for c, t in zip(completions, tasks, strict=True)]
        return [self.verdict(r) for r in self._asker.ask(prompts)]

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        return self.batch([completion], [task])[0]

    def term(self, name: str = "judge", weight: float = 1.0) -> Term:
        """This judge as a rubric term: the normalised score in ``[0, 1]``, None on ERROR; the
        verdict (critiques included) goes to the term's details. Batched in `Rubric.batch`."""
        return Term(name, JudgeTerm(self.batch), weight, 0.0, 1.0)

    def step_scorer(
        self, template: JudgeTemplate | None = None
    ) -> Callable[[Sequence[str], Task], list[float | None]]:
        """A process-reward `StepScorer`: each step judged given the previous ones (one batch)."""
        judge = dataclasses.replace(self, template=template or JudgeTemplate(STEP_TEMPLATE, low=0, high=1))

        def score(steps: Sequence[str], task: Task) -> list[float | None]:
            prompts = [judge.render("\n".join(steps[:i]), task, step) for i, step in enumerate(steps)]
            verdicts = [judge.verdict(r) for r in judge._asker.ask(prompts)]
            return [None if v.status is Status.ERROR else v.score for v in verdicts]

        return score


class JudgeTerm:
    """A batch of judge verdicts as a rubric term's function: the verdict's score, None on ERROR,
    with the verdict's status, reason and details as the term's details."""

    def __init__(self, batch: Callable[[Sequence[str], Sequence[Task]], list[Verdict]]) -> None:
        self._batch = batch

    @staticmethod
    def _scored(v: Verdict) -> Scored:
        info: dict[str, Any] = {"status": v.status.value, "reason": v.reason, **dict(v.details)}
        return Scored(None if v.status is Status.ERROR else v.score, info)

    def __call__(self, completion: str, task: Task, verdict: Verdict) -> Scored:
        return self._scored(self._batch([completion], [task])[0])

    def batch(
        self, completions: Sequence[str], tasks: Sequence[Task], verdicts: Sequence[Verdict]
    ) -> list[Scored]:
        return [self._scored(v) for v in self._batch(completions, tasks)]
