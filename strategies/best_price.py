"""best_price: wait for every quote (or the timeout) and take the best."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from strategies import fields
from strategies.arrays import Decisions, QuoteArrays, last
from strategies.ranking import best, best_arrays
from strategies.scatter import QuoteSource, scatter
from venues.messages import Quote, QuoteRequest


@dataclass(frozen=True)
class BestPrice:
    """Ask every venue, wait for all of them or `timeout_ms`, and take the best price.

    The best price any venue offers, paid for in time: its latency is the maximum of the venues'
    latencies, so every extra venue makes it slower, and a venue that never answers costs the
    whole timeout (with n venues each slow with probability p, 1-(1-p)^n of decisions are slow).
    A quote too small for the order ranks after every quote that can fill it; among equal
    prices (and among unpriced quotes) the earliest wins.
    """

    kind: ClassVar[str] = "best_price"
    name: str = fields.name()
    timeout_ms: float = fields.timeout_ms()

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        async with scatter(request, venues, timeout_s=self.timeout_ms * 1e-3) as quotes:
            received = await quotes.collect()
        return best(received, request)

    def decide_arrays(self, quotes: QuoteArrays) -> Decisions:
        """`decide` over arrays: the best quote, when the last venue answers or at the timeout."""
        timeout = self.timeout_ms * 1e-3
        took = quotes.in_by(timeout)
        arrival = quotes.arrival(took)
        when = np.where(took.all(axis=0), last(arrival, took), timeout)
        return Decisions.one(best_arrays(quotes, took, arrival), when, timeout)
