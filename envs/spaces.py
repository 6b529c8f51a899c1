"""`Utf8Text`: a Gymnasium space of arbitrary Unicode strings up to a length.

Gymnasium's `Text` only admits characters from a fixed charset and its shared-memory codec
maps characters through that charset, so `AsyncVectorEnv(shared_memory=True)` corrupts any
prompt outside it. `Utf8Text` accepts every string that encodes as UTF-8 (no lone surrogates)
up to ``max_length`` characters, and makes ``AsyncVectorEnv(shared_memory=True)`` fail with a
clear error instead of silently corrupting prompts.
"""

from __future__ import annotations

import multiprocessing as mp
from types import ModuleType
from typing import Any

from gymnasium.spaces import Text
from gymnasium.vector.utils import shared_memory as _shm

__all__ = ["Utf8Text", "is_utf8_text"]


def is_utf8_text(x: Any, max_length: int) -> bool:
    """True if ``x`` is a str of at most ``max_length`` characters that encodes as UTF-8."""
    if not isinstance(x, str) or len(x) > max_length:
        return False
    try:
        x.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Utf8Text(Text):
    """Any UTF-8-encodable string of ``min_length`` to ``max_length`` characters.

    ``sample()`` draws from Gymnasium's alphanumeric charset (random text for smoke tests);
    ``contains()`` accepts every character.
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: Any = None) -> None:
        super().__init__(max_length=max_length, min_length=min_length, seed=seed)

    def contains(self, x: Any) -> bool:
        return is_utf8_text(x, self.max_length) and len(x) >= self.min_length

    def __repr__(self) -> str:
        return f"Utf8Text({self.min_length}, {self.max_length})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Utf8Text)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    def __hash__(self) -> int:
        return hash((Utf8Text, self.min_length, self.max_length))


# Gymnasium's shared-memory path reads text observations once, at construction, and its Text codec
# maps characters through the charset: with shared_memory=True, AsyncVectorEnv returns stale or
# corrupted prompts. We refuse it loudly instead.


@_shm.create_shared_memory.register(Utf8Text)
def _refuse_shared_memory(space: Utf8Text, n: int = 1, ctx: ModuleType = mp) -> Any:
    raise ValueError(
        "text observations cannot travel through shared memory (Gymnasium would return stale or "
        "corrupted prompts); use AsyncVectorEnv(..., shared_memory=False), as assay.make_vec does"
    )
