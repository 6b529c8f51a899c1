"""``search``: BM25 retrieval (``bm25s``) over a local corpus of documents read from files.

A `Corpus` is a list of `Document`s (``id``, ``title``, ``text``), read from a JSONL file (one
object a line with ``title`` and ``text``, optional ``id``) or from a directory of ``.txt`` /
``.md`` files (the file name is the title). The index is built at the first search.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.envs.tools.tool import Tool

__all__ = ["Corpus", "Document", "search_tool"]

MAX_QUERY_CHARS = 500


@dataclass(frozen=True, slots=True)
class Document:
    """One searchable document."""

    id: str
    title: str
    text: str


class Corpus:
    """Documents plus a lazily built BM25 index (thread-safe to build)."""

    def __init__(self, documents: Iterable[Document]) -> None:
        self.documents: tuple[Document, ...] = tuple(documents)
        if not self.documents:
            raise ValueError("a corpus needs at least one document")
        ids = [d.id for d in self.documents]
        if len(set(ids)) != len(ids):
            raise ValueError("document ids must be unique")
        self._index: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_jsonl(cls, path: str | Path) -> Corpus:
        """One JSON object a line: ``title``, ``text`` and optionally ``id`` (default: line number)."""
        docs = []
        with Path(path).open(encoding="utf-8") as f:
            for n, line in enumerate(f):
                if line.strip():
                    row = json.loads(line)
                    docs.append(Document(str(row.get("id", n)), str(row["title"]), str(row["text"])))
        return cls(docs)

    @classmethod
    def from_dir(cls, path: str | Path, patterns: Sequence[str] = ("*.txt", "*.md")) -> Corpus:
        """Every file matching ``patterns`` under ``path``; the title is the file's stem."""
        root = Path(path)
        files = sorted({p for pattern in patterns for p in root.rglob(pattern)})
        return cls(Document(str(p.relative_to(root)), p.stem, p.read_text(encoding="utf-8")) for p in files)

    def _retriever(self) -> Any:
        with self._lock:
            if self._index is None:
                try:
                    import bm25s
                except ImportError:
                    from gymnasium.error import DependencyNotInstalled

                    raise DependencyNotInstalled('search needs bm25s: pip install "assay[tools]"') from None
                tokens = bm25s.tokenize(
                    [f"{d.title}\n{d.text}" for d in self.documents], stopwords="en", show_progress=False
                )
                retriever = bm25s.BM25()
                retriever.index(tokens, show_progress=False)
                self._index = retriever
            return self._index

    def search(self, query: str, k: int = 3) -> list[tuple[Document, float]]:
        """The best ``k`` documents for ``query`` with their BM25 scores (no zero scores)."""
        import bm25s

        retriever = self._retriever()
        tokens = bm25s.tokenize(
            [query[:MAX_QUERY_CHARS]], stopwords="en", show_progress=False, return_ids=False
        )
        if not tokens or not tokens[0]:
            return []
        k = max(1, min(k, len(self.documents)))
        found, scores = retriever.retrieve(tokens, k=k, show_progress=False)
        return [(self.documents[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0]


def search_tool(corpus: Corpus, *, max_k: int = 5, max_doc_chars: int = 1_000) -> Tool:
    """The ``search(query, k=3)`` tool over ``corpus`` (in-process: BM25 queries are cheap)."""

    def search(query: str, k: int = 3) -> str:
        """Search the document collection (BM25 keyword ranking); returns the best matches.

        Args:
            query: Keywords, e.g. a name or a topic.
            k: How many documents to return (1 to 5).
        """
        if not query.strip():
            raise ValueError("the query is empty")
        hits = corpus.search(query, min(max(k, 1), max_k))
        if not hits:
            return "no matching documents"
        return "\n\n".join(
            f"[{n}] {doc.title}\n{doc.text[:max_doc_chars]}" for n, (doc, _) in enumerate(hits, start=1)
        )

    return Tool.from_function(search, isolation="inline")
