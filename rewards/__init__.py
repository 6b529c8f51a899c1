"""Rewards: named, weighted, range-declared reward terms composed into a `Rubric`.

- `base`: `RewardFn`, `Term`, `Scored`, `Rubric` -> `Reward` (total + per-term values + details).
- `combine`: `weighted_sum`, `product`, `minimum`, `maximum`, `gate`, `clip`, `scale`.
- `normalize`: per-group and per-batch normalisation.
- rule terms: `format` (tags, JSON, JSON Schema, fenced code), `length` (target range, DAPO
  overlong), `repetition` (n-gram and line rates), `language` (language and script
  consistency), `safety` (patterns, refusals), `reasoning` (steps, verification).
- `outcome` (any verifier as a term), `process` (step-level rewards), `judge` (LLM judges),
  `adapters` (TRL and verl).
"""

from assay.rewards.base import CORRECTNESS, BatchRewardFn, Reward, RewardFn, Rubric, Scored, Term, correct
from assay.rewards.combine import clip, gate, maximum, minimum, product, scale, weighted_sum
from assay.rewards.format import fenced_code, json_schema, json_valid, tags
from assay.rewards.language import language_consistency, script_consistency
from assay.rewards.length import length_in_range, overlong_penalty
from assay.rewards.normalize import batch_normalize, group_normalize, group_normalize_terms
from assay.rewards.outcome import outcome, verdict_credit
from assay.rewards.process import arithmetic_steps, process_reward, split_steps, verify_each
from assay.rewards.reasoning import min_steps, verification_step
from assay.rewards.repetition import line_repetition, ngram_repetition
from assay.rewards.safety import refusal, refusal_appropriate, unsafe_content

__all__ = [
    "CORRECTNESS",
    "BatchRewardFn",
    "Reward",
    "RewardFn",
    "Rubric",
    "Scored",
    "Term",
    "arithmetic_steps",
    "batch_normalize",
    "clip",
    "correct",
    "fenced_code",
    "gate",
    "group_normalize",
    "group_normalize_terms",
    "json_schema",
    "json_valid",
    "language_consistency",
    "length_in_range",
    "line_repetition",
    "maximum",
    "min_steps",
    "minimum",
    "ngram_repetition",
    "outcome",
    "overlong_penalty",
    "process_reward",
    "product",
    "refusal",
    "refusal_appropriate",
    "scale",
    "script_consistency",
    "split_steps",
    "tags",
    "unsafe_content",
    "verdict_credit",
    "verification_step",
    "verify_each",
    "weighted_sum",
]
