"""The market: a mid price path that every venue and every strategy of a run shares.

mid(t) is piecewise constant, updated at Poisson times (`updates_per_s`); each update moves the
log price by Normal(0, volatility * sqrt(dt)), so over any interval T the log return has
variance volatility^2 * T whatever the update rate. Optional jumps arrive at their own Poisson
rate and move the log price by +/- size_bps (sign by a fair coin). The path is generated lazily,
CHUNK_S seconds at a time, chunk k from its own keyed stream, so it is the same however far a
run reaches; mid(t) is a binary search.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

from sim.streams import Purpose, stream

CHUNK_S = 1.0


@dataclass(frozen=True)
class Jumps:
    """Rare large moves: `rate_per_s` of them on average, each of `size_bps` up or down."""

    rate_per_s: float = field(metadata={"gt": 0.0})
    size_bps: float = field(metadata={"gt": 0.0})


@dataclass(frozen=True)
class MarketSpec:
    """The `[market]` table. volatility_bps is per square root of a second."""

    mid: float = field(default=100.0, metadata={"gt": 0.0})
    volatility_bps: float = field(default=0.0, metadata={"ge": 0.0})
    updates_per_s: float = field(default=1000.0, metadata={"gt": 0.0})
    jumps: Jumps | None = None


class MidPath:
    """mid(t) for t >= 0 under `spec` and `seed`, generated on demand."""

    def __init__(self, spec: MarketSpec, seed: int) -> None:
        self._spec = spec
        self._seed = seed
        self._times = [-math.inf]  # update times; mid is _mids[j] from _times[j] on
        self._mids = [spec.mid]
        self._log_mid = math.log(spec.mid)
        self._last_diffusion = 0.0  # time of the last diffusion update (jumps aside)
        self._chunks = 0
        self._moves = spec.volatility_bps > 0 or spec.jumps is not None

    def __call__(self, t: float) -> float:
        """The mid at engine time `t` (the last update at or before t)."""
        if self._moves:
            while t >= self._chunks * CHUNK_S:
                self._extend()
        return self._mids[bisect.bisect_right(self._times, t) - 1]

    def _extend(self) -> None:
        """Generate chunk `_chunks`: [k, k+1) * CHUNK_S."""
        k = self._chunks
        rng = stream(self._seed, Purpose.MARKET, k)
        start = k * CHUNK_S
        spec = self._spec
        diffusion = start + np.sort(rng.uniform(0.0, CHUNK_S, rng.poisson(spec.updates_per_s)))
        previous = np.concatenate(([self._last_diffusion], diffusion[:-1]))
        if diffusion.size:
            self._last_diffusion = float(diffusion[-1])
        sigma = spec.volatility_bps * 1e-4 * np.sqrt(diffusion - previous)
        returns = sigma * rng.standard_normal(diffusion.size)
        times = diffusion
        if spec.jumps is not None:
            jumps = start + rng.uniform(0.0, CHUNK_S, rng.poisson(spec.jumps.rate_per_s))
            signs = np.where(rng.random(jumps.size) < 0.5, -1.0, 1.0)
            times = np.concatenate((diffusion, jumps))
            returns = np.concatenate((returns, signs * spec.jumps.size_bps * 1e-4))
            order = np.argsort(times, kind="stable")
            times, returns = times[order], returns[order]
        log_mids = self._log_mid + np.cumsum(returns)
        if log_mids.size:
            self._log_mid = float(log_mids[-1])
        self._times.extend(times.tolist())
        self._mids.extend(np.exp(log_mids).tolist())
        self._chunks += 1
