"""The policy's per-token entropy, from the forward pass that computes its log-probs.

`logprobs_with_entropy` is `assay.agents.policy.token_logprobs` with ``entropy=True`` over the
action positions: the trunk runs once, and the LM head, the log-probs and the entropy run
only on the action positions, ``chunk`` of them at a time (checkpointed under autograd), so
no ``(N, T, V)`` logits tensor exists and the memory scales with the micro-batch.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from assay.agents.policy import LOGPROB_CHUNK, token_logprobs

__all__ = ["logprobs_with_entropy"]


def logprobs_with_entropy(
    model: Any,
    input_ids: Tensor,
    attention_mask: Tensor,
    mask: Tensor,
    *,
    temperature: float = 1.0,
    grad_entropy: bool = False,
    chunk: int = LOGPROB_CHUNK,
) -> tuple[Tensor, Tensor]:
    """``(logp, entropy)``, both ``(N, T-1)`` float32, aligned as `token_logprobs` (entry ``j`` is
    about the token ``input_ids[:, j+1]``), both 0.0 where ``mask`` is 0.

    ``logp`` is `token_logprobs` at the ``mask`` positions (log-softmax of the logits divided by
    ``temperature``). ``entropy`` is ``H(softmax(logits / temperature))`` there; it carries a
    gradient only with ``grad_entropy`` (an entropy bonus), otherwise it is for logging.
    """
    logp, ent = token_logprobs(
        model, input_ids, attention_mask, temperature=temperature, positions=mask, chunk=chunk,
        entropy=True, grad_entropy=grad_entropy,
    )  # fmt: skip
    return logp, ent
