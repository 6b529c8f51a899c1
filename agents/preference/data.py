"""Preference data from environments: sample, score, pair; KTO records; rejection sampling.

The loop, top to bottom:

1. `generate_groups`: for each task, sample ``n`` completions with a `Sampler` and score each one
   through the env (``reset`` pinned to the task, then ``step``: the env's verifier and rubric),
   so every `Candidate` carries the verdict's status and the rubric's reward. Its ``score`` (what
   the pair builders rank by) is that reward, or the value of another reward function (a
   reward model, an LLM judge: any `RewardFn`), or its round-robin win rate under a pairwise
   judge (a `Comparator`, or `assay.rewards.judge.PairwiseJudge`, adapted by `judge_comparator`).
2. Pair builders turn `Group`s into `PreferencePair`s: `best_vs_worst`, `correct_vs_incorrect`
   (the verdict decides, not the score), `margin_pairs` (every pair whose scores differ by at
   least a margin). `binary_records` gives KTO's unpaired desirable/undesirable examples, and
   `rejection_sample` the best of N for SFT.
3. `save_jsonl` writes one JSON object per line with flat columns (``prompt``, ``chosen``,
   ``rejected``, ...; ``prompt``, ``completion``, ``label``; ``prompt``, ``completion``): the
   layouts TRL uses, which ``datasets.load_dataset("json", data_files=path)`` loads. `load_pairs`,
   `load_binary`, `load_sft` read them back (and files written by other tools with the same
   columns; the score columns are optional).

A candidate whose verifier broke (`Status.ERROR`) or whose scorer returned None is never used:
a broken judgement is not a preference.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from assay.envs.base import MultiTurnEnv, SingleTurnEnv
from assay.errors import AssayError
from assay.rewards.base import BatchRewardFn, RewardFn, Scored
from assay.rewards.judge import PairwiseJudge
from assay.verifiers.base import Status, Task, Verdict
from assay.verifiers.sampler import Sampler

__all__ = [
    "BinaryRecord",
    "Candidate",
    "Comparator",
    "Comparison",
    "Group",
    "PreferencePair",
    "SFTRecord",
    "best_vs_worst",
    "binary_records",
    "correct_vs_incorrect",
    "generate_groups",
    "judge_comparator",
    "load_binary",
    "load_pairs",
    "load_sft",
    "margin_pairs",
    "pairs_to_binary",
    "rejection_sample",
    "save_jsonl",
    "win_rates",
]


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreferencePair:
    """``chosen`` is preferred to ``rejected`` as a completion of ``prompt``."""

    prompt: str
    chosen: str
    rejected: str
    chosen_score: float | None = None
    rejected_score: float | None = None
    task_id: str = ""


@dataclass(frozen=True, slots=True)
class BinaryRecord:
    """One completion labelled desirable (``label=True``) or not: KTO's unpaired feedback."""

    prompt: str
    completion: str
    label: bool
    score: float | None = None
    task_id: str = ""


