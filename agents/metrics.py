"""Run metrics: one JSON line per step, optional TensorBoard/W&B, a PNG of reward and KL."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MetricsLog", "plot_metrics", "progress_bar", "read_metrics"]


class MetricsLog:
    """Append-only ``metrics.jsonl``; on resume, lines after the checkpoint's step are dropped,
    and so are end-of-run rows (those with a ``stop_reason``): the resumed run writes its own.

    Args:
        path: The JSONL file.
        resume_step: Keep only lines with ``step <= resume_step`` (None: start a new file).
        report_to: Extra sinks (``"tensorboard"``, ``"wandb"``), created lazily.
    """

    def __init__(
        self, path: str | Path, *, resume_step: int | None = None, report_to: Sequence[str] = ()
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = (
            [r for r in read_metrics(self.path) if r["step"] <= resume_step and "stop_reason" not in r]
            if resume_step is not None
            else []
        )
        with self.path.open("w") as f:
            for row in kept:
                f.write(json.dumps(row) + "\n")
        self.rows: list[dict[str, Any]] = kept
        self._sinks: list[Any] = []
        for sink in report_to:
            self._sinks.append(_make_sink(sink, self.path.parent))

    def log(self, row: Mapping[str, Any]) -> None:
        """Append one step's metrics (must contain ``step``)."""
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        self.rows.append(clean)
        with self.path.open("a") as f:
            f.write(json.dumps(clean) + "\n")
        for sink in self._sinks:
            sink(clean)

    def close(self) -> None:
        """Flush and close the extra sinks."""
        for sink in self._sinks:
            close = getattr(sink, "close", None)
            if close is not None:
                close()


def _make_sink(name: str, out_dir: Path) -> Any:
    from gymnasium.error import DependencyNotInstalled

    if name == "tensorboard":
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise DependencyNotInstalled("report_to=tensorboard needs `pip install tensorboard`") from e
        writer = SummaryWriter(str(out_dir / "tensorboard"))

        class _TB:
            def __call__(self, row: Mapping[str, Any]) -> None:
                for k, v in row.items():
                    if k != "step" and isinstance(v, int | float):
                        writer.add_scalar(k, v, row["step"])

            def close(self) -> None:
                writer.close()

        return _TB()
    if name == "wandb":
        try:
            import wandb
        except ImportError as e:
            raise DependencyNotInstalled("report_to=wandb needs `pip install wandb`") from e
        run = wandb.init(dir=str(out_dir))

        class _WB:
            def __call__(self, row: Mapping[str, Any]) -> None:
                run.log({k: v for k, v in row.items() if k != "step"}, step=row["step"])

            def close(self) -> None:
                run.finish()

        return _WB()
    raise ValueError(f"unknown metrics sink {name!r}")


def progress_bar(enabled: bool) -> Any:
    """The trainers' rich progress bar (description, bar, steps done/total, elapsed time)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, disable=not enabled, transient=False)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` (empty if the file does not exist)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def plot_metrics(rows: Sequence[Mapping[str, Any]], path: str | Path, *, title: str = "") -> Path:
    """Write a PNG with the mean reward (and its 20-step moving average) and the KL per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    reward = [r.get("reward/mean") for r in rows]
    kl = [r.get("kl") for r in rows]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    ax1.plot(steps, reward, lw=0.8, alpha=0.5, label="reward (step)")
    window = 20
    if len(reward) >= 2:
        vals = [0.0 if v is None else float(v) for v in reward]
        avg = [
            sum(vals[max(0, i - window + 1) : i + 1]) / len(vals[max(0, i - window + 1) : i + 1])
            for i in range(len(vals))
        ]
        ax1.plot(steps, avg, lw=2, label=f"reward ({window}-step mean)")
    ax1.set_ylabel("mean reward")
    ax1.legend(loc="lower right")
    ax1.grid(alpha=0.3)
    ax2.plot(steps, [float("nan") if v is None else v for v in kl], color="tab:red", lw=1)
    ax2.set_ylabel("KL (k3)")
    ax2.set_xlabel("step")
    ax2.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
