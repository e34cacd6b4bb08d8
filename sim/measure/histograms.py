"""Latency histograms (HdrHistogram) and the percentiles every report shows.

Latencies are recorded as integer nanoseconds, rounded, from 0 to HIGHEST_NS, with 3 significant
digits: each reported percentile is within 0.1% of the exact order statistic. HdrHistogram
reports the highest value equivalent to a percentile's bucket, as its own percentile output
does; max and mean are exact.
"""

from __future__ import annotations

import io
import math
import re
from typing import IO

import numpy as np
from hdrh.histogram import HdrHistogram

from sim.engines.exact_sum import EXACT_UNITS, exactly
from venues.latency import whole_ns

HIGHEST_NS = 10**15  # ~11.6 days: the longest request (10 retries of 3 hours) fits
SIGNIFICANT_DIGITS = 3
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9, "p99.99": 99.99}
LATENCY_KEYS = [*PERCENTILES, "max", "mean"]  # of every latency block in a summary


def latency_histogram(latency_s: np.ndarray) -> HdrHistogram:
    """A histogram of `latency_s` (seconds; NaN entries are skipped)."""
    histogram = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
    record_all(histogram, _ns(latency_s))
    return histogram


def record_all(histogram: HdrHistogram, values: np.ndarray) -> None:
    """Record every integer in `values` into `histogram`, as `record_value` would one by one,
    but with numpy: hdrh's own index arithmetic (bucket = bit length of v | sub-bucket mask,
    less the unit and half-count magnitudes), then one bincount into its counts array. A value
    outside the histogram's range is a ValueError (hdrh would drop it silently)."""
    values = np.asarray(values, dtype=np.int64)
    if values.size == 0:
        return
    low, high = int(values.min()), int(values.max())
    h = histogram
    if low < 0 or high >= 2**53 or h._counts_index_for(high) >= h.counts_len:
        bad = low if low < 0 else high
        raise ValueError(f"latency {bad} ns is outside the histogram's range 0..{HIGHEST_NS}")
    # bit length, exactly: below 2**53 every integer is an exact float, whose exponent field
    # is its bit length + 1022 (in place, where numpy allows: each pass is most of the cost)
    bucket = (values | h.sub_bucket_mask).astype(np.float64).view(np.int64)
    bucket >>= 52
    bucket -= 1022 + h.unit_magnitude + h.sub_bucket_half_count_magnitude + 1
    index = values >> (bucket + h.unit_magnitude)  # the sub-bucket
    bucket += 1
    bucket <<= h.sub_bucket_half_count_magnitude
    index += bucket
    index -= h.sub_bucket_half_count
    counts = np.ctypeslib.as_array(h.counts)
    counts += np.bincount(index, minlength=h.counts_len)[: h.counts_len].astype(counts.dtype)
    h.total_count += int(values.size)
    h.min_value = min(h.min_value, low)
    h.max_value = max(h.max_value, high)


# The most values coordinated-omission correction may add: each decision slower than twice the
# expected interval adds one per further interval it spans.
MAX_CORRECTED_VALUES = 100_000_000


def corrected_histogram(latency_s: np.ndarray, interval_s: float) -> HdrHistogram:
    """A histogram of `latency_s` corrected for coordinated omission, by HdrHistogram's rule
    (Java's `recordValueWithExpectedInterval`): a latency v also counts v - I, v - 2I, ... for
    as long as they are at least the interval I, the latencies that the requests a client on
    schedule would have sent while it waited would have seen. NaN entries are skipped.

    The Python port's `record_corrected_value` also records the remainder below I (one value
    more per slow latency, which can lower the mean): the added values are made here instead.
    """
    ns = _ns(latency_s)
    interval_ns = round(interval_s * 1e9)
    counts = _added_counts(ns, interval_ns)
    total = int(counts.sum())
    if total > MAX_CORRECTED_VALUES:
        raise ValueError(_too_many(total))
    histogram = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
    record_all(histogram, np.concatenate((ns, _added(ns, counts, interval_ns))))
    return histogram


def _too_many(total: int) -> str:
    return (
        f"the correction would add {total:.3g} values (at most {MAX_CORRECTED_VALUES:.0e}): "
        "the expected interval is too short"
    )


def _added(ns: np.ndarray, counts: np.ndarray, interval_ns: int) -> np.ndarray:
    """The values the correction adds: for each v (in ns) adding m, v - k I for k = 1..m."""
    total = int(counts.sum())
    first = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.arange(total) - first + 1
    return np.repeat(ns, counts) - k * interval_ns


def corrected_latency_ms(latency_s: np.ndarray, interval_s: float) -> dict[str, float | None]:
    """`latency_ms` of the corrected histogram; max is the exact max (the correction adds only
    smaller values) and mean the mean of the measured and added values, from sums made
    exactly (so that `Corrected`, a chunk at a time, has the same)."""
    corrected = Corrected(interval_s)
    corrected.record(latency_s)
    return corrected.ms()


