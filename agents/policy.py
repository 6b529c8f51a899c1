"""The trained model: loading it, its per-token log-probs, and a value head for PPO."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ValueModel", "load_policy", "pick_dtype", "position_ids", "token_logprobs"]


def pick_dtype(name: str) -> torch.dtype:
    """``"auto"`` is bfloat16 on a CUDA device that supports it, else float32."""
    if name == "auto":
        cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in table:
        raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {name!r}")
    return table[name]


def load_policy(path: str | Path, *, device: str = "cpu") -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a local ``save_pretrained`` directory, weights in float32.

    Mixed precision is applied with autocast during the forward passes, so the optimizer keeps
    float32 master weights.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model: Any = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    model = model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def position_ids(attention_mask: Tensor) -> Tensor:
    """Position of each token among the unmasked ones (as generation numbers them)."""
    return (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)


def token_logprobs(
    model: Any,
    input_ids: Tensor,
    attention_mask: Tensor,
    *,
    temperature: float = 1.0,
    return_hidden: bool = False,
) -> Any:
    """``(N, T-1)`` log-probs of each next token ``input_ids[:, 1:]`` under ``model``.

    The logits are divided by ``temperature`` (as the sampler's were). Position ids follow the
    attention mask, as in generation. With ``return_hidden`` also returns the last hidden states
    ``(N, T, H)`` (for a value head).
    """
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids(attention_mask),
        output_hidden_states=return_hidden,
        use_cache=False,
    )
    logits = out.logits[:, :-1].float()
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    logp = torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    if return_hidden:
        return logp, out.hidden_states[-1]
    return logp


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
