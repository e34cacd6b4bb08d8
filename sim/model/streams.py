"""Random draws keyed by what they describe, never by scheduling order (docs/design.md section 4).

Every draw comes from a stream seeded by `SeedSequence(seed, spawn_key=(purpose, *keys, block))`:
`purpose` says what is drawn (arrival gaps, a venue's quote latency, its failures), `keys` whose
it is (the venue's index), and `block` which run of BLOCK consecutive requests. So a venue's
draws do not change when venues or strategies are added, request i's draws do not change when a
run has more requests, and every strategy of a run meets the same draws (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

import numpy as np

BLOCK = 1 << 16


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
