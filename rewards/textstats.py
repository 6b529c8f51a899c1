"""`text_stats`: word, n-gram and line counts of a response in one pass, shared by the rule terms.

Definitions (over the UTF-8 bytes of the text):

- a **word** is a maximal run of bytes above ``0x20`` (ASCII whitespace and control characters
  separate words; non-ASCII spaces such as U+00A0 do not, and a CJK sentence with no spaces is
  one word: use token ids for those languages);
- a **line** is the sequence of words between two ``\\n``; lines with no word are not counted, and
  two lines are equal when their words are (spacing is ignored);
- an **n-gram** is ``n`` consecutive words of the whole text.

The compiled kernel (numba, when installed) hashes words, n-grams and lines to 64 bits in one
branch-light pass over the bytes and counts distinct hashes in open-addressing tables. Words of
up to 7 bytes hash exactly; two different n-grams or lines collide with probability about
``k**2 / 2**65`` for ``k`` of them (negligible).
Without numba an exact pure-Python implementation gives the same counts (slower: about 10x on
2k-token responses). ``ASSAY_NO_NUMBA=1`` forces the pure-Python path.

The last result is cached by the identity of the text, so the repetition and length terms of
one rubric analyse a response once.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["TextStats", "kernel_name", "text_stats"]


class TextStats(NamedTuple):
    """Counts for one text (see the module docstring for the definitions)."""

    words: int
    ngrams: int
    """``max(words - n + 1, 0)``."""
    unique_ngrams: int
    lines: int
    """Lines with at least one word."""
    unique_lines: int


_WS = re.compile(rb"[\x00-\x20]+")


def _python_stats(data: bytes, n: int) -> TextStats:
    words = [w for w in _WS.split(data) if w]
    grams = max(len(words) - n + 1, 0)
    unique_grams = len(set(zip(*(words[i:] for i in range(n)), strict=False))) if grams else 0
    lines = [tuple(w for w in _WS.split(line) if w) for line in data.split(b"\n")]
    lines = [line for line in lines if line]
    return TextStats(len(words), grams, unique_grams, len(lines), len(set(lines)))


_KERNEL: Callable[[Any, int], tuple[int, int, int, int, int]] | None = None
_KERNEL_NAME = ""
_KERNEL_LOCK = threading.Lock()


def _compile_kernel() -> Callable[[Any, int], tuple[int, int, int, int, int]] | None:
    """The numba kernel, checked against the reference on a sample; None when unavailable.

    Compiled with numba's on-disk cache first; where that cannot be written (a read-only
    install), without it; if numba fails altogether, the pure-Python path is used.
    """
    if os.environ.get("ASSAY_NO_NUMBA") == "1":
        return None
    try:
        import numba  # noqa: F401
    except ImportError:
        return None
    sample = b"a b c a b c\nx  y\n\nx y\n"
    for cache in (True, False):
        try:
            kernel = _build_kernel(cache)
            if TextStats(*kernel(sample, 3)) == _python_stats(sample, 3):
                return kernel
        except Exception:  # noqa: BLE001 - a numba that cannot compile here: try without cache, then fall back
            continue
    return None


def _build_kernel(cache: bool) -> Callable[[Any, int], tuple[int, int, int, int, int]]:
    import numba
    import numpy as np

    u64 = np.uint64
    mix = u64(0x9E3779B97F4A7C15)
    mix2 = u64(0xC2B2AE3D27D4EB4F)

    @numba.njit(cache=cache, nogil=True)
    def _finish(h: Any) -> Any:  # pragma: no cover - compiled
        h ^= h >> u64(31)
        h *= mix2
        h ^= h >> u64(29)
        return h if h != 0 else u64(1)

    @numba.njit(cache=cache, nogil=True)
    def _count_unique(hashes: Any, k: int) -> int:  # pragma: no cover - compiled
        cap = 16
        while cap < 2 * k:
            cap *= 2
        table = np.zeros(cap, np.uint64)
        mask = u64(cap - 1)
        unique = 0
        for j in range(k):
            h = _finish(hashes[j])
            p = np.int64(h & mask)
            while True:
                e = table[p]
                if e == 0:
                    table[p] = h
                    unique += 1
                    break
                if e == h:
                    break
                p = np.int64((u64(p) + u64(1)) & mask)
        return unique

    @numba.njit(cache=cache, nogil=True)
    def kernel(b: Any, n: int) -> tuple[int, int, int, int, int]:  # pragma: no cover - compiled
        # One branch-light pass over the bytes: a word's hash is its bytes as base-257 digits
        # (exact up to 7 bytes, then mod 2**64), stored at words[nw] on every byte and kept only
        # when the word ends there; its line number rides along. Then lines from the words.
        size = b.size
        words = np.empty(size // 2 + 2, np.uint64)
        word_line = np.empty(size // 2 + 2, np.int32)
        nw = 0
        h = u64(0)
        prev = u64(0)
        line = 0
        for i in range(size):
            c = u64(b[i])
            w = u64(c > u64(32))
            words[nw] = h
            word_line[nw] = line
            nw += int(prev & (w ^ u64(1)))
            line += int(c == u64(10))
            h = (h * u64(257) + c) * w
            prev = w
        if prev:
            words[nw] = h
            word_line[nw] = line
            nw += 1
        lines = np.empty(nw + 1, np.uint64)
        nl = 0
        current = -1
        line_h = u64(0)
        line_words = 0
        for j in range(nw):
            wj = words[j]  # mix each word hash once, so the polynomials below see random-like inputs
            wj ^= wj >> u64(31)
            wj *= mix2
            words[j] = wj
            if word_line[j] != current:
                if line_words > 0:
                    lines[nl] = line_h ^ u64(line_words)
                    nl += 1
                current = word_line[j]
                line_h = u64(0)
                line_words = 0
            line_h = line_h * mix + words[j]
            line_words += 1
        if line_words > 0:
            lines[nl] = line_h ^ u64(line_words)
            nl += 1
        grams = nw - n + 1
        unique_grams = 0
        if grams > 0:
            gram_hashes = np.empty(grams, np.uint64)
            for j in range(grams):
                g = words[j]
                for t in range(1, n):  # independent multiplies: no long dependency chain
                    g = g * mix + words[j + t]
                gram_hashes[j] = g
            unique_grams = _count_unique(gram_hashes, grams)
        else:
            grams = 0
        unique_lines = _count_unique(lines, nl) if nl > 0 else 0
        return nw, grams, unique_grams, nl, unique_lines

    def run(data: Any, n: int) -> tuple[int, int, int, int, int]:
        result: tuple[int, int, int, int, int] = kernel(np.frombuffer(data, np.uint8), n)
        return result

    return run


def _kernel() -> Callable[[Any, int], tuple[int, int, int, int, int]] | None:
    global _KERNEL, _KERNEL_NAME
    if not _KERNEL_NAME:
        with _KERNEL_LOCK:
            if not _KERNEL_NAME:
                _KERNEL = _compile_kernel()
                _KERNEL_NAME = "numba" if _KERNEL is not None else "python"
    return _KERNEL


def kernel_name() -> str:
    """``"numba"`` or ``"python"``: which implementation `text_stats` uses."""
    _kernel()
    return _KERNEL_NAME


_LAST: tuple[str, int, TextStats] | None = None


def text_stats(text: str, n: int = 3) -> TextStats:
    """Word, n-gram and line counts of ``text`` (see the module docstring).

    The last result is kept, keyed by the identity of the text: the terms of one rubric receive
    the same string object, so they share one analysis (no hashing of the text needed).
    """
    global _LAST
    last = _LAST
    if last is not None and last[0] is text and last[1] == n:
        return last[2]
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    data = text.encode("utf-8", "surrogatepass")
    kernel = _kernel()
    stats = _python_stats(data, n) if kernel is None else TextStats(*kernel(data, n))
    _LAST = (text, n, stats)
    return stats


def python_text_stats(text: str, n: int = 3) -> TextStats:
    """The exact pure-Python reference of `text_stats` (no cache, no numba)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return _python_stats(text.encode("utf-8", "surrogatepass"), n)
