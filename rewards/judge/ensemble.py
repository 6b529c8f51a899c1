"""`JudgeEnsemble`: several pointwise judges (models or templates) on the same items, aggregated.

Aggregated by mean, median or vote, with their agreement reported. A judge that fails is left out;
only when every judge fails is the verdict ``Status.ERROR``. Not guaranteed: that the judges are
independent (judges over one model share its blind spots).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from assay.rewards.base import Term
from assay.rewards.judge.pointwise import Judge, JudgeTerm, agreement, error_verdict
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["JudgeEnsemble"]


@dataclass
class JudgeEnsemble:
    """Several judges on the same items (run in parallel threads), aggregated.

    ``aggregate``: ``"mean"`` or ``"median"`` of the judges' normalised scores, or ``"vote"``
    (the fraction of judges whose verdict is ``CORRECT``). Judges that fail are left out; all
    failing is ``ERROR``. Details: each judge's score (None: failed), ``agreement`` (fraction of
    judges on the majority side of ``pass_threshold``), ``std``.
    """

    judges: Sequence[Judge]
    aggregate: Literal["mean", "median", "vote"] = "mean"
    pass_threshold: float = 0.5

    def __post_init__(self) -> None:
        if not self.judges:
            raise ValueError("JudgeEnsemble needs at least one judge")
        if self.aggregate not in ("mean", "median", "vote"):
            raise ValueError(f"aggregate must be mean, median or vote, got {self.aggregate!r}")

    def batch(self, completions: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]:
        with ThreadPoolExecutor(max_workers=len(self.judges)) as pool:
            columns = list(pool.map(lambda j: j.batch(completions, tasks), self.judges))
        return [self._combine([col[i] for col in columns]) for i in range(len(completions))]

    def _combine(self, verdicts: Sequence[Verdict]) -> Verdict:
        ok = [v for v in verdicts if v.status is not Status.ERROR]
        details: dict[str, Any] = {
            "judges": [None if v.status is Status.ERROR else v.score for v in verdicts],
            "reasons": [v.reason for v in verdicts],
            "critiques": [list(v.details.get("critiques", [])) for v in verdicts],
        }
        if not ok:
            return error_verdict("every judge failed", **details)
        scores = [v.score for v in ok]
        if self.aggregate == "mean":
            score = math.fsum(scores) / len(scores)
        elif self.aggregate == "median":
            score = statistics.median(scores)
        else:
            score = sum(v.status is Status.CORRECT for v in ok) / len(ok)
        details["agreement"] = agreement([s >= self.pass_threshold for s in scores])
        details["std"] = statistics.pstdev(scores) if len(scores) > 1 else 0.0
        status = Status.CORRECT if score >= self.pass_threshold else Status.INCORRECT
        return Verdict(status, score, None, f"{len(ok)} of {len(verdicts)} judges", details)

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        return self.batch([completion], [task])[0]

    def term(self, name: str = "judges", weight: float = 1.0) -> Term:
        """The ensemble as a rubric term (as `Judge.term`)."""
        return Term(name, JudgeTerm(self.batch), weight, 0.0, 1.0)
