"""How a venue prices a quote: the mid, half its spread on the request's side, skew and noise,
and for sizes beyond its top level the volume-weighted spread of walking its depth ladder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sortedcontainers import SortedKeyList


@dataclass(frozen=True)
class Level:
    """One rung of a depth ladder: `size` available at a full spread of `spread_bps`."""

    size: float = field(metadata={"gt": 0.0})
    spread_bps: float = field(metadata={"ge": 0.0, "le": 1000.0})


class Ladder:
    """A venue's depth, kept sorted by spread (tightest first) as an order book keeps its levels.

    Without levels the venue quotes any size at one spread.
    """

    def __init__(self, levels: Sequence[Level]) -> None:
        self._levels = SortedKeyList(levels, key=lambda level: level.spread_bps)
        self.depth = sum(level.size for level in self._levels) if levels else float("inf")

    def walk(self, size: Any, top_spread_bps: float = 0.0) -> tuple[Any, Any]:
        """(volume-weighted full spread in bps, size available) for an order of `size`: a float,
        or a numpy array of sizes walked at once (with the same float operations, so that both
        give the same bits).

        Beyond the ladder's depth the spread is that of everything there is, and the size
        available is the depth.
        """
        if not self._levels:
            spread, available = np.full(np.shape(size), float(top_spread_bps)), np.asarray(size)
        else:
            available = np.minimum(size, self.depth)  # exactly: summing the takes would round
            remaining, cost = available, 0.0
            for level in self._levels:  # once nothing remains, each take is 0 and adds 0.0
                take = np.minimum(level.size, remaining)
                cost = cost + take * level.spread_bps
                remaining = remaining - take
            spread = cost / available
        if np.ndim(size) == 0:
            return float(spread), float(available)
        return spread, available


def quote_price(mid: Any, side: Any, spread_bps: Any, skew_bps: Any, noise_bps: Any) -> Any:
    """The price a venue quotes: half the spread on the client's side (buyers pay above the mid,
    sellers receive below it), plus skew (raising both sides) and noise, in bps of the mid.
    Floats or numpy arrays alike."""
    return mid * (1.0 + (side * 0.5 * spread_bps + skew_bps + noise_bps) * 1e-4)
