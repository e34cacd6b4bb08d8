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
    """Ask the venues one at a time in order: the next every `stagger_ms`, or at once when the
    last one asked fails (answers with a quote that cannot fill the order); take the first
    quote that can.

    trio's open_tcp_stream races connection attempts this way (RFC 8305, happy eyeballs): the
    first venue gets a head start, so a healthy venue 1 costs the others nothing, while a slow
    or dead one costs at most one stagger, and a failing one nothing. A venue that never
    answers is only noticed by the stagger. Load: about one venue per request when the first
    is fast.
    """

    kind: ClassVar[str] = "staggered"
    stagger_ms: float = fields.delay_ms(0.5)
    timeout_ms: float = fields.timeout_ms()

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        stagger_s = self.stagger_ms * 1e-3
        left = list(venues)
        now_s = 0.0  # when, after the request, the gatherer last woke (exactly)
        async with scatter(request, [], timeout_s=self.timeout_ms * 1e-3) as quotes:
            while True:
                if left:
                    quotes.ask(left.pop(0))
                until = now_s + stagger_s if left else None
                received = await quotes.collect(1, within_s=until)
                if received and _can_fill(received[0], request):
                    return received[0]
                if quotes.timed_out:
                    return None
                if received:  # a failure: on to the next venue at once
                    now_s = received[0].arrived_after_s
                elif until is not None:  # the stagger passed
                    now_s = until
                else:  # every venue asked has answered, and none can fill the order
                    return None


def _can_fill(quote: Quote, request: QuoteRequest) -> bool:
    return quote.size >= request.size
