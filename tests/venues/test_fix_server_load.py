"""The venue server under load (issue 14, item 6): 64 connections on one VenueServer at once,
real trio sockets on 127.0.0.1, the wall clock, a few seconds.

- GOOD well-behaved clients each send RATE_PER_S quote requests a second for LOAD_S seconds
  (GOOD * RATE_PER_S requests a second in all) and read every answer;
- eight slow readers log on, send a burst of requests and never read again (but heartbeat, so
  that they are never idle): their answers back up until the server drops them (a send stalled
  past send_timeout_s, or its outbox bound);
- one garbage sender of each kind in GARBAGE (random bytes, oversized frames, a bad checksum,
  a MsgSeqNum too low, half a message then silence, no Logon at all), sent while the load runs.

What must hold: every well-behaved client gets an answer (a quote or a reject) to each of its
requests, once, and its session is still open at the end; each misbehaving connection is
closed within its bound (below), with a Logout saying why once logged on; the server then
still serves, and every connection slot the misbehaving ones held is free again.

The rate, 48 x 12.5/s = 600 quotes a second, is what a shared 2-core machine sustains with the
clients and the server in one process (one event loop, under a core, for both ends): at a load
average of 11 (other processes' test suites), the quotes asked outside the slow readers' bursts
had p50 1 ms, where twice the rate gave 80 ms; with six to eight busy loops beside it, 160 to
340 ms.
Quote latency is the client's round trip minus
the drawn latency (a constant LATENCY_S): loopback, both ends' FIX work, the event loop and
the timer's overshoot. It is printed (`pytest -s`) but bounded only loosely, since the machine
is shared: see test_the_server_under_load.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import trio

from tests.helpers.fix_client import Client, connect
from venues.fix import (
    Heartbeat,
    Limits,
    Logon,
    Logout,
    Message,
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
from venues.venue import VenueDraws, VenueSpec

MS = 1e-3
LATENCY_S = 1 * MS
GOOD = 48
RATE_PER_S = 12.5  # per well-behaved client
LOAD_S = 4.0
REQUESTS = int(RATE_PER_S * LOAD_S)  # per well-behaved client; indices 0..REQUESTS-1
# Slow readers' bursts: 200 answers fill the socket buffers (about 100 do, measured), so that a
# send stalls, but not the outbox (LIMITS.max_outbox); 1000 fill the outbox behind them too.
STALL_BURST, OUTBOX_BURST = 200, 1000
SLOW_BURSTS = (STALL_BURST,) * 6 + (OUTBOX_BURST,) * 2
# Into the load: the garbage senders, then the slow readers' bursts (apart, so that the bounds on
# the garbage senders do not include the time the server takes to answer the bursts).
GARBAGE_AT_S, BURSTS_AT_S = 0.5, 1.5
LIMITS = Limits(
    idle_timeout_s=4.0,  # longer than the event loop ever stalls here, heartbeats or not
    logon_timeout_s=1.0,
    send_timeout_s=0.5,
    # 1024 would do, at four times the slow readers' bursts; not much less: the answers due in
    # one turn of the event loop (200 at most here) must fit, or a peer that reads is dropped
    max_outbox=256,
    linger_s=0.5,
    max_connections=64,  # exactly the test's connections
    max_connections_per_peer=64,  # all of them come from 127.0.0.1
)
# How late a close may come past the limit that causes it: the server and 64 clients share
# one event loop, whose scheduling rounds take tens of milliseconds here and, on a machine
# loaded by other processes (load average 14 on 2 cores seen), up to seconds. Which limit
# closed a connection, the server's log says.
SLACK_S = 3.0
HEARTBEAT_S = 0.25  # a slow reader's, so that it is never idle
LOOK_S = 3.0  # for a slow reader's stream to end once it reads again (it never would if open)


def quote_request(session: Session, index: int) -> bytes:
    """A well-behaved client's quote request number `index`, on the wire: the one place the
    test builds one (the answer names `index` back: see `answered`)."""
    return session.encode(encode(QuoteRequest(index, 0.0, 1 if index % 2 else -1, 1.0)))


def answered(message: Message) -> int:
    """The request index a well-behaved client's answer is for (quote or reject)."""
    match message:
        case QuoteReply(quote=quote):
            assert quote.latency_s == LATENCY_S  # the drawn latency, exactly
            return quote.request
        case QuoteRequestReject(request=request):
            return request
    raise AssertionError(f"not an answer: {message}")


