"""Supervised fine-tuning on prompt/completion records, with a completion-only loss.

This is the "cold start" stage of a reasoning recipe: a few formatted traces teach the output
format (``<think>...</think><answer>...</answer>``, a boxed answer, a tool-call syntax) before RL
rewards correctness. Each record's loss is the mean negative log-likelihood of its completion
tokens (and the end-of-sequence token after them); prompt tokens are context only, unless
``completion_only=False``. The batch loss is the mean over records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from assay.agents.preference.config import SFTConfig
from assay.agents.preference.data import SFTRecord, load_sft
from assay.agents.preference.offline import OfflineTrainer
from assay.agents.preference.sequences import collate, completion_logps, encode

__all__ = ["SFT"]


class SFT(OfflineTrainer):
    """``SFT(config).train()`` fine-tunes ``config.model`` on ``config.data``.

    Args:
        config: An `SFTConfig`.
        records: Use these instead of reading ``config.data``.
        model, tokenizer: Use these instead of loading ``config.model`` (trained in place).
    """

    name = "sft"
    config: SFTConfig

    def __init__(
        self,
        config: SFTConfig,
        records: Sequence[SFTRecord] | None = None,
        *,
        model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        if records is None:
            if not config.data:
                raise ValueError("config.data is empty: pass a JSONL file of prompt/completion records")
            records = load_sft(config.data)
        if not records:
            raise ValueError("no SFT records")
        super().__init__(config, model=model, tokenizer=tokenizer)
        self.records = list(records)
        self.encoded = [
            encode(self.tokenizer, r.prompt, r.completion, max_length=config.max_length, chat=self.chat)
            for r in self.records
        ]
        self.setup([r.prompt for r in self.records])

    def losses(self, idx: Sequence[int]) -> tuple[Tensor, dict[str, Tensor]]:
        batch = collate(
            [self.encoded[i] for i in idx], self.pad_id, completion_only=self.config.completion_only
        ).to(self.device)
        total, count = completion_logps(self.model, batch)
        nll = -total / count.clamp(min=1.0)
        return nll, {"tokens": count}
