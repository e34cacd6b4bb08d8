"""Fill quality: what a fill cost against the arrival mid and against a latency-free oracle.

Costs are signed so that positive is worse for the client, in basis points of the arrival mid
m0: `slippage_bps = side * (fill_price - m0) / m0 * 1e4`; `shortfall_bps` is the same against
the oracle, the best price any venue deep enough for the order would have quoted at arrival
with no latency (its own spread, depth, skew and first-attempt noise, at mid(t0)).
"""

from __future__ import annotations

import numpy as np

from sim.model.draws import Draws
from venues.pricing import Ladder, quote_price
from venues.venue import VenueSpec


def oracle_prices(
    draws: Draws, venues: tuple[VenueSpec, ...], mids: np.ndarray, size: float
) -> np.ndarray:
    """Per request, the best price any venue would have quoted at arrival with no latency."""
    side = draws.side.astype(float)
    costs, deep_enough = [], []
    for spec, d in zip(venues, draws.venues, strict=True):
        spread, available = Ladder(spec.depth).walk(size, spec.spread_bps or 0.0)
        noise = np.asarray(d.noise_bps[0])
        price = quote_price(mids, side, spread, spec.skew_bps, noise)
        costs.append(side * price)
        deep_enough.append(available >= size)
    # Only venues that could fill the whole order, unless none could.
    usable = np.array(costs)[deep_enough] if any(deep_enough) else np.array(costs)
    best_cost = usable.min(axis=0)  # lowest ask for a buyer, highest bid for a seller
    return side * best_cost