def make_server() -> VenueServer:
    """One venue, a constant LATENCY_S, draws for REQUESTS requests, under LIMITS."""
    spec = VenueSpec(
        name="V0",
        latency=Constant(ms=LATENCY_S / MS),
        spread_bps=2.0,
        quote_ttl_ms=50.0,
        last_look=LastLook(hold_ms=0.5, tolerance_bps=0.5),
    )
    draws = VenueDraws(
        latency_s=[[LATENCY_S] * REQUESTS],
        answers=[[True] * REQUESTS],
        noise_bps=[[0.0] * REQUESTS],
        order_latency_s=[[LATENCY_S] * REQUESTS],
    )
    return VenueServer(spec, draws, lambda t: 100.0, limits=LIMITS)


@dataclass
class Good:
    """What one well-behaved client saw."""

    answers: int = 0
    rejects: int = 0
    sent_at_s: list[float] = field(default_factory=list)  # each quote's request, from the start
    latencies_s: list[float] = field(default_factory=list)  # its round trip minus the drawn one
    open_at_end: bool = False


async def well_behaved(port: int, name: str, begin: float, start: float, seen: Good) -> None:
    """Send REQUESTS quote requests at RATE_PER_S from `start`, read every answer, then check
    the session is still open and log out. (`begin`: the load's start, for `seen.sent_at_s`.)"""
    client = await connect(port, sender=name, timeout_s=5.0)
    sent: dict[int, float] = {}

    async def send_all() -> None:
        for index in range(REQUESTS):
            await trio.sleep_until(start + index / RATE_PER_S)
            sent[index] = trio.current_time()
            await client.send_raw(quote_request(client.session, index))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_all)
        while seen.answers < REQUESTS:
            message = await client.receive(timeout_s=5.0)
            now = trio.current_time()
            index = answered(message)
            sent_at = sent.pop(index)  # KeyError: an answer twice, or unasked
            seen.answers += 1
            if isinstance(message, QuoteReply):
                seen.sent_at_s.append(sent_at - begin)
                seen.latencies_s.append(now - sent_at - LATENCY_S)
            else:
                seen.rejects += 1
    await client.send(TestRequest("still there?"))
    seen.open_at_end = await client.receive(timeout_s=5.0) == Heartbeat("still there?")
    await client.send(Logout())
    assert await client.until_closed(timeout_s=5.0) == [Logout()]


