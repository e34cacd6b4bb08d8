"""first_wins: take the first quote that arrives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from strategies import fields
from strategies.arrays import Decisions, QuoteArrays
from strategies.scatter import QuoteSource, scatter
from venues.messages import Quote, QuoteRequest


@dataclass(frozen=True)
class FirstWins:
    """Ask every venue and take the first quote; cancel the rest.

    The fastest possible decision: its latency is the minimum of the venues' latencies, so adding
    venues only makes it faster (for independent venues the survival functions multiply). The
    price is whatever the fastest venue offers, and every extra venue asked is load on the
    market. Gives up with no quote after `timeout_ms`.
    """

    kind: ClassVar[str] = "first_wins"
    name: str = fields.name()
    timeout_ms: float = fields.timeout_ms()

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        async with scatter(request, venues, timeout_s=self.timeout_ms * 1e-3) as quotes:
            async for quote in quotes:
                return quote
        return None

    def decide_arrays(self, quotes: QuoteArrays) -> Decisions:
        """`decide` over arrays: the first quote by the timeout."""
        timeout = self.timeout_ms * 1e-3
        took = quotes.in_by(timeout)
        arrival = quotes.arrival(took)
        first = np.argmin(arrival, axis=0)  # the earliest; among equals the lower venue
        chosen = np.where(took.any(axis=0), first, -1)
        return Decisions.one(chosen, arrival[first, np.arange(quotes.requests)], timeout)
