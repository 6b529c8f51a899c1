"""Loading task records: JSON Lines / JSON files directly, everything else through ``datasets``."""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Any

__all__ = ["load_records", "sample_path"]


def sample_path(name: str) -> str:
    """Path of a sample file shipped with assay (``envs/code/<name>``)."""
    return str(resources.files("assay.envs.code").joinpath(name))


def load_records(
    source: str, *, split: str = "test", name: str | None = None, use_datasets: bool | None = None
) -> list[dict[str, Any]]:
    """Records from ``source``: a local ``.jsonl``/``.json`` file, a local data file or directory
    ``datasets`` understands, or a Hugging Face Hub dataset id.

    ``.jsonl``/``.json`` files are read with the standard library (fast, no cache) unless
    ``use_datasets=True``; anything else goes through ``datasets.load_dataset`` (the ``datasets``
    extra), which needs the network for hub ids.
    """
    local = os.path.exists(source)
    plain = local and source.endswith((".jsonl", ".json")) and os.path.isfile(source)
    if plain and not use_datasets:
        with open(source, encoding="utf-8") as f:
            if source.endswith(".jsonl"):
                return [json.loads(line) for line in f if line.strip()]
            data = json.load(f)
        return list(data) if isinstance(data, list) else list(data[split])
    try:
        import datasets
    except ImportError as e:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled(
            f'loading {source!r} needs the datasets library: pip install "assay[datasets]"'
        ) from e
    if local and os.path.isfile(source):
        kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(
            os.path.splitext(source)[1]
        )
        if kind is None:
            raise ValueError(f"unknown data file type: {source!r}")
        ds = datasets.load_dataset(kind, data_files=source, split="train")
    else:
        ds = datasets.load_dataset(source, name, split=split)
    return [dict(row) for row in ds]
