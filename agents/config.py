"""Training configs: frozen dataclasses, loaded from YAML and ``key=value`` overrides.

Each knob has the paper's name and an attribute docstring. `load_config` reads a YAML mapping
(unknown keys are an error, not a silent typo) and applies overrides on top.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

__all__ = ["GRPOConfig", "PPOConfig", "RunConfig", "TrainerConfig", "load_config", "parse_overrides"]


@dataclass(frozen=True)
class TrainerConfig:
    """What every trainer reads through the `assay.agents.trainer.Trainer` base, RL and
    post-training alike: the model, the run directory, the optimiser, checkpoints and logging.

    `RunConfig` (GRPO, PPO) and `assay.agents.preference.config.TrainConfig` (SFT, DPO, reward
    models) extend it, each with its own defaults. Validates only the fields declared here.
    """

    model: str = ""
    """Local model directory (``save_pretrained`` layout; `assay model init-tiny` makes one)."""
    out_dir: str = "runs/train"
    """Checkpoints and ``metrics.jsonl`` go here."""
    seed: int = 0
    """Seeds everything random: the same seed gives the same run (CPU)."""
    lr: float = 3e-4
    """AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    adam_betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this (0 disables)."""
    micro_batch_size: int | None = None
    """Sequences per forward/backward (gradient accumulation); None: the whole (mini)batch."""
    dtype: str = "auto"
    """Autocast dtype: ``auto`` is bfloat16 on a CUDA GPU that has it, float32 elsewhere."""
    device: str = "cpu"
    """Torch device."""
    num_threads: int | None = None
    """``torch.set_num_threads`` for the run (None: leave it). 1 is fastest for tiny models:
    extra intra-op threads only spin on a busy machine."""
    save_every: int = 0
    """Checkpoint every this many steps (0: only at the end)."""
    keep_checkpoints: int = 1
    """Most recent checkpoints to keep."""
    progress: bool = True
    """Show a rich progress bar."""
    report_to: tuple[str, ...] = ()
    """Extra metric sinks: ``"tensorboard"`` and/or ``"wandb"``."""
    prompt_format: Literal["chat", "text", "auto"] = "auto"
    """``chat``: prompts and env replies go through the tokenizer's chat template
    (`assay.agents.chat`); ``text``: plain text (base models); ``auto``: chat when the
    tokenizer has a template."""
    system_prompt: str | None = None
    """Chat format: the system message, in place of the env's (or the data's) own; None keeps it."""
    param_dtype: Literal["float32", "bfloat16"] = "float32"
    """Dtype the weights are loaded and trained in. ``bfloat16`` halves the memory of weights,
    gradients and (with ``optimizer="adamw"``) the optimizer state, but small updates round away
    in bf16 weights: pair it with ``optimizer="adamw_offload"``, which keeps float32 master
    weights and state in CPU memory."""
    gradient_checkpointing: bool = False
    """Recompute each layer's activations in the backward pass instead of keeping them
    (transformers' gradient checkpointing): activation memory of one layer, ~30% more compute."""
    optimizer: Literal["adamw", "adamw_8bit", "adamw_offload"] = "adamw"
    """``adamw``: torch AdamW. ``adamw_8bit``: bitsandbytes' 8-bit AdamW (state in 8 bits; CUDA).
    ``adamw_offload``: AdamW whose float32 master weights and state live in CPU memory (none of
    the optimizer's memory on the GPU; a copy of gradients and weights each step)."""

    def __post_init__(self) -> None:
        if self.micro_batch_size is not None and self.micro_batch_size < 1:
            raise ValueError("micro_batch_size must be >= 1 or None")
        if set(self.report_to) - {"tensorboard", "wandb"}:
            raise ValueError(f"report_to takes 'tensorboard' and 'wandb', got {self.report_to}")
        if self.prompt_format not in ("chat", "text", "auto"):
            raise ValueError(f"prompt_format must be chat, text or auto, got {self.prompt_format!r}")
        if self.param_dtype not in ("float32", "bfloat16"):
            raise ValueError(f"param_dtype must be float32 or bfloat16, got {self.param_dtype!r}")
        if self.optimizer not in ("adamw", "adamw_8bit", "adamw_offload"):
            raise ValueError(f"optimizer must be adamw, adamw_8bit or adamw_offload, got {self.optimizer!r}")


@dataclass(frozen=True)
class RunConfig(TrainerConfig):
    """What GRPO and PPO share: the env, the rollouts, the optimiser, the sampler, the run."""

    env: str = "assay/Arithmetic-v0"
    """Gymnasium id of the environment."""
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments for the env's constructor."""
    out_dir: str = "runs/train"
    """Checkpoints, ``metrics.jsonl`` and ``metrics.png`` go here."""
    steps: int = 100
    """Optimisation steps (one rollout batch each)."""
    num_prompts: int = 8
    """Distinct tasks per step."""
    max_new_tokens: int = 256
    """Token budget of one action (TRL's ``max_completion_length``)."""
    temperature: float = 1.0
    """Sampling temperature (the policy's log-probs use the same)."""
    max_turns: int = 16
    """Most actions in one episode (multi-turn envs)."""
    max_context_tokens: int | None = None
    """Cut episodes whose context would grow beyond this (None: no limit)."""
    lr: float = 1e-6
    """AdamW peak learning rate (0 freezes the policy: a control run). 1e-6 is TRL's GRPO default,
    sized for a pretrained model of 0.5B+ parameters; a tiny model trained from scratch needs
    1e-4 to 1e-3 (the demo and the e2e tests set 5e-4)."""
    num_epochs: int = 1
    """Passes over each rollout batch."""
    num_minibatches: int = 1
    """Optimizer steps per pass (the batch is split into this many minibatches)."""
    sampler: Literal["hf", "vllm"] = "hf"
    """``hf``: transformers ``generate`` on the policy; ``vllm``: in-process vLLM, synced each step."""
    tis_cap: float = 2.0
    """Truncated importance sampling cap, used when the sampler's log-probs differ from the policy's."""
    tis_threshold: float = 1e-3
    """Apply TIS when the mean absolute log-prob gap (nats/token) exceeds this."""
    lora_r: int = 0
    """LoRA rank (peft); 0 trains every weight."""
    lora_alpha: int = 16
    """LoRA alpha."""
    vectorization: Literal["sync", "async"] = "sync"
    """Vector env mode: ``async`` verifies in worker processes (for heavy verifiers)."""
    async_rollouts: bool = False
    """Sample the next batch in a worker process while training on this one (one update stale,
    corrected by truncated importance sampling; GRPO with ``sampler='hf'`` on the CPU)."""
    async_handover: int | None = None
    """With ``async_rollouts``: None samples batches in the trainer's process (the same batches,
    with the same stale weights) until the worker has started, so start-up is not idle time;
    ``k`` hands over at batch ``k`` exactly (0: the worker samples every batch). Every choice
    gives the same run."""
    time_limit_s: float | None = None
    """Stop after the step during which this much wall time has passed (None: no limit)."""
    target_reward: float | None = None
    """Stop once the mean reward over the last ``target_window`` steps reaches this."""
    target_window: int = 50
    """Steps averaged for ``target_reward``."""
    max_no_signal_steps: int = 20
    """Stop after this many steps in a row with no reward variance (GRPO: in no group; PPO: in
    the batch), which teach nothing; 0 never stops for it."""
    plot: bool = True
    """Write ``metrics.png`` (reward and KL) at the end."""
    log_kl: bool = False
    """Log the k3 KL to the initial policy even when it is not in the loss (one extra no-grad
    forward per step; the reference is a frozen copy, or the base model with adapters disabled
    under LoRA). Off by default: with ``kl_coef=0`` no reference pass runs."""
    lr_scheduler: Literal["constant", "linear", "cosine"] = "constant"
    """Learning-rate decay after warmup, over ``steps`` (`assay.agents.schedule.lr_factor`)."""
    warmup_steps: int = 0
    """Linear warmup over this many steps (wins over ``warmup_ratio`` when > 0)."""
    warmup_ratio: float = 0.0
    """Warmup over this fraction of ``steps``."""
    min_lr_ratio: float = 0.0
    """``linear``/``cosine`` decay towards ``min_lr_ratio * lr``."""
    top_k: int = 0
    """Sample among the k most likely tokens (0: off). Any truncation (top-k, top-p, min-p)
    switches truncated importance sampling on for every batch: the sampled log-probs are the
    truncated distribution's, the recomputed ``old`` ones the policy's (`assay.agents.truncation`)."""
    top_p: float = 1.0
    """Nucleus sampling: the smallest set of tokens with this much probability (1.0: off)."""
    min_p: float = 0.0
    """Drop tokens less likely than ``min_p`` times the most likely one (0.0: off)."""
    disable_dropout: bool = True
    """Set every dropout probability of the policy to 0 at the start (as verl and TRL's
    ``disable_dropout``): with dropout on, the trained log-probs are noisy copies of the
    sampling-time ones and the importance ratio is not 1 on the first pass."""
    ref_update_every: int = 0
    """Copy the policy's weights into the reference model every this many steps (0: the
    reference stays the initial policy). Needs a reference (``kl_coef > 0`` or ``log_kl``).
    Not with LoRA (``lora_r > 0``): the LoRA reference is the base model with the adapters
    disabled, which shares the policy's weights and holds no copy to refresh; rejected."""
    dual_clip: float | None = None
    """Dual-clip PPO's bound ``c > 1`` (e.g. 3) on the loss of negative-advantage tokens
    (`assay.agents.losses.clipped_surrogate`); None: off."""
    eval_tasks: int = 100
    """At the end of every run, a greedy evaluation of the trained policy beside the untrained
    one (measured before the first step) on this many tasks drawn with ``eval_seed``; printed and
    logged as the last metrics row (0: no evaluation)."""
    eval_seed: int = 1234
    """Draws the evaluation tasks (the same for both evaluations)."""
    vllm_max_model_len: int = 512
    """``sampler='vllm'``: longest prompt plus completion the engine accepts."""
    vllm_gpu_memory_utilization: float = 0.3
    """``sampler='vllm'`` on CUDA: fraction of the GPU's memory vLLM may take (weights and KV
    cache), the rest being the trainer's; used when ``vllm_kv_cache_bytes`` is None."""
    vllm_kv_cache_bytes: int | None = None
    """``sampler='vllm'``: KV-cache size in bytes. None: 256 MiB on CPU (vLLM would otherwise
    reserve most of the RAM), ``vllm_gpu_memory_utilization`` on CUDA."""
    vllm_enforce_eager: bool | None = None
    """``sampler='vllm'``: no CUDA graphs. None: True on CPU, False on CUDA."""
    vllm_tensor_parallel_size: int = 1
    """``sampler='vllm'``: GPUs the engine shards the model over."""
    vllm_dtype: str = "auto"
    """``sampler='vllm'``: the engine's dtype; ``auto`` follows the training dtype
    (bfloat16 on a CUDA GPU that has it, float32 elsewhere)."""
    vllm_sleep: bool = False
    """``sampler='vllm'``: put the engine to sleep (level 1: weights to CPU, KV cache freed)
    while the trainer trains, and wake it before the next rollout. CUDA only (a no-op on vLLM's
    CPU backend); frees the GPU memory vLLM holds for the optimizer step."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lr_scheduler not in ("constant", "linear", "cosine"):
            raise ValueError(f"lr_scheduler must be constant, linear or cosine, got {self.lr_scheduler!r}")
        if (
            self.warmup_steps < 0
            or not 0.0 <= self.warmup_ratio <= 1.0
            or not 0.0 <= self.min_lr_ratio <= 1.0
        ):
            raise ValueError("warmup_steps must be >= 0, warmup_ratio and min_lr_ratio in [0, 1]")
        if self.top_k < 0 or not 0.0 < self.top_p <= 1.0 or not 0.0 <= self.min_p < 1.0:
            raise ValueError("top_k must be >= 0, top_p in (0, 1], min_p in [0, 1)")
        if self.ref_update_every < 0 or self.eval_tasks < 0:
            raise ValueError("ref_update_every and eval_tasks must be >= 0")
        if self.ref_update_every > 0 and self.lora_r > 0:
            raise ValueError(
                "ref_update_every needs a full-weight reference; with LoRA the reference is the "
                "base model with adapters disabled (no copy to refresh): set ref_update_every=0"
            )
        if self.dual_clip is not None and self.dual_clip <= 1.0:
            raise ValueError(f"dual_clip must be > 1 (or None), got {self.dual_clip}")
        if self.steps < 0 or self.num_prompts < 1 or self.max_new_tokens < 1:
            raise ValueError("steps must be >= 0, num_prompts and max_new_tokens >= 1")
        if self.num_epochs < 1 or self.num_minibatches < 1:
            raise ValueError("num_epochs and num_minibatches must be >= 1")
        if self.max_no_signal_steps < 0:
            raise ValueError(f"max_no_signal_steps must be >= 0, got {self.max_no_signal_steps}")
        if self.lr < 0 or self.temperature < 0:
            raise ValueError("lr and temperature must be >= 0")
        if self.sampler not in ("hf", "vllm"):
            raise ValueError(f"sampler must be 'hf' or 'vllm', got {self.sampler!r}")
        if self.async_rollouts and self.sampler != "hf":
            raise ValueError("async_rollouts needs sampler='hf' (the worker samples with transformers)")
        if self.vllm_max_model_len < 1 or self.vllm_tensor_parallel_size < 1:
            raise ValueError("vllm_max_model_len and vllm_tensor_parallel_size must be >= 1")
        if not 0 < self.vllm_gpu_memory_utilization <= 1:
            raise ValueError(
                f"vllm_gpu_memory_utilization must be in (0, 1], got {self.vllm_gpu_memory_utilization}"
            )
        if self.vectorization not in ("sync", "async"):
            raise ValueError(f"vectorization must be 'sync' or 'async', got {self.vectorization!r}")


@dataclass(frozen=True)
class GRPOConfig(RunConfig):
    """GRPO (Shao et al. 2024) with the DAPO and Dr. GRPO options."""

    group_size: int = 8
    """Completions per prompt (G)."""
    scale_advantages: bool = True
    """Divide group-centred rewards by the group's std (GRPO); False is Dr. GRPO."""
    eps_low: float = 0.2
    """Lower clip of the ratio: ``1 - eps_low``."""
    eps_high: float = 0.2
    """Upper clip of the ratio: ``1 + eps_high`` (DAPO's clip-higher uses 0.28)."""
    loss_agg: Literal["seq", "token", "constant"] = "token"
    """Loss normalisation: per sequence (GRPO), per token (DAPO), constant (Dr. GRPO)."""
    kl_coef: float = 0.0
    """Weight of the k3 KL to the initial policy (0: no reference model, as DAPO/Dr. GRPO)."""
    filter_groups: bool = True
    """Drop groups whose rewards are all equal (zero advantage); skip the step if none is left."""
    overlong: Literal["none", "filter", "penalty"] = "none"
    """Overlong actions: keep, mask out of the loss (DAPO filter), or soft-penalise the reward."""
    overlong_buffer: int = 4
    """Soft penalty ramps over the last this many tokens of ``max_new_tokens``."""
    scale_rewards: Literal["group", "batch", "none"] | None = None
    """Advantage scale (TRL's ``scale_rewards``): the group's reward std (GRPO), the batch's, or
    none (Dr. GRPO); see `assay.agents.losses.scaled_advantages`. None follows
    ``scale_advantages`` (``group`` if True, ``none`` if False)."""
    importance_sampling_level: Literal["token", "sequence"] = "token"
    """``token``: PPO/GRPO's per-token ratio; ``sequence``: GSPO's length-normalised sequence
    ratio (`assay.agents.losses.sequence_clipped_surrogate`; set ``eps_low``/``eps_high`` to the
    paper's 3e-4/4e-4 and ``loss_agg="seq"``)."""
    kl_estimator: Literal["k1", "k2", "k3"] = "k3"
    """KL estimator (`assay.agents.losses.kl_estimate`) for the penalty and the logged ``kl``."""
    kl_in: Literal["loss", "reward"] = "loss"
    """Where ``kl_coef`` applies: ``loss`` adds ``kl_coef * KL_t`` to each token's loss (GRPO);
    ``reward`` subtracts ``kl_coef * sum_t KL_t`` (the sampling-time policy's) from each
    episode's reward before the advantages, as PPO-style trainers (verl's
    ``use_kl_in_reward``) do."""
    entropy_coef: float = 0.0
    """Entropy bonus: ``- entropy_coef * H_t`` added to each action token's loss (0: none; the
    entropy is logged either way, as ``entropy``)."""
    dynamic_sampling: bool = False
    """DAPO's dynamic sampling: after ``filter_groups`` drops groups without reward variance,
    sample more batches until ``num_prompts`` groups with variance are kept (extra groups are
    dropped), or until ``max_resample_batches`` extra batches were sampled."""
    max_resample_batches: int = 3
    """Cap on the extra rollout batches of one step under ``dynamic_sampling``."""
    no_eos_penalty: float = 0.0
    """Subtracted from the reward of an episode with an action that hit ``max_new_tokens``
    without an end-of-sequence token (0: none). Unlike ``overlong="penalty"`` it does not ramp."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scale_rewards not in (None, "group", "batch", "none"):
            raise ValueError(f"scale_rewards must be group, batch or none, got {self.scale_rewards!r}")
        if self.importance_sampling_level not in ("token", "sequence"):
            raise ValueError("importance_sampling_level must be 'token' or 'sequence'")
        if self.kl_estimator not in ("k1", "k2", "k3") or self.kl_in not in ("loss", "reward"):
            raise ValueError("kl_estimator must be k1, k2 or k3 and kl_in loss or reward")
        if self.entropy_coef < 0 or self.no_eos_penalty < 0 or self.max_resample_batches < 0:
            raise ValueError("entropy_coef, no_eos_penalty and max_resample_batches must be >= 0")
        if self.dynamic_sampling and (self.async_rollouts or not self.filter_groups):
            raise ValueError("dynamic_sampling needs filter_groups=True and no async_rollouts")
        if self.group_size < 2:
            raise ValueError(f"group_size must be >= 2 (a group of 1 has no baseline), got {self.group_size}")
        if self.loss_agg not in ("seq", "token", "constant"):
            raise ValueError(f"loss_agg must be seq, token or constant, got {self.loss_agg!r}")
        if self.overlong not in ("none", "filter", "penalty"):
            raise ValueError(f"overlong must be none, filter or penalty, got {self.overlong!r}")
        if self.eps_low < 0 or self.eps_high < 0 or self.kl_coef < 0:
            raise ValueError("eps_low, eps_high and kl_coef must be >= 0")


@dataclass(frozen=True)
class PPOConfig(RunConfig):
    """PPO for language models (Ouyang et al. 2022; Huang et al. 2024 "N+ implementation details")."""

    num_prompts: int = 64
    """Episodes per step (one per prompt)."""
    gamma: float = 1.0
    """Discount."""
    lam: float = 0.95
    """GAE lambda."""
    clip_eps: float = 0.2
    """Policy ratio clip."""
    value_clip: float = 0.2
    """Value clip around the rollout-time values."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    kl_coef: float = 0.0
    """Per-token KL penalty in the reward, ``-kl_coef * KL_t`` (0: no reference)."""
    kl_estimator: Literal["k1", "k2", "k3"] = "k1"
    """Per-token estimator of the KL in the reward (`assay.agents.losses.kl_estimate`); ``k1``,
    ``log pi - log pi_ref``, is the classic RLHF penalty."""
    whiten_advantages: bool = True
    """Normalise advantages over the batch."""
    critic: Literal["head", "separate"] = "head"
    """``head``: a value head on the policy's trunk; ``separate``: a critic copy of the model."""
    num_epochs: int = 2
    """Passes over each rollout batch."""
    num_minibatches: int = 2
    """Optimizer steps per pass."""
    entropy_coef: float = 0.0
    """Entropy bonus: ``- entropy_coef * H_t`` added to each action token's policy loss (0: none;
    the entropy at the action tokens is logged either way, as ``entropy``)."""
    no_eos_penalty: float = 0.0
    """Subtracted from the reward of an episode with an action that hit ``max_new_tokens``
    without an end-of-sequence token (0: none), before the advantages."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.critic not in ("head", "separate"):
            raise ValueError(f"critic must be 'head' or 'separate', got {self.critic!r}")
        if self.entropy_coef < 0 or self.no_eos_penalty < 0:
            raise ValueError("entropy_coef and no_eos_penalty must be >= 0")
        if not 0 <= self.lam <= 1 or not 0 <= self.gamma <= 1:
            raise ValueError("gamma and lam must be in [0, 1]")


C = TypeVar("C")


def _coerce(cls: type[Any], key: str, value: Any) -> Any:
    fields = {f.name for f in dataclasses.fields(cls)}
    if key not in fields:
        raise ValueError(f"{cls.__name__} has no setting {key!r}; known: {', '.join(sorted(fields))}")
    hint = typing.get_type_hints(cls)[key]
    if key in ("adam_betas", "report_to") and isinstance(value, list | str):
        return tuple(value.split(",") if isinstance(value, str) else value)
    if key == "env_kwargs" and isinstance(value, str):
        return json.loads(value)
    try:  # YAML reads 5e-4 (no dot) as a string
        if hint is float and isinstance(value, str | int) and not isinstance(value, bool):
            return float(value)
        if hint in (int, int | None) and isinstance(value, str):
            return int(value)
    except ValueError as e:
        raise ValueError(f"setting {key!r}: cannot read {value!r} as {hint}") from e
    return value


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["lr=3e-4", "env_kwargs={level: easy}"]`` -> a dict (values parsed as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override must look like key=value, got {pair!r}")
        out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
    return out


def load_config(
    cls: type[C], path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> C:
    """Build the config dataclass ``cls`` from a YAML file (a mapping of setting -> value), then
    ``overrides``; unknown settings are an error. Used by every trainer's config (RL and the
    post-training stages)."""
    import yaml

    values: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text())
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}")
        values.update(loaded or {})
    values.update(overrides or {})
    return cls(**{k: _coerce(cls, k, v) for k, v in values.items()})
