"""When requests arrive: the `[arrivals]` table and the open-loop schedule of start times.

Open loop ("poisson", "uniform"): requests start on a schedule drawn before the run, whatever
the venues do, so a stall shows up in every request that arrives during it. Closed loop
("closed"): each of `clients` clients sends its next request when its previous one has ended
(decision, order and retries) and it has thought for a drawn `think_ms`; a stall then delays
the requests that would have been sent, and hides in the measurements (coordinated omission,
docs/design.md section 8).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from sim.model.streams import Purpose, blocked
from venues.latency import Latency, sample_s

DEFAULT_RATE_PER_S = 1000.0

# How long the arrivals may go on: engine time is a float of seconds, and up to 1e6 s its
# resolution is 1.2e-10 s, well below the nanoseconds latencies are recorded in. An open loop's
# span is checked up front (sim.model.scenario), a closed loop's as its clients send
# (sim.model.draws, sim.engines.trio).
MAX_SPAN_S = 1e6

OPEN_LOOP = ("poisson", "uniform")


@dataclass(frozen=True)
class Bursts:
    """On/off bursts of an open-loop process: every cycle spends `off_ms` at the base
    `rate_per_s` of `[arrivals]` (0 for silence), then `on_ms` at this `rate_per_s`."""

    on_ms: float = field(metadata={"gt": 0.0})
    off_ms: float = field(metadata={"gt": 0.0})
    rate_per_s: float = field(metadata={"gt": 0.0})


@dataclass(frozen=True)
class Arrivals:
    """The `[arrivals]` table: when requests arrive.

    "poisson": exponential gaps with mean 1/rate_per_s (open loop, memoryless);
    "uniform": evenly spaced, one every 1/rate_per_s seconds; either optionally in `bursts`.
    "closed": `clients` clients, each sending a request when its previous one ends and it has
    thought for `think_ms` (a latency distribution; no thinking when absent). The summary's
    `decision_ms_corrected` adds, for every decision slower than `expected_interval_ms`, the
    requests a client on schedule would have sent meanwhile (HdrHistogram's correction); the
    interval defaults to the median time between a client's requests in the run.
    """

    process: str = field(default="poisson", metadata={"choices": (*OPEN_LOOP, "closed")})
    rate_per_s: float | None = field(default=None, metadata={"ge": 0.0})
    bursts: Bursts | None = None
    clients: int | None = field(default=None, metadata={"ge": 1, "le": 1_000_000})
    think_ms: Latency | None = None
    expected_interval_ms: float | None = field(default=None, metadata={"ge": 1e-6})  # 1 ns

    def __post_init__(self) -> None:
        if self.closed:
            if self.clients is None:
                raise ValueError("clients: missing (how many clients send, one at a time each)")
            for key in ("rate_per_s", "bursts"):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"{key}: not for a closed loop, whose clients send when their previous "
                        "request ends (use process = 'poisson' or 'uniform')"
                    )
            return
        for key in ("clients", "think_ms", "expected_interval_ms"):
            if getattr(self, key) is not None:
                raise ValueError(f"{key}: only for process = 'closed'")
        if self.rate_per_s == 0 and self.bursts is None:
            raise ValueError("rate_per_s: must be > 0 (or give bursts, which arrive on their own)")
        if self.bursts is not None and not math.isfinite(self.mean_rate_per_s() or 0.0):
            raise ValueError("bursts: too large to compute with (a cycle overflows)")

    @property
    def closed(self) -> bool:
        """True for a closed loop."""
        return self.process == "closed"

    @property
    def base_rate_per_s(self) -> float:
        """The open-loop rate outside bursts."""
        return DEFAULT_RATE_PER_S if self.rate_per_s is None else self.rate_per_s

    def mean_rate_per_s(self) -> float | None:
        """The long-run arrival rate of an open loop (None for a closed loop: it depends on
        how long requests take)."""
        if self.closed:
            return None
        if self.bursts is None:
            return self.base_rate_per_s
        on_s, off_s = self.bursts.on_ms * 1e-3, self.bursts.off_ms * 1e-3
        return (self.base_rate_per_s * off_s + self.bursts.rate_per_s * on_s) / (on_s + off_s)


def arrival_times(arrivals: Arrivals, seed: int, n: int) -> np.ndarray:
    """Start times of requests 0..n-1 of an open-loop process.

    "poisson": cumulative exponential gaps (drawn BLOCK at a time from keyed streams, so request
    i's time does not depend on n); "uniform": (i + 1) / rate, computed without accumulating.
    Both are first made at unit rate, then mapped to time through the cumulative rate, which
    with bursts is piecewise linear (a Poisson process with a piecewise-constant rate).
    """
    return next(arrival_chunks(arrivals, seed, n, max(n, 1)), np.empty(0))


def arrival_chunks(arrivals: Arrivals, seed: int, n: int, size: int) -> Iterator[np.ndarray]:
    """`arrival_times(arrivals, seed, n)`, `size` requests at a time (a multiple of BLOCK, or
    all of them), each chunk exactly as the whole would have it: a Poisson process's sums go
    on from where the chunk before stopped, in the same order."""
    before = 0.0  # unit-rate time of the request before the chunk
    for first in range(0, n, size):
        count = min(size, n - first)
        if arrivals.process == "uniform":
            unit = np.arange(first, first + count, dtype=float) + 1.0
        elif arrivals.process == "poisson":
            gaps = blocked(
                seed, Purpose.ARRIVAL_GAP, (), count, lambda rng, k: rng.exponential(1.0, k), first
            )
            unit = np.cumsum(np.concatenate(([before], gaps)))[1:]  # before + g0 + g1 ...
        else:
            raise ValueError(f"process: {arrivals.process!r} has no schedule (not an open loop)")
        before = float(unit[-1])
        if arrivals.bursts is None:
            yield unit / arrivals.base_rate_per_s
        else:
            yield _through_bursts(unit, arrivals.base_rate_per_s, arrivals.bursts)


def _through_bursts(unit: np.ndarray, base: float, bursts: Bursts) -> np.ndarray:
    """Unit-rate times mapped to engine time through cycles of `off` at `base` then `on` at
    the burst rate: the inverse of the cumulative rate."""
    off_s, on_s = bursts.off_ms * 1e-3, bursts.on_ms * 1e-3
    off_mass = base * off_s
    cycle_mass = off_mass + bursts.rate_per_s * on_s
    cycles = np.floor(unit / cycle_mass)
    rest = unit - cycles * cycle_mass
    # the division can round across a cycle's end: put such times in the cycle they are in
    cycles += (rest >= cycle_mass).astype(float) - (rest < 0).astype(float)
    rest = np.clip(unit - cycles * cycle_mass, 0.0, cycle_mass)
    in_off = rest < off_mass
    within = np.zeros_like(unit)
    if base > 0:
        within[in_off] = rest[in_off] / base
    within[~in_off] = off_s + (rest[~in_off] - off_mass) / bursts.rate_per_s
    return cycles * (off_s + on_s) + within


def think_times(arrivals: Arrivals, seed: int, n: int) -> np.ndarray:
    """Each request's think time before it is sent (closed loop), keyed by request."""
    if arrivals.think_ms is None:
        return np.zeros(n)
    think = arrivals.think_ms
    return blocked(seed, Purpose.THINK, (), n, lambda rng, k: sample_s(think, rng, k))
