"""Fill quality: what a fill cost against the arrival mid and against a latency-free oracle.

Costs are signed so that positive is worse for the client, in basis points of the arrival mid
m0: `slippage_bps = side * (fill_price - m0) / m0 * 1e4`; `shortfall_bps` is the same against
the oracle, the best price any venue deep enough for the order would have quoted at arrival
with no latency (its own spread, depth, skew and first-attempt noise, at mid(t0); a venue
quoting the recorded spread at the recorded touch at t0).
"""

from __future__ import annotations

import numpy as np

from sim.model.draws import Draws
from sim.model.market import MidPath
from venues.pricing import Ladder, quote_price
from venues.venue import VenueSpec


def arrival_touches(path: MidPath, t: np.ndarray, side: np.ndarray) -> np.ndarray | None:
    """Per request, the recorded touch on its side at its arrival time `t` (the ask for a
    buy, the bid for a sell); None when no venue quotes the recorded spread."""
    return path.touch_at(t, side) if path.has_touch else None


def oracle_prices(
    draws: Draws,
    venues: tuple[VenueSpec, ...],
    mids: np.ndarray,
    size: float,
    touches: np.ndarray | None = None,
) -> np.ndarray:
    """Per request, the best price any venue would have quoted at arrival with no latency
    (`touches`: arrival_touches, for venues quoting the recorded spread)."""
    side = draws.side.astype(float)
    costs, deep_enough = [], []
    for spec, d in zip(venues, draws.venues, strict=True):
        spread, available = Ladder(spec.depth).walk(size, spec.spread_bps or 0.0)
        noise = np.asarray(d.noise_bps[0])
        base = touches if spec.recorded_spread else mids
        price = quote_price(base, side, spread, spec.skew_bps, noise)
        costs.append(side * price)
        deep_enough.append(available >= size)
    # Only venues that could fill the whole order, unless none could.
    usable = np.array(costs)[deep_enough] if any(deep_enough) else np.array(costs)
    best_cost = usable.min(axis=0)  # lowest ask for a buyer, highest bid for a seller
    return side * best_cost
