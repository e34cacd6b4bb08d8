"""Serve one simulated venue as a FIX 4.4 server over TCP, with trio (network mode).

`VenueServer` answers each client's QuoteRequest with the venue's own `Venue.quote` (its drawn
latency, pricing, servers and capacity) and each NewOrderSingle with `Venue.order` (last look),
on the draws of that (attempt, request): a client sees exactly the venue the simulator would
show it. Clients share the venue: its servers, and so its queue and capacity, are one for all.

A standard client's QuoteRequest (any QuoteReqID, not quoterace's "index:attempt") is served
from the drawn requests in turn, per connection: its n-th (from 0) gets the draws of request
n mod `requests`, attempt 0, and its Quote's QuoteID names them ("n:0"), which its order then
quotes back. One for several instruments, without Side or OrderQty, or for a Side other than buy
or sell (standard FIX 4.4 all the same: a two-way RFQ, say), is refused with a
QuoteRequestReject saying so (ONE_SIDE) and takes no draws. Its QuoteCancel is matched by
QuoteReqID (131), else QuoteID (117); an unknown one is ignored. An order whose side, or price
(within the precision it was written to: see `_tolerance`), is not its quote's is rejected with
that reason (an ExecutionReport, 103=99), never a closed session; so is a standard order that is
none for a quote (another OrdType, no QuoteID, Price or OrderQty: NewOrderSingle.refused).

Which latency the server applies is its `network` parameter:

- "simulated" (the default): all of it. The server sleeps the drawn network latency (both
  legs), queue wait and service before it answers, and the order round trip and last-look hold
  before it reports. Clients on loopback (tens of microseconds) then see the scenario's latency
  distributions, plus the loopback's own time and the timer's overshoot (below), which they
  can measure against the sampled latency that each Quote carries.
- "real": only the venue's own part: queue wait, service and the last-look hold. The drawn
  network legs are dropped: zero, or for a venue with servers one nanosecond in all
  (venues.venue.ZERO_OUTBOUND_S, so that its servers need not settle events registered in
  their own instant, which the wall clock does not have; such a sleep costs epoll's whole
  millisecond). The real network between client and server is all the network there is.

Engine time at the server is its trio clock, and the venue reads the market as `mid(t - epoch)`,
`epoch` being the clock's reading when `serve` began: the market path starts with the server,
on any clock (trio's default one reads some arbitrary, large time).
A quote request counts from when the client sent it, by its SendingTime, when the client is on
loopback (so shares this host's clock) and writes microseconds (Link.sent_at): the request's
way in (the loopback, this process waking and reading it, other clients' requests read first)
is then part of its drawn latency, not added to it. From any other client it counts from when
it arrives (its t0 and send offset are its own clock's). An order likewise: judged and answered
from when it was sent, never before its quote left. A client is trusted that far, and no further
than session.MAX_TRANSIT_S back: a dishonest one could flatter its own figures and, at a venue
with servers, enter the shared queue up to that much early; loopback clients are the user's own.
The reply's Quote carries the client's send offset back, and priced_at and expires_at in the
server's engine time.

On the wall clock, trio's epoll backend rounds each timeout up to a whole millisecond, so a
sleep wakes ~0.1 to 1.2 ms late (measured on loopback here: median 1.1 ms for a 0.1 ms sleep).
Run the server under venues.wall_clock.WallClock (a timerfd where there is one, else "spin":
a core spinning through the last part of a millisecond before each deadline) to wake within
tens of microseconds.

A quote at a venue without servers is due at a time known as its request arrives: an alarm
(venues.fix.alarms), one task per connection for them all, answers it then. Through servers
the queue decides when: a task per request. A QuoteCancel stops that request's alarm or cancels
its task: the venue stops answering, and with servers and `cancel_propagation` it drops the
request (after the cancel's drawn outbound leg, in "simulated" mode), freeing its server.
An order's report is judged as it arrives and sent by an alarm a round trip later.

Orders are answered for quotes the server still holds (the last `Limits.max_quotes` per
connection); an order for a quote it never gave or has forgotten is rejected "expired", at
once: the venue no longer honours it.

Nothing a peer sends costs more than its own connection (nor does an error in the venue's
own code, which is logged). The session layer (venues.fix.session, under `Limits.session`)
reads with a bounded FixReader and closes the connection on a malformed message, a bad
checksum, an unknown or out-of-place message type, a MsgSeqNum too low (without PossDupFlag)
or a message before the Logon (with a Logout saying why, once logged on), on no whole Logon within
`Limits.logon_timeout_s` of connecting, on silence past `Limits.idle_timeout_s`, and on a peer
that stops reading (its outbox full, or a send stalled past `Limits.send_timeout_s`). Here,
more than `Limits.max_in_flight` orders at once close it too (quote requests beyond it are
refused with a QuoteRequestReject instead). A connection past `Limits.max_connections`, or past
`Limits.max_connections_per_peer` from one address, is closed as soon as it is accepted.
Servers bind 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import trio

from venues.fix.alarms import Alarm, Alarms
from venues.fix.errors import FixError
from venues.fix.messages import (
    Message,
    NewOrderSingle,
    OrderReport,
    QuoteAsk,
    QuoteCancel,
    QuoteReply,
    QuoteRequestReject,
)
from venues.fix.reader import MAX_MESSAGE_BYTES, FixReader
from venues.fix.session import Link, Session, SessionLimits
from venues.messages import ExecutionReport, Quote, QuoteRequest
from venues.venue import ZERO_OUTBOUND_S, Venue, VenueDraws, VenueSpec

NETWORKS = ("simulated", "real")
FORGET_EVERY_S = 60.0
# An order's price matches its quote's within this at least (see _tolerance): quotes go out
# exactly (repr), QuickFIX writes a double back with 15 significant digits.
# A standard QuoteRequest for several instruments, without Side or OrderQty, or for another
# Side (FIX 4.4 allows each): refused with this reason, since a venue here quotes one side of
# one instrument for a size
ONE_SIDE = "a quote needs one instrument (146=1), Side (54) 1 or 2 and OrderQty (38)"
PRICE_TOLERANCE = 1e-8
MIN_DECIMALS = 4  # the precision an order's price is taken to have at least (see _tolerance)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """What one connection may cost the server. Times in seconds."""

    max_message_bytes: int = MAX_MESSAGE_BYTES
    idle_timeout_s: float = 30.0  # nothing received for this long (heartbeats count): closed
    logon_timeout_s: float = 5.0  # from the connection to a whole Logon: else closed
    quote_life_s: float = 600.0  # a quote is honoured at most this long (the market before
    # it may be forgotten): an order for an older one is rejected "expired"
    send_timeout_s: float = 5.0  # one send stalled this long (the peer is not reading): closed
    max_outbox: int = 1024  # messages waiting to be sent; one more and the peer is dropped
    max_in_flight: int = 1024  # quote requests, and orders, being answered at once
    max_quotes: int = 4096  # quotes remembered for orders, the oldest forgotten first
    max_connections: int = 64  # more are closed as soon as they are accepted
    max_connections_per_peer: int = 16  # from one address: so that one peer cannot take all
    linger_s: float = 1.0  # to send what is queued and a Logout, once the connection ends

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if not getattr(self, field.name) > 0:
                raise ValueError(f"{field.name}: must be > 0")
        FixReader(self.max_message_bytes)  # ValueError now, not at each connection

    @property
    def session(self) -> SessionLimits:
        """The limits each connection's session layer keeps."""
        return SessionLimits(
            self.max_message_bytes,
            self.logon_timeout_s,
            self.idle_timeout_s,
            self.send_timeout_s,
            self.max_outbox,
            self.linger_s,
        )


