"""Loading math datasets: the Hugging Face hub, local files, or the small fixtures shipped here.

Every dataset env takes ``source`` and ``data_files``:

- ``data_files="path.jsonl"`` (or ``.json``/``.parquet``/``.csv``, a list, or a glob): local files in
  the dataset's own schema, read with ``datasets.load_dataset(<format>, data_files=...)``.
- ``source="hub"``: ``datasets.load_dataset(<hub id>, <config>, split=...)`` (needs network or the
  local Hugging Face cache).
- ``source="fixture"`` (the default): a handful of problems shipped in ``envs/math/data/`` in the
  same schema, written for assay. Enough to run, test and demo the env offline; not a benchmark.
- ``source="auto"``: the hub when it answers, else the fixture (with a warning).

When the data cannot be had, construction raises `assay.errors.EnvError` saying how to provide it.
Loaded records are cached per process (envs are built often, e.g. by vector envs and tests).
"""

from __future__ import annotations

import glob
import json
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from assay.errors import EnvError

__all__ = ["SOURCES", "HubSpec", "load_records"]

SOURCES = ("fixture", "hub", "auto")

_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
_cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
_cache_lock = threading.Lock()


class HubSpec:
    """Where a dataset lives: hub id, configs (concatenated), split, and the shipped fixture."""

    def __init__(self, hub_id: str, fixture: str, configs: Sequence[str | None] = (None,)) -> None:
        self.hub_id = hub_id
        self.fixture = fixture
        self.configs = tuple(configs)


def _fixture(name: str) -> list[dict[str, Any]]:
    path = resources.files("assay.envs.math").joinpath("data", name)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as e:
        raise EnvError(
            f"the fixture {name} shipped with assay is missing ({e}); reinstall assay, or give "
            "data_files=... (local files in the dataset's schema) or source='hub'"
        ) from e
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as e:
        raise EnvError(
            'reading hub or local dataset files needs the datasets library: pip install "assay[datasets]"'
        ) from e
    return datasets


def _files(data_files: str | Sequence[str]) -> list[str]:
    patterns = [data_files] if isinstance(data_files, str) else list(data_files)
    found: list[str] = []
    for p in patterns:
        matches = sorted(glob.glob(os.path.expanduser(p)))
        if not matches:
            raise EnvError(f"data_files: no file matches {p!r}")
        found.extend(matches)
    kinds = {_FORMATS.get(os.path.splitext(f)[1].lower()) for f in found}
    if None in kinds or len(kinds) != 1:
        raise EnvError(f"data_files must all be one of {sorted(_FORMATS)} files, got {found}")
    return found


def _local(data_files: str | Sequence[str]) -> list[dict[str, Any]]:
    files = _files(data_files)
    kind = _FORMATS[os.path.splitext(files[0])[1].lower()]
    ds = _datasets().load_dataset(kind, data_files=files, split="train")
    return [dict(r) for r in ds]


def _hub(spec: HubSpec, split: str) -> list[dict[str, Any]]:
    datasets = _datasets()
    records: list[dict[str, Any]] = []
    for config in spec.configs:
        try:
            ds = datasets.load_dataset(spec.hub_id, config, split=split)
        except Exception as e:  # offline, missing split, auth: all mean "not available"
            where = spec.hub_id + (f" ({config})" if config else "")
            raise EnvError(
                f"could not load {where} split {split!r} from the Hugging Face hub: {type(e).__name__}: {e}\n"
                f"Provide the data another way: data_files='path/to/{split}.jsonl' (local files in the "
                f"same schema), source='fixture' (the {len(_fixture(spec.fixture))} problems shipped with "
                "assay), or make the hub reachable / populate the Hugging Face cache."
            ) from e
        records.extend(dict(r) for r in ds)
    return records


def load_records(
    spec: HubSpec,
    *,
    source: str = "fixture",
    data_files: str | Sequence[str] | None = None,
    split: str = "test",
) -> list[dict[str, Any]]:
    """The raw records of a dataset (see the module docstring for ``source``/``data_files``)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    key = (spec.hub_id, spec.configs, spec.fixture, source, split, json.dumps(data_files))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    if data_files is not None:
        records = _local(data_files)
    elif source == "fixture":
        records = _fixture(spec.fixture)
    elif source == "hub":
        records = _hub(spec, split)
    else:
        try:
            records = _hub(spec, split)
        except EnvError as e:
            warnings.warn(f"{e}\nFalling back to the shipped fixture {spec.fixture}.", stacklevel=3)
            records = _fixture(spec.fixture)
    if not records:
        raise EnvError(f"{spec.hub_id}: no records loaded (source={source!r}, data_files={data_files!r})")
    with _cache_lock:
        _cache[key] = records
    return records


def require(record: Mapping[str, Any], *fields: str) -> None:
    """Raise `EnvError` naming the missing fields of a record in the wrong schema."""
    missing = [f for f in fields if f not in record]
    if missing:
        raise EnvError(
            f"a record lacks the fields {missing} (has {sorted(record)}); is it the right dataset?"
        )
