"""What every judge shares: its sampling settings and the cache-first way it asks for replies.

- `JudgeSampling`: the settings replies are sampled with (replies per prompt, temperature, room
  for the critique, seed); frozen, and part of every cache key.
- `Asker`: sends rendered prompts through a `Sampler`, the cache first; a prompt's result is its
  reply texts or the exception that ended its request (never a crash of the whole batch).
- `AskingJudge`: the fields and set-up `Judge` and `PairwiseJudge` have in common.

Timeouts, retries and the concurrency limit are the sampler's (`OpenAISampler`), not the judge's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import InitVar, dataclass, field

from assay.rewards.judge.cache import JudgeCache
from assay.verifiers.sampler import Sample, Sampler, SamplerError

__all__ = ["Asker", "AskingJudge", "JudgeSampling"]


@dataclass(frozen=True, slots=True)
class JudgeSampling:
    """How a judge's replies are sampled; the same for a pointwise and a pairwise judge.

    Attributes:
        samples: Replies per prompt (a `Judge` averages their scores, a `PairwiseJudge` takes
            their majority).
        temperature: Sampling temperature (0: greedy, the usual for judges).
        max_new_tokens: Room for the critique.
        seed: Passed to the sampler.

    Every field is part of the cache key, so replies sampled under other settings are never
    reused.
    """

    samples: int = 1
    temperature: float = 0.0
    max_new_tokens: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")


def _sampler_identity(sampler: Sampler) -> str:
    model = getattr(sampler, "model", None)
    url = getattr(sampler, "base_url", None)
    if model is not None:
        return f"{type(sampler).__name__}:{url}:{model}:{getattr(sampler, 'chat', None)}"
    return f"{type(sampler).__name__}@{id(sampler):x}"


class Asker:
    """Sends rendered prompts through a sampler with the cache: ``ask(prompts) -> replies``.

    Returns, per prompt, the list of reply texts, or the exception that ended its request.
    Identical prompts in one call are sent once; cache hits are not sent at all. The cache key is
    a SHA-256 of ``identity`` (default: the sampler's class, URL, model and chat mode; for a
    sampler without a model, its object id, so such replies are shared only within the process),
    the prompt and the `JudgeSampling` settings.
    """

    def __init__(
        self, sampler: Sampler, cache: JudgeCache | None, sampling: JudgeSampling, identity: str | None
    ) -> None:
        self.sampler, self.cache, self.sampling = sampler, cache, sampling
        self.identity = identity or _sampler_identity(sampler)

    def key(self, prompt: str) -> str:
        s = self.sampling
        return JudgeCache.key(self.identity, prompt, s.samples, s.temperature, s.max_new_tokens, s.seed)

    def ask(self, prompts: Sequence[str]) -> list[list[str] | BaseException]:
        keys = [self.key(p) for p in prompts]
        found: dict[str, list[str] | BaseException] = {}
        todo: dict[str, None] = {}  # insertion-ordered set
        todo_prompts: list[str] = []
        for k, p in zip(keys, prompts, strict=True):
            if k in found or k in todo:
                continue
            cached = self.cache.get(k) if self.cache is not None else None
            if cached is not None:
                found[k] = cached
            else:
                todo[k] = None
                todo_prompts.append(p)
        if todo:
            results: Sequence[list[Sample] | BaseException]
            try:
                results = self.sampler.sample(
                    todo_prompts,
                    n=self.sampling.samples,
                    max_new_tokens=self.sampling.max_new_tokens,
                    temperature=self.sampling.temperature,
                    seed=self.sampling.seed,
                )
            except SamplerError as e:
                results = e.partial if len(e.partial) == len(todo) else [e] * len(todo)
            except Exception as e:  # noqa: BLE001 - any sampler failure is the judge's ERROR, not a crash
                results = [e] * len(todo)
            for k, r in zip(todo, results, strict=True):
                if isinstance(r, BaseException):
                    found[k] = r
                    continue
                texts = [s.text for s in r]
                found[k] = texts
                if self.cache is not None:
                    self.cache.put(k, texts)
        return [found[k] for k in keys]


@dataclass
class AskingJudge:
    """The fields and set-up every judge shares; `Judge` and `PairwiseJudge` extend it.

    Attributes:
        sampler: Where the judge's replies come from.
        sampling: How they are sampled (`JudgeSampling`; keyword only).
        cache: Content-hash cache of replies (None: no cache; keyword only).
        identity: Names the judge in cache keys (default: the sampler's class, URL and model;
            keyword only).
        max_chars: Longer responses are cut (head and tail kept) before they reach the prompt
            (keyword only).

    The keywords ``samples``, ``temperature``, ``max_new_tokens`` and ``seed`` are still accepted
    at construction: each one given replaces that setting in ``sampling``. They are not kept as
    attributes of their own (they read as None); read them from ``sampling``.
    """

    sampler: Sampler
    sampling: JudgeSampling = field(default_factory=JudgeSampling, kw_only=True)
    cache: JudgeCache | None = field(default_factory=JudgeCache, kw_only=True)
    identity: str | None = field(default=None, kw_only=True)
    max_chars: int = field(default=20_000, kw_only=True)
    samples: InitVar[int | None] = field(default=None, kw_only=True)
    temperature: InitVar[float | None] = field(default=None, kw_only=True)
    max_new_tokens: InitVar[int | None] = field(default=None, kw_only=True)
    seed: InitVar[int | None] = field(default=None, kw_only=True)

    def __post_init__(
        self,
        samples: int | None,
        temperature: float | None,
        max_new_tokens: int | None,
        seed: int | None,
    ) -> None:
        s = self.sampling
        self.sampling = JudgeSampling(
            s.samples if samples is None else samples,
            s.temperature if temperature is None else temperature,
            s.max_new_tokens if max_new_tokens is None else max_new_tokens,
            s.seed if seed is None else seed,
        )
        self._asker = Asker(self.sampler, self.cache, self.sampling, self.identity)
