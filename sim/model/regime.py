"""Calm and stressed: a regime switch that makes venues slow together, and at the same times.

The `[regime]` table is a two-state Markov chain in continuous time: calm switches to stressed
at rate `calm_to_stressed_per_s`, stressed back to calm at `stressed_to_calm_per_s`. While
stressed, a quote's latency is `stressed_scale` times what it would be. With `shared = true` one
chain drives every venue (a congested link, a news burst); with `shared = false` each venue has
its own (each venue's own GC pauses): the same share of time stressed at every venue, but no
longer at the same times.

The chain is read at each request's arrival time. Between two arrivals dt apart it moves by its
transition probabilities, with a = calm_to_stressed, b = stressed_to_calm, lam = a + b and
pi = a / lam (the stationary share of time stressed):

    P(stressed at t + dt | calm at t)     = pi (1 - exp(-lam dt))
    P(stressed at t + dt | stressed at t) = pi + (1 - pi) exp(-lam dt)

so no path between arrivals is made: one uniform draw per request and chain (keyed stream,
sim.model.streams) decides its state. The first request has dt = infinity: it starts from the
stationary distribution, so the share of requests stressed is pi from the start. A uniform below
the first probability means stressed whatever came before, one at or above the second calm, one
in between the state before: a forward fill, vectorized, and request i's state depends on
requests 0..i only (prefix-stable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.model.streams import Purpose, blocked


@dataclass(frozen=True)
class Regime:
    """The `[regime]` table: switching rates between calm and stressed (per second), the factor
    a stressed state multiplies quote latency by, and one chain for all venues or one each."""

    calm_to_stressed_per_s: float = field(metadata={"ge": 0.0})
    stressed_to_calm_per_s: float = field(metadata={"ge": 0.0})
    stressed_scale: float = field(metadata={"gt": 0.0})
    shared: bool = True

    def __post_init__(self) -> None:
        if self.calm_to_stressed_per_s + self.stressed_to_calm_per_s <= 0:
            raise ValueError("stressed_to_calm_per_s: one of the two rates must be > 0")

    @property
    def stressed_share(self) -> float:
        """The stationary share of time stressed: calm_to_stressed / (the sum of the rates)."""
        total = self.calm_to_stressed_per_s + self.stressed_to_calm_per_s
        return self.calm_to_stressed_per_s / total


class RegimeChain:
    """One chain's states at successive arrival times, chunk after chunk: each chunk goes on
    from the last arrival and state of the chunk before (`draws.draw_chunks`)."""

    def __init__(self, regime: Regime, seed: int, venue: int | None) -> None:
        self.regime, self.seed = regime, seed
        # one stream for the shared chain, one per venue for the others
        self.purpose, self.keys = (
            (Purpose.SHARED_REGIME, ()) if venue is None else (Purpose.REGIME, (venue,))
        )
        self.last_t, self.last_state = -math.inf, False

    def stressed(self, arrival_s: np.ndarray, first: int) -> np.ndarray:
        """Whether the chain is stressed at each of `arrival_s` (requests first onwards, in
        time order)."""
        n = arrival_s.size
        if n == 0:
            return np.zeros(0, dtype=bool)
        r = self.regime
        rate = r.calm_to_stressed_per_s + r.stressed_to_calm_per_s
        pi = r.stressed_share
        dt = np.diff(arrival_s, prepend=self.last_t)
        stay = np.exp(-rate * dt)  # exp(-inf) = 0: the first request starts stationary
        from_calm, from_stressed = pi * (1.0 - stay), pi + (1.0 - pi) * stay
        u = blocked(self.seed, self.purpose, self.keys, n, lambda rng, k: rng.random(k), first)
        # 1: stressed, 0: calm, -1: as before; the state before the chunk stands first
        set_to = np.where(u < from_calm, 1, np.where(u >= from_stressed, 0, -1))
        set_to = np.concatenate(([int(self.last_state)], set_to))
        where = np.maximum.accumulate(np.where(set_to >= 0, np.arange(n + 1), 0))
        states = set_to[where][1:] == 1
        self.last_t, self.last_state = float(arrival_s[-1]), bool(states[-1])
        return states
