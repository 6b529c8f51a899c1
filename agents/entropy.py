"""The policy's per-token entropy, from the forward pass that computes its log-probs.

`logprobs_with_entropy` is `assay.agents.policy.token_logprobs` plus the entropy of the
next-token distribution at the counted (action) positions only: the entropy costs a
``K x V`` float32 pass over the ``K`` action positions (`assay.agents.losses.token_entropy`,
chunked), not a second forward and not a copy of every position's logits.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from assay.agents.losses import token_entropy
from assay.agents.policy import position_ids

__all__ = ["logprobs_with_entropy"]


def logprobs_with_entropy(
    model: Any,
    input_ids: Tensor,
    attention_mask: Tensor,
    mask: Tensor,
    *,
    temperature: float = 1.0,
    grad_entropy: bool = False,
) -> tuple[Tensor, Tensor]:
    """``(logp, entropy)``, both ``(N, T-1)`` float32, aligned as `token_logprobs` (entry ``j`` is
    about the token ``input_ids[:, j+1]``).

    ``logp`` is computed as `token_logprobs` computes it (log-softmax of the logits divided by
    ``temperature``). ``entropy`` is ``H(softmax(logits / temperature))`` where ``mask`` is 1
    and 0 elsewhere; it carries a gradient only with ``grad_entropy`` (an entropy bonus),
    otherwise it is computed without one (logging).
    """
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids(attention_mask),
        use_cache=False,
    )
    logits = out.logits[:, :-1]
    scaled = logits.float()
    if temperature > 0 and temperature != 1.0:
        scaled = scaled / temperature
    logp = torch.log_softmax(scaled, dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    sel = mask.to(torch.bool)
    zeros = torch.zeros(logp.shape, dtype=torch.float32, device=logp.device)
    with torch.set_grad_enabled(grad_entropy and torch.is_grad_enabled()):
        values = token_entropy(logits[sel], temperature=temperature)
        entropy = zeros.masked_scatter(sel, values)
    return logp, entropy
