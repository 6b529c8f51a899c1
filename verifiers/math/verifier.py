"""Math answers: `extract_answer`, `is_equiv` and the `MathVerifier`.

    >>> from assay.verifiers.math import MathVerifier, is_equiv
    >>> is_equiv("\\\\frac{1}{2}", "0.5")
    True
    >>> MathVerifier()("... so the answer is \\\\boxed{7,425,000}.", Task("t", "?", "7425000")).status
    <Status.CORRECT: 'correct'>

**What counts as equivalent** (`assay.verifiers.math.equiv` has the full order of checks):
integers with separators (``7,425,000``, ``7 425 000``, ``11,\\!111``), decimals, fractions
(``\\frac``, ``\\dfrac``, ``a/b``), mixed numbers (``2\\frac58``, ``7 3/4``), percentages (``28\\%``
is 28 or 0.28), scientific notation, radicals, pi and e, symbolic expressions (a modular
polynomial identity test, numeric checks at random points, then sympy), equations (``x = 2`` vs
``2``; equation vs equation up to a constant factor), inequalities and intervals (as solution
sets: open/closed ends, unions, infinity), sets and unordered lists vs ordered tuples, matrices
and vectors, complex numbers, units and ``\\text{}`` (stripped when only one side has them or they
agree), degrees, base-n numbers (``204_5``), LaTeX noise (``\\left``, ``\\!``, ``\\,``,
``^\\circ``, ``\\mathrm``, dollars).

**Reward-hacking policy.** One final answer is judged:

- Reasoning is never the answer: only the text after the last ``</think>`` is read
  (``reasoning_tags`` sets the tags), and a reasoning block that is never closed (a generation
  cut off mid-thought) is NO_ANSWER, even when it holds a ``\\boxed{}``.
- An answer is marked, or it is the whole completion: with no marked answer, the completion
  counts only when all of it (after the reasoning) is itself one answer (``7``, ``\\frac{1}{2}``,
  ``x \\in [0, 1)``). No number is picked out of prose: "I think 41 or 42" and "Candidates: 3, 5,
  7" are NO_ANSWER. ``fallback="last"`` opts in to lm-eval-style flexible extraction (the last
  math span or number) for evaluations; never for rewards, since a policy learns to end its
  text in a number.
- Only the *last* final answer counts (the last ``\\boxed{}`` group, ``<answer>``, "the answer
  is", ``####``). A clear self-correction ("... \\boxed{3}. Wait, that is wrong: \\boxed{4}") is
  judged by its final answer, 4.
- A final answer that lists several different values where the reference is one value is
  INCORRECT, even if one of them is right: ``3 or 4``, ``\\boxed{3}, \\boxed{4}``,
  ``\\boxed{A, B, C, D}``, ``\\pm 2`` for ``2``.
- An answer that states something false is INCORRECT: ``\\boxed{41 = 42}``, ``x = 3 + 3 = 2``.
- A decimal stands for an exact value only as its correct rounding with at least
  ``approx_digits`` (default 6) significant digits; ``1.99999999`` is not 2, ``0.33`` is not 1/3.

**Statuses.** CORRECT / INCORRECT as judged; NO_ANSWER when no final answer can be found (or the
completion is longer than ``max_chars``); TIMEOUT when the comparison exceeds its budget
(``timeout_s`` of wall-clock time, ``memory_mb`` of memory) or the candidate's answer exceeds a
size limit (``10^{10^{10^{10}}}``, ``(10^{10})!``, 100k nested braces, more than
``max_answer_chars``). TIMEOUT is the candidate's responsibility: an answer that cannot be
compared with the reference in seconds is pathological, so it scores 0 like a wrong answer, but
it is counted apart so that a verifier that times out on reasonable answers is visible. ERROR
is ours: the reference could not be read, or the verifier itself failed; it is never reported
as INCORRECT.

**Safety.** Model text is read only by assay's own tokenizer and parser (a whitelisted grammar);
sympy objects are built from the parsed nodes with sympy's constructors. Nothing reaches
``eval``, ``exec``, ``sympify`` or ``parse_expr``. Every comparison that parses model text runs
in a worker process with a hard wall-clock deadline enforced by killing the process
(`assay.verifiers.math.worker`), so it works from any thread and cannot hang the caller.
Extraction runs in the caller's process and is linear in the text.

**Speed.** Identical normalised answers are settled without a worker; everything else is
decided in the worker by exact rationals or a modular identity test where possible (no sympy),
with a per-process cache of results; `MathVerifier.batch` spreads work over several worker
processes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from assay.verifiers.base import Status, Task, Verdict
from assay.verifiers.extract import REASONING_TAGS, drop_reasoning
from assay.verifiers.math.equiv import DEFAULT_APPROX_DIGITS, normalize_text
from assay.verifiers.math.extract import FALLBACKS, Fallback, extract_answer

__all__ = ["MathVerifier", "extract_answer", "is_equiv", "reference_answer"]

CACHE_SIZE = 65_536
"""Comparisons remembered per process (answers up to `_CACHE_MAX_CHARS` characters)."""

_CACHE_MAX_CHARS = 1_000
_cache: OrderedDict[tuple[str, str, int], tuple[str, str, str]] = OrderedDict()
_cache_lock = threading.Lock()


def _cache_get(key: tuple[str, str, int]) -> tuple[str, str, str] | None:
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
        return hit


def _cache_put(key: tuple[str, str, int], value: tuple[str, str, str]) -> None:
    if len(key[0]) > _CACHE_MAX_CHARS or len(key[1]) > _CACHE_MAX_CHARS:
        return
    with _cache_lock:
        _cache[key] = value
        if len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def clear_cache() -> None:
    """Forget every cached comparison (for benchmarks and tests)."""
    with _cache_lock:
        _cache.clear()


def reference_answer(answer: str) -> str:
    """The bare reference answer: the final answer of a worked solution (``\\boxed{}``,
    ``####``...) or the text itself. References are trusted: the flexible ``"last"`` fallback
    reads them."""
    found = extract_answer(answer, fallback="last")
    return found if found is not None else answer.strip()


_STATUS = {
    "correct": Status.CORRECT,
    "incorrect": Status.INCORRECT,
    "timeout": Status.TIMEOUT,
    "error": Status.ERROR,
}


@dataclass(frozen=True, slots=True)
class MathVerifier:
    """Judge a model's final math answer against ``task.answer`` (see the module docstring).

    Attributes:
        timeout_s: Wall-clock budget of one comparison (enforced by killing a worker process).
        max_chars: Longer completions get NO_ANSWER without being read.
        max_answer_chars: Longer extracted answers get TIMEOUT without being parsed (or twice the
            reference's length, if that is more).
        fallback: When no answer is marked: ``"whole"`` (default) takes the whole completion
            when it is itself one answer; ``"last"`` also the last math span or number
            (flexible extraction, for evaluations only); ``"none"`` nothing.
        reasoning_tags: The (opening, closing) tags of a reasoning block, never read for the
            answer; an unclosed block means NO_ANSWER.
        approx_digits: Significant digits a decimal needs to stand for an exact reference.
        memory_mb: Memory budget of a worker process beyond its start-up size.
    """

    timeout_s: float = 5.0
    max_chars: int = 1_000_000
    max_answer_chars: int = 2_000
    fallback: Fallback = "whole"
    approx_digits: int = DEFAULT_APPROX_DIGITS
    memory_mb: int = 1_024
    reasoning_tags: tuple[str, str] = REASONING_TAGS

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.max_chars < 1 or self.max_answer_chars < 1:
            raise ValueError("max_chars and max_answer_chars must be >= 1")
        if self.approx_digits < 1:
            raise ValueError(f"approx_digits must be >= 1, got {self.approx_digits}")
        if self.memory_mb < 64:
            raise ValueError(f"memory_mb must be >= 64, got {self.memory_mb}")
        if self.fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {self.fallback!r}")
        tags = self.reasoning_tags
        if not (isinstance(tags, tuple) and len(tags) == 2 and all(isinstance(t, str) and t for t in tags)):
            raise ValueError(f"reasoning_tags must be two non-empty strings, got {tags!r}")

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        if task.answer is None:
            return Verdict(Status.ERROR, reason=f"task {task.id!r} has no reference answer")
        return self.verify(completion, task.answer)

    def verify(self, completion: str, reference: str) -> Verdict:
        """Extract the final answer of ``completion`` and compare it with ``reference``."""
        if not isinstance(completion, str):
            return Verdict(
                Status.NO_ANSWER, reason=f"completion must be str, got {type(completion).__name__}"
            )
        if len(completion) > self.max_chars:
            return Verdict(
                Status.NO_ANSWER,
                reason=f"completion has {len(completion)} chars, more than max_chars={self.max_chars}",
            )
        pred = extract_answer(completion, fallback=self.fallback, reasoning=self.reasoning_tags)
        if pred is None:
            if drop_reasoning(completion, self.reasoning_tags) is None:
                return Verdict(
                    Status.NO_ANSWER,
                    reason=f"no final answer: a {self.reasoning_tags[0]} block is never closed",
                )
            return Verdict(Status.NO_ANSWER, reason="no final answer found")
        return self.compare(pred, reference_answer(reference))

    def compare(self, pred: str, gold: str) -> Verdict:
        """Compare two bare answers (no extraction)."""
        limit = max(self.max_answer_chars, 2 * len(gold))
        shown = pred if len(pred) <= 200 else pred[:200] + "..."
        if len(pred) > limit:
            return Verdict(Status.TIMEOUT, 0.0, shown, f"answer has {len(pred)} chars, more than {limit}")
        details: dict[str, Any] = {"reference": gold[:200]}
        if normalize_text(pred) == normalize_text(gold) and normalize_text(gold):
            return Verdict(Status.CORRECT, 1.0, pred, "same answer text", {**details, "path": "string"})
        key = (pred, gold, self.approx_digits)
        hit = _cache_get(key)
        if hit is not None:
            status, reason, path = hit
            return Verdict(
                _STATUS[status], 1.0 if status == "correct" else 0.0, shown, reason, {**details, "path": path}
            )
        from assay.verifiers.math.worker import get_pool

        result = get_pool(self.memory_mb).run(
            {"pred": pred, "gold": gold, "approx_digits": self.approx_digits}, self.timeout_s
        )
        status = str(result.get("status"))
        reason = str(result.get("reason", ""))
        path = str(result.get("path", ""))
        if status not in _STATUS:
            return Verdict(Status.ERROR, 0.0, shown, f"unexpected worker reply {status!r}", details)
        if status in ("correct", "incorrect"):
            _cache_put(key, (status, reason, path))
        details["path"] = path  # no timings: the same input gives the same verdict
        return Verdict(_STATUS[status], 1.0 if status == "correct" else 0.0, shown, reason, details)

    def batch(
        self, completions: Sequence[str], references: Sequence[Task | str], *, processes: int = 4
    ) -> list[Verdict]:
        """Verify many completions over ``processes`` worker processes in parallel.

        ``references`` holds a `Task` or a reference answer string for each completion.
        """
        if len(completions) != len(references):
            raise ValueError(f"{len(completions)} completions but {len(references)} references")
        if processes < 1:
            raise ValueError(f"processes must be >= 1, got {processes}")

        def one(pair: tuple[str, Task | str]) -> Verdict:
            completion, ref = pair
            return self(completion, ref) if isinstance(ref, Task) else self.verify(completion, ref)

        if processes == 1:
            return [one(p) for p in zip(completions, references, strict=True)]
        from assay.verifiers.math.worker import get_pool

        pool = get_pool(self.memory_mb)
        pool.max_idle = max(pool.max_idle, processes)
        with ThreadPoolExecutor(max_workers=processes) as ex:
            return list(ex.map(one, zip(completions, references, strict=True)))

    def warm(self, processes: int = 1) -> None:
        """Start the worker processes now (about a second once per process), outside any budget."""
        from assay.verifiers.math.worker import get_pool

        pool = get_pool(self.memory_mb)
        pool.max_idle = max(pool.max_idle, processes)
        pool.warm(processes)


def is_equiv(pred: str, gold: str, *, timeout_s: float = 5.0) -> bool:
    """Whether two bare answers are equivalent (no extraction). A timeout or a verifier error
    is False here; use ``MathVerifier(...).compare`` to tell them apart."""
    return MathVerifier(timeout_s=timeout_s).compare(pred, gold).status is Status.CORRECT
