"""The client side of network mode: connections to venue servers, raced like simulated venues.

A `VenueConnection` is a QuoteSource (strategies.scatter) and takes orders as a simulated
Venue does, so the strategies and the engine run unchanged over real sockets. Its quote's
latency is what the client measured, from sending the request to reading the quote, and an
order's round trip likewise: the network, the server's timers and this event loop are all in
them. A strategy that stops waiting for a quote sends a QuoteCancel (once its race has
decided, not on the way), which a venue with `cancel_propagation` acts on.

The session itself (Logon, heartbeats, timeouts, sequence numbers, Logout) is
venues.fix.session's, as for the venue server. Each connection is a new session: its Logon
carries ResetSeqNumFlag (141=Y), so a venue that keeps sequence numbers across connections
(a standard engine) starts again at 1. It asks for quoterace's own tags (Username 553) only of
an `Address` with `extras` (venues the run started, or flagged so), and uses them only if the
venue agrees; everything else is standard FIX 4.4: a venue's own QuoteIDs are sent back in its
orders, a standard ExecutionReport reject is a reject (venues.fix.codec maps its reason), and a
session-level Reject (35=3) from the venue is recorded (`rejects`), not a failure.

A venue that refuses the connection, resets it, sends what is not FIX, logs out, falls silent
(nothing, not even a Heartbeat, for SILENT_AFTER_S) or stops reading (a send stalled
SEND_TIMEOUT_S) is a failed venue: `failure` says why (for a Logout, its text). Its quotes
never come, so each race goes on with the other venues until its timeout; an order sent to it,
or waiting on it when it failed, is reported "venue_failed" at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from venues.fix import (
    MAX_MESSAGE_BYTES,
    FixError,
    Link,
    Logon,
    Message,
    NewOrderSingle,
    OrderPending,
    OrderReport,
    QuoteCancel,
    QuoteReply,
    QuoteRequestReject,
    Session,
    SessionLimits,
)
from venues.messages import ExecutionReport, Quote, QuoteRequest

SENDER = "QUOTERACE"
HEARTBEAT_S = 1  # asked of the venue at Logon (whole seconds): it speaks at least this often
SILENT_AFTER_S = 5.0  # nothing heard for this long: the venue has failed
CONNECT_TIMEOUT_S = 5.0  # to connect, and then to hear the venue's Logon
ORDER_TIMEOUT_S = 60.0  # for an order's report: a venue that takes longer has failed
SEND_TIMEOUT_S = 5.0  # one send stalled this long: the venue has failed (it is not reading)
OUTBOX = 4096  # messages queued to send; more and the venue is failed (it is not reading)
LINGER_S = 1.0  # after the session, to send what is queued and hear the venue's Logout
MAX_QUOTE_IDS = 4096  # a venue's own QuoteIDs held for orders, the oldest forgotten first


@dataclass(frozen=True)
class Address:
    """Where venue `name` is served, and the session's CompIDs: the venue's `target` (default:
    its name, as `quoterace venue` uses) and ours, `sender`. `extras`: ask the venue for
    quoterace's own tags at Logon (only a quoterace venue should be asked: a standard engine
    may refuse the Username)."""

    name: str
    host: str
    port: int
    target: str | None = None
    sender: str = SENDER
    extras: bool = False

    def __post_init__(self) -> None:
        for comp_id in (self.sender, self.target):  # ValueError now, not once connected
            if comp_id is not None:
                Session(comp_id)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class VenueConnection:
    """One logged-on FIX session with venue `index` at `address`.

    `requests` counts the quote requests sent, `failure` is why the venue failed (None while
    it works). `servers` is None: a remote venue's queue is its own business.
    """

    servers = None

    def __init__(self, index: int, address: Address, cancels: Cancels | None = None) -> None:
        self.index = index
        self._cancels = cancels
        self.name = address.name
        self.address = address
        self.requests = 0
        self.failure: str | None = None
        self._link: Link | None = None
        self._quotes: dict[tuple[int, int], PendingQuote] = {}  # sent, not yet answered
        self._orders: dict[str, _Reply] = {}
        self._order_ids = itertools.count(1)
        # (request, attempt) -> the venue's own QuoteID, when it is not "request:attempt"
        self._quote_ids: OrderedDict[tuple[int, int], str] = OrderedDict()
        self._closed = False

    async def open(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, log on and serve the session until `close` or a failure; started (for
        `nursery.start`) once logged on or failed."""
        stream = None
        with trio.move_on_after(CONNECT_TIMEOUT_S) as connecting:
            try:
                stream = await trio.open_tcp_stream(self.address.host, self.address.port)
            except OSError as e:
                self._fail(f"cannot connect to {self.address}: {e.strerror or e}")
        if connecting.cancelled_caught:
            self._fail(f"cannot connect to {self.address}: no answer in {CONNECT_TIMEOUT_S:g} s")
        if stream is None:
            task_status.started()
            return
        async with stream:
            await self.serve(stream, task_status=task_status)

    async def serve(
        self,
        stream: trio.abc.Stream,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Log on and serve the session on `stream` (connected to the venue) until `close` or
        a failure; started once logged on or failed."""
        limits = SessionLimits(
            MAX_MESSAGE_BYTES, CONNECT_TIMEOUT_S, SILENT_AFTER_S, SEND_TIMEOUT_S, OUTBOX, LINGER_S
        )
        address = self.address
        session = Session(address.sender, address.target or self.name)
        self._link = Link(
            stream, session, limits, self._dispatch, ended=self._ended, peer="the venue"
        )
        logon = Logon(HEARTBEAT_S, reset=True, extras=address.extras)
        await self._link.run(logon, task_status=task_status)

    @property
    def rejects(self) -> list[str]:
        """The venue's session-level Rejects (35=3), as text: the first ones kept, then how
        many more."""
        if self._link is None:
            return []
        more = self._link.reject_count - len(self._link.rejects)
        return [*self._link.rejects, *([f"... and {more} more"] if more else [])]

    def close(self) -> None:
        """End the session: a Logout, then the connection closes."""
        self._closed = True
        if self._link is not None:
            self._link.logout()

    def ask_quote(self, request: QuoteRequest, deliver: Callable[[Quote], None]) -> PendingQuote:
        """Send `request`; `deliver` gets its quote as it is read, in the session's reader task
        (never, if the venue refuses it, gives a quote no order can take, or fails). No task
        waits for it: a race gathering quotes (strategies.scatter) is handed each one directly,
        instead of a task per venue woken to hand it on and cancelled when the race moves on.
        `PendingQuote.cancel` stops waiting, and tells the venue so."""
        self.requests += 1
        pending = PendingQuote(self, request, deliver)
        if self.failure is not None:
            pending.done = True  # never answers
            return pending
        self._quotes[pending.key] = pending
        pending.sent = trio.current_time()  # before: a local venue counts from the SendingTime
        self._send(request)
        return pending

    async def quote(self, request: QuoteRequest) -> Quote:
        """Ask for a quote; wait for it (never, if the venue refuses or fails). Cancelled,
        tell the venue so."""
        reply = _Reply()
        pending = self.ask_quote(request, reply.set)
        try:
            quote = await reply.wait()
        except trio.Cancelled:
            pending.cancel()
            raise
        return quote

    async def order(
        self, quote: Quote, request: QuoteRequest, decided_after_s: float
    ) -> ExecutionReport:
        """Send an order for `quote` (the whole of `request.size`); its report, with the round
        trip as measured here."""
        if self.failure is not None:
            return ExecutionReport(request.index, self.index, quote.price, "venue_failed", 0.0)
        cl_ord_id = str(next(self._order_ids))
        reply = self._orders[cl_ord_id] = _Reply()
        quote_id = self._quote_ids.pop((request.index, request.attempt), None)
        order = NewOrderSingle(
            cl_ord_id,
            request.index,
            request.attempt,
            request.side,
            request.size,
            quote.price,
            quote_id,
        )
        sent = trio.current_time()
        self._send(order)
        try:
            with trio.move_on_after(ORDER_TIMEOUT_S) as late:
                answer = await reply.wait()
        finally:
            del self._orders[cl_ord_id]
        if late.cancelled_caught:
            self._fail(f"no report for an order in {ORDER_TIMEOUT_S:g} s")
            answer = None
        reason = answer.report.reason if isinstance(answer, OrderReport) else "venue_failed"
        return ExecutionReport(
            request.index, self.index, quote.price, reason, trio.current_time() - sent
        )

    def _cancel_soon(self, key: tuple[int, int]) -> None:
        """Send a QuoteCancel for `key` once the race that gave the request up has moved on:
        through the run's Cancels (`connected`'s), else this session's own."""
        link = self._link
        if link is None or link.tasks is None or link.reason is not None:
            return
        if self._cancels is None:
            self._cancels = Cancels(link.tasks)
        with contextlib.suppress(RuntimeError):  # its tasks have ended: so has the session
            self._cancels.add(self, key)

    def _send(self, message: Message) -> None:
        if self._link is not None:
            self._link.send(message)

    def _dispatch(self, message: Message) -> None:
        """Hand the venue's `message` to whoever waits for it (the session's own messages are
        the Link's)."""
        match message:
            case QuoteReply(quote=quote, quote_id=quote_id):
                key = (quote.request, message.attempt)
                pending = self._quotes.pop(key, None)
                if pending is not None:
                    if quote_id is not None:  # the venue's own: kept for an order
                        self._quote_ids[key] = quote_id
                        if len(self._quote_ids) > MAX_QUOTE_IDS:
                            self._quote_ids.popitem(last=False)
                    pending.answer(message)
                return
            case QuoteRequestReject(request=request, attempt=attempt):
                pending = self._quotes.pop((request, attempt), None)
                if pending is not None:  # refused: no quote from this venue
                    pending.done = True
                return
            case OrderReport(cl_ord_id=cl_ord_id):
                reply = self._orders.get(cl_ord_id)
            case OrderPending() | QuoteCancel():
                # an order acknowledged, not ended: wait on for its report; a quote withdrawn:
                # an order for it is the venue's to reject
                reply = None
            case _:
                raise FixError(f"{type(message).__name__} is not a message from a venue")
        if reply is not None:  # else: an answer to something given up on
            reply.set(message)

    def _fail(self, why: str) -> None:
        """The venue has failed: end the session for `why`."""
        if self._link is None:
            self._ended(why)
        else:
            self._link.end(why)  # which calls _ended

    def _ended(self, why: str) -> None:
        """The session ended: unless this end closed it, the venue has failed; say why, and
        answer everyone waiting with nothing."""
        if self.failure is None and not self._closed:
            self.failure = why
        for pending in self._quotes.values():
            pending.done = True  # never answered
        self._quotes.clear()
        for reply in self._orders.values():
            reply.set(None)


