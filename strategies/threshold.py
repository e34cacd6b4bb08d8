"""threshold: the first quote that is good enough, else the best at the timeout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from strategies import fields
from strategies.ranking import best, cost_bps
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
