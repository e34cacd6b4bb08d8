"""deadline: the best quote by a deadline, else the first to come after it."""

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
class Deadline:
    """Ask every venue; at `deadline_ms` take the best quote received so far, or, if none has
    come, the first that comes after (until `timeout_ms`).

    A latency budget stated up front: the decision never waits past the deadline when it has a
    choice, and the deadline sets how much price it buys. A quote arriving exactly at the
    deadline counts.
    """

    kind: ClassVar[str] = "deadline"
    name: str = fields.name()
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

    def decide_arrays(self, quotes: QuoteArrays) -> Decisions:
        """`decide` over arrays: the best by the deadline (decided there, or when every venue
        has answered), else the first quote after it, by the timeout."""
        timeout = self.timeout_ms * 1e-3
        until = min(self.deadline_ms * 1e-3, timeout)
        in_time = quotes.in_by(timeout)
        arrival = quotes.arrival(in_time)
        took = in_time & (arrival <= until)
        first = np.argmin(arrival, axis=0)  # the earliest; among equals the lower venue
        late = ~took.any(axis=0) & in_time.any(axis=0)
        chosen = np.where(late, first, best_arrays(quotes, took, arrival))
        when = np.where(took.all(axis=0), last(arrival, took), until)
        when = np.where(late, arrival[first, np.arange(quotes.requests)], when)
        return Decisions.one(chosen, when, timeout)
