"""`JudgeCache`: a judge's replies by content hash, so a repeated item never reaches the network.

In memory (least recently used first out) and, when given a path, in SQLite, where it outlives the
process and is shared by every judge that opens the same file. Not guaranteed: that a cached reply
is what a changed server would say now (the key names the judge, not the weights behind it).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["JudgeCache"]


class JudgeCache:
    """Judge replies by content hash: in memory (LRU), and in SQLite when ``path`` is given.

    The key is a SHA-256 of everything that determines a reply (see `Judge`), so a hit is the
    reply the judge would have been asked for. Thread-safe. ``hits`` and ``misses`` count lookups.
    """

    def __init__(self, path: str | Path | None = None, *, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._memory: OrderedDict[str, list[str]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, texts TEXT NOT NULL)")
            self._db.commit()

    @staticmethod
    def key(*parts: Any) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def get(self, key: str) -> list[str] | None:
        with self._lock:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
            elif self._db is not None:
                row = self._db.execute("SELECT texts FROM replies WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    found = list(json.loads(row[0]))
                    self._remember(key, found)
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
            return None if found is None else list(found)

    def put(self, key: str, texts: Sequence[str]) -> None:
        with self._lock:
            self._remember(key, list(texts))
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO replies (key, texts) VALUES (?, ?)",
                    (key, json.dumps(list(texts))),
                )
                self._db.commit()

    def _remember(self, key: str, texts: list[str]) -> None:
        self._memory[key] = texts
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_entries:
            self._memory.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._memory)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
