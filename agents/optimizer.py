"""The optimizers a trainer can use: torch AdamW, bitsandbytes' 8-bit AdamW, and `OffloadedAdamW`.

`build_optimizer` picks one by name (``TrainerConfig.optimizer``). Memory per trained parameter,
besides the weight itself: ``adamw`` keeps two float32 moments (8 bytes); ``adamw_8bit`` keeps two
8-bit moments with block-wise scales (~2 bytes; bitsandbytes, CUDA); ``adamw_offload`` keeps a
float32 master weight and two moments (12 bytes) in CPU memory and none on the accelerator.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["OPTIMIZERS", "OffloadedAdamW", "build_optimizer"]

OPTIMIZERS = ("adamw", "adamw_8bit", "adamw_offload")
"""The names `build_optimizer` accepts."""


class OffloadedAdamW(torch.optim.Optimizer):
    """AdamW whose float32 master weights and moments live in CPU memory.

    Each `step` copies the gradients to the CPU masters (as float32), runs torch's AdamW there,
    and copies the updated masters back into the parameters (cast to their dtype). With
    bfloat16 parameters this is mixed-precision training with float32 master weights: updates
    smaller than bf16's resolution accumulate in the master instead of rounding away. A float32
    parameter already in CPU memory is its own master (no copy).

    Guarantees: the update equals torch AdamW's on float32 weights (same formula, same state);
    ``param_groups`` are this optimizer's, so LR schedulers and gradient clipping work on it;
    ``state_dict`` is the inner AdamW's (float32, CPU). Not guaranteed: overlap of the copies
    with compute (they are synchronous); sparse gradients.
    """

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        weight_decay: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        self.params = [p for p in params]
        super().__init__(self.params, {"lr": lr, "betas": betas, "weight_decay": weight_decay, "eps": eps})
        self.masters = [
            p if p.device.type == "cpu" and p.dtype == torch.float32 else self._master(p) for p in self.params
        ]
        self.inner = torch.optim.AdamW(self.masters, lr=lr, betas=betas, weight_decay=weight_decay, eps=eps)

    @staticmethod
    def _master(p: torch.nn.Parameter) -> torch.nn.Parameter:
        cpu = p.detach().to("cpu", torch.float32, copy=True)
        if torch.cuda.is_available():
            cpu = cpu.pin_memory()
        return torch.nn.Parameter(cpu)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        """One AdamW step on the CPU masters, then the masters copied into the parameters."""
        if closure is not None:
            raise ValueError("OffloadedAdamW.step takes no closure")
        group, inner = self.param_groups[0], self.inner.param_groups[0]
        for key in ("lr", "betas", "weight_decay", "eps"):  # a scheduler changes ours
            inner[key] = group[key]
        for p, m in zip(self.params, self.masters, strict=True):
            if m is p:
                continue
            m.grad = None if p.grad is None else p.grad.detach().to("cpu", torch.float32)
        self.inner.step()
        for p, m in zip(self.params, self.masters, strict=True):
            if m is not p and p.grad is not None:
                p.copy_(m.to(p.device, p.dtype, non_blocking=True))
        return None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the parameters' and the masters' gradients."""
        super().zero_grad(set_to_none=set_to_none)
        self.inner.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """The inner AdamW's state plus the float32 masters (exact resume)."""
        return {"inner": self.inner.state_dict(), "masters": [m.detach().clone() for m in self.masters]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Inverse of `state_dict`."""
        self.inner.load_state_dict(state_dict["inner"])
        with torch.no_grad():
            for m, saved in zip(self.masters, state_dict["masters"], strict=True):
                m.copy_(saved)
        self.param_groups[0]["lr"] = self.inner.param_groups[0]["lr"]


def build_optimizer(
    name: str,
    params: list[torch.nn.Parameter],
    *,
    lr: float,
    betas: tuple[float, float],
    weight_decay: float,
    fused: bool = False,
) -> torch.optim.Optimizer:
    """The optimizer ``name`` (one of `OPTIMIZERS`) over ``params``.

    Raises:
        gymnasium.error.DependencyNotInstalled: ``adamw_8bit`` without bitsandbytes.
    """
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused or None)
    if name == "adamw_offload":
        return OffloadedAdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "adamw_8bit":
        try:
            import bitsandbytes as bnb
        except ImportError as e:
            from gymnasium.error import DependencyNotInstalled

            raise DependencyNotInstalled(
                "optimizer='adamw_8bit' needs bitsandbytes (pip install bitsandbytes; its 8-bit "
                "optimizers are for CUDA): or use optimizer='adamw_offload'"
            ) from e
        adamw_8bit: Any = bnb.optim.AdamW8bit  # type: ignore[attr-defined,unused-ignore]
        opt: torch.optim.Optimizer = adamw_8bit(params, lr=lr, betas=betas, weight_decay=weight_decay)
        return opt
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
