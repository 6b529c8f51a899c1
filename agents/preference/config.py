"""Settings of the post-training stages: frozen dataclasses, from YAML plus ``key=value`` overrides.

Defaults are the papers' (or TRL's where a paper gives none) for full-size models; a tiny model
trained from scratch needs a far larger learning rate (the tests and the recipe use 1e-3 to 3e-3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from assay.agents.config import TrainerConfig
from assay.agents.config import load_config as load_train_config

__all__ = [
    "DPOConfig",
    "LossName",
    "OnlineDPOConfig",
    "RMConfig",
    "SFTConfig",
    "TrainConfig",
    "load_train_config",
]

LossName = Literal["dpo", "ipo", "simpo", "kto", "orpo"]
LOSSES: tuple[str, ...] = ("dpo", "ipo", "simpo", "kto", "orpo")


@dataclass(frozen=True)
class TrainConfig(TrainerConfig):
    """What the offline trainers share: the model, the data, the optimiser, the run."""

    model: str = ""
    """Local model directory (``save_pretrained`` layout) to start from."""
    data: str = ""
    """The training records (JSONL; see `assay.agents.preference.data`)."""
    out_dir: str = "runs/posttrain"
    """``metrics.jsonl``, checkpoints and the trained model (``out_dir/model``) go here."""
    epochs: int = 1
    """Passes over the training records."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (None: after ``epochs``)."""
    batch_size: int = 8
    """Records per optimizer step."""
    lr: float = 1e-5
    """AdamW learning rate (peak, after warmup)."""
    warmup_steps: int = 0
    """Linear warmup from 0 over this many steps; constant after."""
    max_length: int = 512
    """Longest prompt plus completion in tokens (completions are cut to fit)."""
    eval_fraction: float = 0.0
    """Hold this share of the prompts out, with all their records (seeded); report metrics on them."""
    eval_every: int = 0
    """Evaluate on the held-out records every this many steps (0: only at the end)."""
    save_every: int = 0
    """Checkpoint every this many steps (0: only at the end); ``resume`` continues from one."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.epochs < 1 or self.batch_size < 1 or self.max_length < 2:
            raise ValueError("epochs and batch_size must be >= 1, max_length >= 2")
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError("max_steps must be >= 0 or None")
        if self.lr < 0 or self.warmup_steps < 0 or self.eval_every < 0 or self.save_every < 0:
            raise ValueError("lr, warmup_steps, eval_every and save_every must be >= 0")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1 or None, got {self.num_threads}")


@dataclass(frozen=True)
class SFTConfig(TrainConfig):
    """Supervised fine-tuning on prompt/completion records."""

    out_dir: str = "runs/sft"
    lr: float = 2e-5
    """TRL's SFT default."""
    completion_only: bool = True
    """Loss on completion tokens only (prompt tokens are context, never targets)."""


