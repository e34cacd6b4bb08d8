"""Scatter a quote request to venues and gather their quotes as they arrive.

    async with scatter(request, venues, timeout_s=0.005) as quotes:
        async for quote in quotes:
            return quote        # first wins: leaving the block cancels the losers

`scatter` opens a nursery with one task per venue; `quotes` yields each quote as it arrives, in
order of arrival, ties broken by venue index (never by trio's scheduling order). Leaving the
block, by return, break or exception, cancels every request still outstanding, so no task of the
race outlives it. With `timeout_s`, iteration stops at `request.t0 + timeout_s`; a quote arriving
exactly then still counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol

import trio

from venues.messages import Quote, QuoteRequest


class QuoteSource(Protocol):
    """Anything that answers a quote request: a simulated venue, or a connection to one."""

    index: int

    async def quote(self, request: QuoteRequest) -> Quote: ...


class Quotes:
    """The quotes of one scatter, as they arrive (an async iterator)."""

    __slots__ = (
        "_deadline",
        "_expected",
        "_ready",
        "_receive",
        "_received",
        "_timed_out",
        "_timeout_s",
    )

    def __init__(
        self, receive: trio.MemoryReceiveChannel[Quote], expected: int, t0: float, timeout_s: float
    ) -> None:
        self._receive = receive
        self._expected = expected
        self._received = 0
        self._timeout_s = timeout_s
        self._deadline = t0 + timeout_s
        self._timed_out = False
        self._ready: list[Quote] = []  # arrived but not yet yielded, latest first

    @property
    def timed_out(self) -> bool:
        """True once the timeout has ended the iteration."""
        return self._timed_out

    def __aiter__(self) -> Quotes:
        return self

    async def __anext__(self) -> Quote:
        if self._ready:
            return self._ready.pop()
        if self._received == self._expected or self._timed_out:
            raise StopAsyncIteration
        batch: list[Quote] = []
        with trio.move_on_at(self._deadline):
            batch.append(await self._receive.receive())
        if not batch:
            # Venues answering exactly at the deadline were woken with us: let them deliver.
            self._timed_out = True
            await trio.lowlevel.cancel_shielded_checkpoint()
        self._drain(batch)
        if not self._ready:
            raise StopAsyncIteration
        return self._ready.pop()

    def _drain(self, batch: list[Quote]) -> None:
        """Take every quote already delivered; order them latest first for `pop`."""
        while True:
            try:
                batch.append(self._receive.receive_nowait())
            except trio.WouldBlock:
                break
        if self._timed_out:
            batch = [q for q in batch if q.latency_s <= self._timeout_s]
        self._received += len(batch)
        batch.sort(key=_arrival_order, reverse=True)
        self._ready = batch


def _arrival_order(quote: Quote) -> tuple[float, int]:
    return quote.latency_s, quote.venue


class Scatter:
    """Async context manager returned by `scatter`."""

    __slots__ = ("_nursery", "_nursery_manager", "_request", "_timeout_s", "_venues")

    def __init__(
        self, request: QuoteRequest, venues: Sequence[QuoteSource], timeout_s: float
    ) -> None:
        self._request = request
        self._venues = venues
        self._timeout_s = timeout_s

    async def __aenter__(self) -> Quotes:
        self._nursery_manager = trio.open_nursery()
        nursery = await self._nursery_manager.__aenter__()
        self._nursery = nursery
        send, receive = trio.open_memory_channel[Quote](max(len(self._venues), 1))
        for venue in self._venues:
            nursery.start_soon(_ask, venue, self._request, send)
        return Quotes(receive, len(self._venues), self._request.t0, self._timeout_s)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._nursery.cancel_scope.cancel()
        return await self._nursery_manager.__aexit__(exc_type, exc, tb)


async def _ask(
    venue: QuoteSource, request: QuoteRequest, send: trio.MemorySendChannel[Quote]
) -> None:
    send.send_nowait(await venue.quote(request))


def scatter(
    request: QuoteRequest, venues: Sequence[QuoteSource], *, timeout_s: float = math.inf
) -> Scatter:
    """Send `request` to every venue in `venues` at once; gather in the `async with` block."""
    return Scatter(request, venues, timeout_s)
