"""FIX 4.4's session layer (venues.fix.session), rule by rule, with hand-made frames: against
the venue server (the acceptor) on 127.0.0.1, and against quoterace's client (the initiator,
sim.network.connection) through a scripted venue on an in-memory stream.

Each test sends what a standard engine (QuickFIX) would and checks the answer on the wire:
the MsgSeqNum, PossDupFlag and GapFillFlag fields themselves, not only what decode keeps.
"""

from __future__ import annotations

import argparse
import math

import pytest
import trio
import trio.testing
from simplefix import FixMessage

from sim.cli.network import _address
from sim.network.connection import Address, VenueConnection
from tests.helpers.fix_client import Client, connect
from tests.venues.test_fix_server import grid, make_server, quote
from venues.fix import (
    FixReader,
    Heartbeat,
    Logon,
    Logout,
    NewOrderSingle,
    QuoteAsk,
    QuoteCancel,
    QuoteReply,
    Reject,
    ResendRequest,
    SequenceReset,
    Session,
    TestRequest,
    decode,
    encode,
)
from venues.messages import QuoteRequest


@pytest.fixture
async def serve(nursery):
    """Start a server on an ephemeral loopback port; it stops with the test."""

    async def start(server) -> int:
        return await nursery.start(server.serve)

    return start


async def raw(client: Client, timeout_s: float = 2.0) -> FixMessage | None:
    """The server's next frame, unchecked (None once it closed the connection)."""
    with trio.fail_after(timeout_s):
        while not client.pending:
            data = await client.stream.receive_some(4096)
            if not data:
                return None
            client.pending += client.reader.feed(data)
    return client.pending.pop(0)


def header(fix: FixMessage) -> tuple:
    return fix.message_type, fix.get(34), fix.get(43), fix.get(122) is not None


# --------------------------------------------------------------------------- the venue


async def test_a_resend_request_gets_one_gap_fill_that_takes_no_number(serve):
    client = await connect(await serve(make_server()))
    await quote(client)  # the venue has sent Logon (1) and a Quote (2)
    await client.send(ResendRequest(1, 0), TestRequest("after"))
    fill = await raw(client)
    assert header(fill) == (b"4", b"1", b"Y", True)
    assert (fill.get(123), fill.get(36)) == (b"Y", b"3")  # the venue's next MsgSeqNum
    beat = await raw(client)
    assert (header(beat), beat.get(112)) == ((b"0", b"3", None, False), b"after")


async def test_a_poss_dup_duplicate_is_ignored(serve):
    client = await connect(await serve(make_server()))
    await client.send(Heartbeat())  # MsgSeqNum 2
    again = client.session.encode(encode(TestRequest("dup")), gap_fill_at=2)  # 43=Y, 122
    await client.send_raw(again)
    await client.send(TestRequest("after"))
    assert await client.receive() == Heartbeat("after")  # and nothing for "dup"


async def test_a_number_too_low_without_poss_dup_ends_the_session_naming_it(serve):
    client = await connect(await serve(make_server()))
    await client.send(Heartbeat())  # MsgSeqNum 2
    client.session.sent = 1
    await client.send(Heartbeat())  # 2 again, no PossDupFlag
    (logout,) = await client.until_closed()
    assert logout == Logout("MsgSeqNum too low, expecting 3 but received 2")


async def test_a_number_too_high_is_acted_on_and_the_gap_asked_for(serve):
    client = await connect(await serve(make_server()))
    client.session.sent = 4  # MsgSeqNums 2 to 4 never sent
    await client.send(TestRequest("gap"))
    assert await client.receive() == Heartbeat("gap")
    assert await client.receive() == ResendRequest(2, 4)
    # what the client resends is a duplicate now: a gap fill at 2, ignored
    fill = client.session.encode(encode(SequenceReset(6)), gap_fill_at=2)
    await client.send_raw(fill)
    await client.send(TestRequest("after"))
    assert await client.receive() == Heartbeat("after")


