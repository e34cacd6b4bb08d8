"""Random draws keyed by what they describe, never by scheduling order (docs/design.md section 4).

Every draw comes from a stream seeded by `SeedSequence(seed, spawn_key=(purpose, *keys, block))`:
`purpose` says what is drawn (arrival gaps, a venue's quote latency, its failures), `keys` whose
it is (the venue's index), and `block` which run of BLOCK consecutive requests. So a venue's
draws do not change when venues or strategies are added, request i's draws do not change when a
run has more requests, and every strategy of a run meets the same draws (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import IntEnum

import numpy as np
from numpy.random.bit_generator import ISeedSequence

BLOCK = 1 << 16
SEEDS_AT_ONCE = 1024  # seeds `streams` derives together


class Purpose(IntEnum):
    """What a stream draws. The values are part of the seed: never renumber them."""

    ARRIVAL_GAP = 1
    QUOTE_LATENCY = 2
    FAILURE = 3
    MARKET = 4
    QUOTE_NOISE = 5
    ORDER_LATENCY = 6
    SIDE = 7
    BOOTSTRAP = 8
    SERVICE = 9
    THINK = 10
    SHARED_LATENCY = 11
    REGIME = 12
    SHARED_REGIME = 13
    TRACE_BLOCK = 14


def stream(seed: int, purpose: Purpose, *keys: int) -> np.random.Generator:
    """The generator for `purpose` and `keys` under `seed`."""
    # The key goes in spawn_key, not the entropy list: numpy pads the seed's words before the
    # spawn key, so no seed can collide with another seed's stream of another purpose.
    sequence = np.random.SeedSequence(seed, spawn_key=(int(purpose), *keys))
    return np.random.Generator(np.random.PCG64(sequence))


def blocked(
    seed: int,
    purpose: Purpose,
    keys: tuple[int, ...],
    n: int,
    draw: Callable[[np.random.Generator, int], np.ndarray],
    first: int = 0,
) -> np.ndarray:
    """`n` values for requests first, first + 1, ..., drawn BLOCK at a time, block b (requests
    b * BLOCK onwards) from the stream keyed (..., b). `first` must start a block."""
    if first % BLOCK:
        raise ValueError(f"draws start at a block of {BLOCK} requests, not at {first}")
    parts = [
        draw(stream(seed, purpose, *keys, b), min(BLOCK, first + n - start))
        for b, start in enumerate(range(first, first + n, BLOCK), start=first // BLOCK)
    ]
    return np.concatenate(parts) if parts else np.empty(0)


def streams(seed: int, purpose: Purpose, first: int = 0) -> Iterator[np.random.Generator]:
    """stream(seed, purpose, k) for k = first, first + 1, ... without end (the market's
    chunks): the same generators, their seeds derived SEEDS_AT_ONCE at a time by numpy's
    SeedSequence arithmetic over arrays of keys (`_seed_states`), where a SeedSequence of
    its own took longer than drawing a second of the market."""
    k = first
    while True:
        # derived only for keys of one 32-bit word (and numpy's own error for a negative seed)
        if seed < 0 or k + SEEDS_AT_ONCE > _MASK:
            yield stream(seed, purpose, k)
            k += 1
            continue
        for state in _seed_states(seed, int(purpose), np.arange(k, k + SEEDS_AT_ONCE)):
            yield np.random.Generator(np.random.PCG64(_Seeded(state)))
        k += SEEDS_AT_ONCE


# numpy's SeedSequence (numpy/random/bit_generator.pyx), a pool of 4 words
_MASK = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _POOL = 0xCA01F9DD, 0x4973F715, 4


class _Seeded(ISeedSequence):
    """A seed sequence whose state (4 64-bit words: what PCG64 asks for) is derived already."""

    def __init__(self, state: np.ndarray) -> None:
        self._state = state

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        if n_words != _POOL or np.dtype(dtype) != np.uint64:
            raise ValueError("derived for PCG64's seed: 4 words of 64 bits")
        return self._state


def _words(n: int) -> list[int]:
    """`n` as SeedSequence takes it: 32-bit words, least significant first."""
    words = [n & _MASK]
    while n > _MASK:
        n >>= 32
        words.append(n & _MASK)
    return words


def _seed_states(seed: int, purpose: int, keys: np.ndarray) -> np.ndarray:
    """(key x 4) SeedSequence(seed, spawn_key=(purpose, key)).generate_state(4, np.uint64)
    for keys of one 32-bit word each."""
    run = _words(seed)
    run += [0] * (_POOL - len(run))  # padded to the pool, as with a spawn key
    words = [np.full(keys.size, w, dtype=np.uint32) for w in (*run, *_words(purpose))]
    words.append(keys.astype(np.uint32))
    constant = _INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal constant
        value = value ^ np.uint32(constant)
        constant = (constant * _MULT_A) & _MASK
        value = value * np.uint32(constant)
        return value ^ (value >> np.uint32(16))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
        return result ^ (result >> np.uint32(16))

    pool = [hashmix(words[i]) for i in range(_POOL)]
    for source in range(_POOL):
        for target in range(_POOL):
            if source != target:
                pool[target] = mix(pool[target], hashmix(pool[source]))
    for source in range(_POOL, len(words)):
        for target in range(_POOL):
            pool[target] = mix(pool[target], hashmix(words[source]))
    constant, state = _INIT_B, []
    for i in range(2 * _POOL):
        value = pool[i % _POOL] ^ np.uint32(constant)
        constant = (constant * _MULT_B) & _MASK
        value = value * np.uint32(constant)
        state.append(value ^ (value >> np.uint32(16)))
    return np.ascontiguousarray(np.stack(state, axis=1).astype("<u4").view("<u8"), np.uint64)