@dataclass(frozen=True, slots=True)
class SFTRecord:
    """A prompt and the completion to imitate."""

    prompt: str
    completion: str
    score: float | None = None
    task_id: str = ""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One sampled completion, verified and scored.

    Attributes:
        text: The completion.
        status: The env verifier's verdict status.
        reward: The env rubric's total.
        score: What pairs are ranked by (the reward unless a scorer or judge was given); None
            when the scorer could not score it.
        finish_reason: The sampler's (``"length"``: cut at ``max_new_tokens``).
        token_ids: The sampled token ids, the EOS included only when one was sampled (empty
            when the sampler reports none).
    """

    text: str
    status: Status
    reward: float
    score: float | None
    finish_reason: str = ""
    token_ids: tuple[int, ...] = ()

    @property
    def usable(self) -> bool:
        """Scored, and the verifier did not break."""
        return self.score is not None and self.status is not Status.ERROR


@dataclass(frozen=True, slots=True)
class Group:
    """A task and the candidates sampled for it."""

    task: Task
    candidates: tuple[Candidate, ...]

    @property
    def pass_rate(self) -> float:
        """Share of candidates the verifier judged correct."""
        if not self.candidates:
            return float("nan")
        return sum(c.status is Status.CORRECT for c in self.candidates) / len(self.candidates)


Comparison = tuple[str, str, str]
"""``(prompt, first, second)``: which completion of the prompt is better?"""


@runtime_checkable
class Comparator(Protocol):
    """Compares two completions of a prompt: for each comparison, the probability that
    ``first`` is better than ``second`` (None: could not judge). Batched, in input order."""

    def prefer(self, comparisons: Sequence[Comparison], /) -> Sequence[float | None]: ...


class _JudgeComparator:
    def __init__(self, judge: PairwiseJudge) -> None:
        self.judge = judge

    def prefer(self, comparisons: Sequence[Comparison], /) -> list[float | None]:
        prefs = self.judge.compare_many(list(comparisons))
        value = {"a": 1.0, "b": 0.0, "tie": 0.5}
        return [None if p.winner is None else value[p.winner] for p in prefs]


def judge_comparator(judge: PairwiseJudge) -> Comparator:
    """`assay.rewards.judge.PairwiseJudge` as a `Comparator`: a win is 1, a loss 0, a tie (or
    an inconsistent pair of orders) 0.5, an undecided comparison None."""
    return _JudgeComparator(judge)


# -- generation and scoring -------------------------------------------------------------------


def _batch_seed(seed: int, batch: int) -> int:
    return int(np.random.SeedSequence([seed, batch]).generate_state(1)[0] & 0x7FFFFFFF)


def _single_turn(env: Any) -> SingleTurnEnv:
    base = getattr(env, "unwrapped", env)
    if not isinstance(base, SingleTurnEnv) or isinstance(base, MultiTurnEnv):
        raise ValueError(f"{type(base).__name__} is not a single-turn env: preference data needs one")
    return base


def _verify(env: Any, task: Task, text: str) -> tuple[Verdict, float]:
    env.reset(options={"task": task})
    _, reward, _, _, info = env.step(text)
    verdict = info.get("verdict")
    if not isinstance(verdict, Verdict):
        raise AssayError(f"{task.id}: the env's step returned no verdict")
    return verdict, float(reward)


def _value(out: float | Scored | None) -> float | None:
    if isinstance(out, Scored):
        out = out.value
    if out is None:
        return None
    x = float(out)
    return x if math.isfinite(x) else None


def _score_all(
    scorer: RewardFn, texts: Sequence[str], tasks: Sequence[Task], verdicts: Sequence[Verdict]
) -> list[float | None]:
    if isinstance(scorer, BatchRewardFn):
        outs = list(scorer.batch(texts, tasks, verdicts))
        if len(outs) != len(texts):
            raise AssayError(f"scorer.batch returned {len(outs)} values for {len(texts)} completions")
        return [_value(o) for o in outs]
    values: list[float | None] = []
    for text, task, verdict in zip(texts, tasks, verdicts, strict=True):
        try:
            values.append(_value(scorer(text, task, verdict)))
        except Exception:  # noqa: BLE001 - a scorer that fails on one completion leaves it unscored
            values.append(None)
    return values


def win_rates(judge: Comparator, prompt: str, texts: Sequence[str]) -> list[float | None]:
    """Round-robin: each text's mean probability of beating the others under ``judge``.

    Every unordered pair is compared once; a text none of whose comparisons could be judged
    gets None.
    """
    pairs = list(itertools.combinations(range(len(texts)), 2))
    probs = list(judge.prefer([(prompt, texts[i], texts[j]) for i, j in pairs])) if pairs else []
    if len(probs) != len(pairs):
        raise AssayError(f"judge returned {len(probs)} results for {len(pairs)} comparisons")
    wins = [0.0] * len(texts)
    games = [0] * len(texts)
    for (i, j), p in zip(pairs, probs, strict=True):
        if p is None or not math.isfinite(p):
            continue
        p = min(max(float(p), 0.0), 1.0)
        wins[i] += p
        wins[j] += 1.0 - p
        games[i] += 1
        games[j] += 1
    return [w / g if g else None for w, g in zip(wins, games, strict=True)]


def generate_groups(
    env: Any,
    sampler: Sampler,
    tasks: Sequence[Task],
    *,
    n: int,
    max_new_tokens: int = 64,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 16,
    scorer: RewardFn | None = None,
    judge: Comparator | PairwiseJudge | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Group]:
    """Sample ``n`` completions of each task and verify and score them (module docstring).

    Args:
        env: A single-turn env (``assay.make(...)``); its verifier and rubric judge each sample.
        sampler: Continues the task prompts.
        tasks: The tasks (e.g. ``[env.unwrapped.task_at(i) for i in range(100)]``).
        n: Completions per task.
        max_new_tokens, temperature: Passed to the sampler.
        seed: Batch ``b`` is sampled with a seed derived from ``(seed, b)``.
        batch_size: Tasks per sampler call.
        scorer: Rank by this reward function (a reward model, a judge) instead of the env's
            reward. It gets the env's verdict, as a rubric term does.
        judge: Rank by round-robin win rate under this pairwise judge (overrides ``scorer``); an
            `assay.rewards.judge.PairwiseJudge` is adapted with `judge_comparator`.
        progress: Called with ``(tasks done, tasks)`` after each batch.
    """
    if n < 1 or batch_size < 1:
        raise ValueError(f"need n >= 1 and batch_size >= 1, got n={n}, batch_size={batch_size}")
    _single_turn(env)
    comparator = judge_comparator(judge) if isinstance(judge, PairwiseJudge) else judge
    groups: list[Group] = []
    for b, start in enumerate(range(0, len(tasks), batch_size)):
        chunk = list(tasks[start : start + batch_size])
        samples = sampler.sample(
            [t.prompt for t in chunk],
            n=n,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=_batch_seed(seed, b),
        )
        if len(samples) != len(chunk) or any(len(g) != n for g in samples):
            raise AssayError(f"the sampler returned {[len(g) for g in samples]} samples, expected {n} each")
        texts = [s.text for g in samples for s in g]
        flat_tasks = [t for t in chunk for _ in range(n)]
        checked = [_verify(env, t, x) for t, x in zip(flat_tasks, texts, strict=True)]
        verdicts = [v for v, _ in checked]
        scores: list[float | None] = [r for _, r in checked]
        if comparator is not None:
            scores = [
                s
                for k, t in enumerate(chunk)
                for s in win_rates(comparator, t.prompt, texts[k * n : (k + 1) * n])
            ]
        elif scorer is not None:
            scores = _score_all(scorer, texts, flat_tasks, verdicts)
        for k, task in enumerate(chunk):
            cands = tuple(
                Candidate(
                    text=texts[k * n + j],
                    status=verdicts[k * n + j].status,
                    reward=checked[k * n + j][1],
                    score=scores[k * n + j],
                    finish_reason=samples[k][j].finish_reason,
                    token_ids=tuple(samples[k][j].token_ids),
                )
                for j in range(n)
            )
            groups.append(Group(task, cands))
        if progress is not None:
            progress(len(groups), len(tasks))
    return groups


# -- pair builders ----------------------------------------------------------------------------


def _pair(task: Task, a: Candidate, b: Candidate) -> PreferencePair:
    return PreferencePair(task.prompt, a.text, b.text, a.score, b.score, task.id)


def best_vs_worst(groups: Iterable[Group], *, min_margin: float = 0.0) -> list[PreferencePair]:
    """One pair per group: its highest-scored candidate over its lowest-scored one, when their
    scores differ by more than ``min_margin`` (ties never make a pair). Among equal scores the
    earlier sample wins, so the result is deterministic."""
    out: list[PreferencePair] = []
    for g in groups:
        usable = [c for c in g.candidates if c.usable]
        if len(usable) < 2:
            continue
        best = max(usable, key=lambda c: c.score)  # type: ignore[arg-type,return-value]
        worst = min(usable, key=lambda c: c.score)  # type: ignore[arg-type,return-value]
        assert best.score is not None and worst.score is not None
        if best.score - worst.score > min_margin and best.text != worst.text:
            out.append(_pair(g.task, best, worst))
    return out


def correct_vs_incorrect(
    groups: Iterable[Group], *, max_pairs: int = 1, seed: int = 0
) -> list[PreferencePair]:
    """Pairs of a correct candidate (verdict `CORRECT`) over an incorrect one (`INCORRECT`,
    `NO_ANSWER` or `TIMEOUT`; never `ERROR`), up to ``max_pairs`` distinct pairs per group,
    drawn at random (seeded by ``seed`` and the task id) among all such pairs."""
    if max_pairs < 1:
        raise ValueError(f"max_pairs must be >= 1, got {max_pairs}")
    out: list[PreferencePair] = []
    for g in groups:
        good = [c for c in g.candidates if c.status is Status.CORRECT]
        bad = [c for c in g.candidates if c.status in (Status.INCORRECT, Status.NO_ANSWER, Status.TIMEOUT)]
        combos = [(a, b) for a in good for b in bad if a.text != b.text]
        if not combos:
            continue
        salt = int.from_bytes(hashlib.sha256(g.task.id.encode()).digest()[:8], "little")
        rng = np.random.default_rng([seed, salt])
        picks = rng.choice(len(combos), size=min(max_pairs, len(combos)), replace=False)
        out.extend(_pair(g.task, *combos[int(i)]) for i in sorted(picks))
    return out


def margin_pairs(
    groups: Iterable[Group], *, min_margin: float, max_pairs: int | None = None
) -> list[PreferencePair]:
    """Every pair of candidates of a group whose scores differ by at least ``min_margin``
    (``> 0``), the higher one chosen; with ``max_pairs``, the pairs of largest margin first."""
    if min_margin <= 0:
        raise ValueError(f"min_margin must be > 0 (ties are no preference), got {min_margin}")
    out: list[PreferencePair] = []
    for g in groups:
        usable = [c for c in g.candidates if c.usable]
        found = []
        for a, b in itertools.combinations(usable, 2):
            assert a.score is not None and b.score is not None
            hi, lo = (a, b) if a.score >= b.score else (b, a)
            gap = abs(a.score - b.score)
            if gap >= min_margin and hi.text != lo.text:
                found.append((gap, hi, lo))
        found.sort(key=lambda x: -x[0])  # stable: equal gaps keep sample order
        out.extend(_pair(g.task, hi, lo) for _, hi, lo in found[:max_pairs])
    return out


def binary_records(groups: Iterable[Group], *, threshold: float | None = None) -> list[BinaryRecord]:
    """KTO's unpaired feedback: every usable candidate, labelled desirable when its verdict is
    `CORRECT` (``threshold=None``) or when its score is at least ``threshold``."""
    out: list[BinaryRecord] = []
    for g in groups:
        for c in g.candidates:
            if not c.usable:
                continue
            assert c.score is not None
            label = c.status is Status.CORRECT if threshold is None else c.score >= threshold
            out.append(BinaryRecord(g.task.prompt, c.text, label, c.score, g.task.id))
    return out


def rejection_sample(
    groups: Iterable[Group],
    *,
    per_prompt: int = 1,
    require_correct: bool = True,
    min_score: float | None = None,
) -> list[SFTRecord]:
    """The best of N for SFT: each group's ``per_prompt`` highest-scored distinct completions
    that pass the filters (verdict `CORRECT` when ``require_correct``; score at least
    ``min_score`` when given)."""
    if per_prompt < 1:
        raise ValueError(f"per_prompt must be >= 1, got {per_prompt}")
    out: list[SFTRecord] = []
    for g in groups:
        keep = [
            c
            for c in g.candidates
            if c.usable
            and (not require_correct or c.status is Status.CORRECT)
            and (min_score is None or (c.score is not None and c.score >= min_score))
        ]
        keep.sort(key=lambda c: -(c.score or 0.0))
        seen: set[str] = set()
        for c in keep:
            if c.text in seen:
                continue
            seen.add(c.text)
            out.append(SFTRecord(g.task.prompt, c.text, c.score, g.task.id))
            if len(seen) == per_prompt:
                break
    return out


def pairs_to_binary(pairs: Iterable[PreferencePair]) -> list[BinaryRecord]:
    """Unpaired records from pairs: each chosen completion desirable, each rejected one not."""
    out: list[BinaryRecord] = []
    for p in pairs:
        out.append(BinaryRecord(p.prompt, p.chosen, True, p.chosen_score, p.task_id))
        out.append(BinaryRecord(p.prompt, p.rejected, False, p.rejected_score, p.task_id))
    return out


# -- JSONL ------------------------------------------------------------------------------------

R = TypeVar("R", PreferencePair, BinaryRecord, SFTRecord)


def save_jsonl(records: Iterable[PreferencePair | BinaryRecord | SFTRecord], path: str | Path) -> Path:
    """Write one JSON object per record (flat columns; see the module docstring). Returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(dataclasses.asdict(r), ensure_ascii=False) + "\n")
    tmp.replace(out)
    return out


