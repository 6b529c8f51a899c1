"""Checkpoints that resume exactly: weights, optimizer, every RNG, the step.

A checkpoint is a directory ``step_<N>/`` holding ``state.pt`` (``torch.save`` of the trainer's
state dicts, RNG states and step) and ``config.json``. Writing goes to a temporary directory that
is renamed into place, so a run killed while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["capture_rng", "latest_checkpoint", "load_checkpoint", "restore_rng", "save_checkpoint"]


def capture_rng() -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's global generators (CUDA too, when present)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Inverse of `capture_rng`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    out_dir: str | Path, step: int, state: Mapping[str, Any], config: Mapping[str, Any], *, keep: int = 1
) -> Path:
    """Write ``out_dir/checkpoints/step_<step>`` atomically; keep the ``keep`` newest."""
    root = Path(out_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp_step_{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    torch.save({**state, "step": step, "rng": capture_rng()}, tmp / "state.pt")
    (tmp / "config.json").write_text(json.dumps(dict(config), indent=2, default=str))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in sorted(root.glob("step_*"))[: -max(keep, 1)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint under ``out_dir``, or None."""
    found = sorted((Path(out_dir) / "checkpoints").glob("step_*"))
    return found[-1] if found else None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The saved state dict (RNG states are restored by the caller with `restore_rng`)."""
    state: dict[str, Any] = torch.load(Path(path) / "state.pt", weights_only=False)
    return state