def _on_side(reply: QuoteReply, side: int) -> QuoteReply:
    """`reply` as a quote on `side`: a two-sided quote gives its bid to a sell, its offer to a
    buy."""
    if reply.two_sided is None:
        return reply
    price, size = reply.two_sided[side == 1]
    quote = reply.quote._replace(price=price, size=size)
    return dataclasses.replace(reply, side=side, quote=quote, two_sided=None)


def _answers(reply: QuoteReply, request: QuoteRequest) -> bool:
    """Whether `reply` is a quote a client can act on for `request`: its side, a price and
    something to trade."""
    quote = reply.quote
    priced = quote.price is not None and math.isfinite(quote.price)
    return reply.side == request.side and priced and quote.size > 0


class PendingQuote:
    """One quote request sent on a connection, until answered or given up: `done` once it
    can deliver nothing more."""

    __slots__ = ("_connection", "_deliver", "done", "key", "request", "sent")

    def __init__(
        self,
        connection: VenueConnection,
        request: QuoteRequest,
        deliver: Callable[[Quote], None],
    ) -> None:
        self._connection = connection
        self._deliver = deliver
        self.request = request
        self.key = (request.index, request.attempt)
        self.sent = 0.0  # when it was sent, in trio time
        self.done = False

    def answer(self, reply: QuoteReply) -> None:
        """The venue's `reply`: delivered, with the latency measured here, if an order can
        take it (its side, a price and something to trade); else no quote from this venue."""
        self.done = True
        connection, request = self._connection, self.request
        reply = _on_side(reply, request.side)
        if connection.failure is None and _answers(reply, request):
            measured = trio.current_time() - self.sent
            self._deliver(
                reply.quote._replace(
                    venue=connection.index, latency_s=measured, sent_after_s=request.sent_after_s
                )
            )

    def cancel(self) -> None:
        """Stop waiting; the venue hears a QuoteCancel once the race has moved on."""
        if not self.done:
            self.done = True
            connection = self._connection
            del connection._quotes[self.key]
            if connection.failure is None:
                connection._cancel_soon(self.key)