async def test_sequence_resets_are_honoured_and_one_going_back_refused(serve):
    client = await connect(await serve(make_server()))
    await client.send(SequenceReset(10))  # a gap fill at 2: the next is 10
    client.session.sent = 9
    await client.send(TestRequest("gap fill"))
    assert await client.receive() == Heartbeat("gap fill")
    client.session.sent = 40  # a Reset is taken whatever its own number
    await client.send(SequenceReset(20, gap_fill=False))
    client.session.sent = 19
    await client.send(TestRequest("reset"))
    assert await client.receive() == Heartbeat("reset")
    await client.send(SequenceReset(5, gap_fill=False))  # back: refused, the session goes on
    refused = await client.receive()
    assert isinstance(refused, Reject) and (refused.ref_tag, refused.reason) == (36, 5)
    await client.send(TestRequest("still"))
    assert await client.receive() == Heartbeat("still")


async def test_reset_seq_num_flag_is_echoed_and_a_late_logon_is_taken(serve):
    port = await serve(make_server())
    client = await connect(port, logon=False)
    await client.send(Logon(0, reset=True))
    reply = await raw(client)
    assert (reply.get(34), reply.get(141)) == (b"1", b"Y")
    late = await connect(port, logon=False)
    late.session.sent = 22  # a standard engine that kept its numbers: its Logon is 23
    await late.send(Logon(0))
    assert await late.receive() == Logon(0)
    assert await late.receive() == ResendRequest(1, 22)


async def test_a_peers_reject_is_not_fatal(serve):
    client = await connect(await serve(make_server()))
    await client.send(Reject(2, "Invalid tag number", 5001, "S", 0))
    assert isinstance(await quote(client), QuoteReply)


@pytest.mark.parametrize("version", [b"FIX.4.2", b"FIXT.1.1"])
async def test_another_fix_version_gets_a_logout_saying_so(serve, version):
    client = await connect(await serve(make_server()), logon=False)
    body = b"35=A\x0149=OLD\x0156=V0\x0134=1\x0152=20260101-00:00:00\x0198=0\x01108=30\x01"
    head = b"8=" + version + b"\x019=" + str(len(body)).encode() + b"\x01"
    await client.send_raw(head + body + b"10=%03d\x01" % (sum(head + body) % 256))
    logout = await raw(client)
    assert (logout.message_type, logout.get(56)) == (b"5", b"OLD")
    assert logout.get(58) == b"BeginString " + version + b" not supported (FIX.4.4 only)"
    assert await raw(client) is None  # then closed


# --------------------------------------------------------------------------- standard messages


async def test_a_standard_quote_request_gets_the_next_draws_and_its_own_id_back(serve):
    client = await connect(await serve(make_server(requests=2)), extras=False)
    replies = []
    for n in range(3):  # the drawn requests in turn, then again from the first
        await client.send(QuoteAsk(f"QR-{n}", 1, 1.0))
        replies.append(await client.receive())
    assert [(r.quote_req_id, r.quote_id) for r in replies] == [
        ("QR-0", None),  # QuoteID "0:0", as decode leaves quoterace's own ids
        ("QR-1", None),
        ("QR-2", None),
    ]
    assert [(r.quote.request, r.attempt) for r in replies] == [(0, 0), (1, 0), (0, 0)]
    assert all(r.quote.latency_s == 0.0 for r in replies)  # no quoterace tags: not asked


@pytest.mark.parametrize(
    "instrument",
    [
        [(146, "1"), (55, "EURUSD")],
        [(146, "1"), (55, "EURUSD"), (38, "1")],
        [(146, "1"), (55, "EURUSD"), (54, "7"), (38, "1")],
        [(146, "2"), (55, "EURUSD"), (54, "1"), (38, "1"), (55, "GBPUSD"), (54, "1"), (38, "1")],
    ],
)
async def test_a_standard_request_without_a_side_or_size_is_refused_not_logged_out(
    serve, instrument
):
    """FIX 4.4 makes Side and OrderQty optional in a QuoteRequest (a two-way RFQ, a size left
    to the venue), has sides beyond buy and sell, and several instruments in one: a venue
    that quotes one side of one instrument for a size refuses such a request with a
    QuoteRequestReject saying why, and the session goes on."""
    client = await connect(await serve(make_server()), extras=False)
    fix = FixMessage()
    fix.append_pair(8, "FIX.4.4", header=True)
    fix.append_pair(35, "R", header=True)
    for tag, value in [(131, "RFQ-1"), *instrument]:
        fix.append_pair(tag, value)
    await client.send_raw(client.session.encode(fix))
    refused = await raw(client)
    assert (refused.message_type, refused.get(131)) == (b"AG", b"RFQ-1")
    assert (
        refused.get(58)
        == b"a quote needs one instrument (146=1), Side (54) 1 or 2 and OrderQty (38)"
    )
    assert refused.get(54) is None and refused.get(38) is None  # nothing to echo
    await client.send(QuoteAsk("QR-0", 1, 1.0))  # the draws are still the first request's
    reply = await client.receive()
    assert (reply.quote_req_id, reply.quote.request) == ("QR-0", 0)


