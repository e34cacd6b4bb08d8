"""Scatter a quote request to venues and gather their quotes as they arrive.

    async with scatter(request, venues, timeout_s=0.005) as quotes:
        async for quote in quotes:
            return quote        # first wins: leaving the block cancels the losers

    async with scatter(request, venues, timeout_s=0.005) as quotes:
        everything = await quotes.collect()     # all quotes in by the timeout

`scatter` opens a nursery with one task per venue (none for a source that delivers its quotes
itself, `ask_quote`: a network connection); `quotes` yields each quote as it arrives, in
order of arrival, ties broken by venue index (never by trio's scheduling order). Leaving the
block, by return, break or exception, cancels every request still outstanding, so no task of the
race outlives it. Gathering stops at `request.t0 + timeout_s`; a quote arriving exactly then
still counts, one arriving later never does.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from venues.messages import Quote, QuoteRequest

if TYPE_CHECKING:  # trio is imported where it runs: the fast engine never loads it
    import trio

# Clock arithmetic is off from an exact event time by an ulp of engine time; more than this and
# the clock saw a different event.
CLOCK_SLACK_S = 1e-6


def exact_or_clock(exact_s: float, clock_s: float) -> float:
    """`exact_s`, the drawn time of the last event a gather saw, when the clock agrees with it
    (clock arithmetic is off by an ulp); else the clock: something else happened since."""
    return exact_s if abs(clock_s - exact_s) <= CLOCK_SLACK_S else clock_s


class QuoteSource(Protocol):
    """Anything that answers a quote request: a simulated venue, or a connection to one.

    `index` and `name` identify it in the run. `quote` returns the venue's quote (whose `venue`
    is this source's `index`) once it has arrived, with no checkpoint between waking at its
    arrival time and returning: quotes due at the same instant as a timeout must be delivered
    in the batch that wakes them.

    A source may also have `ask_quote(request, deliver) -> Pending`: send the request now and call
    `deliver(quote)` when the quote comes, from whatever task reads it (a connection's reader),
    without a checkpoint. A scatter then starts no task for it, and cancels its Pending when it
    ends; without it, a task per request awaits `quote`.
    """

    index: int
    name: str

    async def quote(self, request: QuoteRequest) -> Quote: ...


class Pending(Protocol):
    """A request sent to a source that delivers its quote itself (`ask_quote`)."""

    def cancel(self) -> None:
        """Stop waiting: nothing is delivered from now on (harmless once delivered)."""


class LastEvent:
    """The exact time, since its request's arrival, of the last event a gather saw in this race:
    a quote's sampled latency, or the timeout.

    The engine puts one in `last_event` for each race and records the decision latency from it
    when it agrees with the clock, since clock arithmetic (t0 + latency - t0) is off by up to an
    ulp of t0.
    """

    __slots__ = ("elapsed_s",)

    def __init__(self) -> None:
        self.elapsed_s = math.nan


last_event: ContextVar[LastEvent | None] = ContextVar("quoterace_last_event", default=None)


class Quotes:
    """The quotes of one scatter, in order of arrival.

    Iterate (`async for`) to take each quote as it arrives, or `await collect(k)` to wait for
    the first k at once (all of them by default), optionally only until `within_s` after the
    request; both stop at the timeout. `ask(venue)` sends the request to one more venue while
    gathering (hedging, staggering). Venue tasks hand their quotes to `deliver`, which wakes the
    gatherer only once it has what it waits for. Quotes delivered in one scheduling batch (due at
    the same instant) are taken together and ordered by (arrival after the request, venue
    index), so ties never depend on trio's scheduling order.
    """

    __slots__ = (
        "_arrived",
        "_deadline",
        "_elapsed_s",
        "_expected",
        "_nursery",
        "_pending",
        "_ready",
        "_request",
        "_taken",
        "_timed_out",
        "_timeout_s",
        "_waiter",
        "_wanted",
    )

    def __init__(self, nursery: trio.Nursery, request: QuoteRequest, timeout_s: float) -> None:
        self._nursery = nursery
        self._request = request
        self._expected = 0
        self._taken = 0
        self._timeout_s = timeout_s
        self._deadline = request.t0 + timeout_s
        self._timed_out = False
        self._arrived: list[Quote] = []  # delivered, not yet taken
        self._ready: list[Quote] = []  # taken, not yet handed out; latest first, for pop()
        self._waiter: trio.lowlevel.Task | None = None
        self._wanted = 1
        self._elapsed_s = 0.0  # exact time of the last event seen, after the request
        self._pending: list[Pending] = []  # requests sent to sources that deliver themselves

    @property
    def timed_out(self) -> bool:
        """True once the timeout has ended the gathering."""
        return self._timed_out

    def ask(self, venue: QuoteSource) -> None:
        """Send the request to `venue` too, now; its quote joins the others."""
        import trio

        request = self._request
        sent = exact_or_clock(self._elapsed_s, trio.current_time() - request.t0)
        if sent:
            request = dataclasses.replace(request, sent_after_s=sent)
        self._start(venue, request)

    def _start(self, venue: QuoteSource, request: QuoteRequest) -> None:
        self._expected += 1
        ask_quote = getattr(venue, "ask_quote", None)
        if ask_quote is None:
            self._nursery.start_soon(_ask, venue, request, self)
        else:  # no task: the source delivers itself (see QuoteSource)
            self._pending.append(ask_quote(request, self.deliver))

    def deliver(self, quote: Quote) -> None:
        """Called with each quote as it arrives: by its venue's task, or by a source that
        delivers itself (`ask_quote`)."""
        import trio

        self._arrived.append(quote)
        if self._waiter is not None and len(self._arrived) >= self._wanted:
            trio.lowlevel.reschedule(self._waiter)
            self._waiter = None

    def __aiter__(self) -> Quotes:
        return self

    async def __anext__(self) -> Quote:
        if not self._ready:
            await self._wait(1)
            if not self._ready:
                raise StopAsyncIteration
        quote = self._ready.pop()
        self._saw(quote.arrived_after_s)
        return quote

    async def collect(self, k: int | None = None, *, within_s: float | None = None) -> list[Quote]:
        """The next `k` quotes in order of arrival (all the rest when None); fewer if the
        timeout comes first (a venue that never answers is waited for until then), or if
        `within_s` (seconds after the request) comes first; a quote arriving exactly then
        counts."""
        if k is None:
            k = len(self._ready) + self._expected - self._taken
        until_s = self._timeout_s if within_s is None else min(self._timeout_s, within_s)
        while len(self._ready) < k and self._taken < self._expected and not self._timed_out:
            if not await self._wait(k - len(self._ready), until_s):
                break
        taken = [self._ready.pop() for _ in range(min(k, len(self._ready)))]
        if taken:
            self._saw(taken[-1].arrived_after_s)
        return taken

    async def _wait(self, wanted: int, until_s: float | None = None) -> bool:
        """Take delivered quotes into `_ready`, first waiting until `wanted` have been
        delivered, every venue has answered, or `until_s` after the request (default: the
        timeout). False when that time has passed."""
        import trio

        until_s = self._timeout_s if until_s is None else until_s
        until = self._deadline if until_s == self._timeout_s else self._request.t0 + until_s
        wanted = min(wanted, self._expected - self._taken)
        now = trio.current_time()
        if not self._timed_out and now >= self._deadline:
            self._timed_out = True  # a slow consumer came back after the deadline
        passed = now >= until
        # Even when `until` is now or past, wait on the timer: venues due at that instant are
        # woken with it (a deadline of 0 still sees the venues that answer at once).
        if len(self._arrived) < wanted and not self._timed_out:
            self._wanted = wanted
            with trio.move_on_at(until) as timer:
                self._waiter = trio.lowlevel.current_task()
                await trio.lowlevel.wait_task_rescheduled(self._abort)
            if timer.cancelled_caught:
                # Venues answering exactly at the deadline were woken with us: let them deliver.
                passed = True
                self._timed_out = until_s >= self._timeout_s
                await trio.lowlevel.cancel_shielded_checkpoint()
        self._take(until_s if passed else None)
        return not passed

    def _abort(self, raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        import trio

        self._waiter = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _take(self, woke_after_s: float | None) -> None:
        """Move delivered quotes to `_ready`; `woke_after_s`: the deadline that woke us, if one
        did (seconds after the request). A quote delivered in the same clock instant but
        arriving (exactly) after that deadline stays for later: after the timeout it never
        counts."""
        batch, self._arrived = self._arrived, []
        if woke_after_s is not None or self._timed_out:
            until = self._timeout_s if self._timed_out else woke_after_s
            late = [q for q in batch if q.arrived_after_s > until]
            batch = [q for q in batch if q.arrived_after_s <= until]
            if not self._timed_out:
                self._arrived = late
        self._taken += len(batch)
        self._ready += batch
        self._ready.sort(key=_arrival_order, reverse=True)
        if self._timed_out:
            self._saw(self._timeout_s)
        elif woke_after_s is not None:
            self._saw(woke_after_s)

    def _saw(self, elapsed_s: float) -> None:
        """The gather's latest event: a quote handed to the strategy (its exact arrival), or
        the deadline or timeout that woke it; the engine records decisions from it."""
        self._elapsed_s = max(self._elapsed_s, elapsed_s)
        event = last_event.get()
        if event is not None:
            event.elapsed_s = self._elapsed_s


def _arrival_order(quote: Quote) -> tuple[float, int]:
    return quote.sent_after_s + quote.latency_s, quote.venue  # arrived_after_s, inlined


class Scatter:
    """Async context manager returned by `scatter`."""

    __slots__ = ("_nursery", "_nursery_manager", "_quotes", "_request", "_timeout_s", "_venues")

    def __init__(
        self, request: QuoteRequest, venues: Sequence[QuoteSource], timeout_s: float
    ) -> None:
        self._request = request
        self._venues = venues
        self._timeout_s = timeout_s

    async def __aenter__(self) -> Quotes:
        import trio

        self._nursery_manager = trio.open_nursery()
        nursery = await self._nursery_manager.__aenter__()
        self._nursery = nursery
        quotes = self._quotes = Quotes(nursery, self._request, self._timeout_s)
        try:
            for venue in self._venues:
                quotes._start(venue, self._request)  # sent at t0 exactly
        except BaseException as error:  # a source's ask_quote: the nursery is closed all the same
            await self.__aexit__(type(error), error, error.__traceback__)
            raise
        return quotes

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        for pending in self._quotes._pending:
            pending.cancel()
        self._nursery.cancel_scope.cancel()
        try:
            return await self._nursery_manager.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            # The block's own exception comes out as itself, not wrapped by the nursery.
            if exc is not None and group.exceptions == (exc,):
                context, cause = exc.__context__, exc.__cause__
                suppress = exc.__suppress_context__
                try:
                    raise exc
                finally:
                    exc.__context__, exc.__cause__ = context, cause
                    exc.__suppress_context__ = suppress
            raise


async def _ask(venue: QuoteSource, request: QuoteRequest, quotes: Quotes) -> None:
    quotes.deliver(await venue.quote(request))


def scatter(request: QuoteRequest, venues: Sequence[QuoteSource], *, timeout_s: float) -> Scatter:
    """Send `request` to every venue in `venues` at once; gather in the `async with` block."""
    return Scatter(request, venues, timeout_s)