class Corrected:
    """`corrected_latency_ms` of latencies recorded a chunk at a time, for an interval known
    before (the same figures, whatever the chunks)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_ns = round(interval_s * 1e9)
        self.histogram = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
        self.max_s = -math.inf
        self.count = self.added = self.pairs = 0
        self.sum = self.weighted = 0  # of the values and of m v, in 1 / EXACT_UNITS

    def record(self, latency_s: np.ndarray) -> None:
        """Add `latency_s` (seconds; NaN skipped) and the values the correction adds for them."""
        values = latency_s[~np.isnan(latency_s)]
        if not values.size:
            return
        ns = _ns(latency_s)
        m = _added_counts(ns, self.interval_ns)
        self.added += int(m.sum())
        if self.added <= MAX_CORRECTED_VALUES:  # else `ms` says so: no use recording more
            record_all(self.histogram, np.concatenate((ns, _added(ns, m, self.interval_ns))))
        self.max_s = max(self.max_s, float(values.max()))
        self.count += values.size
        self.pairs += int((m * (m + 1)).sum())
        self.sum += exactly(values)
        self.weighted += exactly(m * values)

    def ms(self) -> dict[str, float | None]:
        """The corrected figures; a ValueError if the correction would add too many values."""
        if self.added > MAX_CORRECTED_VALUES:
            raise ValueError(_too_many(self.added))
        if not self.count:
            return dict.fromkeys(LATENCY_KEYS)
        # the values added for v are v - I, ..., v - mI: they sum to m v - I m (m + 1) / 2
        added_s = self.weighted / EXACT_UNITS - self.interval_ns * 1e-9 * float(self.pairs) / 2
        mean_s = (self.sum / EXACT_UNITS + added_s) / (self.count + self.added)
        return _ms(self.histogram, self.max_s, mean_s)


def _ns(latency_s: np.ndarray) -> np.ndarray:
    """Non-NaN latencies in whole nanoseconds, as recorded."""
    return whole_ns(latency_s[~np.isnan(latency_s)]).astype(np.int64)


def _added_counts(ns: np.ndarray, interval_ns: int) -> np.ndarray:
    """How many values the correction adds for each latency v (in ns): v - kI >= I for
    k = 1..floor(v / I) - 1."""
    if interval_ns <= 0:
        return np.zeros_like(ns)
    return np.maximum(ns // interval_ns - 1, 0)


def latency_ms(histogram: HdrHistogram, latency_s: np.ndarray) -> dict[str, float | None]:
    """p50, p90, p99, p99.9, p99.99, max and mean in ms (None when nothing was recorded).

    Percentiles come from `histogram`; max and mean from the exact values `latency_s` (NaN
    skipped), and no percentile is reported above the exact max (a bucket's highest equivalent
    value can be).
    """
    values = latency_s[~np.isnan(latency_s)]
    if values.size == 0:
        return dict.fromkeys(LATENCY_KEYS)
    return _ms(histogram, float(values.max()), float(values.mean()))


class Latencies:
    """A latency histogram with the exact max and mean of what it holds, filled a chunk at a
    time (sim.measure.tally): `latency_ms` of all the chunks at once, but for the mean, which sums
    chunk by chunk."""

    def __init__(self) -> None:
        self.histogram = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
        self._max_s = -math.inf
        self._sums: list[float] = []
        self._count = 0

    def record(self, latency_s: np.ndarray) -> None:
        """Add `latency_s` (seconds; NaN entries are skipped)."""
        values = latency_s[~np.isnan(latency_s)]
        if values.size:
            record_all(self.histogram, whole_ns(values).astype(np.int64))
            self._max_s = max(self._max_s, float(values.max()))
            self._sums.append(float(values.sum()))
            self._count += values.size

    def ms(self) -> dict[str, float | None]:
        """`latency_ms` of everything recorded."""
        if not self._count:
            return dict.fromkeys(LATENCY_KEYS)
        return _ms(self.histogram, self._max_s, math.fsum(self._sums) / self._count)


def _ms(histogram: HdrHistogram, max_s: float, mean_s: float) -> dict[str, float]:
    """The percentiles of `histogram`, none above the exact max, with the max and the mean."""
    exact_max_ns = max_s * 1e9
    at = percentile_values(histogram, list(PERCENTILES.values()))
    ns = [min(at[p], exact_max_ns) for p in PERCENTILES.values()]
    ns += [exact_max_ns, mean_s * 1e9]
    return {key: round(v / 1e6, 6) for key, v in zip(LATENCY_KEYS, ns, strict=True)}


def percentile_values(histogram: HdrHistogram, percentiles: list[float]) -> dict[float, int]:
    """`histogram.get_percentile_to_value_dict(percentiles)` (percentiles of 0 to 100), with
    numpy: the first index whose running count reaches each percentile's target, found by
    one search of the running counts instead of hdrh's loop over every index in Python."""
    h = histogram
    running = np.cumsum(np.ctypeslib.as_array(h.counts)[: h.counts_len])
    at = {}
    for percentile in sorted(set(percentiles)):
        index = int(np.searchsorted(running, h.get_target_count_at_percentile(percentile)))
        if index == running.size:  # not reached: hdrh leaves it and those above out
            break
        value = h.get_value_from_index(index)
        if percentile:
            at[percentile] = h.get_highest_equivalent_value(value)
        else:
            at[percentile] = h.get_lowest_equivalent_value(value)
    return at


def write_percentiles(histogram: HdrHistogram, out: IO[str]) -> None:
    """HdrHistogram's percentile distribution (.hgrm) of `histogram`, values in ms.

    hdrh writes bytes and leaves the footer's standard deviation unscaled (in ns); both are
    put right here.
    """
    buffer = io.BytesIO()
    histogram.output_percentile_distribution(buffer, 1e6)
    stddev_ms = f"StdDeviation   = {histogram.get_stddev() / 1e6:12.3f}"
    text = re.sub(r"StdDeviation   = *[-0-9.e+]+", stddev_ms, buffer.getvalue().decode("ascii"))
    out.write(text)