class Cancels:
    """The QuoteCancels of a run's races, gathered across its connections and sent by one
    task once the race that gave their requests up has moved on, so that its decision (and
    its order) come first. Sent at once, a race to five venues won would make four sends
    before it resumed (measured: 0.1 ms more from the first quote to the decision at p50, 0.3
    ms at p90); a task each to send them later costs a task's spawn per venue given up."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._due: list[tuple[VenueConnection, tuple[int, int]]] = []

    def add(self, connection: VenueConnection, key: tuple[int, int]) -> None:
        if not self._due:
            self._nursery.start_soon(self._send)
        self._due.append((connection, key))

    async def _send(self) -> None:
        await trio.lowlevel.checkpoint()  # the race resumes meanwhile
        due, self._due = self._due, []
        for connection, key in due:
            connection._send(QuoteCancel(*key))


class _Reply:
    """One answer awaited: set once, waited for once (by one task). The waiting task is
    parked and rescheduled directly: a trio.Event (its parking lot) costs several times more,
    for each request of each race."""

    __slots__ = ("_task", "done", "value")

    def __init__(self) -> None:
        self._task: trio.lowlevel.Task | None = None
        self.done = False
        self.value: Message | None = None

    def set(self, value: Message | None) -> None:
        if not self.done:
            self.done, self.value = True, value
            if self._task is not None:
                trio.lowlevel.reschedule(self._task)
                self._task = None

    async def wait(self) -> Message | None:
        if self.done:
            await trio.lowlevel.checkpoint()
        else:
            self._task = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort)
        return self.value

    def _abort(self, _: object) -> trio.lowlevel.Abort:
        self._task = None  # cancelled: `set` has no one to wake
        return trio.lowlevel.Abort.SUCCEEDED


@asynccontextmanager
async def connected(addresses: Sequence[Address]) -> AsyncIterator[list[VenueConnection]]:
    """Connections to every venue of `addresses` (venue i at addresses[i]), opened at once;
    one that cannot be reached is failed from the start. Closed on leaving."""
    async with trio.open_nursery() as sessions:
        cancels = Cancels(sessions)
        connections = [VenueConnection(i, a, cancels) for i, a in enumerate(addresses)]
        async with trio.open_nursery() as opening:
            for connection in connections:
                opening.start_soon(sessions.start, connection.open)
        try:
            yield connections
        finally:
            for connection in connections:
                connection.close()
