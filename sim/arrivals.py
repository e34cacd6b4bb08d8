"""When requests arrive: the open-loop schedule of request start times, in seconds."""

from __future__ import annotations

import numpy as np

from sim.streams import Purpose, blocked


def arrival_times(process: str, rate_per_s: float, seed: int, n: int) -> np.ndarray:
    """Start times of requests 0..n-1 for `process` at `rate_per_s`.

    "poisson": cumulative exponential gaps (drawn BLOCK at a time from keyed streams, so request
    i's time does not depend on n); "uniform": (i + 1) / rate, computed without accumulating.
    """
    if process == "uniform":
        return (np.arange(n, dtype=float) + 1.0) / rate_per_s
    if process == "poisson":
        gaps = blocked(seed, Purpose.ARRIVAL_GAP, (), n, lambda rng, k: rng.exponential(1.0, k))
        return np.cumsum(gaps) / rate_per_s
    raise ValueError(f"process: unknown arrival process {process!r}")
