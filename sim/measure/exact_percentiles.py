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
        ranks = sorted({k for q in qs for k in _ranks(n, q)})
        if self._file is None:
            parted = np.partition(np.concatenate(self._kept), ranks)
            found = {k: float(parted[k]) for k in ranks}
        else:
            found = self._select(ranks)
        return [_linear(n, q, lambda k: (found[k], found[min(k + 1, n - 1)])) for q in qs]

    def _select(self, ranks: list[int]) -> dict[int, float]:
        """The value of each rank (from 0) in `ranks`, found bucket by bucket of the sortable
        keys, every rank in the same passes over the values: each pass counts, for every
        bucket a rank has narrowed down to, the keys in each of its 2**BUCKET_BITS parts, until
        a rank's part holds at most GATHER values (then they are read in and partitioned) or
        a single key."""
        low = dict.fromkeys(ranks, 0)  # each rank's keys from low on, `below` of the values
        below = dict.fromkeys(ranks, 0)  # under it
        narrowing, gathered = list(ranks), {}
        for shift in range(64 - BUCKET_BITS, -1, -BUCKET_BITS):
            prefixes = np.unique([low[k] >> (shift + BUCKET_BITS) for k in narrowing])
            prefixes = prefixes.astype(np.uint64)
            counts = np.zeros((prefixes.size, 1 << BUCKET_BITS), dtype=np.int64)
            for keys in self._keys():
                counts += _bucket_counts(keys, prefixes, shift)
            cumulative = np.cumsum(counts, axis=1)
            still = []
            for k in narrowing:
                row = int(np.searchsorted(prefixes, np.uint64(low[k] >> (shift + BUCKET_BITS))))
                bucket = int(np.searchsorted(cumulative[row], k - below[k], side="right"))
                below[k] += int(cumulative[row, bucket - 1]) if bucket else 0
                low[k] += bucket << shift
                if counts[row, bucket] <= GATHER or shift == 0:
                    gathered[k] = shift
                else:
                    still.append(k)
            narrowing = still
            if not narrowing:
                break
        return self._gather(gathered, low, below)

    def _gather(
        self, shifts: dict[int, int], low: dict[int, int], below: dict[int, int]
    ) -> dict[int, float]:
        """Each rank's value, from the bucket [low, low + 2**shift) it was narrowed down to:
        the one key there (shift 0), or its values read in, in one pass, and partitioned."""
        found = {}
        buckets = {(low[k], shifts[k]) for k in shifts if shifts[k]}
        for k, shift in shifts.items():
            if shift == 0:  # one key: every value in the bucket is this one
                found[k] = float(_values_of(np.array([low[k]], dtype=np.uint64))[0])
        parts: dict[tuple[int, int], list[np.ndarray]] = {b: [] for b in buckets}
        for keys in self._keys():
            for start, shift in buckets:
                inside = keys[_within(keys, start, start + (1 << shift))]
                parts[start, shift].append(_values_of(inside))
        for bucket, values in parts.items():
            ranks = sorted(k for k in shifts if (low[k], shifts[k]) == bucket)
            parted = np.partition(np.concatenate(values), [k - below[k] for k in ranks])
            found.update((k, float(parted[k - below[k]])) for k in ranks)
        return found

    def _keys(self) -> Iterator[np.ndarray]:
        """Every value's sortable key, a chunk at a time."""
        self._file.seek(0)
        for _ in range(math.ceil(self._spilled / READ)):
            yield _keys_of(np.fromfile(self._file, dtype=np.float64, count=READ))
        for part in self._kept:
            yield _keys_of(part)


def _ranks(n: int, q: float) -> tuple[int, ...]:
    """The ranks (from 0) whose values `_linear` needs for percentile q of n values."""
    index = (n - 1) * (q / 100)
    if index >= n - 1:
        return (n - 1,)
    previous = math.floor(index)
    return previous, min(previous + 1, n - 1)


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


def _bucket_counts(keys: np.ndarray, prefixes: np.ndarray, shift: int) -> np.ndarray:
    """(prefix x part) how many `keys` lie in each 2**BUCKET_BITS part of the buckets whose
    top bits (above shift + BUCKET_BITS) are `prefixes` (sorted)."""
    parts = 1 << BUCKET_BITS
    top = shift + BUCKET_BITS
    prefix = keys >> np.uint64(top) if top < 64 else np.zeros(keys.size, dtype=np.uint64)
    row = np.searchsorted(prefixes, prefix)
    inside = row < prefixes.size
    inside[inside] = prefixes[row[inside]] == prefix[inside]
    part = (keys[inside] >> np.uint64(shift)) & np.uint64(parts - 1)
    flat = row[inside].astype(np.intp) * parts + part.astype(np.intp)
    return np.bincount(flat, minlength=prefixes.size * parts).reshape(prefixes.size, parts)


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
