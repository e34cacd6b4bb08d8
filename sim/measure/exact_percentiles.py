"""Exact percentiles of more values than memory should hold.

Fill costs (slippage, shortfall) are reported as exact percentiles, np.percentile's "linear"
method, not histogram buckets. A run of tens of millions of requests summarized chunk by chunk
(sim.measure.tally) cannot keep them all in memory, so `ExactPercentiles` keeps up to `in_memory`
values and spills the rest to an anonymous temporary file, as sortable bit patterns (keys). It
then finds each order statistic it needs by selection: a histogram of the keys' top 16 bits,
counted as values are added, narrows down the bucket that holds each rank; a pass over the keys
then reads in the buckets small enough to partition, and counts the next 16 bits of the others
(with their least and greatest key: a bucket of one repeated value is done at once), until
every rank is found. Memory stays at `in_memory` values plus one chunk read back, whatever the
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
_TOP = np.uint64(64 - BUCKET_BITS)


class ExactPercentiles:
    """Collects finite float values (NaN skipped); `percentiles(qs)` gives
    np.percentile(values, qs) for all of them, exactly. The disk it may take is 8 bytes a
    value beyond `in_memory`, freed with the object."""

    def __init__(self, in_memory: int = IN_MEMORY) -> None:
        self._in_memory = in_memory
        self._kept: list[np.ndarray] = []  # keys
        self._kept_count = 0
        self._file = None  # keys spilled, uint64 in order
        self._spilled = 0
        self._top = np.zeros(1 << BUCKET_BITS, dtype=np.int64)  # keys by their top bits

    @property
    def count(self) -> int:
        """How many values were added."""
        return self._kept_count + self._spilled

    def add(self, values: np.ndarray) -> None:
        """Add the non-NaN `values`, of any shape (-0.0 counts as 0.0, so equal values have one
        key)."""
        values = np.asarray(values, dtype=np.float64).ravel()
        nan = np.isnan(values)
        keys = _keys_of((values[~nan] if nan.any() else values) + 0.0)
        if keys.size:
            top = (keys >> _TOP).astype(np.intp)
            self._top += np.bincount(top, minlength=self._top.size)
        if self._kept_count + keys.size <= self._in_memory:
            self._kept.append(keys)
            self._kept_count += keys.size
            return
        if self._file is None:
            # unlinked at once; closed (and gone) with this object
            self._file = tempfile.TemporaryFile()  # noqa: SIM115
        for part in (*self._kept, keys):
            part.tofile(self._file)
            self._spilled += part.size
        self._kept, self._kept_count = [], 0

    def percentiles(self, qs: Sequence[float]) -> list[float] | None:
        """np.percentile(values, qs) (method "linear"), or None when there are no values."""
        n = self.count
        if n == 0:
            return None
        found = self.ranked([k for q in qs for k in _ranks(n, q)])
        return [_linear(n, q, lambda k: (found[k], found[min(k + 1, n - 1)])) for q in qs]

    def ranked(self, ranks: Sequence[int]) -> dict[int, float]:
        """The value of each rank (from 0, in sorted order) in `ranks`."""
        ranks = sorted(set(ranks))
        if self._file is None:
            parted = np.partition(np.concatenate(self._kept), ranks)
            return {k: _value(int(parted[k])) for k in ranks}
        return self._select(ranks)

    def _select(self, ranks: list[int]) -> dict[int, float]:
        """The value of each rank (from 0) in `ranks`. Each rank is narrowed down to a bucket
        of keys [low, low + 2**shift), `below` of the keys under it and `count` in it: first
        by the top bits counted as keys were added, then pass by pass over the keys. A pass
        reads in the buckets of at most GATHER keys, to be partitioned; in each other one it
        counts the keys of each of its 2**BUCKET_BITS parts, and finds its least and greatest
        key (when they are the same, every rank in the bucket has that key)."""
        found: dict[int, float] = {}
        at = {k: _narrowed(self._top, k, 0, 64 - BUCKET_BITS, 0) for k in ranks}
        while at:
            buckets: dict[tuple[int, int], list[int]] = {}
            for k, (low, shift, _, _) in at.items():
                buckets.setdefault((low, shift), []).append(k)
            gathers = {(low, shift) for low, shift, _, count in at.values() if count <= GATHER}
            counts, bounds, gathered = self._pass(set(buckets) - gathers, gathers)
            still = {}
            for bucket, here in buckets.items():
                low, shift, below, _ = at[here[0]]
                if bucket in gathers:
                    parted = np.partition(gathered[bucket], [k - below for k in here])
                    found.update((k, _value(parted[k - below])) for k in here)
                    continue
                least, greatest = bounds[bucket]
                if least == greatest:
                    found.update((k, _value(least)) for k in here)
                    continue
                for k in here:
                    low_k, shift_k, below_k, count_k = _narrowed(
                        counts[bucket], k, low, shift - BUCKET_BITS, below
                    )
                    if shift_k == 0:  # one key
                        found[k] = _value(low_k)
                    else:
                        still[k] = low_k, shift_k, below_k, count_k
            at = still
        return found

    def _pass(
        self, jobs: set[tuple[int, int]], gathers: set[tuple[int, int]]
    ) -> tuple[dict, dict, dict]:
        """One pass over the keys: for each bucket (low, shift) of `jobs`, how many keys are in
        each of its 2**BUCKET_BITS parts and its least and greatest key; for each of
        `gathers`, its keys."""
        parts = 1 << BUCKET_BITS
        counts = {b: np.zeros(parts, dtype=np.int64) for b in jobs}
        bounds = dict.fromkeys(jobs, (2**64 - 1, 0))
        pieces: dict[tuple[int, int], list[np.ndarray]] = {b: [] for b in gathers}
        for keys in self._keys():
            for low, shift in pieces:
                pieces[low, shift].append(keys[_within(keys, low, low + (1 << shift))])
            for low, shift in jobs:
                inside = keys[_within(keys, low, low + (1 << shift))]
                if inside.size:
                    part = (inside >> np.uint64(shift - BUCKET_BITS)) & np.uint64(parts - 1)
                    counts[low, shift] += np.bincount(part.astype(np.intp), minlength=parts)
                    least, greatest = bounds[low, shift]
                    bounds[low, shift] = (
                        min(least, int(inside.min())),
                        max(greatest, int(inside.max())),
                    )
        gathered = {b: np.concatenate(p) for b, p in pieces.items()}
        return counts, bounds, gathered

    def _keys(self) -> Iterator[np.ndarray]:
        """Every key, a chunk at a time."""
        self._file.seek(0)
        for _ in range(math.ceil(self._spilled / READ)):
            yield np.fromfile(self._file, dtype=np.uint64, count=READ)
        yield from self._kept


def _narrowed(
    counts: np.ndarray, k: int, low: int, shift: int, below: int
) -> tuple[int, int, int, int]:
    """Rank k's bucket among the parts of width 2**shift from `low` whose keys number
    `counts`, `below` keys lying under `low`: (its low, shift, keys under it, keys in it)."""
    cumulative = np.cumsum(counts)
    part = int(np.searchsorted(cumulative, k - below, side="right"))
    below += int(cumulative[part - 1]) if part else 0
    return low + (part << shift), shift, below, int(counts[part])


def _value(key: int) -> float:
    """The float whose key this is."""
    return float(_values_of(np.array([key], dtype=np.uint64))[0])


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


def _within(keys: np.ndarray, low: int, end: int) -> np.ndarray:
    """Which keys are in [low, end) (end may be 2**64, past what uint64 holds)."""
    inside = keys >= np.uint64(low)
    return inside if end >= 1 << 64 else inside & (keys < np.uint64(end))


def _keys_of(values: np.ndarray) -> np.ndarray:
    """Unsigned keys in the order of the floats: negatives' bits flipped, positives' sign set
    (each value's bits xor its sign spread over all 64 bits, with the top one set)."""
    flips = (values.view(np.int64) >> 63).view(np.uint64)
    flips |= np.uint64(1 << 63)
    flips ^= values.view(np.uint64)
    return flips


def _values_of(keys: np.ndarray) -> np.ndarray:
    """The floats whose keys these are."""
    negative = ~(keys >> np.uint64(63)).astype(bool)
    return np.where(negative, ~keys, keys & np.uint64((1 << 63) - 1)).view(np.float64)
