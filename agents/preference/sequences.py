"""Prompt/completion texts as token ids, padded batches, and a completion's log-probability.

Every trainer here (SFT, DPO, reward models) sees a record as a prompt and a completion. The
prompt is tokenised as the samplers tokenise it (`assay.agents.sampler.encode_prompts`: no
special tokens), or, in chat format, rendered with the tokenizer's chat template; the completion
is tokenised on its own and followed by the end-of-sequence token, as a sampled completion that
stopped is. Only completion tokens (the end-of-sequence
token included) are targets: ``loss_mask`` is 1 on them and 0 on prompt and padding tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from assay.agents.chat import ChatFormat, chat_prompts
from assay.agents.policy import token_logprobs
from assay.agents.sampler import encode_prompts

__all__ = ["Encoded", "SeqBatch", "collate", "completion_logps", "encode"]


@dataclass(frozen=True, slots=True)
class Encoded:
    """One prompt and completion as token ids: ``ids[:prompt_len]`` is the prompt."""

    ids: tuple[int, ...]
    prompt_len: int

    @property
    def completion_len(self) -> int:
        """Tokens after the prompt (the targets)."""
        return len(self.ids) - self.prompt_len


def encode(
    tokenizer: Any,
    prompt: str,
    completion: str,
    *,
    add_eos: bool = True,
    max_length: int | None = None,
    completion_ids: Sequence[int] | None = None,
    chat: ChatFormat | None = None,
) -> Encoded:
    """Token ids of ``prompt + completion`` (+ end of sequence), cut to ``max_length`` tokens.

    With ``completion_ids`` (a sampled completion's own ids) those are the completion, as they
    are: not re-tokenised, and no end of sequence added (a sampled one is already there; one
    cut at the token budget has none). A record longer than ``max_length`` keeps its whole
    prompt and loses the end of its completion; a prompt that leaves no room for one completion
    token is an error.

    With ``chat`` the prompt is a user turn (after ``chat.system_prompt``, if set) rendered with
    the chat template and its generation prompt (`assay.agents.chat.chat_prompts`), as a chat
    sampler sees it; the completion is the assistant's reply and its end-of-sequence token, the
    tokens a chat rollout samples. Only those are targets.
    """
    p = chat_prompts(chat, [prompt])[0] if chat is not None else encode_prompts(tokenizer, [prompt])[0]
    if completion_ids is not None:
        c = [int(t) for t in completion_ids]
    else:
        c = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    if add_eos and completion_ids is None:
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no eos_token_id: pass add_eos=False")
        c.append(int(tokenizer.eos_token_id))
    if not c:
        raise ValueError("empty completion (and no end-of-sequence token): nothing to train on")
    if max_length is not None:
        if len(p) >= max_length:
            raise ValueError(f"prompt of {len(p)} tokens leaves no room under max_length={max_length}")
        c = c[: max_length - len(p)]
    return Encoded(tuple(p + c), len(p))


@dataclass(frozen=True)
class SeqBatch:
    """Right-padded sequences. ``input_ids``/``attention_mask`` are ``(N, T)``; ``loss_mask`` is
    ``(N, T-1)``, entry ``j`` about the target ``input_ids[:, j+1]``."""

    input_ids: Tensor
    attention_mask: Tensor
    loss_mask: Tensor

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: torch.device | str) -> SeqBatch:
        """The batch on ``device``."""
        return SeqBatch(self.input_ids.to(device), self.attention_mask.to(device), self.loss_mask.to(device))


def collate(items: Sequence[Encoded], pad_id: int, *, completion_only: bool = True) -> SeqBatch:
    """Pad ``items`` on the right. With ``completion_only=False`` prompt tokens are targets too
    (except the first token, which nothing predicts)."""
    if not items:
        raise ValueError("no sequences to collate")
    width = max(len(e.ids) for e in items)
    n = len(items)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    loss_mask = torch.zeros((n, width - 1), dtype=torch.float32)  # width >= 2: prompt and completion
    for i, e in enumerate(items):
        input_ids[i, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
        attention[i, : len(e.ids)] = 1
        first = max(e.prompt_len - 1, 0) if completion_only else 0
        loss_mask[i, first : len(e.ids) - 1] = 1.0
    return SeqBatch(input_ids, attention, loss_mask)


def completion_logps(model: Any, batch: SeqBatch) -> tuple[Tensor, Tensor]:
    """``(sum, count)``, each ``(N,)``: the summed log-probability of each sequence's target
    tokens under ``model`` and how many there are (divide for the per-token mean)."""
    lp = token_logprobs(model, batch.input_ids, batch.attention_mask).float()
    mask = batch.loss_mask.to(lp.dtype)
    return (lp * mask).sum(dim=-1), mask.sum(dim=-1)
