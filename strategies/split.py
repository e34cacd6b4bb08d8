"""split: fill an order too large for any one venue across several, best price first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from strategies import fields
from strategies.arrays import Decisions, QuoteArrays, last
from strategies.ranking import rank, rank_arrays
from strategies.scatter import QuoteSource, scatter
from venues.messages import Quote, QuoteRequest


@dataclass(frozen=True, slots=True)
class Leg:
    """Part of a decision: an order for `size` on `quote`'s venue at its price."""

    quote: Quote
    size: float


@dataclass(frozen=True)
class Split:
    """Ask every venue, wait for all quotes (or `timeout_ms`), then order from the best price
    down, each venue for as much as it quoted, until the order's size is covered.

    For sizes larger than any single venue's depth, where first_wins and best_price can only
    be rejected for want of liquidity. Each venue quotes the volume-weighted price of walking
    its ladder for the whole size, and honours it for any part up to the size it quoted. The
    orders go out at once; whatever is rejected is re-raced, for what is left, under
    `max_retries`. The cost: it waits for every venue, and each leg is one more chance of a
    last-look reject.
    """

    kind: ClassVar[str] = "split"
    name: str = fields.name()
    timeout_ms: float = fields.timeout_ms()

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> list[Leg]:
        async with scatter(request, venues, timeout_s=self.timeout_ms * 1e-3) as quotes:
            received = await quotes.collect()
        by_price = sorted(received, key=lambda q: rank(q, request)[1])  # stable: earliest first
        legs, remaining = [], request.size
        for quote in by_price:
            if remaining <= 0:
                break
            take = min(quote.size, remaining)
            legs.append(Leg(quote, take))
            remaining -= take
        return legs

    def decide_arrays(self, quotes: QuoteArrays) -> Decisions:
        """`decide` over arrays: the quotes in by the timeout (decided at the last of them, or
        at the timeout) as legs from the best price down (ties: the earlier quote, then the
        lower venue), each for as much as its venue quoted, until the size is covered."""
        count, n = quotes.venues, quotes.requests
        requests = np.arange(n)
        timeout = self.timeout_ms * 1e-3
        in_time = quotes.in_by(timeout)
        arrival = quotes.arrival(in_time)
        _, cost = rank_arrays(quotes, timeout)
        venue_index = np.broadcast_to(np.arange(count)[:, None], (count, n))
        ranked = np.lexsort((venue_index, arrival, cost, ~in_time), axis=0)
        venue, size = np.empty((count, n), dtype=np.int64), np.empty((count, n))
        left = quotes.size.copy()
        for k, v in enumerate(ranked):
            taken = in_time[v, requests] & (left > 0)
            size[k] = np.minimum(quotes.available[v, requests], left)
            left = np.where(taken, left - size[k], left)
            venue[k] = np.where(taken, v, -1)
        decided = np.where(in_time.all(axis=0), last(arrival, in_time), timeout)
        has = in_time.any(axis=0)
        return Decisions(venue, np.where(has, decided, np.nan), np.full(n, timeout), size=size)
