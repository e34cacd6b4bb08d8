"""threshold: the first quote that is good enough, else the best at the timeout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from strategies import fields
from strategies.arrays import Decisions, QuoteArrays, last
from strategies.ranking import best, best_arrays, cost_bps, cost_bps_arrays
from strategies.scatter import QuoteSource, scatter
from venues.messages import Quote, QuoteRequest


@dataclass(frozen=True)
class Threshold:
    """Ask every venue; take the first quote within `max_cost_bps` of the mid seen at the
    request, or the best received when `timeout_ms` comes.

    Satisficing: as fast as first_wins when a good price comes early, as careful as best_price
    when none does. The threshold says what "good enough" costs; too tight and every decision
    waits for the timeout.
    """

    kind: ClassVar[str] = "threshold"
    name: str = fields.name()
    max_cost_bps: float = field(default=1.0, metadata={"ge": -1000.0, "le": 1000.0})
    timeout_ms: float = fields.timeout_ms(10.0)

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        received: list[Quote] = []
        async with scatter(request, venues, timeout_s=self.timeout_ms * 1e-3) as quotes:
            async for quote in quotes:
                if cost_bps(quote, request) <= self.max_cost_bps and quote.size >= request.size:
                    return quote
                received.append(quote)
        return best(received, request)

    def decide_arrays(self, quotes: QuoteArrays) -> Decisions:
        """`decide` over arrays: the first quote good enough (as cheap as `max_cost_bps` and
        deep enough), else the best, when the last venue answers or at the timeout."""
        timeout = self.timeout_ms * 1e-3
        took = quotes.in_by(timeout)
        arrival = quotes.arrival(took)
        until = float(np.max(np.where(took, arrival, 0.0), initial=0.0))
        cost = cost_bps_arrays(quotes, until)
        good = took & (cost <= self.max_cost_bps) & quotes.can_fill()
        first_good = np.argmin(np.where(good, arrival, np.inf), axis=0)
        found = good.any(axis=0)
        chosen = np.where(found, first_good, best_arrays(quotes, took, arrival))
        when = np.where(took.all(axis=0), last(arrival, took), timeout)
        when = np.where(found, arrival[first_good, np.arange(quotes.requests)], when)
        return Decisions.one(chosen, when, timeout)
