"""Bradley-Terry reward models: a scalar head on a causal LM, trained on preference pairs.

The model is transformers' ``AutoModelForSequenceClassification`` with one label, built from a
causal LM directory: the LM's trunk and a new linear ``score`` head, read at the last attended
token of ``prompt + completion + <eos>``: the EOS token that `encode` appends (the last kept
completion token when ``max_length`` cut the completion). The position comes from the
attention mask, not from the pad token, so a tokenizer whose pad token is its EOS token is read
at the EOS too. Training minimises
``-log sigmoid(r(chosen) - r(rejected))`` (`assay.agents.preference.losses.bradley_terry_loss`,
optionally with a margin from the pair's scores and reward centring) and reports the pairwise
accuracy on held-out prompts (``eval_fraction``). The trained model is saved in
``save_pretrained`` layout (``out_dir/model``).

`RewardModel` loads one back as a scorer with every interface the library takes:

- a `RewardFn` (``rm(completion, task, verdict)``) with a batched form (``rm.batch``): a term of
  a `Rubric` (``rm.term()``), so an env's reward, GRPO and PPO can use it;
- an evaluation selector (``rm.select(completion, task)``) for best-of-N:
  ``evaluate(config, sampler, out, selector=rm.select)``; from the command line,
  ``ASSAY_REWARD_MODEL=DIR assay eval ... --select import:assay.agents.preference.rm:env_selector``;
- a scorer for preference data (``generate_groups(..., scorer=rm)``) and online DPO
  (``reward_model=DIR``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from assay.agents.preference.config import RMConfig
from assay.agents.preference.data import PreferencePair, load_pairs
from assay.agents.preference.losses import bradley_terry_loss
from assay.agents.preference.offline import OfflineTrainer
from assay.agents.preference.sequences import Encoded, SeqBatch, collate, encode
from assay.rewards.base import Term
from assay.verifiers.base import Task, Verdict

__all__ = ["RewardModel", "RewardModelTrainer", "env_selector", "load_reward_model"]


def load_reward_model(path: str | Path, *, device: str = "cpu") -> tuple[Any, Any]:
    """``(model, tokenizer)``: a one-label sequence classifier from ``path``, in float32.

    ``path`` may be a trained reward model or any causal LM directory (its trunk is kept and the
    ``score`` head is freshly initialised, seeded by the global torch RNG).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1, dtype=torch.float32)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device), tokenizer


def _rewards(model: Any, batch: SeqBatch) -> Tensor:
    """``(N,)``: the ``score`` head on the trunk's last hidden state at each sequence's last
    attended token (right padding: ``attention_mask.sum() - 1``). Not transformers' own pooling,
    which looks for the last token that is not ``pad_token_id`` and so, when the pad token is the
    EOS token, reads the token before the EOS."""
    hidden = model.base_model(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False
    ).last_hidden_state
    last = batch.attention_mask.sum(dim=1) - 1
    rewards: Tensor = model.score(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])
    return rewards.squeeze(-1).float()