async def test_a_cancel_names_a_standard_request_by_its_quote_req_id(serve):
    service = grid(1e-3, requests=2)
    service[0][0] = 10.0  # request 0 would hold the only server for 10 s
    server = make_server(service_s=service, capacity=1, requests=2)
    client = await connect(await serve(server), extras=False)
    await client.send(QuoteAsk("QR-A", 1, 1.0))
    await trio.sleep(0.01)
    await client.send(QuoteCancel(-1, 0, "QR-A"), QuoteAsk("QR-B", 1, 1.0))
    reply = await client.receive(timeout_s=1.0)
    assert reply.quote_req_id == "QR-B"
    await client.send(QuoteCancel(-1, 0, "never asked"), TestRequest("ignored"))
    assert await client.receive() == Heartbeat("ignored")


async def test_an_order_is_matched_to_its_quotes_price_within_the_precision(serve):
    client = await connect(await serve(make_server(mid=lambda t: 100.0 + 1 / 3, requests=5)))
    replies = [await quote(client, n) for n in range(5)]

    async def order(reply: QuoteReply, price: float) -> FixMessage:
        q = reply.quote
        await client.send(NewOrderSingle(f"o{q.request}", q.request, 0, 1, 1.0, price))
        return await raw(client)

    price = replies[0].quote.price
    fifteen = float(f"{price:.15g}")  # as QuickFIX writes a double
    assert fifteen != price
    assert (await order(replies[0], fifteen)).get(39) == b"2"
    off = await order(replies[1], replies[1].quote.price + 1e-4)  # a reject, the session goes on
    assert [off.get(t) for t in (39, 103, 58)] == [b"8", b"99", b"price does not match quote"]
    assert (await order(replies[2], replies[2].quote.price)).get(39) == b"2"
    six = round(replies[3].quote.price, 6)  # rounded as a client keeping 6 decimals would
    assert six != replies[3].quote.price and (await order(replies[3], six)).get(39) == b"2"
    beyond = round(replies[4].quote.price, 6) + 2e-6  # more than half its last digit away
    assert (await order(replies[4], beyond)).get(58) == b"price does not match quote"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ([(40, "2"), (117, "0:0"), (38, "1"), (44, "100")], "OrdType (40) must be D"),
        ([(40, "D"), (38, "1"), (44, "100")], "QuoteID (117) required"),
        ([(40, "D"), (117, "0:0"), (38, "1")], "Price (44) required"),
        ([(40, "D"), (117, "0:0"), (152, "100"), (44, "100")], "OrderQty (38) required"),
    ],
)
async def test_a_standard_order_for_no_quote_is_rejected_not_logged_out(serve, fields, reason):
    """FIX 4.4 allows a limit order, and a NewOrderSingle without QuoteID, Price or OrderQty
    (CashOrderQty instead): a venue that fills orders for its quotes rejects such an order
    with an ExecutionReport saying why, and the session goes on."""
    client = await connect(await serve(make_server()), extras=False)
    await client.send(QuoteAsk("QR-0", 1, 1.0))
    await client.receive()  # a quote for "0:0", held: the order is still not for it
    fix = FixMessage()
    fix.append_pair(8, "FIX.4.4", header=True)
    fix.append_pair(35, "D", header=True)
    for tag, value in [(11, "ORD-9"), (55, "EURUSD"), (54, "1"), (60, "20260101-00:00:00"),
                       *fields]:  # fmt: skip
        fix.append_pair(tag, value)
    await client.send_raw(client.session.encode(fix))
    report = await raw(client)
    assert [report.get(t) for t in (35, 11, 150, 39, 103)] == [b"8", b"ORD-9", b"8", b"8", b"99"]
    assert report.get(58).decode().startswith(reason)
    await client.send(TestRequest("still"))
    assert await client.receive() == Heartbeat("still")


