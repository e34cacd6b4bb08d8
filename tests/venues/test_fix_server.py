"""The venue server (venues.fix.server) end to end: real trio sockets on 127.0.0.1, an ephemeral
port, the wall clock.

Latencies are a millisecond or two and timeouts a fraction of a second, so that the file runs
in a few seconds; each check is on values the draws fix exactly (sampled latencies, prices,
reasons), or on times with slack for a loaded machine in the direction that cannot pass by
accident (a quote never arrives before its latency; one that should be waiting 10 s arrives
within 1).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import socket
import time

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.fix_client import Client, connect
from tests.venues.test_fix import framed, messages
from venues.fix import (
    Heartbeat,
    Limits,
    Logon,
    Logout,
    NewOrderSingle,
    OrderReport,
    QuoteCancel,
    QuoteReply,
    QuoteRequestReject,
    Session,
    TestRequest,
    VenueServer,
    encode,
)
from venues.last_look import LastLook
from venues.latency import Constant
from venues.messages import QuoteRequest
from venues.venue import MAX_WALKS, ZERO_OUTBOUND_S, VenueDraws, VenueSpec

MS = 1e-3
LATENCY_S = 1 * MS
ORDER_LATENCY_S = 1 * MS
HOLD_S = 0.5 * MS
# Short send and linger timeouts keep the tests quick; the idle timeout is long enough that a
# busy machine's stalls never end a connection a test is still using (only the idle test's
# own server has a short one).
SHORT = Limits(idle_timeout_s=10.0, send_timeout_s=0.3, linger_s=0.3)


def grid(value, attempts: int = 2, requests: int = 4) -> list[list]:
    return [[value] * requests for _ in range(attempts)]


def make_server(
    mid=lambda t: 100.0,
    *,
    ttl_ms: float = 50.0,
    latency_s=None,
    order_latency_s=None,
    answers=None,
    service_s=None,
    capacity: int | None = None,
    network: str = "simulated",
    limits: Limits = SHORT,
    requests: int = 4,
) -> VenueServer:
    served = service_s is not None
    spec = VenueSpec(
        name="V0",
        latency=Constant(ms=1.0),
        spread_bps=2.0,
        quote_ttl_ms=ttl_ms,
        last_look=LastLook(hold_ms=HOLD_S / MS, tolerance_bps=0.5),
        service=Constant(ms=1.0) if served else None,
        capacity=capacity,
        cancel_propagation=served,
    )
    draws = VenueDraws(
        latency_s=latency_s or grid(LATENCY_S, requests=requests),
        answers=answers or grid(True, requests=requests),
        noise_bps=grid(0.0, requests=requests),
        order_latency_s=order_latency_s or grid(ORDER_LATENCY_S, requests=requests),
        service_s=service_s,
    )
    return VenueServer(spec, draws, mid, network=network, limits=limits)


@pytest.fixture
async def serve(nursery):
    """Start a server on an ephemeral loopback port; it stops with the test."""

    async def start(server: VenueServer) -> int:
        return await nursery.start(server.serve)

    return start


def request(index: int = 0, side: int = 1, size: float = 1.0, attempt: int = 0) -> QuoteRequest:
    # the client's t0 and send offset are its own: the server counts from the arrival
    return QuoteRequest(index, 1234.5, side, size, attempt, 99.0, 0.25)


async def quote(client: Client, index: int = 0, **kw) -> QuoteReply:
    await client.send(request(index, **kw))
    reply = await client.receive()
    assert isinstance(reply, QuoteReply), reply
    return reply


async def order(client: Client, reply: QuoteReply, size: float = 1.0) -> OrderReport:
    q = reply.quote
    await client.send(
        NewOrderSingle(f"o{q.request}", q.request, reply.attempt, reply.side, size, q.price)
    )
    report = await client.receive()
    assert isinstance(report, OrderReport), report
    return report


# --------------------------------------------------------------------------- the venue's answers


async def test_a_quote_and_a_filled_order_with_the_drawn_latencies(serve):
    port = await serve(make_server())
    client = await connect(port)
    sent = trio.current_time()
    reply = await quote(client, side=1)
    waited = trio.current_time() - sent
    q = reply.quote
    assert (reply.attempt, reply.side, q.request, q.venue) == (0, 1, 0, 0)
    assert q.latency_s == LATENCY_S  # the sampled value, exactly
    assert q.sent_after_s == 0.25  # the client's own offset, handed back
    assert q.price == pytest.approx(100.01, rel=1e-12)  # mid 100 + half of 2 bps
    assert q.size == 1.0
    assert q.expires_at - q.priced_at == pytest.approx(50 * MS, abs=1e-9)
    assert waited >= LATENCY_S

    sent = trio.current_time()
    report = await order(client, reply)
    assert trio.current_time() - sent >= ORDER_LATENCY_S + HOLD_S
    assert report.cl_ord_id == "o0"
    assert report.report.filled
    assert report.report.price == q.price
    assert report.report.round_trip_s == ORDER_LATENCY_S + HOLD_S


async def test_the_market_path_starts_when_the_server_does(serve):
    seen = []
    client = await connect(await serve(make_server(lambda t: seen.append(t) or 100.0)))
    await quote(client)
    assert 0.0 < seen[0] < 1.0  # whatever trio's clock reads: the default one is far from 0


async def test_a_sell_is_quoted_below_the_mid(serve):
    client = await connect(await serve(make_server()))
    reply = await quote(client, side=-1)
    assert reply.quote.price == pytest.approx(99.99, rel=1e-12)
    assert (await order(client, reply)).report.filled


async def test_last_look_rejects_when_the_mid_moves_against_the_venue(serve):
    # a market path: the venue reads it at the times it prices and checks, which are in the
    # past and the future of when the quote arrives
    moved_at = math.inf
    server = make_server(lambda t: 100.0 if t < moved_at else 100.01)
    client = await connect(await serve(server))
    reply = await quote(client)
    moved_at = trio.current_time() - server.epoch  # +1 bp against a buyer, past the tolerance
    report = await order(client, reply)
    assert report.report.reason == "price_moved"
    assert report.report.price == reply.quote.price


async def test_an_order_after_the_quote_expired_is_rejected(serve):
    client = await connect(await serve(make_server(ttl_ms=20.0)))
    reply = await quote(client)
    await trio.sleep(0.03)
    assert (await order(client, reply)).report.reason == "expired"


async def test_an_order_larger_than_the_quote_has_no_liquidity(serve):
    client = await connect(await serve(make_server()))
    reply = await quote(client, size=1.0)
    assert (await order(client, reply, size=2.0)).report.reason == "no_liquidity"


async def test_an_order_for_a_quote_never_given_is_expired_at_once(serve):
    client = await connect(await serve(make_server()))
    await client.send(NewOrderSingle("x", 3, 1, 1, 1.0, 100.0))
    report = await client.receive()
    assert isinstance(report, OrderReport)
    assert (report.report.request, report.attempt) == (3, 1)
    assert (report.report.reason, report.report.round_trip_s) == ("expired", 0.0)


async def test_requests_without_draws_or_already_in_flight_are_refused(serve):
    never = grid(True)
    never[0][1] = False  # request 1 is never answered: it stays in flight
    client = await connect(await serve(make_server(answers=never)))
    await client.send(request(4), request(0, attempt=2), request(1), request(1))
    replies = [await client.receive() for _ in range(3)]
    assert replies == [
        QuoteRequestReject(4, 0, "no such request: the venue has no draws for it", None, 1, 1.0),
        QuoteRequestReject(0, 2, "no such request: the venue has no draws for it", None, 1, 1.0),
        QuoteRequestReject(1, 0, "already in flight", None, 1, 1.0),
    ]


async def test_quote_cancel_frees_the_venues_only_server_for_the_next_request(serve):
    service = grid(1 * MS)
    service[0][0] = 10.0  # request 0 would hold the only server for 10 s
    server = make_server(service_s=service, capacity=1)
    client = await connect(await serve(server))
    await client.send(request(0))
    await trio.sleep(0.01)  # request 0 is in service
    sent = trio.current_time()
    await client.send(request(1), QuoteCancel(0, 0))
    reply = await client.receive(timeout_s=1.0)
    assert isinstance(reply, QuoteReply)
    assert reply.quote.request == 1  # and never a quote for request 0
    # request 1 starts when the cancel reaches the venue: both take the outbound half
    assert reply.quote.latency_s >= LATENCY_S + 1 * MS
    assert trio.current_time() - sent < 1.0
    assert server.venue.servers.busy_s < 1.0  # request 0 was dropped, not served


async def test_network_real_applies_only_the_venues_own_time(serve):
    client = await connect(await serve(make_server(latency_s=grid(0.2), network="real")))
    sent = trio.current_time()
    reply = await quote(client)
    assert trio.current_time() - sent < 0.1  # not the drawn 200 ms
    assert reply.quote.latency_s == 0.0  # no sleep at all: even 1 ns costs epoll a millisecond
    served = make_server(latency_s=grid(0.2), service_s=grid(1 * MS), network="real")
    client = await connect(await serve(served))
    reply = await quote(client)
    # with servers, a nanosecond of network, so that they need not settle an instant; 1 ms service
    assert reply.quote.latency_s == pytest.approx(ZERO_OUTBOUND_S + 1 * MS, abs=1e-12)


async def test_clients_share_the_venue(serve):
    server = make_server()
    port = await serve(server)
    a, b = await connect(port, sender="A"), await connect(port, sender="B")
    await a.send(request(0))
    await b.send(request(0))
    qa, qb = (await a.receive()).quote, (await b.receive()).quote
    assert (qa.latency_s, qa.price) == (qb.latency_s, qb.price)  # the same draws
    assert server.venue.requests == 2


async def test_a_client_asking_for_endless_sizes_does_not_grow_the_venue(serve):
    n = MAX_WALKS + 10
    server = make_server(latency_s=grid(0.0, requests=n), requests=n)
    client = await connect(await serve(server))
    for i in range(n):
        reply = await quote(client, i, size=1.0 + i)
        assert reply.quote.size == 1.0 + i  # walked, kept or not
    assert len(server.venue._walks) == MAX_WALKS


# --------------------------------------------------------------------------- from the SendingTime

SLOW_S = 0.3  # a latency long enough to tell counting from the SendingTime or the arrival
# How long before it is sent a message says it was: under MAX_TRANSIT_S (0.1 s) by as much as
# it is over the 10 ms the checks below leave, so that a server reading it late (a busy
# machine: two busy loops beside the tests delayed it past 20 ms in 1 run in 2) still trusts it
EARLY_S = 0.055


def stamped(data: bytes, sent: float, decimals: int = 6) -> bytes:
    """One message's `data` saying it was sent at Unix time `sent` (SendingTime, 52, with
    `decimals` digits of the second), framed again."""
    fraction = f"{sent % 1:.9f}"[2 : 2 + decimals]
    text = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(int(sent))) + "." + fraction
    fields = data[data.index(b"\x0135=") + 1 : data.rindex(b"10=")]
    fields, n = re.subn(rb"\x0152=[^\x01]*\x01", b"\x0152=%s\x01" % text.encode(), fields)
    assert n == 1
    return framed(fields)


async def answered_after(
    client: Client, message, early_s: float, decimals: int = 6
) -> tuple[float, object]:
    """How long the answer to `message` takes to come, sent saying it was `early_s` earlier
    (negative: later) than it is; and the answer."""
    start = trio.current_time()
    data = client.session.encode(encode(message, client.session.extras))
    await client.send_raw(stamped(data, time.time() - early_s, decimals))
    answer = await client.receive()
    return trio.current_time() - start, answer


@pytest.mark.parametrize("decimals", [6, 9])
async def test_a_loopback_clients_request_counts_from_its_sending_time(serve, decimals):
    client = await connect(await serve(make_server(latency_s=grid(SLOW_S))))
    waited, reply = await answered_after(client, request(0), EARLY_S, decimals)
    assert reply.quote.latency_s == SLOW_S
    # counted from the arrival, never before SLOW_S; from the SendingTime, SLOW_S - EARLY_S
    assert SLOW_S - EARLY_S - 0.005 <= waited < SLOW_S - 0.01


@pytest.mark.parametrize(
    ("early_s", "decimals"),
    [
        (EARLY_S, 3),  # milliseconds: too coarse to count a loopback's transit by
        (0.15, 6),  # older than MAX_TRANSIT_S
        (2.0, 6),  # older than any transit
        (-2.0, 6),  # from the future
    ],
)
async def test_a_sending_time_not_to_be_trusted_counts_from_the_arrival(serve, early_s, decimals):
    client = await connect(await serve(make_server(latency_s=grid(SLOW_S))))
    waited, reply = await answered_after(client, request(0), early_s, decimals)
    assert isinstance(reply, QuoteReply)
    assert SLOW_S <= waited < SLOW_S + 1.0  # and not 2 s later either


async def test_a_sending_time_from_a_peer_not_on_loopback_is_not_trusted():
    server = make_server(latency_s=grid(SLOW_S))
    ours, theirs = trio.testing.memory_stream_pair()  # no address: another host's, perhaps
    client = Client(theirs)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.handle, ours)
        await client.send(Logon(0, extras=True))
        await client.receive()
        client.session.extras = True
        waited, reply = await answered_after(client, request(0), EARLY_S)
        assert isinstance(reply, QuoteReply) and waited >= SLOW_S
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(("decimals", "trusted"), [(6, True), (3, False)])
async def test_a_loopback_clients_order_counts_from_its_sending_time(serve, decimals, trusted):
    server = make_server(latency_s=grid(0.0), order_latency_s=grid(SLOW_S), ttl_ms=5000.0)
    client = await connect(await serve(server))
    reply = await quote(client)
    await trio.sleep(EARLY_S + 0.05)  # the order says it was sent after the quote came
    q = reply.quote
    order = NewOrderSingle("o", q.request, reply.attempt, reply.side, 1.0, q.price)
    waited, report = await answered_after(client, order, EARLY_S, decimals)
    round_trip = SLOW_S + HOLD_S
    if trusted:
        assert round_trip - EARLY_S - 0.005 <= waited < round_trip - 0.01
    else:
        assert round_trip <= waited < round_trip + 1.0
    assert report.report.filled and report.report.round_trip_s == round_trip


async def test_a_quote_due_on_arrival_is_answered_at_once_and_takes_its_order(serve):
    """A request that took longer to come than its drawn latency (said so by its SendingTime)
    is answered in the turn that reads it, before a QuoteCancel read right behind it (a task
    would have been cancelled): the same quote as one waited for, and an order on it fills."""
    fast = make_server(latency_s=grid(0.02), ttl_ms=5000.0)
    waited_for = make_server(latency_s=grid(0.02), ttl_ms=5000.0)
    client, other = await connect(await serve(fast)), await connect(await serve(waited_for))
    asked = client.session.encode(encode(request(0), client.session.extras))
    cancel = client.session.encode(encode(QuoteCancel(0, 0), client.session.extras))
    start = trio.current_time()
    await client.send_raw(stamped(asked, time.time() - EARLY_S) + cancel)
    reply = await client.receive()
    assert isinstance(reply, QuoteReply)
    assert trio.current_time() - start < 0.02 - 0.005  # not the drawn 20 ms from arrival
    expected = await quote(other)
    when = {"priced_at": 0.0, "expires_at": 0.0}  # engine times: when each was priced
    assert reply.quote._replace(**when) == expected.quote._replace(**when)
    assert fast.venue.requests == 1
    q = reply.quote
    await client.send(NewOrderSingle("o", q.request, reply.attempt, reply.side, 1.0, q.price))
    report = await client.receive()
    assert isinstance(report, OrderReport) and report.report.filled


async def test_an_order_never_counts_from_before_its_quote_left(serve):
    """An order sent as its quote arrives, saying it was sent EARLY_S before: the venue counts
    from when the quote left, the earliest it can have been sent, so the report comes a whole
    round trip after that, not EARLY_S sooner."""
    server = make_server(latency_s=grid(0.0), order_latency_s=grid(SLOW_S), ttl_ms=5000.0)
    client = await connect(await serve(server))
    reply = await quote(client)
    q = reply.quote
    order = NewOrderSingle("o", q.request, reply.attempt, reply.side, 1.0, q.price)
    waited, report = await answered_after(client, order, EARLY_S)
    round_trip = SLOW_S + HOLD_S
    assert round_trip - 0.02 <= waited < round_trip + 1.0  # EARLY_S sooner without the floor
    assert report.report.filled


# --------------------------------------------------------------------------- the session


async def test_a_test_request_is_answered_and_a_logout_ends_the_session(serve):
    client = await connect(await serve(make_server()))
    await client.send(TestRequest("ping"))
    assert await client.receive() == Heartbeat("ping")
    await client.send(Logout())
    assert await client.until_closed() == [Logout()]


async def test_the_server_heartbeats_when_it_has_nothing_to_say(serve):
    client = await connect(await serve(make_server(limits=Limits())), logon=False)
    await client.send(Logon(1))
    assert await client.receive() == Logon(1)
    assert await client.receive(timeout_s=1.5) == Heartbeat()


async def test_anything_before_a_logon_closes_the_connection_without_a_word(serve):
    client = await connect(await serve(make_server()), logon=False)
    await client.send(request(0))
    assert await client.until_closed() == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\xffnot FIX at all", "garbage"),
        (b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01", "checksum mismatch"),
        (b"8=FIX.4.4\x019=99999\x01", "oversized"),
    ],
)
async def test_bad_bytes_cost_only_their_own_connection(serve, data, reason):
    port = await serve(make_server())
    bad, good = await connect(port, sender="BAD"), await connect(port, sender="GOOD")
    await good.send(request(0))  # in flight while the other connection fails
    await bad.send_raw(data)
    (logout,) = await bad.until_closed()
    assert reason in logout.text
    assert isinstance(await good.receive(), QuoteReply)
    assert isinstance(await quote(good, 1), QuoteReply)


async def test_protocol_errors_close_the_session_with_the_reason(serve):
    port = await serve(make_server())
    for send, reason in [
        (lambda c: c.send_raw(_unknown_type(c.session)), "unsupported MsgType"),
        (lambda c: c.send(QuoteRequestReject(0, 0, "no")), "not a message for a venue"),
        (lambda c: c.send(Logon(0)), "not a message for a venue"),
        (
            lambda c: c.send_raw(_repeating_a_number(c.session)),
            "MsgSeqNum too low, expecting 2 but received 1",
        ),
        (lambda c: c.send_raw(_unknown_type(c.session, b"\xff" * 1000)), "unsupported MsgType"),
    ]:
        client = await connect(port)
        await send(client)
        (logout,) = await client.until_closed()
        assert reason in logout.text


def _unknown_type(session: Session, kind: bytes = b"XX") -> bytes:
    fix = encode(Heartbeat())
    fix.message_type = kind
    return session.encode(fix)


def _repeating_a_number(session: Session) -> bytes:
    session.sent -= 1
    return session.encode(encode(Heartbeat()))


async def test_a_silent_peer_is_dropped_after_the_idle_timeout_and_only_it(serve):
    limits = Limits(idle_timeout_s=1.0, send_timeout_s=0.3, linger_s=0.3)
    port = await serve(make_server(limits=limits))
    silent, chatty = await connect(port, sender="SILENT"), await connect(port, sender="CHATTY")
    start = trio.current_time()
    with trio.move_on_after(1.5):
        while True:  # ten times as often as the idle timeout
            await chatty.send(Heartbeat())
            await trio.sleep(0.1)
    assert await silent.until_closed(timeout_s=5.0) == [Logout("idle for 1 s")]
    assert trio.current_time() - start >= 1.0
    assert isinstance(await quote(chatty), QuoteReply)


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (Limits(max_outbox=4), "4 messages queued"),
        (Limits(send_timeout_s=0.2), "a send stalled 0.2 s"),
    ],
)
async def test_a_peer_that_does_not_read_is_dropped(limits, reason, caplog):
    caplog.set_level(logging.INFO, "venues.fix.server")
    server = make_server(limits=limits)
    ours, theirs = trio.testing.lockstep_stream_pair()  # no buffers: unread means unsent
    client = Client(theirs)

    async def handle() -> None:
        async with ours:
            await server.handle(ours)

    with trio.fail_after(2):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(handle)
            with contextlib.suppress(trio.BrokenResourceError):
                await client.send(Logon(0))
                for n in range(10):  # answers the client never reads
                    await client.send(TestRequest(str(n)))
    assert f"connection closed: the peer is not reading: {reason}" in caplog.text


async def test_a_peer_that_reads_is_not_dropped_for_a_burst_of_requests(serve):
    # More requests at once than the outbox holds: their answers come faster than one per turn
    # of the event loop, but the peer reads them all, so none may count against it.
    burst = 1200
    port = await serve(make_server(requests=burst))
    client = await connect(port)
    await client.send_raw(b"".join(client.session.encode(encode(request(i))) for i in range(burst)))
    answers = [await client.receive(timeout_s=5.0) for _ in range(burst)]
    assert all(isinstance(a, QuoteReply | QuoteRequestReject) for a in answers), answers[-1]
    assert isinstance(await quote(client), QuoteReply)


small = st.integers(0, 2)  # 0 and 1 have draws: quotes and orders meet
client_messages = st.one_of(
    st.builds(QuoteRequest, small, st.just(0.0), st.sampled_from((1, -1)), attempt=small),
    st.builds(QuoteCancel, small, small),
    st.builds(NewOrderSingle, st.just("o"), small, small, st.sampled_from((1, -1)),
              st.sampled_from((1.0, 2.0)), st.sampled_from((100.01, 99.99))),
    st.sampled_from((0.002, 0.1)),  # a pause, letting quotes arrive before orders
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.lists(client_messages, max_size=16))
def test_whatever_a_client_asks_the_server_only_ever_ends_its_connection(sequence):
    converse(sequence)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(client_messages, messages, st.binary(max_size=40)), max_size=12))
def test_whatever_a_peer_sends_the_server_only_ever_ends_its_connection(sequence):
    converse(sequence)


def converse(sequence: list) -> None:
    """Send `sequence` (messages, bytes, pauses) after a Logon, in virtual time on memory
    streams: handle() must return (at the idle timeout at the latest), and the connection end
    for the peer's doing, not for an error in the server (which handle() logs and swallows)."""
    errors: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = errors.append
    logging.getLogger("venues.fix").addHandler(handler)
    try:
        _converse(sequence)
    finally:
        logging.getLogger("venues.fix").removeHandler(handler)
    assert [r.getMessage() for r in errors] == []