def _load(path: str | Path, cls: type[R]) -> list[R]:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING]
    out: list[R] = []
    p = Path(path)
    with p.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise AssayError(f"{p}:{lineno}: not JSON ({e})") from None
            if not isinstance(row, dict):
                raise AssayError(f"{p}:{lineno}: expected a JSON object")
            missing = [k for k in required if k not in row]
            if missing:
                raise AssayError(f"{p}:{lineno}: missing {missing} (a {cls.__name__} needs {required})")
            values = {k: row[k] for k in fields if k in row}
            for k in required:
                want = bool if k == "label" else str
                if not isinstance(values[k], want):
                    raise AssayError(f"{p}:{lineno}: {k!r} must be {want.__name__}")
            out.append(cls(**values))
    return out


def load_pairs(path: str | Path) -> list[PreferencePair]:
    """Preference pairs from a JSONL file with ``prompt``, ``chosen``, ``rejected`` columns."""
    return _load(path, PreferencePair)


def load_binary(path: str | Path) -> list[BinaryRecord]:
    """KTO records from a JSONL file with ``prompt``, ``completion``, ``label`` (bool) columns."""
    return _load(path, BinaryRecord)


def load_sft(path: str | Path) -> list[SFTRecord]:
    """SFT records from a JSONL file with ``prompt`` and ``completion`` columns."""
    return _load(path, SFTRecord)
