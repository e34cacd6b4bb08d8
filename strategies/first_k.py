"""first_k: the best of the first k quotes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from strategies import fields
from strategies.ranking import best
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
    k: int = field(default=2, metadata={"ge": 1})
    timeout_ms: float = fields.timeout_ms()

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        async with scatter(request, venues, timeout_s=self.timeout_ms * 1e-3) as quotes:
            received = await quotes.collect(self.k)
        return best(received, request)
