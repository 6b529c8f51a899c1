"""`Truncation`: top-k, top-p (nucleus) and min-p sampling, as one filter on the logits.

A truncating sampler does not sample from the policy: it samples from the policy's distribution
cut to a subset of tokens and renormalised. The log-probs a sampler reports with it are those
of that truncated distribution (the behaviour policy that actually sampled; vLLM's
``processed_logprobs`` are the same), while the trainer recomputes the untruncated policy's
log-probs as ``old``. The RL trainers correct for the difference with truncated importance
sampling (``w_t = min(pi_old / pi_truncated, cap)``, always on while a filter is set); since a
kept token's truncated probability is at least its policy probability, ``w_t <= 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Truncation"]


@dataclass(frozen=True)
class Truncation:
    """Which tokens a sampling step may pick, given temperature-scaled logits.

    Applied in transformers' order: top-k, then top-p on the top-k-renormalised distribution,
    then min-p. The most likely token is always kept, so no filter can empty the distribution.

    Attributes:
        top_k: Keep the ``k`` most likely tokens (0: no limit).
        top_p: Keep the smallest set of most likely tokens whose probability sums to at least
            ``top_p`` (1.0: no limit).
        min_p: Keep tokens whose probability is at least ``min_p`` times the most likely
            token's (0.0: no limit).
    """

    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0

    def __post_init__(self) -> None:
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0: off), got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0.0 <= self.min_p < 1.0:
            raise ValueError(f"min_p must be in [0, 1), got {self.min_p}")

    @property
    def active(self) -> bool:
        """Whether any token can be filtered out (else sampling is plain temperature sampling)."""
        return self.top_k > 0 or self.top_p < 1.0 or self.min_p > 0.0

    def apply(self, logits: Any) -> Any:
        """``(B, V)`` logits (already divided by the temperature) with the filtered-out tokens
        set to ``-inf``; a new tensor, the input is untouched. ``log_softmax`` of the result is
        the truncated distribution's log-probs."""
        import torch

        out = logits.clone()
        neg = float("-inf")
        if self.top_k > 0 and self.top_k < out.shape[-1]:
            kth = torch.topk(out, self.top_k, dim=-1).values[..., -1:]
            out = out.masked_fill(out < kth, neg)
        if self.top_p < 1.0:
            sorted_logits, order = torch.sort(out, dim=-1, descending=True)
            probs = torch.softmax(sorted_logits.float(), dim=-1)
            before = probs.cumsum(dim=-1) - probs  # mass of the tokens ranked above each one
            drop_sorted = before >= self.top_p
            drop_sorted[..., 0] = False
            drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
            out = out.masked_fill(drop, neg)
        if self.min_p > 0.0:
            probs = torch.softmax(out.float(), dim=-1)
            keep = probs >= self.min_p * probs.max(dim=-1, keepdim=True).values
            out = out.masked_fill(~keep, neg)
        return out
