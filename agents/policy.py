"""The trained model: loading it, its per-token log-probs, and a value head for PPO."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

__all__ = [
    "LOGPROB_CHUNK",
    "ValueModel",
    "load_policy",
    "pick_dtype",
    "position_ids",
    "selective_logprobs",
    "selective_logprobs_entropy",
    "token_logprobs",
]


def pick_dtype(name: str) -> torch.dtype:
    """``"auto"`` is bfloat16 on a CUDA device that supports it, else float32."""
    if name == "auto":
        cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in table:
        raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {name!r}")
    return table[name]


def load_policy(
    path: str | Path, *, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a local ``save_pretrained`` directory, weights in ``dtype``.

    The default, float32, keeps float32 master weights for the optimizer while autocast applies
    mixed precision in the forward passes. ``torch.bfloat16`` halves the weights' memory (and,
    with the optimizer over them, the gradients' and the optimizer state's); see
    ``TrainerConfig.param_dtype`` for what that costs in precision.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model: Any = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    model = model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def position_ids(attention_mask: Tensor) -> Tensor:
    """Position of each token among the unmasked ones (as generation numbers them)."""
    return (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)


LOGPROB_CHUNK = 256
"""Positions whose full-vocabulary logits exist at once in `token_logprobs` (a chunk of
``LOGPROB_CHUNK x vocab`` float32 values: 0.16 GB for Qwen's 151,936-token vocabulary; the
backward pass holds a few such buffers). Each position's log-softmax is independent of the
chunking, so the chunk size changes memory and speed, never the values."""


def token_logprobs(
    model: Any,
    input_ids: Tensor,
    attention_mask: Tensor,
    *,
    temperature: float = 1.0,
    return_hidden: bool = False,
    positions: Tensor | None = None,
    chunk: int = LOGPROB_CHUNK,
    entropy: bool = False,
    grad_entropy: bool = False,
) -> Any:
    """``(N, T-1)`` float32 log-probs of each next token ``input_ids[:, 1:]`` under ``model``.

    The logits are divided by ``temperature`` (as the sampler's were). Position ids follow the
    attention mask, as in generation. With ``positions`` (an ``(N, T-1)`` mask, e.g. the loss
    mask) only those positions are scored and every other entry is 0.0: the trunk runs on the
    whole sequence, but the LM head runs only on the selected hidden states. With
    ``return_hidden`` also returns the last hidden states ``(N, T, H)`` (for a value head).
    With ``entropy`` also returns the ``(N, T-1)`` float32 entropy of the next-token distribution
    ``softmax(logits / temperature)`` at the same positions (0.0 elsewhere), from the same
    forward and the same chunks as the log-probs; it carries a gradient only with
    ``grad_entropy`` (an entropy bonus), otherwise it is for logging. The result is ``logp``,
    then ``entropy`` if asked, then ``hidden`` if asked (a tuple when more than one).

    Memory: the head and a selective log-softmax (``logit[target] - logsumexp(logits)``) run
    ``chunk`` positions at a time, so no full-vocabulary tensor larger than ``chunk x vocab``
    exists; under autograd each chunk is checkpointed (its logits are recomputed in the backward
    pass instead of kept), so the same bound holds for training. Not guaranteed: models whose
    causal-LM head does more than a linear layer (plus Gemma-style final soft-capping) take the
    plain path (one full forward, all logits at once), as do models without ``get_decoder``.
    """
    head, trunk = _head_and_trunk(model)
    pos = position_ids(attention_mask)
    targets = input_ids[:, 1:]
    if trunk is None:  # the plain path: the model's own forward, logits for every position
        out = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=pos,
            output_hidden_states=return_hidden,
            use_cache=False,
        )
        logits = out.logits[:, :-1].float()
        if temperature > 0 and temperature != 1.0:
            logits = logits / temperature
        lse = torch.logsumexp(logits, dim=-1)
        logp = logits.gather(-1, targets[..., None]).squeeze(-1) - lse
        ent = None
        if entropy:
            with torch.set_grad_enabled(grad_entropy and torch.is_grad_enabled()):
                ent = lse - (torch.softmax(logits, dim=-1) * logits).sum(dim=-1)
        if positions is not None:
            logp = logp * positions.bool()
            ent = ent * positions.bool() if ent is not None else None
        return _result(logp, ent, out.hidden_states[-1] if return_hidden else None)
    hidden = trunk(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=pos, use_cache=False
    ).last_hidden_state
    h = hidden[:, :-1]
    if positions is None:
        flat_h, flat_t = h.reshape(-1, h.shape[-1]), targets.reshape(-1)
    else:
        keep = positions.bool()
        flat_h, flat_t = h[keep], targets[keep]
    softcap = getattr(getattr(model, "config", None), "final_logit_softcapping", None)
    ent = None
    if entropy:
        lp, flat_ent = selective_logprobs_entropy(
            head, flat_h, flat_t, temperature=temperature, softcap=softcap, chunk=chunk,
            grad_entropy=grad_entropy,
        )  # fmt: skip
    else:
        lp = selective_logprobs(head, flat_h, flat_t, temperature=temperature, softcap=softcap, chunk=chunk)
    if positions is None:
        logp = lp.view(targets.shape)
        ent = flat_ent.view(targets.shape) if entropy else None
    else:
        zeros = torch.zeros(targets.shape, dtype=lp.dtype, device=lp.device)
        logp = zeros.masked_scatter(keep, lp)
        ent = zeros.masked_scatter(keep, flat_ent) if entropy else None
    return _result(logp, ent, hidden if return_hidden else None)


def _result(logp: Tensor, ent: Tensor | None, hidden: Tensor | None) -> Any:
    """`token_logprobs`' return value: ``logp`` alone or a tuple with the extras asked for."""
    extras = [x for x in (ent, hidden) if x is not None]
    return (logp, *extras) if extras else logp


def selective_logprobs(
    head: Any,
    hidden: Tensor,
    targets: Tensor,
    *,
    temperature: float = 1.0,
    softcap: float | None = None,
    chunk: int = LOGPROB_CHUNK,
) -> Tensor:
    """``(K,)`` float32 ``log softmax(head(hidden) / temperature)[target]`` for ``(K, H)`` hidden
    states, ``chunk`` rows at a time: ``logit[target] - logsumexp(logits)``, never a whole
    ``(K, vocab)`` tensor. Under autograd each chunk is recomputed in the backward pass
    (activation checkpointing), so the logits of only one chunk are alive at a time."""
    if hidden.shape[0] == 0:
        return hidden.new_zeros((0,), dtype=torch.float32)
    return _selective(head, hidden, targets, temperature, softcap, chunk, None)[0]


def selective_logprobs_entropy(
    head: Any,
    hidden: Tensor,
    targets: Tensor,
    *,
    temperature: float = 1.0,
    softcap: float | None = None,
    chunk: int = LOGPROB_CHUNK,
    grad_entropy: bool = False,
) -> tuple[Tensor, Tensor]:
    """`selective_logprobs` and, from the same chunk of logits, the ``(K,)`` float32 entropy
    ``logsumexp(z) - sum softmax(z) * z`` of ``z = head(hidden) / temperature``: no second head
    pass and no more memory than one chunk's logits. The entropy is differentiable only with
    ``grad_entropy`` (an entropy bonus); otherwise it is computed without autograd (logging)."""
    if hidden.shape[0] == 0:
        empty = hidden.new_zeros((0,), dtype=torch.float32)
        return empty, empty
    lp, ent = _selective(head, hidden, targets, temperature, softcap, chunk, grad_entropy)
    assert ent is not None
    return lp, ent


def _selective(
    head: Any,
    hidden: Tensor,
    targets: Tensor,
    temperature: float,
    softcap: float | None,
    chunk: int,
    grad_entropy: bool | None,
) -> tuple[Tensor, Tensor | None]:
    """Chunked ``(log-probs, entropy or None)``; ``grad_entropy`` None: no entropy."""

    def logits_of(h: Tensor) -> Tensor:
        logits: Tensor = head(h).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        if temperature > 0 and temperature != 1.0:
            logits = logits / temperature
        return logits

    def one(h: Tensor, t: Tensor) -> Tensor:
        logits = logits_of(h)
        out: Tensor = logits.gather(-1, t[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)
        return out

    def both(h: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        logits = logits_of(h)
        lse = torch.logsumexp(logits, dim=-1)
        lp = logits.gather(-1, t[:, None]).squeeze(-1) - lse
        if grad_entropy:
            return lp, lse - (torch.softmax(logits, dim=-1) * logits).sum(dim=-1)
        with torch.no_grad():
            return lp, lse - (torch.softmax(logits, dim=-1) * logits).sum(dim=-1)

    grad = torch.is_grad_enabled() and (
        hidden.requires_grad or any(p.requires_grad for p in head.parameters())
    )
    parts, ents = [], []
    for i in range(0, hidden.shape[0], chunk):
        h, t = hidden[i : i + chunk], targets[i : i + chunk]
        if grad:
            from torch.utils.checkpoint import checkpoint

            if grad_entropy is None:
                parts.append(cast(Tensor, checkpoint(one, h, t, use_reentrant=False)))
            else:  # one head pass for both; a logged (detached) entropy adds no backward work
                lp, ent = cast(tuple[Tensor, Tensor], checkpoint(both, h, t, use_reentrant=False))
                parts.append(lp)
                ents.append(ent)
        elif grad_entropy is None:
            parts.append(one(h, t))
        else:
            lp, ent = both(h, t)
            parts.append(lp)
            ents.append(ent)
    return torch.cat(parts), (torch.cat(ents) if ents else None)


def _head_and_trunk(model: Any) -> tuple[Any, Any]:
    """The LM head and the trunk whose ``last_hidden_state`` feeds it, or ``(None, None)`` where
    the model's forward does more than ``head(trunk(x))`` (or may: unknown models)."""
    config = getattr(model, "config", None)
    if getattr(config, "logit_scale", None) not in (None, 1, 1.0):  # Cohere-style scaled logits
        return None, None
    get_head = getattr(model, "get_output_embeddings", None)
    get_trunk = getattr(model, "get_decoder", None)
    if get_head is None or get_trunk is None:
        return None, None
    try:
        head, trunk = get_head(), get_trunk()
    except (AttributeError, NotImplementedError, ValueError):
        return None, None
    if not isinstance(head, nn.Linear) or trunk is None or trunk is model:
        return None, None
    return head, trunk


class ValueModel(nn.Module):
    """A scalar value per position: a linear head on a causal LM's last hidden state.

    ``trunk`` is the policy itself (shared trunk: one forward gives log-probs and values) or a
    separate copy (a critic). The head starts at zero, so initial values are 0.
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.head = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, hidden: Tensor) -> Tensor:
        """``(N, T, H) -> (N, T-1)``: the value of the state before each next token."""
        values: Tensor = self.head(hidden[:, :-1].float()).squeeze(-1)
        return values
