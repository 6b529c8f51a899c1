"""PNG plots of an eval: the pass@k curve (k = 1..n, with its 95% CI) and the reward histogram.

Needs matplotlib (the ``train`` extra); drawn with the non-interactive Agg backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay.agents.evaluation.metrics import mean_ci, pass_at_k
from assay.agents.evaluation.summary import task_results

__all__ = ["plot_pass_at_k", "plot_rewards"]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as e:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled('plots need matplotlib: pip install "assay[train]"') from e
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_pass_at_k(
    samples: Sequence[Mapping[str, Any]], n: int, path: str | Path, *, title: str = ""
) -> Path:
    """pass@k for every k in 1..n (log-scaled k axis) with a shaded 95% CI; returns ``path``."""
    plt = _pyplot()
    tasks, _ = task_results(samples, n)
    ks = list(range(1, n + 1))
    est = [mean_ci([pass_at_k(n, sum(t.correct), k) for t in tasks], (0, 1)) for k in ks]
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    ax.plot(ks, [e.mean for e in est], marker="o", markersize=3)
    ax.fill_between(ks, [e.low for e in est], [e.high for e in est], alpha=0.25)
    if n > 1:
        ax.set_xscale("log", base=2)
    ax.set_xlabel("k")
    ax.set_ylabel("pass@k")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or f"pass@k ({len(tasks)} tasks, n={n})")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_rewards(samples: Sequence[Mapping[str, Any]], path: str | Path, *, title: str = "") -> Path:
    """Histogram of the per-sample rewards; returns ``path``."""
    plt = _pyplot()
    rewards = [float(r["reward"]) for r in samples]
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    ax.hist(rewards, bins=min(30, max(5, len(set(rewards)) * 2)))
    ax.set_xlabel("reward")
    ax.set_ylabel("samples")
    ax.set_title(title or f"reward ({len(rewards)} samples)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