async def test_execution_reports_have_unique_exec_ids(serve):
    client = await connect(await serve(make_server()))
    ids = []
    for n in range(2):
        q = (await quote(client, n)).quote
        for cl_ord_id in ("same", "same"):  # the second is "expired": the quote is used
            await client.send(NewOrderSingle(cl_ord_id, n, 0, 1, 1.0, q.price))
            ids.append((await raw(client)).get(17))
    assert len(set(ids)) == 4


# --------------------------------------------------------------------------- the client


class ScriptedVenue:
    """The venue end of an in-memory stream to a VenueConnection: reads its frames and sends
    what a test says, as venue "V" (a Session of its own, numbers settable)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.session = Session("V")
        self.reader = FixReader()
        self.pending: list[FixMessage] = []

    async def receive(self) -> FixMessage:
        with trio.fail_after(2):
            while not self.pending:
                self.pending += self.reader.feed(await self.stream.receive_some(4096))
        fix = self.pending.pop(0)
        self.session.check(fix)
        return fix

    async def send(self, *messages) -> None:
        for message in messages:
            await self.stream.send_all(self.session.encode(encode(message)))


async def scripted(nursery, address: Address | None = None):
    """A VenueConnection to a ScriptedVenue, and the Logon it sent."""
    ours, theirs = trio.testing.memory_stream_pair()
    address = address or Address("V", "127.0.0.1", 0)
    venue, connection = ScriptedVenue(theirs), VenueConnection(0, address)
    nursery.start_soon(connection.serve, ours)
    logon = await venue.receive()
    return venue, connection, logon


async def test_the_client_resets_on_every_logon_and_asks_extras_only_when_told(nursery):
    for extras in (False, True):
        address = Address("V", "127.0.0.1", 0, extras=extras)
        venue, connection, logon = await scripted(nursery, address)
        assert (logon.get(34), logon.get(141)) == (b"1", b"Y")
        assert decode(logon) == Logon(1, reset=True, extras=extras)
        await venue.send(Logon(1, reset=True))  # a venue that does not agree to extras
        request = QuoteRequest(0, 0.0, mid=100.0, sent_after_s=0.5)
        nursery.start_soon(connection.quote, request)
        asked = await venue.receive()
        assert not [tag for tag, _ in asked.pairs if int(tag) >= 5000]
        connection.close()


async def test_the_client_records_a_venues_reject_and_goes_on(nursery):
    venue, connection, _ = await scripted(nursery)
    await venue.send(Logon(1, reset=True), Reject(1, "Invalid tag number", 5001, "R", 0))
    await venue.send(Heartbeat())
    with trio.fail_after(2):
        while not connection.rejects:
            await trio.sleep(0.01)
    assert connection.rejects == [
        "Invalid tag number (RefSeqNum 1, RefTagID 5001, RefMsgType R, SessionRejectReason 0)"
    ]
    assert connection.failure is None
    connection.close()


async def test_the_client_reports_the_venues_logout_text_whatever_its_number(nursery):
    venue, connection, _ = await scripted(nursery)
    await venue.send(Logon(1, reset=True))
    venue.session.sent = 0  # the Logout's number is too low: its text still counts
    await venue.send(Logout("MsgSeqNum too low, expecting 23 but received 1"))
    with trio.fail_after(2):
        while connection.failure is None:
            await trio.sleep(0.01)
    assert connection.failure == (
        "the venue logged out: MsgSeqNum too low, expecting 23 but received 1"
    )


async def test_the_client_keeps_the_session_rules_as_the_venue_does(nursery):
    """quoterace's client (the initiator) runs the same session layer: a venue's PossDup
    duplicate is ignored, its ResendRequest gets a gap fill, its SequenceReset is honoured, a
    gap is asked for, and a MsgSeqNum too low without PossDupFlag ends the session with a
    Logout naming it, which is also why the venue failed."""
    venue, connection, _ = await scripted(nursery)
    await venue.send(Logon(1, reset=True), Heartbeat())  # the venue's 1 and 2
    dup = venue.session.encode(encode(TestRequest("dup")), gap_fill_at=2)  # 43=Y, 122
    await venue.stream.send_all(dup)
    await venue.send(TestRequest("after dup"))  # 3
    beat = await venue.receive()
    assert (beat.message_type, beat.get(112)) == (b"0", b"after dup")  # nothing for "dup"
    await venue.send(ResendRequest(1, 0))  # 4
    fill = await venue.receive()
    assert header(fill) == (b"4", b"1", b"Y", True)
    assert (fill.get(123), fill.get(36)) == (b"Y", b"3")  # Logon and Heartbeat sent: next 3
    await venue.send(SequenceReset(10))  # a gap fill at 5: the next is 10
    venue.session.sent = 9
    await venue.send(TestRequest("after fill"))
    assert (await venue.receive()).get(112) == b"after fill"
    venue.session.sent = 12  # 11 and 12 skipped: acted on, the gap asked for
    await venue.send(TestRequest("gap"))
    assert (await venue.receive()).get(112) == b"gap"
    asked = await venue.receive()
    assert (asked.message_type, asked.get(7), asked.get(16)) == (b"2", b"11", b"12")
    venue.session.sent = 5  # too low, no PossDupFlag
    await venue.send(Heartbeat())
    logout = await venue.receive()
    why = "MsgSeqNum too low, expecting 14 but received 6"
    assert (logout.message_type, logout.get(58)) == (b"5", why.encode())
    assert connection.failure == f"protocol error: {why}"


async def test_the_client_orders_a_venues_own_quote_id_and_takes_its_reject(nursery):
    venue, connection, _ = await scripted(nursery)
    await venue.send(Logon(1, reset=True))
    request = QuoteRequest(3, 0.0, side=1, size=1.0)
    reports = []

    async def race() -> None:
        got = await connection.quote(request)
        reports.append(await connection.order(got, request, 0.0))

    nursery.start_soon(race)
    asked = await venue.receive()
    assert asked.get(131) == b"3:0"
    fix = FixMessage()  # a standard venue's Quote: its own QuoteID, no Side, no user tags
    for tag, value in [(35, "S"), (131, "3:0"), (117, "Q-77"), (55, "X"), (133, "99.5")]:
        fix.append_pair(tag, value, header=tag == 35)
    fix.append_pair(8, "FIX.4.4", header=True)
    await venue.stream.send_all(venue.session.encode(fix))
    order = await venue.receive()
    assert (order.get(117), order.get(44)) == (b"Q-77", b"99.5")
    reject = FixMessage()
    for tag, value in [(8, "FIX.4.4"), (35, "8"), (37, "O1"), (17, "E1"), (11, "1"),
                       (150, "8"), (39, "8"), (55, "X"), (54, "1"), (151, "0"), (14, "0"),
                       (6, "0"), (103, "99"), (58, "quote no longer valid")]:  # fmt: skip
        reject.append_pair(tag, value, header=tag in (8, 35))
    await venue.stream.send_all(venue.session.encode(reject))
    with trio.fail_after(2):
        while not reports:
            await trio.sleep(0.01)
    assert reports[0].reason == "price_moved" and math.isfinite(reports[0].round_trip_s)
    assert connection.failure is None
    connection.close()


async def send_raw(venue: ScriptedVenue, pairs: list[tuple[int, str]]) -> None:
    """A message of the venue's, field by field as a standard venue writes it."""
    fix = FixMessage()
    fix.append_pair(8, "FIX.4.4", header=True)
    for tag, value in pairs:
        fix.append_pair(tag, value, header=tag == 35)
    await venue.stream.send_all(venue.session.encode(fix))


