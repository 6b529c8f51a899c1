"""Constitutional critique and revision, and a constitutional pairwise judge (RLAIF).

Given principles (each a critique request, a revision request and a comparison question), a
`Sampler` (any model behind the protocol: a served LLM through `OpenAISampler`, a local one
through `HFSampler`):

1. `Constitution.revise` critiques each response under a principle drawn at random (seeded) and
   rewrites it in the light of the critique, for ``rounds`` rounds (Bai et al. 2022, the
   supervised stage). The `Revision`s become SFT records (`sft_records`).
2. `Constitution.prefer` is a `Comparator` (a pairwise judge): the sampler is asked which of two responses
   better satisfies a principle, in both orders (the answer is the mean vote for the first
   response across the two orders, so a judge that always says "(A)" expresses no
   preference); unparsable answers do not vote, and a comparison with no vote is None. With
   `generate_groups(..., judge=constitution)` and a pair builder, the critic's choices become
   preference pairs for DPO or a reward model (the RL-from-AI-feedback stage).

The prompts are plain text templates (`CRITIQUE`, `REVISION`, `COMPARISON`), formatted with
``str.format``; pass your own to fit a chat model's style. A critique or revision that comes
back empty leaves the response as it was, and the `Revision` says so (``changed=False``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assay.agents.preference.data import Comparison, SFTRecord
from assay.verifiers.sampler import Sampler

__all__ = [
    "COMPARISON",
    "CRITIQUE",
    "DEFAULT_PRINCIPLES",
    "REVISION",
    "Constitution",
    "Principle",
    "Revision",
    "parse_choice",
    "sft_records",
]

CRITIQUE = "{prompt}\n\nResponse:\n{response}\n\nCritique request: {critique_request}\nCritique:"
"""Asks for a critique of ``response`` under one principle."""

REVISION = (
    "{prompt}\n\nResponse:\n{response}\n\nCritique request: {critique_request}\nCritique: {critique}\n\n"
    "Revision request: {revision_request}\nRevision:"
)
"""Asks for the response rewritten in the light of the critique."""

COMPARISON = (
    "Here is a request and two responses to it.\n\nRequest:\n{prompt}\n\n(A) {first}\n\n(B) {second}\n\n"
    "{question} Answer with (A) or (B).\nThe better response is: ("
)
"""Asks which of two responses better satisfies a principle."""


@dataclass(frozen=True, slots=True)
class Principle:
    """One principle of a constitution.

    Attributes:
        name: A short label (recorded in each `Revision`).
        critique: The critique request.
        revision: The revision request.
        question: The comparison question for pairwise choices.
    """

    name: str
    critique: str
    revision: str
    question: str


DEFAULT_PRINCIPLES: tuple[Principle, ...] = (
    Principle(
        "correctness",
        "Point out any statement in the response that is false, unsupported or miscalculated.",
        "Rewrite the response so that every statement in it is correct, fixing the errors the "
        "critique found.",
        "Which response is more accurate, with fewer false or unsupported claims?",
    ),
    Principle(
        "helpfulness",
        "Explain how the response fails to answer what was asked, or answers it unclearly.",
        "Rewrite the response so that it answers exactly what was asked, clearly and directly.",
        "Which response answers the request more directly and usefully?",
    ),
    Principle(
        "harmlessness",
        "Identify anything in the response that is harmful, unethical, dangerous or illegal.",
        "Rewrite the response to remove anything harmful, unethical, dangerous or illegal, "
        "while staying as helpful as possible.",
        "Which response is less harmful while still being helpful?",
    ),
)
"""A small general-purpose constitution (our own wording)."""


@dataclass(frozen=True, slots=True)
class Revision:
    """One critique-and-revision step (the last, when there were several rounds).

    Attributes:
        prompt: The request.
        original: The response before any revision.
        principle: The name of the principle of the last round.
        critique: The last round's critique.
        revised: The response after the last round.
        changed: Whether any round produced a non-empty revision.
    """

    prompt: str
    original: str
    principle: str
    critique: str
    revised: str
    changed: bool


_CHOICE = re.compile(r"^\W*\(?\s*([AB])\b")


def parse_choice(text: str) -> int | None:
    """0 for "(A)", 1 for "(B)" at the start of ``text`` (the prompt already opened the
    parenthesis, so ``"A)"`` and ``"B) because..."`` count); None otherwise."""
    m = _CHOICE.match(text)
    if m is None:
        return None
    return 0 if m.group(1) == "A" else 1


class Constitution:
    """Critique, revision and pairwise choices under ``principles`` with ``sampler``.

    Args:
        sampler: The critic and reviser.
        principles: The constitution (default `DEFAULT_PRINCIPLES`).
        max_new_tokens: Budget of a critique or revision.
        temperature: Sampling temperature of critiques and revisions (comparisons use 0).
        seed: Seeds the principle drawn for each item and the sampler.
        critique_template, revision_template, comparison_template: Override the prompts.
    """

    def __init__(
        self,
        sampler: Sampler,
        principles: Sequence[Principle] = DEFAULT_PRINCIPLES,
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.7,
        seed: int = 0,
        critique_template: str = CRITIQUE,
        revision_template: str = REVISION,
        comparison_template: str = COMPARISON,
    ) -> None:
        if not principles:
            raise ValueError("a constitution needs at least one principle")
        self.sampler = sampler
        self.principles = tuple(principles)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.seed = seed
        self.critique_template = critique_template
        self.revision_template = revision_template
        self.comparison_template = comparison_template
        self._calls = 0

    def _ask(self, prompts: Sequence[str], *, temperature: float, max_new_tokens: int) -> list[str]:
        if not prompts:
            return []
        self._calls += 1
        groups = self.sampler.sample(
            list(prompts),
            n=1,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=self.seed * 1_000_003 + self._calls,
        )
        if len(groups) != len(prompts) or any(len(g) != 1 for g in groups):
            raise RuntimeError(
                f"sampler returned {[len(g) for g in groups]} samples for {len(prompts)} prompts"
            )
        return [g[0].text.strip() for g in groups]

    def pick(self, count: int, round_index: int) -> list[Principle]:
        """The principle of each of ``count`` items in round ``round_index`` (seeded)."""
        rng = np.random.default_rng([self.seed, 0xC0, round_index])
        return [self.principles[int(i)] for i in rng.integers(0, len(self.principles), size=count)]

    def revise(self, prompts: Sequence[str], responses: Sequence[str], *, rounds: int = 1) -> list[Revision]:
        """Critique and revise each response ``rounds`` times (module docstring)."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts for {len(responses)} responses")
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        current = list(responses)
        changed = [False] * len(current)
        last_principle = [""] * len(current)
        last_critique = [""] * len(current)
        for r in range(rounds):
            principles = self.pick(len(current), r)
            critiques = self._ask(
                [
                    self.critique_template.format(prompt=p, response=x, critique_request=pr.critique)
                    for p, x, pr in zip(prompts, current, principles, strict=True)
                ],
                temperature=self.temperature,
                max_new_tokens=self.max_new_tokens,
            )
            revisions = self._ask(
                [
                    self.revision_template.format(
                        prompt=p,
                        response=x,
                        critique_request=pr.critique,
                        critique=c,
                        revision_request=pr.revision,
                    )
                    for p, x, pr, c in zip(prompts, current, principles, critiques, strict=True)
                ],
                temperature=self.temperature,
                max_new_tokens=self.max_new_tokens,
            )
            for i, (pr, c, rev) in enumerate(zip(principles, critiques, revisions, strict=True)):
                last_principle[i], last_critique[i] = pr.name, c
                if rev:
                    current[i] = rev
                    changed[i] = True
        return [
            Revision(p, o, pr, c, x, ch)
            for p, o, pr, c, x, ch in zip(
                prompts, responses, last_principle, last_critique, current, changed, strict=True
            )
        ]

    def prefer(self, comparisons: Sequence[Comparison], /) -> list[float | None]:
        """The probability that each comparison's first response is better (a `Comparator`).

        Each comparison is asked under a principle drawn at random (seeded), in both orders, at
        temperature 0; the result is the mean vote for the first response over the orders whose
        answer parsed, or None when neither did.
        """
        principles = self.pick(len(comparisons), 1_000_000 + self._calls)
        asks: list[str] = []
        for (prompt, first, second), pr in zip(comparisons, principles, strict=True):
            for a, b in ((first, second), (second, first)):
                asks.append(
                    self.comparison_template.format(prompt=prompt, first=a, second=b, question=pr.question)
                )
        answers = self._ask(asks, temperature=0.0, max_new_tokens=8)
        out: list[float | None] = []
        for k in range(len(comparisons)):
            votes = []
            straight, swapped = parse_choice(answers[2 * k]), parse_choice(answers[2 * k + 1])
            if straight is not None:
                votes.append(1.0 if straight == 0 else 0.0)
            if swapped is not None:
                votes.append(1.0 if swapped == 1 else 0.0)
            out.append(sum(votes) / len(votes) if votes else None)
        return out


def sft_records(revisions: Sequence[Revision], *, only_changed: bool = True) -> list[SFTRecord]:
    """The revised responses as SFT data (by default only those a revision actually changed)."""
    return [SFTRecord(r.prompt, r.revised) for r in revisions if r.changed or not only_changed]
