"""Per-puzzle random generators: the ``index``-th child of a SeedSequence, built cheaply.

Puzzle ``index`` of a configuration with salt ``salt`` draws its randomness from the generator
numpy builds as (`puzzle_rng`, the reference)::

    np.random.Generator(np.random.Philox(np.random.SeedSequence(salt, spawn_key=(index,))))

``SeedSequence(salt, spawn_key=(index,))`` is ``SeedSequence(salt).spawn(index + 1)[index]``,
numpy's own way of giving independent streams to many workers, so neighbouring indices (and
neighbouring seeds) share nothing; Philox (a counter-based generator) takes its 128-bit key from
it and starts its counter at 0. Built that way it costs about 15 µs, mostly SeedSequence's
Python-level overhead around a few dozen 32-bit operations, which is the bulk of generating a
small puzzle. `SeedStream` gives a generator in *exactly the same state* for a fraction of that:

- SeedSequence hashes its entropy words ``[salt, 0, 0, 0, index]`` into a pool of 4 words. The
  first four words depend only on the salt, so their mixing is done once per `SeedStream`; per
  index only the last round (``index`` hashed into each pool word) is left, computed here in
  plain integer arithmetic (numpy's algorithm, unrolled).
- From the pool, the 4 words numpy's Philox asks for (``generate_state(2, np.uint64)``, its
  key) are hashed the same way.
- That key is set on a Philox that is reused (one per thread; counter 0, empty buffer, as after
  seeding), wrapped by one reused `numpy.random.Generator`.

So ``SeedStream(salt)(index)`` and ``puzzle_rng(salt, index)`` produce the same numbers on every
machine (tests compare them over many salts and indices). A salt or index outside
``[0, 2**32)`` (more than one entropy word) takes numpy's own path.

The generator returned by `SeedStream.__call__` is shared: it is valid until the next call on
the same thread. Draw what the puzzle needs and do not keep it.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["SeedStream", "puzzle_rng"]

_M32 = 0xFFFFFFFF
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715


def _hash_constants(init: int, mult: int, n: int) -> tuple[int, ...]:
    out = [init]
    for _ in range(n):
        out.append(out[-1] * mult & _M32)
    return tuple(out)


HASH_A = _hash_constants(0x43B0D7E5, 0x931E8875, 20)
"""SeedSequence's ``hash_const`` while mixing entropy: hash step k xors with [k], multiplies by [k + 1]."""
HASH_B = _hash_constants(0x8B51F9DD, 0x58F38DED, 4)
"""SeedSequence's ``hash_const`` in ``generate_state``: output word i xors with [i], multiplies by [i + 1]."""


def _hashmix(value: int, step: int) -> int:
    value = ((value ^ HASH_A[step]) * HASH_A[step + 1]) & _M32
    return value ^ value >> 16


def _mix(x: int, y: int) -> int:
    r = (_MIX_L * x - _MIX_R * y) & _M32
    return r ^ r >> 16


def puzzle_rng(salt: int, index: int) -> np.random.Generator:
    """The generator of puzzle ``index`` under ``salt``: Philox seeded by ``SeedSequence(salt, spawn_key=(index,))``."""
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(salt, spawn_key=(index,))))


_local = threading.local()


Shared = tuple[np.random.Philox, np.random.Generator, Any, "np.ndarray[Any, Any]"]


def _shared() -> Shared:
    """This thread's Philox, its Generator, a state dict as after seeding, and that dict's key array."""
    bits = np.random.Philox(0)
    state: dict[str, Any] = dict(bits.state)  # counter 0, buffer empty: only the key differs
    shared: Shared = (bits, np.random.Generator(bits), state, state["state"]["key"])
    _local.shared = shared
    return shared


class SeedStream:
    """``index -> Generator(Philox(SeedSequence(salt, spawn_key=(index,))))`` for one salt, cheaply.

    See the module docstring: the result is bit-identical to `puzzle_rng`, is shared, and is
    valid until the next call on the same thread.
    """

    __slots__ = ("_mixed", "_one_word", "salt")

    def __init__(self, salt: int) -> None:
        self.salt = int(salt)
        # SeedSequence.mix_entropy on [salt, 0, 0, 0]: hash each word into the pool, then hash
        # every pool word into every other one (hash steps 0-15).
        pool = [_hashmix(self.salt & _M32, 0), _hashmix(0, 1), _hashmix(0, 2), _hashmix(0, 3)]
        step = 4
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    pool[dst] = _mix(pool[dst], _hashmix(pool[src], step))
                    step += 1
        self._mixed = tuple(_MIX_L * word & _M32 for word in pool)  # mix(pool[X], h)'s first term
        self._one_word = 0 <= self.salt <= _M32

    def __call__(self, index: int) -> np.random.Generator:
        if not (0 <= index <= _M32 and self._one_word):
            return puzzle_rng(self.salt, index)
        try:
            shared: Shared = _local.shared
        except AttributeError:
            shared = _shared()
        bits, generator, state, key = shared
        key[0], key[1] = self.philox_key(index)
        bits.state = state
        return generator

    def philox_key(self, index: int) -> tuple[int, int]:
        """Philox's key as seeded by ``SeedSequence(salt, spawn_key=(index,))``, for ``index < 2**32``.

        Unrolled for speed, with the hash constants written out (`HASH_A` [16:21] and `HASH_B`;
        a test checks the result against numpy's).
        """
        k0, k1, k2, k3 = self._mixed
        # the spawn key's word hashed into each pool word (hash steps 16-19); kX = _MIX_L * pool[X]
        v = ((index ^ 0x78C50DA5) * 0x39A4E469) & 0xFFFFFFFF
        r = (k0 - 0x4973F715 * (v ^ v >> 16)) & 0xFFFFFFFF
        p0 = r ^ r >> 16
        v = ((index ^ 0x39A4E469) * 0x01022BFD) & 0xFFFFFFFF
        r = (k1 - 0x4973F715 * (v ^ v >> 16)) & 0xFFFFFFFF
        p1 = r ^ r >> 16
        v = ((index ^ 0x01022BFD) * 0x0C0282A1) & 0xFFFFFFFF
        r = (k2 - 0x4973F715 * (v ^ v >> 16)) & 0xFFFFFFFF
        p2 = r ^ r >> 16
        v = ((index ^ 0x0C0282A1) * 0x94693B95) & 0xFFFFFFFF
        r = (k3 - 0x4973F715 * (v ^ v >> 16)) & 0xFFFFFFFF
        p3 = r ^ r >> 16
        # generate_state(2, np.uint64): 4 words, word i from pool[i] (HASH_B [i], [i + 1]) ...
        v = ((p0 ^ 0x8B51F9DD) * 0x464A0A99) & 0xFFFFFFFF
        w0 = v ^ v >> 16
        v = ((p1 ^ 0x464A0A99) * 0x819D14A5) & 0xFFFFFFFF
        w1 = v ^ v >> 16
        v = ((p2 ^ 0x819D14A5) * 0xD369FDC1) & 0xFFFFFFFF
        w2 = v ^ v >> 16
        v = ((p3 ^ 0xD369FDC1) * 0x501638AD) & 0xFFFFFFFF
        w3 = v ^ v >> 16
        # ... read as 2 little-endian uint64
        return w0 | w1 << 32, w2 | w3 << 32
