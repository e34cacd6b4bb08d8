"""Sums of floats exactly: as Python ints in 1 / EXACT_UNITS, so that sums of pieces add up
without rounding, and one division rounds the total once, as math.fsum of all the values
would. The venues' service used and a closed loop's corrected mean are summed so, a run
decided in pieces giving the same bits as one decided at once."""

from __future__ import annotations

import numpy as np

EXACT_UNITS = 2**1126  # every double is a whole number of 1 / EXACT_UNITS


def exactly(values: np.ndarray) -> int:
    """The sum of `values` (finite floats) exactly, in 1 / EXACT_UNITS: a
    Python int, so that sums of chunks add up exactly, and int / int rounds the total once,
    as math.fsum of all the values would. Each value is its 53-bit mantissa times a power of
    two; mantissas are summed per power in halves of 26 and 27 bits, which float64 sums hold
    exactly."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size > 2**25:  # float64 sums of the halves stay exact
        return sum(exactly(values[a : a + 2**25]) for a in range(0, values.size, 2**25))
    if not values.size:
        return 0
    mantissa, exponent = np.frexp(np.asarray(values, dtype=np.float64))
    whole = (mantissa * 2.0**53).astype(np.int64)
    lowest = int(exponent.min())
    which = exponent - lowest
    high = np.bincount(which, weights=whole >> 26)
    low = np.bincount(which, weights=whole & (2**26 - 1))
    total = 0
    for power in np.flatnonzero(high.astype(bool) | low.astype(bool)).tolist():
        part = (int(high[power]) << 26) + int(low[power])
        total += part << (power + lowest + 1073)  # mantissa * 2**(exponent - 53), scaled
    return total
