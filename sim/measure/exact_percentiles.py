"""Exact percentiles of more values than memory should hold.

Fill costs (slippage, shortfall) are reported as exact percentiles, np.percentile's "linear"
method, not histogram buckets. A run of tens of millions of requests summarized chunk by chunk
(sim.measure.tally) cannot keep them all in memory, so `ExactPercentiles` keeps up to `in_memory`
values and spills the rest to an anonymous temporary file. It then finds each order statistic
it needs by selection: a histogram of the values' sortable bit patterns, 16 bits at a time,
narrows down the one bucket that holds the rank, and only that bucket's values are read in to
be partitioned. Memory stays at `in_memory` values plus one chunk read back, whatever the
count; the answer is the same bits whether or not anything spilled.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator, Sequence

import numpy as np

IN_MEMORY = 1 << 20  # values kept before spilling (8 MB)
READ = 1 << 20  # values read back at a time
BUCKET_BITS = 16  # of the 64-bit key, narrowed per pass over the values
GATHER = 1 << 20  # a bucket with at most this many values is read in whole


class ExactPercentiles:
    """Collects finite float values (NaN skipped); `percentiles(qs)` gives
    np.percentile(values, qs) for all of them, exactly. The disk it may take is 8 bytes a
    value beyond `in_memory`, freed with the object."""

    def __init__(self, in_memory: int = IN_MEMORY) -> None:
        self._in_memory = in_memory
        self._kept: list[np.ndarray] = []
        self._kept_count = 0
        self._file = None  # values spilled, float64 in order
        self._spilled = 0

    @property
    def count(self) -> int:
        """How many values were added."""
        return self._kept_count + self._spilled

    def add(self, values: np.ndarray) -> None:
        """Add the non-NaN `values` (-0.0 counts as 0.0, so equal values have one key)."""
        values = np.asarray(values, dtype=np.float64)
        values = values[~np.isnan(values)] + 0.0
        if self._kept_count + values.size <= self._in_memory:
            self._kept.append(values)
            self._kept_count += values.size
            return
        if self._file is None:
            # unlinked at once; closed (and gone) with this object
            self._file = tempfile.TemporaryFile()  # noqa: SIM115
        for part in (*self._kept, values):
            part.tofile(self._file)
            self._spilled += part.size
        self._kept, self._kept_count = [], 0

    def percentiles(self, qs: Sequence[float]) -> list[float] | None:
        """np.percentile(values, qs) (method "linear"), or None when there are no values."""
        n = self.count
        if n == 0:
            return None
        if self._file is None:
            values = np.concatenate(self._kept)
            return [_linear(n, q, lambda k, v=values: _pair(v, k)) for q in qs]
        return [_linear(n, q, self._select) for q in qs]

    def _select(self, rank: int, both: bool = True) -> tuple[float, float]:
        """The rank-th and (if `both`) the next smallest values (from 0; the last twice for the
        last), found bucket by bucket of the sortable keys: one selection for both, unless the
        next lies beyond the bucket gathered for the first."""
        low, below = 0, 0  # keys from `low` on, `below` of the values under it
        for shift in range(64 - BUCKET_BITS, -1, -BUCKET_BITS):
            end = low + (1 << (shift + BUCKET_BITS))  # the bucket narrowed down so far
            counts = np.zeros(1 << BUCKET_BITS, dtype=np.int64)
            for keys in self._keys():
                inside = keys[_within(keys, low, end)]
                counts += np.bincount(
                    ((inside - low) >> shift).astype(np.intp), minlength=1 << BUCKET_BITS
                )
            cumulative = np.cumsum(counts)
            bucket = int(np.searchsorted(cumulative, rank - below, side="right"))
            below += int(cumulative[bucket - 1]) if bucket else 0
            low += bucket << shift
            if counts[bucket] <= GATHER or shift == 0:
                break
        within = rank - below  # the rank inside the bucket
        if both and within + 1 == counts[bucket] and rank + 1 < self.count:  # in a later bucket
            return self._select(rank, False)[0], self._select(rank + 1, False)[0]
        if shift == 0:  # one key: every value in the bucket is this one
            value = float(_values_of(np.array([low], dtype=np.uint64))[0])
            return value, value
        end = low + (1 << shift)
        gathered = np.concatenate([_values_of(k[_within(k, low, end)]) for k in self._keys()])
        return _pair(gathered, within)

    def _keys(self) -> Iterator[np.ndarray]:
        """Every value's sortable key, a chunk at a time."""
        self._file.seek(0)
        for _ in range(math.ceil(self._spilled / READ)):
            yield _keys_of(np.fromfile(self._file, dtype=np.float64, count=READ))
        for part in self._kept:
            yield _keys_of(part)


def _linear(n: int, q: float, pair: Callable[[int], tuple[float, float]]) -> float:
    """np.percentile's "linear" method for n values whose k-th and next smallest are
    `pair(k)`, with numpy's own float operations (its _quantile, _get_indexes and _lerp)."""
    index = (n - 1) * (q / 100)
    if index >= n - 1:
        return pair(n - 1)[0]
    previous = math.floor(index)
    a, b = pair(previous)
    gamma = index - previous
    difference = b - a
    return b - difference * (1 - gamma) if gamma >= 0.5 else a + difference * gamma


def _pair(values: np.ndarray, k: int) -> tuple[float, float]:
    """The k-th and the next smallest of `values` (the k-th twice if it is the last)."""
    following = min(k + 1, values.size - 1)
    parted = np.partition(values, [k, following])
    return float(parted[k]), float(parted[following])


def _within(keys: np.ndarray, low: int, end: int) -> np.ndarray:
    """Which keys are in [low, end) (end may be 2**64, past what uint64 holds)."""
    inside = keys >= np.uint64(low)
    return inside if end >= 1 << 64 else inside & (keys < np.uint64(end))


def _keys_of(values: np.ndarray) -> np.ndarray:
    """Unsigned keys in the order of the floats: negatives' bits flipped, positives' sign set."""
    bits = values.view(np.uint64)
    negative = (bits >> np.uint64(63)).astype(bool)
    return np.where(negative, ~bits, bits | np.uint64(1 << 63))


def _values_of(keys: np.ndarray) -> np.ndarray:
    """The floats whose keys these are."""
    negative = ~(keys >> np.uint64(63)).astype(bool)
    return np.where(negative, ~keys, keys & np.uint64((1 << 63) - 1)).view(np.float64)