class RewardModelTrainer(OfflineTrainer):
    """``RewardModelTrainer(config).train()`` trains a reward model on ``config.data`` (pairs).

    Args:
        config: An `RMConfig`.
        records: Pairs instead of reading ``config.data``.
        model, tokenizer: A sequence classifier with one label (`load_reward_model`) instead of
            building one from ``config.model``.
    """

    name = "rm"
    config: RMConfig

    def __init__(
        self,
        config: RMConfig,
        records: Sequence[PreferencePair] | None = None,
        *,
        model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        if records is None:
            if not config.data:
                raise ValueError("config.data is empty: pass a JSONL preference file")
            records = load_pairs(config.data)
        if not records:
            raise ValueError("no preference pairs")
        super().__init__(config, model=model, tokenizer=tokenizer)
        self.records = list(records)
        ml, tok = config.max_length, self.tokenizer
        self.chosen = [encode(tok, r.prompt, r.chosen, max_length=ml, chat=self.chat) for r in self.records]
        self.rejected = [
            encode(tok, r.prompt, r.rejected, max_length=ml, chat=self.chat) for r in self.records
        ]
        margins = []
        for r in self.records:
            c, w = r.chosen_score, r.rejected_score
            margins.append(
                float(c - w) if config.margin_from_scores and c is not None and w is not None else 0.0
            )
        self.margins = torch.tensor(margins)
        self.setup([r.prompt for r in self.records])

    def load_model(self) -> tuple[Any, Any]:
        """A one-label sequence classifier from ``config.model``, its new head seeded by
        ``config.seed`` (the global torch RNG is left as it was)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            return load_reward_model(self.config.model, device=self.config.device)

    def losses(self, idx: Sequence[int]) -> tuple[Tensor, dict[str, Tensor]]:
        n = len(idx)
        batch = collate([self.chosen[i] for i in idx] + [self.rejected[i] for i in idx], self.pad_id)
        r = _rewards(self.model, batch.to(self.device))
        rc, rr = r[:n], r[n:]
        margin = self.margins[torch.tensor(list(idx))].to(rc)
        out = bradley_terry_loss(rc, rr, margin=margin, center_coef=self.config.center_coef)
        diff = out.chosen_rewards - out.rejected_rewards
        accuracy = (diff > 0).float() + 0.5 * (diff == 0).float()
        return out.losses, {
            "accuracy": accuracy,
            "rewards/chosen": out.chosen_rewards,
            "rewards/rejected": out.rejected_rewards,
            "rewards/margin": diff,
        }


class RewardModel:
    """A trained reward model as a scorer (module docstring).

    Args:
        model, tokenizer: A one-label sequence classifier and its tokenizer.
        max_length: Longest prompt plus completion in tokens (completions are cut to fit; a
            prompt longer than this cannot be scored: None).
        batch_size: Sequences per forward pass.
    """

    def __init__(self, model: Any, tokenizer: Any, *, max_length: int = 512, batch_size: int = 32) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.pad_id = int(
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        self.device = next(model.parameters()).device
        self._lock = threading.Lock()

    def __deepcopy__(self, memo: dict[int, Any]) -> RewardModel:
        return self  # a scorer is shared, not copied (gymnasium deep-copies env kwargs)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]  # pickled for a worker process (async vector envs): a fresh lock there
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu", **kwargs: Any) -> RewardModel:
        """A reward model saved by `RewardModelTrainer` (``out_dir/model``)."""
        model, tokenizer = load_reward_model(path, device=device)
        return cls(model, tokenizer, **kwargs)

    def __repr__(self) -> str:
        return f"RewardModel({getattr(self.model, 'name_or_path', '')!r})"

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float | None]:
        """The reward of each completion of its prompt (None: the prompt does not fit)."""
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts for {len(completions)} completions")
        encoded: list[tuple[int, Encoded]] = []
        for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
            try:
                encoded.append((i, encode(self.tokenizer, p, c, max_length=self.max_length)))
            except ValueError:
                continue  # an empty or over-long prompt: not scorable
        out: list[float | None] = [None] * len(prompts)
        with self._lock, torch.no_grad():
            for start in range(0, len(encoded), self.batch_size):
                chunk = encoded[start : start + self.batch_size]
                batch = collate([e for _, e in chunk], self.pad_id).to(self.device)
                for (i, _), value in zip(chunk, _rewards(self.model, batch).tolist(), strict=True):
                    out[i] = float(value)
        return out

    def __call__(self, completion: str, task: Task, verdict: Verdict, /) -> float | None:
        """The reward of ``completion`` (a `RewardFn`; the verdict is not used)."""
        return self.score([task.prompt], [completion])[0]

    def batch(
        self, completions: Sequence[str], tasks: Sequence[Task], verdicts: Sequence[Verdict], /
    ) -> list[float | None]:
        """`__call__` over a batch, in batched forward passes."""
        return self.score([t.prompt for t in tasks], completions)

    def select(self, completion: str, task: Task) -> float | None:
        """Best-of-N selection score (an `assay.agents.evaluation.Selector`)."""
        return self.score([task.prompt], [completion])[0]

    def term(
        self, name: str = "reward_model", weight: float = 1.0, low: float = -10.0, high: float = 10.0
    ) -> Term:
        """This model as a rubric term; its raw reward is clipped to ``[low, high]``."""
        return Term(name, self, weight, low, high)


class _EnvSelector:
    """A selector that scores with the reward model in ``ASSAY_REWARD_MODEL`` (loaded on first
    use, and again when the variable names another directory)."""

    def __init__(self) -> None:
        self._loaded: tuple[str, RewardModel] | None = None
        self._lock = threading.Lock()

    def __call__(self, completion: str, task: Task) -> float | None:
        path = os.environ.get("ASSAY_REWARD_MODEL")
        if not path:
            raise ValueError("set ASSAY_REWARD_MODEL to a reward model directory")
        with self._lock:
            if self._loaded is None or self._loaded[0] != path:
                self._loaded = (path, RewardModel.load(path))
            model = self._loaded[1]
        return model.select(completion, task)


env_selector = _EnvSelector()
"""For ``assay eval --select import:assay.agents.preference.rm:env_selector``: the reward model
in the directory ``ASSAY_REWARD_MODEL`` names ranks the samples."""
