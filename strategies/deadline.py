"""deadline: the best quote by a deadline, else the first to come after it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from strategies import fields
from strategies.ranking import best
from strategies.scatter import QuoteSource, scatter
from venues.messages import Quote, QuoteRequest


@dataclass(frozen=True)
class Deadline:
    """Ask every venue; at `deadline_ms` take the best quote received so far, or, if none has
    come, the first that comes after (until `timeout_ms`).

    A latency budget stated up front: the decision never waits past the deadline when it has a
    choice, and the deadline sets how much price it buys. A quote arriving exactly at the
    deadline counts.
    """

    kind: ClassVar[str] = "deadline"
    deadline_ms: float = fields.delay_ms(1.0)
    timeout_ms: float = fields.timeout_ms()

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        async with scatter(request, venues, timeout_s=self.timeout_ms * 1e-3) as quotes:
            received = await quotes.collect(within_s=self.deadline_ms * 1e-3)
            if received:
                return best(received, request)
            async for quote in quotes:
                return quote
        return None