def report(status: str, exec_type: str) -> list[tuple[int, str]]:
    """A standard venue's ExecutionReport on order 1 with this OrdStatus and ExecType."""
    filled = "1" if status == "2" else "0"
    return [(35, "8"), (37, "O1"), (17, "E" + status), (11, "1"), (150, exec_type),
            (39, status), (55, "X"), (54, "2"), (151, "0"), (14, filled), (6, "98.5")]  # fmt: skip


async def test_the_client_takes_a_standard_venues_two_sided_quote_acks_and_notices(nursery):
    venue, connection, _ = await scripted(nursery)
    await venue.send(Logon(1, reset=True))
    request = QuoteRequest(4, 0.0, side=-1, size=1.0)  # a sell: it takes the bid
    reports = []

    async def race() -> None:
        got = await connection.quote(request)
        reports.append((got, await connection.order(got, request, 0.0)))

    nursery.start_soon(race)
    await venue.receive()
    # a venue's own notices, none of which ends anything: a quote withdrawn (35=Z) and a
    # BusinessMessageReject (35=j), recorded as a Reject is
    await send_raw(venue, [(35, "Z"), (117, "OLD"), (298, "1")])
    await send_raw(venue, [(35, "j"), (45, "2"), (372, "R"), (380, "3"), (58, "no")])
    two_sided = [(35, "S"), (131, "4:0"), (117, "Q-9"), (55, "X"), (132, "98.5"), (133, "99.5")]
    await send_raw(venue, two_sided)
    order = await venue.receive()
    assert (order.get(117), order.get(54), order.get(44)) == (b"Q-9", b"2", b"98.5")
    for status, exec_type in (("A", "A"), ("0", "0"), ("2", "F")):  # pending, new, filled
        await send_raw(venue, report(status, exec_type))
    with trio.fail_after(2):
        while not reports:
            await trio.sleep(0.01)
    quote, filled = reports[0]
    assert (quote.price, filled.reason) == (98.5, None)
    assert connection.rejects == ["no (RefSeqNum 2, RefMsgType R, SessionRejectReason 3)"]
    assert connection.failure is None
    connection.close()