class VenueServer:
    """Venue `index` of a scenario (`spec`, its `draws`, the market's `mid(t)`, and its
    `touch(t, side)` for a venue quoting the recorded spread) as a FIX server.

    `network` says which latency the server applies ("simulated" or "real": see the module
    docstring); `limits` bound what each connection may cost (default: Limits()). `comp_id` is
    its FIX CompID (default: the venue's name). `forget(t)`, if given, is told from time to
    time that no lookup will go before market time t (MidPath.forget_before). `venue` is the
    live Venue, whose counters and servers hold the run's statistics; `epoch`, the trio time
    at which the market path starts.
    """

    def __init__(
        self,
        spec: VenueSpec,
        draws: VenueDraws,
        mid: Callable[[float], float],
        *,
        index: int = 0,
        network: str = "simulated",
        limits: Limits | None = None,
        comp_id: str | None = None,
        forget: Callable[[float], None] | None = None,
        touch: Callable[[float, float], float] | None = None,
    ) -> None:
        if network not in NETWORKS:
            raise ValueError(f"network: {network!r} is not one of {NETWORKS}")
        if network == "real":
            draws = dataclasses.replace(
                draws,
                latency_s=_all(draws.latency_s, 0.0 if spec.service is None else ZERO_OUTBOUND_S),
                order_latency_s=_all(draws.order_latency_s, 0.0),
            )
        self.epoch = 0.0
        shifted = None if touch is None else lambda t, side: touch(t - self.epoch, side)
        self.venue = Venue(index, spec, draws, lambda t: mid(t - self.epoch), shifted)
        self.limits = limits or Limits()
        self.comp_id = comp_id or spec.name
        self._forget = forget
        Session(self.comp_id)  # ValueError now for a CompID FIX cannot carry
        self._attempts = len(draws.latency_s)
        self._requests = len(draws.latency_s[0]) if self._attempts else 0
        self._connections = 0
        self._peers: collections.Counter[str | None] = collections.Counter()
        self.exec_ids = itertools.count(1)  # ExecIDs, unique across the server's reports

    async def serve(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        epoch: float | None = None,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on `host`:`port` (0: any free port) and serve until cancelled;
        `task_status.started` gets the port bound, for `nursery.start`. The market path
        starts at engine time `epoch` (default: now), which clients share to agree on the
        mid."""
        self.epoch = trio.current_time() if epoch is None else epoch
        async with trio.open_nursery() as nursery:
            if self.venue.servers is not None:
                nursery.start_soon(self.venue.servers.run)
            if self._forget is not None:
                nursery.start_soon(self._forget_the_past)
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, self.handle, port, host=host)
            )
            task_status.started(listeners[0].socket.getsockname()[1])

    async def handle(self, stream: trio.abc.Stream) -> None:
        """Serve one client on `stream` until its session ends. Nothing the peer does makes
        this raise; the caller closes the stream."""
        peer = _peer(stream)
        if self._connections >= self.limits.max_connections or (
            peer is not None and self._peers[peer] >= self.limits.max_connections_per_peer
        ):
            log.info("%s: connection from %s refused: too many", self.comp_id, peer)
            return
        self._connections += 1
        self._peers[peer] += 1
        try:
            await _Connection(self, stream).run()
        except Exception as e:  # a bug or a limit in the venue's code: this connection only
            log.warning("%s: connection ended by an error: %r", self.comp_id, e)
        finally:
            self._connections -= 1
            self._peers[peer] -= 1

    async def _forget_the_past(self) -> None:
        """Every FORGET_EVERY_S, let the market forget what no quote still honoured can need,
        so that a server up for days holds minutes of market, not days."""
        while True:
            await trio.sleep(FORGET_EVERY_S)
            self._forget(trio.current_time() - self.epoch - self.limits.quote_life_s - 1.0)

    def knows(self, request: QuoteRequest) -> bool:
        """Whether the venue has draws for `request`'s (attempt, index)."""
        return 0 <= request.attempt < self._attempts and 0 <= request.index < self._requests

    def draws_for(self, asked: int) -> int:
        """The request index whose draws serve a standard client's `asked`-th QuoteRequest
        on its connection (counting from 0): the drawn requests in turn, over and over."""
        return asked % max(self._requests, 1)


class _Connection:
    """One client's session: a Link (venues.fix.session), alarms for the answers due at known
    times, and a task per quote through the venue's servers."""

    def __init__(self, server: VenueServer, stream: trio.abc.Stream) -> None:
        self.server = server
        self.venue = server.venue
        self.limits = server.limits
        self.link = Link(stream, Session(server.comp_id), self.limits.session, self._handle)
        self.alarms = Alarms(lambda run: self.link.tasks.start_soon(run))
        # (request, attempt) -> what gives its answer up: an alarm, or a task's cancel scope
        self.in_flight: dict[tuple[int, int], Alarm | trio.CancelScope] = {}
        self.orders = 0
        self.asked = 0  # standard QuoteRequests so far (QuoteAsk): the next one's draws
        self.ask_ids: dict[str, tuple[int, int]] = {}  # their QuoteReqIDs in flight
        # (request, attempt) -> the request as the venue saw it, its quote, and when it left
        self.quotes: OrderedDict[tuple[int, int], tuple[QuoteRequest, Quote, float]] = OrderedDict()

    async def run(self) -> None:
        """Serve the session until it ends."""
        await self.link.run()
        log.info("%s: connection closed: %s", self.server.comp_id, self.link.reason)

    def _handle(self, message: Message) -> None:
        """Act on one of the client's messages (the session's own are the Link's)."""
        match message:
            case QuoteRequest():
                self._quote_request(message)
            case QuoteAsk(quote_req_id=quote_req_id, side=0):
                self.link.send(QuoteRequestReject(0, 0, ONE_SIDE, quote_req_id, 0, None))
            case QuoteAsk(quote_req_id=quote_req_id, side=side, size=size):
                index = self.server.draws_for(self.asked)
                self.asked += 1
                self._quote_request(QuoteRequest(index, 0.0, side, size), quote_req_id)
            case QuoteCancel(request=request, attempt=attempt, quote_req_id=quote_req_id):
                key = self.ask_ids.get(quote_req_id, (request, attempt))
                waiting = self.in_flight.get(key)
                if isinstance(waiting, Alarm):  # a task's scope forgets it as the task ends
                    self._forget(key, self._asked_as(key, quote_req_id))
                if waiting is not None:  # else: answered already, or never asked
                    waiting.cancel()
            case NewOrderSingle():
                self._order(message)
            case _:
                raise FixError(f"{type(message).__name__} is not a message for a venue")

    def _quote_request(self, request: QuoteRequest, quote_req_id: str | None = None) -> None:
        """Quote `request` (a standard client's `quote_req_id`, if given) or refuse it."""
        key = (request.index, request.attempt)
        refusal = None
        if not self.server.knows(request):
            refusal = "no such request: the venue has no draws for it"
        elif key in self.in_flight:
            refusal = "already in flight"
        elif len(self.in_flight) >= self.limits.max_in_flight:
            refusal = f"too many requests in flight (limit {self.limits.max_in_flight})"
        elif quote_req_id in self.ask_ids:
            refusal = "QuoteReqID already in flight"
        if refusal is not None:
            self.link.send(
                QuoteRequestReject(*key, refusal, quote_req_id, request.side, request.size)
            )
            return
        # Sent when the client says, if on our clock (Link.sent_at), else when it arrived: now.
        sent = self.link.sent_at()
        asked = QuoteRequest(request.index, sent, request.side, request.size, key[1])
        due = self.venue.due_at(asked)
        if due is not None and due <= trio.current_time():  # answered in this turn
            self._answer(asked, self.venue.quote_now(asked), request.sent_after_s, quote_req_id)
            return
        if quote_req_id is not None:
            self.ask_ids[quote_req_id] = key
        if due is not None:  # a plain venue: an alarm, not a task (venues.fix.alarms)
            answer = functools.partial(self._due, asked, request.sent_after_s, quote_req_id)
            self.in_flight[key] = self.alarms.at(due, answer)
            return
        scope = self.in_flight[key] = trio.CancelScope()  # the queue decides: a task
        self.link.tasks.start_soon(self._quote, asked, request.sent_after_s, scope, quote_req_id)

    def _due(self, request: QuoteRequest, sent_after_s: float, quote_req_id: str | None) -> None:
        """An alarm set by `_quote_request`: `request`'s quote is due."""
        self._forget((request.index, request.attempt), quote_req_id)
        self._answer(request, self.venue.quote_now(request), sent_after_s, quote_req_id)

    def _asked_as(self, key: tuple[int, int], named: str | None) -> str | None:
        """The QuoteReqID `key` was asked with (a cancel may name it by `key` alone)."""
        if named is not None and self.ask_ids.get(named) == key:
            return named
        return next((i for i, k in self.ask_ids.items() if k == key), None)

    def _forget(self, key: tuple[int, int], quote_req_id: str | None) -> None:
        """`key` is no longer in flight."""
        del self.in_flight[key]
        self.ask_ids.pop(quote_req_id, None)

    async def _quote(
        self,
        request: QuoteRequest,
        sent_after_s: float,
        scope: trio.CancelScope,
        quote_req_id: str | None,
    ) -> None:
        key = (request.index, request.attempt)
        try:
            with scope:
                quote = await self.venue.quote(request)
        finally:
            self._forget(key, quote_req_id)
        if not scope.cancelled_caught:
            self._answer(request, quote, sent_after_s, quote_req_id)

    def _answer(
        self, request: QuoteRequest, quote: Quote, sent_after_s: float, quote_req_id: str | None
    ) -> None:
        """Send `quote` for `request`, and hold it for an order."""
        key = (request.index, request.attempt)
        self.quotes[key] = (request, quote, trio.current_time())
        self.quotes.move_to_end(key)
        if len(self.quotes) > self.limits.max_quotes:
            self.quotes.popitem(last=False)
        quote = quote._replace(sent_after_s=sent_after_s)
        self.link.send(QuoteReply(request.attempt, request.side, quote, quote_req_id))

    def _order(self, order: NewOrderSingle) -> None:
        """Judge an order for a quote held (each quote takes one order), or reject it at once:
        "expired" for a quote never given, already ordered, forgotten, or older than
        Limits.quote_life_s; a side or price not the quote's (within `_tolerance`) with
        that reason."""
        if order.refused is not None:  # standard, but no order for a quote
            self._reject(order, order.refused)
            return
        held = self.quotes.pop((order.request, order.attempt), None)
        if held is None or trio.current_time() - held[1].priced_at > self.limits.quote_life_s:
            self._reject(order, "expired")
            return
        request, quote, quoted = held
        if order.side != request.side:
            self._reject(order, "side does not match quote")
            return
        if not abs(order.price - quote.price) <= _tolerance(order.price_decimals):
            self._reject(order, "price does not match quote")
            return
        if self.orders >= self.limits.max_in_flight:
            raise FixError(f"too many orders in flight (limit {self.limits.max_in_flight})")
        sent = max(self.link.sent_at(), quoted)  # not before its quote left
        self.venue.used(request.attempt, request.index)
        self.orders += 1
        sized = dataclasses.replace(request, size=order.size)
        report = self.venue.judge(quote, sized, sent - request.t0)
        self.alarms.at(sent + report.round_trip_s, functools.partial(self._fill, order, report))

    def _fill(self, order: NewOrderSingle, report: ExecutionReport) -> None:
        """An alarm set by `_order`: its report is due."""
        self.orders -= 1
        self._report(order, report)

    def _reject(self, order: NewOrderSingle, reason: str) -> None:
        """Reject `order` at once for `reason` (its OrderID "NONE" if its QuoteID is none of
        the venue's)."""
        ours = order.request >= 0
        report = ExecutionReport(max(order.request, 0), self.venue.index, order.price, reason, 0.0)
        self._report(order, report, None if ours else "NONE")

    def _report(
        self, order: NewOrderSingle, report: ExecutionReport, order_id: str | None = None
    ) -> None:
        exec_id = str(next(self.server.exec_ids))
        self.link.send(
            OrderReport(
                order.cl_ord_id, order.attempt, order.side, order.size, report, exec_id, order_id
            )
        )


def _peer(stream: trio.abc.Stream) -> str | None:
    """The address a TCP stream comes from (None for other streams)."""
    try:
        return stream.socket.getpeername()[0]
    except (AttributeError, OSError):
        return None


def _all(latency_s: Sequence[Sequence[float]], value: float) -> list[list[float]]:
    """Latencies of the same shape, all `value`."""
    return [[value] * len(row) for row in latency_s]


def _tolerance(decimals: int | None) -> float:
    """How far an order's price may be from its quote's: half a unit in the last decimal the
    client wrote (its price rounded the quote's), at least PRICE_TOLERANCE. Fewer than
    MIN_DECIMALS count as MIN_DECIMALS: an engine drops trailing zeros (100.0000 goes out as
    "100"), so a short price says nothing of how it was rounded."""
    if decimals is None:
        return PRICE_TOLERANCE
    return max(PRICE_TOLERANCE, 0.5 * 10.0 ** -max(decimals, MIN_DECIMALS) * (1 + 1e-9))
