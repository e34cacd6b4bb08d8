"""staggered: happy eyeballs for quotes: one venue at a time, the next after a delay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from strategies import fields
from strategies.scatter import QuoteSource, scatter
from venues.messages import Quote, QuoteRequest


@dataclass(frozen=True)
class Staggered:
    """Ask the venues one at a time in order, starting the next every `stagger_ms` until one
    answers; take the first quote (from any venue asked).

    trio's open_tcp_stream races connection attempts this way (RFC 8305, happy eyeballs): the
    first venue gets a head start, so a healthy venue 1 costs the others nothing, while a slow
    or dead one costs at most one stagger. Venues here fail silently, so the stagger is the only
    signal to move on. Load: about one venue per request when the first is fast.
    """

    kind: ClassVar[str] = "staggered"
    stagger_ms: float = fields.delay_ms(0.5)
    timeout_ms: float = fields.timeout_ms()

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        stagger_s = self.stagger_ms * 1e-3
        async with scatter(request, [], timeout_s=self.timeout_ms * 1e-3) as quotes:
            for n, venue in enumerate(venues):
                quotes.ask(venue)
                if n + 1 < len(venues):
                    received = await quotes.collect(1, within_s=(n + 1) * stagger_s)
                    if received:
                        return received[0]
                    if quotes.timed_out:
                        return None
            async for quote in quotes:
                return quote
        return None
