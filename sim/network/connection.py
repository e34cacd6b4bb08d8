"""The client side of network mode: connections to venue servers, raced like simulated venues.

A `VenueConnection` is a QuoteSource (strategies.scatter) and takes orders as a simulated
Venue does, so the strategies and the engine run unchanged over real sockets. Its quote's
latency is what the client measured, from sending the request to reading the quote, and an
order's round trip likewise: the network, the server's timers and this event loop are all in
them. A strategy that stops waiting for a quote sends a QuoteCancel, which a venue with
`cancel_propagation` acts on.

A venue that refuses the connection, resets it, sends what is not FIX, logs out or falls
silent (nothing, not even a Heartbeat, for `silent_after_s`) is a failed venue: `failure` says
why. Its quotes never come, so each race goes on with the other venues until its timeout; an
order sent to it, or waiting on it when it failed, is reported "venue_failed" at once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from venues.fix import (
    FixError,
    FixReader,
    Heartbeat,
    Logon,
    Logout,
    Message,
    NewOrderSingle,
    OrderReport,
    QuoteCancel,
    QuoteReply,
    QuoteRequestReject,
    Session,
    TestRequest,
    decode,
    encode,
)
from venues.messages import ExecutionReport, Quote, QuoteRequest

SENDER = "QUOTERACE"
HEARTBEAT_S = 1  # asked of the venue at Logon (whole seconds): it speaks at least this often
SILENT_AFTER_S = 5.0  # nothing heard for this long: the venue has failed
CONNECT_TIMEOUT_S = 5.0  # to connect, and then to hear the venue's Logon
ORDER_TIMEOUT_S = 60.0  # for an order's report: a venue that takes longer has failed
OUTBOX = 4096  # messages queued to send; more and the venue is failed (it is not reading)
LINGER_S = 1.0  # after the session, to send what is queued and hear the venue's Logout


@dataclass(frozen=True)
class Address:
    """Where venue `name` is served."""

    name: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class VenueConnection:
    """One logged-on FIX session with venue `index` at `address`.

    `requests` counts the quote requests sent, `failure` is why the venue failed (None while
    it works). `servers` is None: a remote venue's queue is its own business.
    """

    servers = None

    def __init__(self, index: int, address: Address) -> None:
        self.index = index
        self.name = address.name
        self.address = address
        self.requests = 0
        self.failure: str | None = None
        self._session = Session(SENDER, address.name)  # a server's CompID is its venue's name
        self._outbox, self._outgoing = trio.open_memory_channel[bytes](OUTBOX)
        self._stream: trio.SocketStream | None = None
        self._quotes: dict[tuple[int, int], _Reply] = {}
        self._orders: dict[str, _Reply] = {}
        self._order_ids = itertools.count(1)
        self._closed = trio.Event()

    async def open(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, log on and serve the session until `close` or a failure; started (for
        `nursery.start`) once logged on or failed."""
        with trio.move_on_after(CONNECT_TIMEOUT_S) as connecting:
            try:
                self._stream = await trio.open_tcp_stream(self.address.host, self.address.port)
            except OSError as e:
                self._fail(f"cannot connect to {self.address}: {e.strerror or e}")
        if connecting.cancelled_caught:
            self._fail(f"cannot connect to {self.address}: no answer in {CONNECT_TIMEOUT_S:g} s")
        if self._stream is None:
            task_status.started()
            return
        async with self._stream, trio.open_nursery() as nursery:
            nursery.start_soon(self._write)
            self._send(Logon(HEARTBEAT_S))
            await nursery.start(self._read)
            task_status.started()
            await self._closed.wait()
            self._outbox.close()  # the writer sends what is queued (a Logout), then ends
            nursery.cancel_scope.deadline = trio.current_time() + LINGER_S

    def close(self) -> None:
        """End the session: a Logout, then the connection closes."""
        self._send(Logout(None))
        self._closed.set()

    async def quote(self, request: QuoteRequest) -> Quote:
        """Ask for a quote; wait for it (never, if the venue refuses or fails). Cancelled,
        tell the venue so."""
        self.requests += 1
        if self.failure is not None:
            await trio.sleep_forever()
        key = (request.index, request.attempt)
        reply = self._quotes[key] = _Reply()
        self._send(request)
        sent = trio.current_time()
        try:
            answer = await reply.wait()
        except trio.Cancelled:
            if self.failure is None and not reply.done:
                self._send(QuoteCancel(*key))
            raise
        finally:
            del self._quotes[key]
        if isinstance(answer, QuoteReply) and not _answers(answer, request):
            self._fail(f"protocol error: a quote that does not answer its request: {answer}")
        if not isinstance(answer, QuoteReply) or self.failure is not None:
            await trio.sleep_forever()  # refused (QuoteRequestReject) or the venue failed
        measured = trio.current_time() - sent
        return answer.quote._replace(
            venue=self.index, latency_s=measured, sent_after_s=request.sent_after_s
        )

    async def order(
        self, quote: Quote, request: QuoteRequest, decided_after_s: float
    ) -> ExecutionReport:
        """Send an order for `quote` (the whole of `request.size`); its report, with the round
        trip as measured here."""
        if self.failure is not None:
            return ExecutionReport(request.index, self.index, quote.price, "venue_failed", 0.0)
        cl_ord_id = str(next(self._order_ids))
        reply = self._orders[cl_ord_id] = _Reply()
        order = NewOrderSingle(
            cl_ord_id, request.index, request.attempt, request.side, request.size, quote.price
        )
        self._send(order)
        sent = trio.current_time()
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

    def _send(self, message: Message) -> None:
        if self.failure is not None or self._closed.is_set():
            return
        try:
            self._outbox.send_nowait(self._session.encode(encode(message)))
        except trio.WouldBlock:
            self._fail(f"not reading: {OUTBOX} messages waiting to be sent")

    async def _write(self) -> None:
        """Send what is queued, in order, and a Heartbeat after HEARTBEAT_S of quiet, until
        the outbox is closed."""
        try:
            while True:
                with trio.move_on_after(HEARTBEAT_S) as quiet:
                    data = await self._outgoing.receive()
                if quiet.cancelled_caught:
                    self._send(Heartbeat(None))
                    continue
                await self._stream.send_all(data)
        except trio.EndOfChannel:
            pass
        except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
            self._fail(f"connection lost: {e or 'reset'}")

    async def _read(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read and dispatch until the session ends; started once the venue's Logon came (or
        the venue failed first, or CONNECT_TIMEOUT_S passed without a whole Logon)."""
        reader = FixReader()
        logged_on = False
        logon_by = trio.current_time() + CONNECT_TIMEOUT_S
        try:
            while not self._closed.is_set():
                until = trio.current_time() + SILENT_AFTER_S if logged_on else logon_by
                data = b""
                with trio.move_on_at(until) as quiet:
                    data = await self._stream.receive_some(reader.max_size)
                if quiet.cancelled_caught:
                    self._fail(
                        f"silent for {SILENT_AFTER_S:g} s" if logged_on else "no Logon reply"
                    )
                elif not data:
                    reader.close()
                    self._fail("the venue closed the connection")
                for fix in reader.feed(data):
                    self._session.check(fix)
                    message = decode(fix)
                    if logged_on:
                        self._dispatch(message)
                    elif isinstance(message, Logon):
                        logged_on = True
                        task_status.started()
                    else:
                        raise FixError("the venue's first message was not a Logon")
        except FixError as e:
            self._fail(f"protocol error: {e.reason}")
        except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
            self._fail(f"connection lost: {e or 'reset'}")
        if not logged_on:
            task_status.started()

    def _dispatch(self, message: Message) -> None:
        """Hand `message` to whoever waits for it."""
        match message:
            case QuoteReply(quote=quote):
                reply = self._quotes.get((quote.request, message.attempt))
            case QuoteRequestReject(request=request, attempt=attempt):
                reply = self._quotes.get((request, attempt))
            case OrderReport(cl_ord_id=cl_ord_id):
                reply = self._orders.get(cl_ord_id)
            case TestRequest(test_req_id=test):
                self._send(Heartbeat(test))
                return
            case Heartbeat():
                return
            case Logout(text=text):
                self._fail(f"the venue logged out{': ' + text if text else ''}")
                return
            case _:
                raise FixError(f"{type(message).__name__} is not a message from a venue")
        if reply is not None:  # else: an answer to something given up on
            reply.set(message)

    def _fail(self, why: str) -> None:
        """The venue has failed: say why, answer everyone waiting with nothing, close."""
        if self.failure is None and not self._closed.is_set():
            self.failure = why
        for reply in (*self._quotes.values(), *self._orders.values()):
            reply.set(None)
        self._closed.set()


def _answers(reply: QuoteReply, request: QuoteRequest) -> bool:
    """Whether `reply` is a quote a client can act on for `request`: its side, a price and
    something to trade."""
    quote = reply.quote
    priced = quote.price is not None and math.isfinite(quote.price)
    return reply.side == request.side and priced and quote.size > 0


class _Reply:
    """One answer awaited: set once, waited for once."""

    __slots__ = ("_event", "done", "value")

    def __init__(self) -> None:
        self._event = trio.Event()
        self.done = False
        self.value: Message | None = None

    def set(self, value: Message | None) -> None:
        if not self.done:
            self.done, self.value = True, value
            self._event.set()

    async def wait(self) -> Message | None:
        await self._event.wait()
        return self.value


@asynccontextmanager
async def connected(addresses: Sequence[Address]) -> AsyncIterator[list[VenueConnection]]:
    """Connections to every venue of `addresses` (venue i at addresses[i]), opened at once;
    one that cannot be reached is failed from the start. Closed on leaving."""
    connections = [VenueConnection(i, address) for i, address in enumerate(addresses)]
    async with trio.open_nursery() as sessions:
        async with trio.open_nursery() as opening:
            for connection in connections:
                opening.start_soon(sessions.start, connection.open)
        try:
            yield connections
        finally:
            for connection in connections:
                connection.close()
