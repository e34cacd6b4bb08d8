"""best_price: wait for every quote (or the timeout) and take the best."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

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
    timeout_ms: float = field(default=1000.0, metadata={"gt": 0.0, "le": 3_600_000.0})

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        async with scatter(request, venues, timeout_s=self.timeout_ms * 1e-3) as quotes:
            received = await quotes.collect()
        # min keeps the first of equal costs, and quotes come in order of arrival
        return min(received, key=lambda q: _cost(q, request), default=None)


def _cost(quote: Quote, request: QuoteRequest) -> tuple[bool, float]:
    """How a quote ranks, lower first: quotes too small for the order after those that can fill
    it, then by what the quote costs the client per unit (on either side). An unpriced quote
    ranks after every priced one."""
    price = math.inf if quote.price is None else request.side * quote.price
    return quote.size < request.size, price
