"""first_k: the best of the first k quotes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from strategies import fields
from strategies.arrays import Decisions, QuoteArrays, last
from strategies.ranking import best, best_arrays
from strategies.scatter import QuoteSource, scatter
from venues.messages import Quote, QuoteRequest


@dataclass(frozen=True)
class FirstK:
    """Ask every venue, wait for the first `k` quotes, and take the best of them.

    Between first_wins (k = 1) and best_price (k = all): its latency is the k-th order
    statistic of the venues' latencies, so the slowest venues never hold it up, yet it still
    chooses among k prices. The knob trades a little time for a little price.
    """

    kind: ClassVar[str] = "first_k"
    name: str = fields.name()
    k: int = field(default=2, metadata={"ge": 1})
    timeout_ms: float = fields.timeout_ms()

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        async with scatter(request, venues, timeout_s=self.timeout_ms * 1e-3) as quotes:
            received = await quotes.collect(self.k)
        return best(received, request)

    def decide_arrays(self, quotes: QuoteArrays) -> Decisions:
        """`decide` over arrays: the best of the first k quotes (ties in time: the lower venue
        first), decided at the k-th, else when every venue has answered, else at the timeout."""
        timeout, k = self.timeout_ms * 1e-3, self.k
        in_time = quotes.in_by(timeout)
        arrival = quotes.arrival(in_time)
        by_arrival = np.argsort(arrival, axis=0, kind="stable")
        took = in_time & (np.argsort(by_arrival, axis=0) < k)
        kth = np.take_along_axis(arrival, by_arrival[min(k, quotes.venues) - 1][None, :], axis=0)
        received = in_time.sum(axis=0)
        everyone = np.where(received == quotes.venues, last(arrival, in_time), timeout)
        when = np.where(received >= k, kth[0], everyone)
        return Decisions.one(best_arrays(quotes, took, arrival), when, timeout)
