"""Hand-built venues for strategy tests: fixed latencies and prices, live tasks counted."""

from __future__ import annotations

import math

import trio

from venues.messages import Quote, QuoteRequest

MS = 1e-3


class FakeVenue:
    """Answers after `latency_ms` (never when None) with `price`; counts its live tasks."""

    def __init__(
        self, index: int, latency_ms: float | None, price: float | None = None, size=math.inf
    ) -> None:
        self.index = index
        self.name = f"v{index}"
        self.latency_ms = latency_ms
        self.price = price
        self.size = size
        self.live = 0
        self.cancelled = 0
        self.requests = 0

    async def quote(self, request: QuoteRequest) -> Quote:
        self.requests += 1
        self.live += 1
        try:
            if self.latency_ms is None:
                await trio.sleep_forever()
            latency = self.latency_ms * MS
            await trio.sleep_until(request.t0 + request.sent_after_s + latency)
            quote = Quote(request.index, self.index, latency, self.price, self.size)
            return quote._replace(sent_after_s=request.sent_after_s)
        except trio.Cancelled:
            self.cancelled += 1
            raise
        finally:
            self.live -= 1


def venues(*latencies_ms: float | None, prices: tuple[float | None, ...] = ()) -> list[FakeVenue]:
    prices = prices or (None,) * len(latencies_ms)
    return [FakeVenue(i, ms, p) for i, (ms, p) in enumerate(zip(latencies_ms, prices, strict=True))]


async def decide(strategy, vs, side: int = 1, mid: float = math.nan, size: float = 1.0):
    """`strategy`'s decision on a request sent now, and how long it took; checks that no venue
    task outlived the race."""
    request = QuoteRequest(0, trio.current_time(), side, size, 0, mid)
    with trio.fail_after(3600):  # a broken gather fails the test instead of hanging it
        quote = await strategy.decide(request, vs)
    assert all(v.live == 0 for v in vs), "a venue task outlived its race"
    return quote, trio.current_time() - request.t0
