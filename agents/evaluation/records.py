"""The per-sample JSONL log of an evaluation: appended as it goes, resumable after a crash.

Line 1 is a header (``{"kind": "header", "config": {...}}``); every other line is one sample
(``{"kind": "sample", "task_index": i, "sample_index": j, ...}``) or a note about the run that
does not change its samples (``{"kind": "meta", ...}``: the data's provenance, the reward's
bounds; the last one wins). A run is keyed by ``(task_index, sample_index)``.

Guarantees:

- **No torn records.** Each record is one ``write()`` of one complete line on a file opened with
  ``O_APPEND``; the file is ``fsync``-ed after each group of records. If the machine dies
  mid-write, `SampleLog.open` finds the torn (or unparsable) tail after the last complete line
  and truncates it before appending; a file killed while its header was being written (empty,
  or a torn header) is repaired the same way and started afresh.
- **No duplicates, no losses.** `SampleLog.open` reads the keys already present; the runner
  writes only missing keys. `read_log` keeps the first record of a key if a file was ever
  concatenated by hand, and reports how many it dropped.
- **One writer.** The file is locked (``flock``) while open; a second writer gets a clear error.
- **Same run.** Resuming with a different configuration raises `ConfigMismatch` instead of
  mixing two runs in one file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import AssayError

__all__ = ["ConfigMismatch", "Log", "SampleLog", "read_log"]

FORMAT_VERSION = 1


class ConfigMismatch(AssayError, ValueError):
    """An existing log was written by a run with a different configuration."""


@dataclass
class Log:
    """The parsed content of a log: its config and its samples (first record per key)."""

    config: dict[str, Any]
    samples: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    """The last ``meta`` line's fields (empty when there is none)."""

    def keys(self) -> set[tuple[int, int]]:
        """The ``(task_index, sample_index)`` pairs present."""
        return {(int(r["task_index"]), int(r["sample_index"])) for r in self.samples}


def _parse_lines(data: bytes, path: Path) -> tuple[list[dict[str, Any]], int]:
    """Parse complete lines; return the records and the byte length of the valid prefix."""
    records: list[dict[str, Any]] = []
    valid = 0
    lines = data.split(b"\n")
    complete = lines[:-1]  # the piece after the last newline is torn (or empty)
    for i, line in enumerate(complete):
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except ValueError as e:
            if all(not x.strip() or x.strip(b"\x00") == b"" for x in complete[i + 1 :]):
                break  # a corrupt tail (e.g. NUL bytes after a power loss): truncate it
            raise AssayError(f"{path}: line {i + 1} is not a JSON object ({e}); refusing to resume") from None
        records.append(obj)
        valid += len(line) + 1
    return records, valid


def _key(r: Mapping[str, Any], path: Path, line: int) -> tuple[int, int]:
    """A sample's ``(task_index, sample_index)``, or a one-line `AssayError` naming the line."""
    try:
        t, j = r["task_index"], r["sample_index"]
    except KeyError as e:
        raise AssayError(f"{path}: line {line}: sample has no {e.args[0]!r}; refusing to resume") from None
    if type(t) is not int or type(j) is not int or t < 0 or j < 0:
        raise AssayError(
            f"{path}: line {line}: task_index and sample_index must be non-negative integers, "
            f"got {t!r} and {j!r}; refusing to resume"
        )
    return t, j


def _split(records: list[dict[str, Any]], path: Path) -> Log:
    if not records:  # empty, or a header torn by a kill while the file was created
        return Log(config={})
    if records[0].get("kind") != "header" or not isinstance(records[0].get("config", {}), dict):
        raise AssayError(f"{path}: the first line is not an assay eval header")
    log = Log(config=dict(records[0].get("config") or {}))
    seen: set[tuple[int, int]] = set()
    for line, r in enumerate(records[1:], 2):
        if r.get("kind") == "meta":
            log.meta = {k: v for k, v in r.items() if k != "kind"}
            continue
        if r.get("kind") != "sample":
            continue
        key = _key(r, path, line)
        if key in seen:
            log.duplicates += 1
            continue
        seen.add(key)
        log.samples.append(r)
    return log


def read_log(path: str | Path) -> Log:
    """Read a log (ignoring a torn last line, without modifying the file).

    A file with no complete line (empty, or a header torn by a kill while the run was starting)
    reads as an empty log (``config == {}``, no samples); `SampleLog.open` repairs it. A sample
    line with a missing or malformed key raises `AssayError` naming the line.
    """
    path = Path(path)
    records, _ = _parse_lines(path.read_bytes(), path)
    return _split(records, path)


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return [
        f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]


class SampleLog:
    """An open, locked, append-only eval log. Use `SampleLog.open`; close it (or ``with``)."""

    def __init__(self, path: Path, fd: int, log: Log, repaired_bytes: int) -> None:
        self.path = path
        self._fd = fd
        self.log = log
        self.repaired_bytes = repaired_bytes
        """How many bytes of a torn tail `open` truncated (0 for a clean file)."""
        self.done = log.keys()

    @classmethod
    def open(
        cls, path: str | Path, config: Mapping[str, Any], *, meta: Mapping[str, Any] | None = None
    ) -> SampleLog:
        """Open ``path`` for appending, creating it with ``config`` as header or resuming it.

        ``meta``, when given and different from the log's, is appended as a ``meta`` line.

        Raises `ConfigMismatch` if the file's header differs from ``config``, and `AssayError`
        if another process holds it or a line before the tail is corrupt.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header: dict[str, Any] = json.loads(json.dumps(dict(config)))  # normalise (tuples -> lists)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            _lock(fd, path)
            data = _read_all(fd)
            records, valid = _parse_lines(data, path)
            repaired = len(data) - valid
            if repaired:
                os.ftruncate(fd, valid)
                os.fsync(fd)
            if not records:
                _write(fd, [{"kind": "header", "format": FORMAT_VERSION, "config": header}])
                log = Log(config=header)
            else:
                log = _split(records, path)
                diff = _diff(log.config, header)
                if diff:
                    raise ConfigMismatch(
                        f"{path} was written by a different run ({'; '.join(diff)}); "
                        "use another output file or the same settings"
                    )
            if meta is not None:
                fresh = json.loads(json.dumps(dict(meta), default=str))
                if fresh != log.meta:
                    _write(fd, [{"kind": "meta", **fresh}])
                    log.meta = fresh
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, log, repaired)

    def append(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append sample records whose keys are not yet present (one write each), then fsync.

        Returns how many were written; records already present are skipped, never duplicated.
        """
        fresh: list[Mapping[str, Any]] = []
        for r in records:
            key = (int(r["task_index"]), int(r["sample_index"]))
            if key in self.done:
                continue
            self.done.add(key)
            fresh.append({"kind": "sample", **r})
        _write(self._fd, fresh)
        return len(fresh)

    def close(self) -> None:
        """Release the lock and close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> SampleLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write(fd: int, records: Iterable[Mapping[str, Any]]) -> None:
    wrote = False
    for r in records:
        line = (json.dumps(r, ensure_ascii=False, allow_nan=False, default=str) + "\n").encode()
        view = memoryview(line)
        while view:  # a regular file takes it in one call; loop in case it does not
            view = view[os.write(fd, view) :]
        wrote = True
    if wrote:
        os.fsync(fd)


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise AssayError(f"{path} is being written by another process") from None