@pytest.mark.parametrize("status", ["4", "C"])
async def test_an_order_a_venue_cancels_or_expires_is_rejected_expired(nursery, status):
    venue, connection, _ = await scripted(nursery)
    await venue.send(Logon(1, reset=True))
    request = QuoteRequest(4, 0.0, side=-1, size=1.0)
    reports = []

    async def race() -> None:
        got = await connection.quote(request)
        reports.append(await connection.order(got, request, 0.0))

    nursery.start_soon(race)
    await venue.receive()
    await send_raw(venue, [(35, "S"), (131, "4:0"), (117, "Q-9"), (55, "X"), (132, "98.5")])
    await venue.receive()
    await send_raw(venue, report(status, status))
    with trio.fail_after(2):
        while not reports:
            await trio.sleep(0.01)
    assert reports[0].reason == "expired" and connection.failure is None
    connection.close()


async def test_a_quote_no_order_can_take_is_a_pass_not_a_failed_venue(nursery):
    venue, connection, _ = await scripted(nursery)
    await venue.send(Logon(1, reset=True))
    request = QuoteRequest(5, 0.0, side=1, size=1.0)
    with trio.move_on_after(0.5) as waited:
        nursery.start_soon(connection.quote, request)
        await venue.receive()
        await send_raw(venue, [(35, "S"), (131, "5:0"), (117, "Q-5"), (55, "X"), (132, "98")])
        await trio.sleep(1)  # a bid only, for a buy: no quote comes of it
    assert waited.cancelled_caught and connection.failure is None
    connection.close()


def test_a_remote_venues_comp_ids_and_extras_are_given_with_its_address():
    assert _address("qf=10.0.0.1:9000") == ("qf", Address("qf", "10.0.0.1", 9000))
    assert _address("qf=[::1]:9000/LMAX/ME+extras") == (
        "qf",
        Address("qf", "::1", 9000, target="LMAX", sender="ME", extras=True),
    )
    with pytest.raises(ValueError):
        Address("qf", "h", 1, sender="caf\u00e9")
    for bad in ("qf=h:1/a b", "qf=h:1/A/B/C", "qf=h:1+more"):
        with pytest.raises(argparse.ArgumentTypeError):
            _address(bad)


async def test_a_standard_request_cancelled_by_its_request_number_frees_its_quote_req_id(serve):
    # Request 0 is due in 10 s, by an alarm; a cancel naming it by (request, attempt), not by
    # its QuoteReqID, must still forget that id, or the id stays "in flight" for good.
    latency = grid(1e-3, requests=2)
    latency[0][0] = 10.0
    client = await connect(await serve(make_server(latency_s=latency, requests=2)), extras=False)
    await client.send(QuoteAsk("QR-A", 1, 1.0))
    await trio.sleep(0.01)
    await client.send(QuoteCancel(0, 0), QuoteAsk("QR-A", 1, 1.0))
    reply = await client.receive(timeout_s=1.0)
    assert isinstance(reply, QuoteReply) and reply.quote_req_id == "QR-A", reply