def _converse(sequence: list) -> None:

    async def main() -> None:
        server = make_server(limits=Limits(idle_timeout_s=1.0))
        ours, theirs = trio.testing.memory_stream_pair()
        client = Client(theirs)
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(server.handle, ours)
                await client.send(Logon(0))
                for item in sequence:
                    if isinstance(item, float):
                        await trio.sleep(item)
                    elif isinstance(item, bytes):
                        await client.send_raw(item)
                    else:
                        await client.send(item)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_more_connections_than_the_limit_are_closed_at_once(serve):
    port = await serve(make_server(limits=Limits(max_connections=1)))
    first = await connect(port)
    second = await connect(port, logon=False)
    assert await second.until_closed() == []
    assert isinstance(await quote(first), QuoteReply)


async def test_one_peer_cannot_take_every_connection(serve):
    port = await serve(make_server(limits=Limits(max_connections=8, max_connections_per_peer=2)))
    first, second = await connect(port), await connect(port, sender="B")
    third = await connect(port, sender="C", logon=False)
    assert await third.until_closed() == []
    await second.send(Logout())
    assert await second.until_closed() == [Logout()]
    fourth = await connect(port, sender="D")  # a place again
    assert isinstance(await quote(fourth), QuoteReply)
    assert isinstance(await quote(first), QuoteReply)


async def test_the_server_listens_on_loopback_only(serve):
    port = await serve(make_server())
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # UDP: picks the outward address, sends nothing
        address = probe.getsockname()[0]
    except OSError:
        pytest.skip("no outward IPv4 address")
    finally:
        probe.close()
    if address.startswith("127."):
        pytest.skip("no outward IPv4 address")
    with pytest.raises(OSError):
        await trio.open_tcp_stream(address, port)
    await connect(port)


def test_bad_settings_fail_when_the_server_is_made_not_when_a_client_connects():
    with pytest.raises(ValueError, match="idle_timeout_s"):
        Limits(idle_timeout_s=0)
    with pytest.raises(ValueError, match="too small"):
        Limits(max_message_bytes=20)
    with pytest.raises(ValueError, match="network"):
        make_server(network="lan")
    spec, draws = make_server().venue._spec, make_server().venue._draws
    with pytest.raises(ValueError, match="SenderCompID"):
        VenueServer(spec, draws, lambda t: 100.0, comp_id="caf\u00e9")
