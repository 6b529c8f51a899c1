"""`PairwiseJudge`: which of two responses to the same prompt is better.

With ``both_orders=True`` (the default) every pair is judged as (A, B) and as (B, A); a preference
counts only when both orders agree, otherwise the pair is a tie marked inconsistent (position
bias). ``preference_pairs`` turns a group of completions into (chosen, rejected) pairs for
DPO-style training, ``win_rates`` into a group-relative reward. A sampler that fails, or replies
with no parsable preference, leaves the comparison undecided (winner None), never a loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from assay.rewards.judge.asker import AskingJudge
from assay.rewards.judge.reply import parse_preference
from assay.rewards.judge.template import PAIRWISE_TEMPLATE, cut, fill
from assay.verifiers.base import Task

__all__ = ["PairwiseJudge", "Preference", "PreferencePair"]


@dataclass(frozen=True, slots=True)
class Preference:
    """The outcome of comparing responses ``a`` and ``b``.

    Attributes:
        winner: ``"a"``, ``"b"``, ``"tie"``, or None when the judge could not decide (failed or
            unparsable in every order).
        consistent: True when every order that was judged named the same winner.
        details: Per-order verdicts (``"ab"``, ``"ba"``) and the judge's replies.
    """

    winner: Literal["a", "b", "tie"] | None
    consistent: bool
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PreferencePair:
    """A (chosen, rejected) pair for preference training; `to_dict` is TRL's DPO format."""

    prompt: str
    chosen: str
    rejected: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, str]:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}


def _vote(replies: list[str] | BaseException, swapped: bool) -> Literal["a", "b", "tie"] | None:
    if isinstance(replies, BaseException):
        return None
    votes = [parse_preference(t) for t in replies]
    mapped = [
        None if v is None else "tie" if v == "tie" else ("a" if (v == "A") != swapped else "b") for v in votes
    ]
    present = [m for m in mapped if m is not None]
    if not present:
        return None
    best = max(("a", "b", "tie"), key=present.count)
    return best if present.count(best) * 2 > len(present) else "tie"  # type: ignore[return-value]


@dataclass
class PairwiseJudge(AskingJudge):
    """Compares two responses (see the module docstring).

    Attributes:
        criteria: What "better" means (the template's ``{criteria}``).
        template: The prompt, with ``{prompt}``, ``{a}``, ``{b}``, ``{criteria}``.
        both_orders: Judge (a, b) and (b, a); a winner only when both agree.
        sampler, sampling, cache, identity, max_chars: as in `AskingJudge` (``samples``,
            ``temperature``, ``max_new_tokens``, ``seed`` are accepted as keywords too).
    """

    criteria: str = "Correctness first, then clarity and concision."
    template: str = PAIRWISE_TEMPLATE
    both_orders: bool = True

    def _render(self, prompt: str, a: str, b: str) -> str:
        return fill(
            self.template,
            {
                "prompt": prompt,
                "a": cut(a, self.max_chars),
                "b": cut(b, self.max_chars),
                "criteria": self.criteria,
            },
        )

    def compare_many(self, items: Sequence[tuple[Task | str, str, str]]) -> list[Preference]:
        """Compare each ``(task or prompt, a, b)``; all orders of all items in one sampler call."""
        prompts: list[str] = []
        for task, a, b in items:
            text = task.prompt if isinstance(task, Task) else task
            prompts.append(self._render(text, a, b))
            if self.both_orders:
                prompts.append(self._render(text, b, a))
        replies = self._asker.ask(prompts)
        out: list[Preference] = []
        step = 2 if self.both_orders else 1
        for i in range(len(items)):
            ab = replies[i * step]
            votes = {"ab": _vote(ab, swapped=False)}
            details: dict[str, Any] = {
                "ab": votes["ab"],
                "replies_ab": ab if isinstance(ab, list) else str(ab),
            }
            if self.both_orders:
                ba = replies[i * step + 1]
                votes["ba"] = _vote(ba, swapped=True)
                details["ba"] = votes["ba"]
                details["replies_ba"] = ba if isinstance(ba, list) else str(ba)
            decided = [v for v in votes.values() if v is not None]
            if not decided:
                out.append(Preference(None, False, details))
            elif len(set(decided)) == 1:
                out.append(Preference(decided[0], len(decided) == len(votes), details))
            else:
                out.append(Preference("tie", False, details))
        return out

    def compare(self, task: Task | str, a: str, b: str) -> Preference:
        return self.compare_many([(task, a, b)])[0]

    def preference_pairs(
        self, task: Task | str, completions: Sequence[str], *, pairs: Literal["all", "adjacent"] = "all"
    ) -> list[PreferencePair]:
        """(chosen, rejected) pairs from a group: every pair (``"all"``) or neighbours
        (``"adjacent"``); ties, inconsistent and undecided comparisons yield no pair."""
        n = len(completions)
        index = (
            [(i, j) for i in range(n) for j in range(i + 1, n)]
            if pairs == "all"
            else [(i, i + 1) for i in range(n - 1)]
        )
        prompt = task.prompt if isinstance(task, Task) else task
        prefs = self.compare_many([(task, completions[i], completions[j]) for i, j in index])
        out = []
        for (i, j), p in zip(index, prefs, strict=True):
            if p.winner in ("a", "b") and p.consistent:
                win, lose = (i, j) if p.winner == "a" else (j, i)
                out.append(
                    PreferencePair(prompt, completions[win], completions[lose], {"indices": (win, lose)})
                )
        return out

    def win_rates(self, task: Task | str, completions: Sequence[str]) -> list[float | None]:
        """Each completion's share of wins over all others in the group (ties count half;
        undecided comparisons are left out); a group-relative reward."""
        n = len(completions)
        index = [(i, j) for i in range(n) for j in range(i + 1, n)]
        prefs = self.compare_many([(task, completions[i], completions[j]) for i, j in index])
        won = [0.0] * n
        played = [0] * n
        for (i, j), p in zip(index, prefs, strict=True):
            if p.winner is None:
                continue
            played[i] += 1
            played[j] += 1
            if p.winner == "a":
                won[i] += 1
            elif p.winner == "b":
                won[j] += 1
            else:
                won[i] += 0.5
                won[j] += 0.5
        return [won[k] / played[k] if played[k] else None for k in range(n)]