@dataclass(frozen=True)
class DPOConfig(TrainConfig):
    """Offline preference optimisation on a preference file (or KTO records)."""

    out_dir: str = "runs/dpo"
    lr: float = 1e-6
    """TRL's DPO default."""
    batch_size: int = 16
    loss: LossName = "dpo"
    """``dpo`` (sigmoid), ``ipo``, ``simpo``, ``kto``, ``orpo`` (see `assay.agents.preference.losses`)."""
    beta: float = 0.1
    """DPO's and KTO's beta; IPO's tau."""
    label_smoothing: float = 0.0
    """Conservative DPO / SimPO label noise in [0, 0.5)."""
    simpo_beta: float = 2.0
    """SimPO's beta (reward scale on per-token mean log-probs)."""
    simpo_gamma: float = 0.5
    """SimPO's target reward margin."""
    orpo_lambda: float = 0.1
    """Weight of ORPO's odds-ratio term beside the NLL."""
    kto_desirable_weight: float = 1.0
    """KTO's lambda_D."""
    kto_undesirable_weight: float = 1.0
    """KTO's lambda_U."""
    reference: str = ""
    """Reference model directory ("" : the starting policy). Unused by SimPO and ORPO."""
    sft_weight: float = 0.0
    """Add this times the chosen completion's per-token NLL (RPO-style regulariser; 0: off)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.beta <= 0 or self.simpo_beta <= 0 or self.orpo_lambda < 0 or self.sft_weight < 0:
            raise ValueError("beta and simpo_beta must be > 0; orpo_lambda and sft_weight >= 0")

    @property
    def needs_reference(self) -> bool:
        """DPO, IPO and KTO compare against a reference model; SimPO and ORPO do not."""
        return self.loss in ("dpo", "ipo", "kto")


@dataclass(frozen=True)
class OnlineDPOConfig(DPOConfig):
    """Iterative (online) DPO: each round samples from the current policy, scores the samples
    with the env (or a reward model), builds fresh pairs and optimises on them."""

    out_dir: str = "runs/online_dpo"
    env: str = "assay/Arithmetic-v0"
    """Gymnasium id of a single-turn env."""
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments for the env."""
    rounds: int = 4
    """Generate-score-pair-optimise rounds."""
    prompts_per_round: int = 64
    """Fresh training tasks sampled each round."""
    samples_per_prompt: int = 4
    """Completions per task (N)."""
    max_new_tokens: int = 64
    """Token budget of one completion."""
    temperature: float = 1.0
    """Sampling temperature."""
    pairs: Literal["correct_vs_incorrect", "best_vs_worst", "margin"] = "correct_vs_incorrect"
    """How pairs are built from each group (`assay.agents.preference.data`)."""
    min_margin: float = 0.0
    """For ``best_vs_worst`` (strictly more than) and ``margin`` (at least; must be > 0)."""
    max_pairs_per_prompt: int = 1
    """For ``correct_vs_incorrect`` and ``margin``."""
    ref_refresh: Literal["round", "fixed"] = "round"
    """``round``: the reference is the policy at the start of each round; ``fixed``: the start."""
    reward_model: str = ""
    """Rank samples by this reward model directory instead of the env's reward ("" : the env)."""
    eval_prompts: int = 64
    """Held-out tasks for the per-round pass rate (0: no evaluation)."""
    eval_samples: int = 4
    """Samples per held-out task."""
    eval_offset: int = 1_000_000
    """Held-out task indices start here (training tasks come from below it, or from the first
    ``num_tasks - eval_prompts`` of a finite env, whose last ``eval_prompts`` are held out)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rounds < 0 or self.prompts_per_round < 1 or self.samples_per_prompt < 2:
            raise ValueError("rounds >= 0, prompts_per_round >= 1 and samples_per_prompt >= 2 needed")
        if self.pairs not in ("correct_vs_incorrect", "best_vs_worst", "margin"):
            raise ValueError(
                f"pairs must be correct_vs_incorrect, best_vs_worst or margin, got {self.pairs!r}"
            )
        if self.pairs == "margin" and self.min_margin <= 0:
            raise ValueError("pairs='margin' needs min_margin > 0")
        if self.ref_refresh not in ("round", "fixed"):
            raise ValueError(f"ref_refresh must be 'round' or 'fixed', got {self.ref_refresh!r}")
        if self.eval_prompts < 0 or self.eval_samples < 1 or self.max_new_tokens < 1:
            raise ValueError("eval_prompts >= 0, eval_samples >= 1 and max_new_tokens >= 1 needed")


@dataclass(frozen=True)
class RMConfig(TrainConfig):
    """A Bradley-Terry reward model on preference pairs."""

    out_dir: str = "runs/rm"
    eval_fraction: float = 0.1
    """Share of prompts held out (with their pairs) for the pairwise accuracy."""
    center_coef: float = 0.0
    """Reward-centring coefficient (0: off; Eisenstein et al. 2023 use 0.01)."""
    margin_from_scores: bool = False
    """Use ``chosen_score - rejected_score`` as the margin of each pair (when both are present)."""