async def slow_reader(port: int, name: str, burst: int, at: float) -> float:
    """Log on, send `burst` requests at engine time `at` (encoded beforehand, so that the test's
    own work does not stall the loop) and never read, but send a Heartbeat every HEARTBEAT_S:
    not reading is then the only thing the server can drop it for. Once the server had
    send_timeout_s and SLACK_S since the burst, read: the stream must end, for it was dropped
    before; had it not been, it would flow again and, heartbeating, never end. Returns the
    wall time (time.time) of the burst, to compare with the server's log."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up soon
    await sock.connect(("127.0.0.1", port))
    client = Client(trio.SocketStream(sock), sender=name)
    await client.send(Logon(0))
    assert await client.receive(timeout_s=5.0) == Logon(0)
    data = b"".join(quote_request(client.session, i % REQUESTS) for i in range(burst))
    await trio.sleep_until(at)
    sent_at = time.time()
    with contextlib.suppress(trio.BrokenResourceError):  # dropped already
        await client.send_raw(data)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(heartbeats, client)
        await trio.sleep(LIMITS.send_timeout_s + SLACK_S)
        with trio.fail_after(LOOK_S), contextlib.suppress(trio.BrokenResourceError):  # reset
            while await client.stream.receive_some(65536):
                pass
        nursery.cancel_scope.cancel()
    return sent_at


async def heartbeats(client: Client) -> None:
    """A Heartbeat every HEARTBEAT_S, until the connection breaks."""
    with contextlib.suppress(trio.BrokenResourceError):
        while True:
            await trio.sleep(HEARTBEAT_S)
            await client.send(Heartbeat())


def _random(n: int) -> bytes:
    return random.Random(n).randbytes(200)


def _checksum_off(session: Session) -> bytes:
    data = bytearray(quote_request(session, 0))
    data[-2] = ord("0") + (data[-2] - ord("0") + 1) % 10  # CheckSum's last digit, off by one
    return bytes(data)


def _repeating_a_number(session: Session) -> bytes:
    """A request that reuses the Logon's MsgSeqNum without PossDupFlag: FIX ends the session
    (a number too high is not garbage: the venue asks for a resend and goes on)."""
    session.sent -= 1
    return quote_request(session, 0)


def _oversized_frame(_: Session) -> bytes:
    body = b"35=0\x01112=" + b"x" * 5000 + b"\x01"
    return b"8=FIX.4.4\x019=%d\x01" % len(body) + body + b"10=000\x01"


@dataclass(frozen=True)
class Garbage:
    """A garbage sender: whether it logs on, what it sends, why the server closes it (in its log,
    and in a Logout once logged on; before, it closes without a word), and the least and most
    time that takes. `reset`: the server closes with some of the data unread, so the kernel may
    reset the connection, losing the Logout."""

    name: str
    logon: bool
    data: Callable[[Session], bytes]
    reason: str
    at_least_s: float = 0.0
    within_s: float = SLACK_S
    reset: bool = False


GARBAGE = [
    Garbage("RANDOM", True, lambda s: _random(1), "garbage"),
    Garbage("NOLOGONRANDOM", False, lambda s: _random(2), "garbage"),
    Garbage("LONGLENGTH", True, lambda s: b"8=FIX.4.4\x019=99999\x01", "oversized"),
    Garbage("LONGFRAME", True, _oversized_frame, "oversized", reset=True),
    Garbage("CHECKSUM", True, _checksum_off, "checksum mismatch"),
    Garbage("SEQLOW", True, _repeating_a_number, "MsgSeqNum too low"),
    Garbage(
        "HALF",
        True,
        lambda s: quote_request(s, 0)[:40],
        "idle for 4 s",
        LIMITS.idle_timeout_s,
        LIMITS.idle_timeout_s + SLACK_S,
    ),
    Garbage(
        "NOLOGON",
        False,
        lambda s: b"",  # the time counts from before the connection: the server's, from after
        "no Logon in 1 s",
        LIMITS.logon_timeout_s,
        LIMITS.logon_timeout_s + SLACK_S,
    ),
]


async def garbage_sender(port: int, kind: Garbage) -> float:
    """Misbehave as `kind` says, then read until the server closes: how long that took (from
    the bad bytes; from the connection, for one that sends none)."""
    start = trio.current_time()
    client = await connect(port, sender=kind.name, logon=kind.logon, timeout_s=5.0)
    data = kind.data(client.session)
    if data:
        start = trio.current_time()
    await client.send_raw(data)
    try:
        received = await client.until_closed(timeout_s=kind.within_s + 1.0)
    except trio.BrokenResourceError:
        assert kind.reset, kind
        return trio.current_time() - start
    took = trio.current_time() - start
    if not kind.logon:
        assert received == [], kind
    else:
        (logout,) = received
        assert isinstance(logout, Logout) and kind.reason in logout.text, (kind, logout)
    return took


@dataclass
class Load:
    """What the clients of one run saw."""

    good: list[Good]
    slow_sent_at: list[float] = field(default_factory=list)  # wall times of the bursts
    garbage_took_s: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = math.nan  # from the first request to the last client done


async def load(port: int) -> Load:
    """Run every client against the server on `port`, the misbehaving ones GARBAGE_AT_S and
    BURSTS_AT_S into the load."""
    seen = Load([Good() for _ in range(GOOD)])
    begin = trio.current_time() + 1.0  # time for the Logons

    async def slow(n: int, burst: int) -> None:
        seen.slow_sent_at.append(await slow_reader(port, f"SLOW{n}", burst, begin + BURSTS_AT_S))

    async def garbage(kind: Garbage) -> None:
        await trio.sleep_until(begin + GARBAGE_AT_S)
        seen.garbage_took_s[kind.name] = await garbage_sender(port, kind)

    async with trio.open_nursery() as clients:
        for n, good in enumerate(seen.good):
            # spread over one period, so that the requests do not come in bursts
            start = begin + n / GOOD / RATE_PER_S
            clients.start_soon(well_behaved, port, f"GOOD{n}", begin, start, good)
        for n, burst in enumerate(SLOW_BURSTS):
            clients.start_soon(slow, n, burst)
        for kind in GARBAGE:
            clients.start_soon(garbage, kind)
    seen.elapsed_s = trio.current_time() - begin
    return seen


async def test_the_server_under_load(nursery, caplog):
    caplog.set_level(logging.INFO, "venues.fix.server")
    port = await nursery.start(make_server().serve)
    with trio.fail_after(LOAD_S + 10.0):
        seen = await load(port)

    # Every well-behaved client: every request answered once, the session open to the end.
    assert [good.answers for good in seen.good] == [REQUESTS] * GOOD
    assert all(good.open_at_end for good in seen.good)
    assert sum(good.rejects for good in seen.good) == 0  # none in flight twice, all have draws
    # Every misbehaving one closed within its bound (and not before the limit that closes it),
    # the slow readers for the reason their burst causes.
    assert len(seen.slow_sent_at) == len(SLOW_BURSTS)
    for kind in GARBAGE:
        assert kind.at_least_s <= seen.garbage_took_s[kind.name] <= kind.within_s, kind
    closed = [r.getMessage() for r in caplog.records]
    for reason in {kind.reason for kind in GARBAGE}:
        expected = sum(kind.reason == reason for kind in GARBAGE)
        assert sum(reason in line for line in closed) == expected, reason
    stalled = f"is not reading: a send stalled {LIMITS.send_timeout_s:g} s"
    queued = f"is not reading: {LIMITS.max_outbox} messages queued"
    stalls, overflows = (sum(why in line for line in closed) for why in (stalled, queued))
    # the small bursts can only stall; the large ones fill the outbox, unless a loaded machine
    # lets a send stall first
    assert stalls >= SLOW_BURSTS.count(STALL_BURST)
    assert stalls + overflows == len(SLOW_BURSTS)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # The server still serves, and the misbehaving connections' slots are free: 64 again.
    fresh = [
        await connect(port, sender=f"AFTER{n}", timeout_s=5.0)
        for n in range(LIMITS.max_connections)
    ]
    for n, client in enumerate(fresh):
        await client.send_raw(quote_request(client.session, n % REQUESTS))
    for n, client in enumerate(fresh):
        assert answered(await client.receive(timeout_s=5.0)) == n % REQUESTS

    latencies_ms = np.concatenate([good.latencies_s for good in seen.good]) / MS
    dropped_at = max(r.created for r in caplog.records if "is not reading" in r.getMessage())
    print(report(seen, latencies_ms, dropped_at - min(seen.slow_sent_at)))
    # A quote never arrives before its drawn latency: the server applied it.
    assert latencies_ms.min() >= 0.0
    # Loose on purpose, the machine being shared. p50 measured: about 1 ms at a load average of
    # 2 to 10 (other processes' test suites); 160 to 340 ms with six to eight busy processes on
    # the 2 cores (load 10 to 14), the event loop getting a fifth of a core. A second would
    # mean the median quote waited a quarter of the run: a server that stops serving for
    # seconds at a time, not a busy machine.
    assert np.percentile(latencies_ms, 50) < 1000.0


def report(seen: Load, latencies_ms: np.ndarray, slow_dropped_s: float) -> str:
    """The run's rates, quote latency percentiles (all, and those asked while the slow readers'
    bursts arrive, within 0.5 s of them, and the rest) and how soon the misbehaving
    connections were closed (the slow readers all `slow_dropped_s` after their bursts)."""
    sent_at_s = np.concatenate([good.sent_at_s for good in seen.good])
    burst = (sent_at_s >= BURSTS_AT_S) & (sent_at_s < BURSTS_AT_S + 0.5)

    def percentiles(ms: np.ndarray) -> str:
        if not len(ms):  # none asked then: the event loop stalled through it (a busy machine)
            return "none"
        p = np.percentile(ms, [50, 90, 99, 99.9])
        return f"p50 {p[0]:.2f} ms, p90 {p[1]:.2f}, p99 {p[2]:.2f}, p99.9 {p[3]:.2f}"

    return (
        f"\n{GOOD} clients x {RATE_PER_S:g}/s = {GOOD * RATE_PER_S:g} quote requests/s for "
        f"{LOAD_S:g} s ({len(latencies_ms)} quotes; all clients done in {seen.elapsed_s:.2f} s),"
        f" with {len(SLOW_BURSTS)} slow readers and {len(GARBAGE)} garbage senders. Quote latency "
        f"beyond the drawn {LATENCY_S / MS:g} ms:\n  all {percentiles(latencies_ms)}, max "
        f"{latencies_ms.max():.2f}\n  asked in the 0.5 s of the slow readers' bursts "
        f"{percentiles(latencies_ms[burst])}\n  the rest {percentiles(latencies_ms[~burst])}\n"
        f"slow readers all dropped {slow_dropped_s:.2f} s after their bursts (the server's log);"
        " garbage senders closed after "
        + ", ".join(f"{name} {t:.2f} s" for name, t in sorted(seen.garbage_took_s.items()))
    )
