"""`evaluate`: run a sampler over an env's tasks, verify every sample, log it, summarise.

The loop, top to bottom: pick the task indices (``range(num_tasks)`` or ``range(limit)``); for
each batch of ``batch_size`` tasks not yet fully logged, sample ``n`` completions per prompt with
a seed derived from ``(seed, batch)``; score each completion through the env (``reset`` pinned
to the task, then ``step``: the env's own verifier and rubric); group the answers of each task
into equivalence classes with the env's verifier (for maj@k); append the records to the JSONL
log; finally compute the metrics from the log alone (`summarize`).

A resumed run skips fully logged batches and resamples a partly logged one with its original
seed, writing only the missing samples. Batch boundaries depend only on ``batch_size`` (part
of the run's configuration), so a sampler that honours seeds reproduces the lost samples.

This runner takes single-turn envs (one batched sampler call per batch of tasks); multi-turn and
tool envs are played episode by episode by `assay.agents.evaluation.episodes.evaluate_episodes`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assay.agents.evaluation.metrics import cluster_answers
from assay.agents.evaluation.records import SampleLog, read_log
from assay.agents.evaluation.summary import Summary, summarize
from assay.envs.base import MultiTurnEnv, SingleTurnEnv
from assay.errors import AssayError
from assay.registry import make
from assay.verifiers.base import Status, Task, Verdict, Verifier
from assay.verifiers.match import normalize_text

__all__ = ["EvalConfig", "Selector", "evaluate", "reward_bounds", "task_indices"]

Selector = Callable[[str, Task], "float | None"]
"""Best-of-N selection score of a completion (higher is better; None: cannot score). It never
sees the verdict: a selector is what you would have without the reference answer."""


class _SampleLike(Protocol):
    text: str
    token_ids: list[int]
    logprobs: list[float]


class _SamplerLike(Protocol):
    def sample(
        self, prompts: Sequence[str], *, n: int, max_new_tokens: int, temperature: float, seed: int
    ) -> Sequence[Sequence[_SampleLike]]: ...


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how to sample. All fields but ``ks`` and ``limit`` go into the log's
    header: resuming with different values is refused (they change the samples)."""

    env: str
    """Env id, e.g. ``"assay/Arithmetic-v0"``."""
    model: str = ""
    """A label for the model (its URL or path), recorded in the header."""
    n: int = 16
    """Samples per task."""
    ks: tuple[int, ...] = (1,)
    """The k of pass@k, maj@k and best@k (each <= n)."""
    limit: int | None = None
    """At most this many tasks (required for procedural envs, which have no end)."""
    seed: int = 0
    """Sampling seed (batch b is sampled with a seed derived from ``(seed, b)``)."""
    max_new_tokens: int = 512
    temperature: float = 1.0
    top_p: float | None = None
    """Nucleus sampling (the sampler must be built with it: URL models send it to the server)."""
    batch_size: int = 8
    """Tasks per sampler call."""
    split: str | None = None
    """Passed to the env as ``split=`` when set (dataset envs)."""
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    select: str | None = None
    """Label of the best-of-N selector (``"logprob"`` or an import path), if any."""
    stop: tuple[str, ...] = ()
    """Stop strings (each completion or turn ends at the first; URL models and multi-turn envs)."""
    prompt_format: str = "auto"
    """How the sampler was told to build prompts (``chat``, ``text``, ``auto``: see
    `assay.agents.chat`); recorded so a resume cannot mix formats."""
    system_prompt: str | None = None
    """The ``--system-prompt`` override (None: the env's own), recorded for the same reason.
    Single-turn envs: the sampler puts it in the chat prompt. Multi-turn envs: the env gets it
    as ``system_prompt=`` (`make_env_kwargs`), so every policy sees it in the conversation."""

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        bad = [k for k in self.ks if not 1 <= k <= self.n]
        if bad:
            raise ValueError(f"every k must be in 1..n={self.n}, got {bad}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_new_tokens < 1 or self.temperature < 0:
            raise ValueError("need max_new_tokens >= 1 and temperature >= 0")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    def header(self) -> dict[str, Any]:
        """The fields that determine the samples (the log's header)."""
        d = dataclasses.asdict(self)
        d.pop("ks")
        d.pop("limit")
        d["env_kwargs"] = dict(self.env_kwargs)
        if not d["stop"]:  # the newest field: absent at its default, so earlier logs resume
            d.pop("stop")
        return d

    def make_env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``assay.make``."""
        kw = dict(self.env_kwargs)
        if self.split is not None:
            kw["split"] = self.split
        return kw

    def episode_env_kwargs(self) -> dict[str, Any]:
        """`make_env_kwargs` plus ``system_prompt=`` when set: the multi-turn env carries it."""
        kw = self.make_env_kwargs()
        if self.system_prompt is not None:
            kw["system_prompt"] = self.system_prompt
        return kw


def task_indices(env: SingleTurnEnv, limit: int | None) -> list[int]:
    """``range(num_tasks)`` cut at ``limit``; ``range(limit)`` for a procedural env."""
    if env.num_tasks is None:
        if limit is None:
            raise ValueError(f"{type(env).__name__} is procedural (no end): give a limit")
        return list(range(limit))
    return list(range(env.num_tasks if limit is None else min(limit, env.num_tasks)))


def reward_bounds(env: Any) -> tuple[float, float] | None:
    """The range of an episode's return, when the env declares one: its rubric's `bounds`, for
    envs whose turns earn nothing on their own (no ``tool_error_penalty``); else None."""
    base = env.unwrapped
    rubric = getattr(base, "rubric", None)
    penalty: Any = getattr(base, "tool_error_penalty", None)
    if rubric is None or penalty:
        return None
    try:
        lo, hi = rubric.bounds
    except (AttributeError, TypeError, ValueError):
        return None
    return float(lo), float(hi)


def batch_seed(seed: int, batch: int) -> int:
    """The sampling seed of batch ``batch`` (a 31-bit int, stable across machines)."""
    return int(np.random.SeedSequence([seed, batch]).generate_state(1, dtype=np.uint32)[0] >> 1)


def _voting(record: Mapping[str, Any]) -> bool:
    v = record["verdict"]
    return v["status"] in (Status.CORRECT, Status.INCORRECT) and v.get("extracted") is not None


def _equivalence(verifier: Verifier, task: Task) -> Callable[[Mapping[str, Any], Mapping[str, Any]], bool]:
    """``same(a, b)``: do sample records ``a`` and ``b`` give the same answer?

    Two correct answers are the same (both equal the reference) and a correct one differs from
    an incorrect one; two incorrect answers are compared by the env's verifier, with ``a``'s
    extracted answer as the reference for ``b``'s completion.
    """

    def same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
        ca = bool(a["verdict"]["status"] == Status.CORRECT)
        cb = bool(b["verdict"]["status"] == Status.CORRECT)
        if ca or cb:
            return ca and cb
        try:
            ref = dataclasses.replace(task, answer=str(a["verdict"]["extracted"]))
            return bool(verifier(str(b["completion"]), ref).status is Status.CORRECT)
        except Exception:  # noqa: BLE001 - a verifier that cannot compare two answers: not the same
            return False

    return same


def answer_classes(records: Sequence[Mapping[str, Any]], verifier: Verifier, task: Task) -> list[int | None]:
    """For each record (one task's samples, in sample order), the ``sample_index`` of the first
    sample with an equivalent answer; None for samples without an answer (they do not vote)."""
    voters = [r for r in records if _voting(r)]
    labels = cluster_answers(
        voters,
        _equivalence(verifier, task),
        key=lambda r: (r["verdict"]["status"], normalize_text(str(r["verdict"]["extracted"]))),
    )
    reps: dict[int, int] = {}
    for r, label in zip(voters, labels, strict=True):
        reps.setdefault(label, int(r["sample_index"]))
    by_index = {int(r["sample_index"]): reps[label] for r, label in zip(voters, labels, strict=True)}
    return [by_index.get(int(r["sample_index"])) for r in records]


def _score(env: Any, task: Task, text: str) -> tuple[Verdict, float, dict[str, Any]]:
    env.reset(options={"task": task})
    _, reward, _, _, info = env.step(text)
    verdict = info["verdict"]
    if not isinstance(verdict, Verdict):
        raise AssayError(f"{task.id}: the env's step returned no verdict")
    return verdict, float(reward), dict(info.get("reward_terms") or {})


def _mean(xs: Sequence[float]) -> float | None:
    if not xs:
        return None
    m = float(sum(xs) / len(xs))
    return m if math.isfinite(m) else None


def evaluate(
    config: EvalConfig,
    sampler: _SamplerLike,
    out: str | Path,
    *,
    selector: Selector | None = None,
    progress: Callable[[int, int], None] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Summary:
    """Evaluate ``sampler`` on ``config.env``, logging every sample to ``out`` (JSONL).

    The library's one ``evaluate`` (also ``assay.agents.evaluate``; ``assay eval`` calls it).
    For a quick greedy verdict count that also plays multi-turn envs, see
    `assay.agents.spot_check.spot_check`.

    Resumes ``out`` when it exists (same configuration required). ``selector`` scores samples
    for best@k; with ``config.select == "logprob"`` the mean token log-prob is used instead.
    ``progress(done, total)`` is called with task counts as the run goes. ``meta`` (e.g. the
    data's provenance) is stored in the log beside the header, with the reward's bounds.
    Returns the metrics, computed from the log alone.
    """
    env = make(config.env, **config.make_env_kwargs())
    try:
        base = env.unwrapped
        if not isinstance(base, SingleTurnEnv) or isinstance(base, MultiTurnEnv):
            raise ValueError(
                f"{config.env} is not a single-turn env: evaluate it with evaluate_episodes (assay eval does)"
            )
        indices = task_indices(base, config.limit)
        bounds = reward_bounds(env)
        n = config.n
        with SampleLog.open(out, config.header(), meta={**dict(meta or {}), "reward_bounds": bounds}) as log:
            existing = {(int(r["task_index"]), int(r["sample_index"])): r for r in log.log.samples}
            batches = [indices[i : i + config.batch_size] for i in range(0, len(indices), config.batch_size)]
            done_tasks = sum(all((t, j) in log.done for j in range(n)) for t in indices)
            if progress:
                progress(done_tasks, len(indices))
            for b, batch in enumerate(batches):
                pending = [t for t in batch if any((t, j) not in log.done for j in range(n))]
                if not pending:
                    continue
                tasks = [base.task_at(t) for t in batch]
                groups = sampler.sample(
                    [task.prompt for task in tasks],
                    n=n,
                    max_new_tokens=config.max_new_tokens,
                    temperature=config.temperature,
                    seed=batch_seed(config.seed, b),
                )
                if len(groups) != len(tasks) or any(len(g) != n for g in groups):
                    raise AssayError(
                        f"the sampler returned {[len(g) for g in groups]} samples, expected {n} each"
                    )
                for t, task, group in zip(batch, tasks, groups, strict=True):
                    if t not in pending:
                        continue
                    records = []
                    for j, sample in enumerate(group):
                        if (t, j) in existing:
                            records.append(existing[(t, j)])
                            continue
                        records.append(_record(env, t, j, task, sample, config, selector))
                    for r, cls in zip(records, answer_classes(records, base.verifier, task), strict=True):
                        if (int(r["task_index"]), int(r["sample_index"])) not in existing:
                            r["answer_class"] = cls
                    log.append(r for r in records if (t, int(r["sample_index"])) not in existing)
                    done_tasks += 1
                    if progress:
                        progress(done_tasks, len(indices))
    finally:
        env.close()
    full = read_log(out)
    wanted = set(indices)
    return summarize(
        [r for r in full.samples if int(r["task_index"]) in wanted],
        n=config.n,
        ks=config.ks,
        config=full.config,
        reward_bounds=bounds,
    )


def _record(
    env: Any,
    t: int,
    j: int,
    task: Task,
    sample: _SampleLike,
    config: EvalConfig,
    selector: Selector | None,
) -> dict[str, Any]:
    text = sample.text
    verdict, reward, terms = _score(env, task, text)
    logprobs = list(getattr(sample, "logprobs", []) or [])
    mean_logprob = _mean(logprobs)
    select_score: float | None = None
    if config.select == "logprob":
        select_score = mean_logprob
    elif selector is not None:
        try:
            raw = selector(text, task)
            select_score = None if raw is None or not math.isfinite(float(raw)) else float(raw)
        except Exception:  # noqa: BLE001 - a selector failing on one sample: that sample is unscored
            select_score = None
    return {
        "task_index": t,
        "task_id": task.id,
        "sample_index": j,
        "prompt": task.prompt,
        "answer": task.answer,
        "completion": text,
        "finish_reason": str(getattr(sample, "finish_reason", "") or ""),
        "num_tokens": len(getattr(sample, "token_ids", []) or []),
        "mean_logprob": mean_logprob,
        "verdict": verdict.to_dict(),
        "reward": reward,
        "reward_terms": terms,
        "select_score": select_score,
    }
