"""How a Link (venues.fix.session) writes: a message goes to the socket at once when nothing
waits before it, the rest through its writer task, in order either way; Heartbeats after
HeartBtInt since the last send, whichever way it went; no busy writer while its Logout waits
for the peer's. And `_sent_unix`, which reads a peer's SendingTime back.

Real sockets on 127.0.0.1 and the wall clock: times are checked by the SendingTimes the link
wrote itself (exact, however busy the machine) or with slack in the direction that cannot pass
by accident.
"""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest
import trio
import trio.testing
from simplefix import FixMessage

from tests.helpers.fix_client import Client
from venues.fix import Heartbeat, Logon, Logout, TestRequest, decode
from venues.fix.session import Link, Session, SessionLimits, _sending_time, _sent_unix

LIMITS = SessionLimits(
    max_message_bytes=4096,
    logon_timeout_s=5.0,
    idle_timeout_s=10.0,
    send_timeout_s=5.0,
    max_outbox=10_000,
    linger_s=0.3,
)
BUFFER_BYTES = 4096  # the socket buffers asked for where they should fill up (Linux doubles it)


async def tcp_pair(small: bool = False) -> tuple[trio.SocketStream, trio.SocketStream]:
    """Two ends of a TCP connection on 127.0.0.1: (the link's, the peer's). `small`: the
    link's send buffer and the peer's receive buffer small, so that a peer not reading soon
    stops the link's socket from taking more."""
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    if small:  # an accepted socket inherits its receive buffer from the listener
        listener.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER_BYTES)
    port = listener.socket.getsockname()[1]
    async with listener:
        ours = await trio.open_tcp_stream("127.0.0.1", port)
        theirs = await listener.accept()
    if small:
        ours.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER_BYTES)
    return ours, theirs


async def frame(peer: Client, timeout_s: float = 5.0) -> FixMessage:
    """The link's next frame as the peer reads it, unchecked."""
    with trio.fail_after(timeout_s):
        while not peer.pending:
            data = await peer.stream.receive_some(65536)
            assert data, "the link closed the connection"
            peer.pending += peer.reader.feed(data)
    return peer.pending.pop(0)


async def until_logout(peer: Client, timeout_s: float = 5.0) -> list[FixMessage]:
    """The link's frames up to its Logout, that included."""
    frames = [await frame(peer, timeout_s)]
    while frames[-1].message_type != b"5":
        frames.append(await frame(peer, timeout_s))
    return frames


def ignore(message: object) -> None:
    """An application that takes whatever comes."""


async def logged_on(
    nursery: trio.Nursery, stream: trio.abc.Stream, peer: Client, heartbeat_s: int = 0, **limits
) -> tuple[Link, FixMessage]:
    """A Link on `stream` as the acceptor ("V"), logged on by `peer` ("C") with `heartbeat_s`,
    and its answering Logon as the peer read it. `limits` replace LIMITS' own."""
    link = Link(stream, Session("V"), dataclasses.replace(LIMITS, **limits), ignore)
    await peer.send(Logon(heartbeat_s))
    await nursery.start(link.run)
    logon = await frame(peer)
    assert decode(logon) == Logon(heartbeat_s)
    return link, logon


def sending_time(fix: FixMessage) -> float:
    sent = _sent_unix(fix.get(52))
    assert sent is not None
    return sent


# --------------------------------------------------------------------------- in order


@pytest.mark.parametrize("small", [True, False])
async def test_a_burst_to_a_peer_not_reading_arrives_whole_and_in_order(nursery, small):
    ours, theirs = await tcp_pair(small)
    peer = Client(theirs, "C", "V")
    link, _ = await logged_on(nursery, ours, peer, linger_s=5.0)
    pad = "x" * 200
    link.send(TestRequest(f"0 {pad}"))
    assert link._queued == 0  # written to the socket at once, not queued for the writer
    n = 3000  # about 850 kB
    for i in range(1, n):
        link.send(TestRequest(f"{i} {pad}"))
    if small:
        assert link._queued > 0  # the socket took only part: the rest went to the writer
    await trio.sleep(0.3)  # the peer does not read; the writer waits on a full socket
    link.send(TestRequest(f"{n} {pad}"))  # behind those still queued
    link.logout()
    *seen, logout = await until_logout(peer)
    assert [int(fix.get(34)) for fix in seen] == list(range(2, n + 3))  # after the Logon, 1
    assert [fix.get(112) for fix in seen] == [f"{i} {pad}".encode() for i in range(n + 1)]
    assert (logout.get(34), decode(logout)) == (b"%d" % (n + 3), Logout())


async def test_over_a_stream_that_is_not_a_socket_everything_goes_through_the_writer(nursery):
    ours, theirs = trio.testing.memory_stream_pair()
    peer = Client(theirs, "C", "V")
    link, _ = await logged_on(nursery, ours, peer)
    for i in range(100):
        link.send(TestRequest(str(i)))
    assert link._queued == 100  # none written at once: the writer sends them
    await peer.send(Logout())
    frames = await until_logout(peer)
    assert [int(fix.get(34)) for fix in frames] == list(range(2, 103))
    assert [decode(fix) for fix in frames] == [*(TestRequest(str(i)) for i in range(100)), Logout()]


# --------------------------------------------------------------------------- heartbeats


async def test_a_quiet_link_heartbeats_after_heartbtint(nursery):
    ours, theirs = await tcp_pair()
    peer = Client(theirs, "C", "V")
    _, logon = await logged_on(nursery, ours, peer, heartbeat_s=1)
    start = trio.current_time()
    beat = await frame(peer, timeout_s=2.5)
    assert trio.current_time() - start < 2.5
    assert decode(beat) == Heartbeat()
    assert sending_time(beat) - sending_time(logon) >= 1.0 - 1e-3  # not before HeartBtInt


async def test_a_link_that_sends_often_never_heartbeats(nursery):
    ours, theirs = await tcp_pair()
    peer = Client(theirs, "C", "V")
    link, logon = await logged_on(nursery, ours, peer, heartbeat_s=1)
    seen: list[FixMessage] = []

    async def read() -> None:
        seen.extend(await until_logout(peer, timeout_s=10.0))

    nursery.start_soon(read)
    end = trio.current_time() + 2.5
    n = 0
    while trio.current_time() < end:
        link.send(TestRequest(str(n)))  # written at once: the writer sees none of them
        n += 1
        await trio.sleep(0.2)
    link.logout()
    with trio.fail_after(5):
        while not seen:
            await trio.sleep(0.01)
    sent = [sending_time(fix) for fix in [logon, *seen]]
    # a Heartbeat only after HeartBtInt of quiet, which only a stall of the machine's own
    # (over a second) would make here; else none
    quiet = [sent[i] - sent[i - 1] for i, fix in enumerate(seen, 1) if fix.message_type == b"0"]
    assert all(q >= 1.0 - 1e-3 for q in quiet), quiet
    assert len(seen) == n + 1 + len(quiet)  # the TestRequests, the Logout, any Heartbeats


# --------------------------------------------------------------------------- logging out


class Steps(trio.abc.Instrument):
    """Counts the steps tasks take."""

    def __init__(self) -> None:
        self.count = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.count += 1


async def test_waiting_for_the_peers_logout_the_writer_sleeps():
    """Our Logout sent, the peer never answers: the link lingers, and a Heartbeat comes due
    meanwhile (HeartBtInt 1 s, linger 1.3 s). The writer, which may send nothing more, must
    wait for the next HeartBtInt, not loop: a few steps, not thousands."""
    ours, theirs = await tcp_pair()
    peer = Client(theirs, "C", "V")
    steps = Steps()
    async with trio.open_nursery() as nursery:
        link, _ = await logged_on(nursery, ours, peer, heartbeat_s=1, linger_s=1.3)
        start = trio.current_time()
        trio.lowlevel.add_instrument(steps)
        try:
            link.logout()
            with trio.fail_after(5):
                while link.reason is None:
                    await trio.sleep(0.1)
        finally:
            trio.lowlevel.remove_instrument(steps)
    await theirs.aclose()
    await ours.aclose()
    assert trio.current_time() - start >= 1.3
    assert link.reason == "logged out"
    assert steps.count < 200


# --------------------------------------------------------------------------- SendingTime


def test_a_sending_time_reads_back_to_the_microsecond():
    for _ in range(1000):
        before = time.time()
        text = _sending_time()
        after = time.time()
        sent = _sent_unix(text)
        assert before - 1e-6 <= sent <= after
        assert abs(sent - float(f"{sent:.6f}")) < 1e-9  # microseconds, not rounded away


@pytest.mark.parametrize(
    ("text", "unix"),
    [
        (b"19700101-00:00:00.000000", 0.0),
        (b"20260101-00:00:01.500000", 1767225601.5),
        (b"20260101-00:00:01.123456789", 1767225601.123456789),  # nanoseconds
    ],
)
def test_a_sending_time_is_read_as_utc(text, unix):
    assert _sent_unix(text) == pytest.approx(unix, abs=1e-9)


@pytest.mark.parametrize(
    "text",
    [
        None,
        b"",
        b"20260101-00:00:01",  # seconds
        b"20260101-00:00:01.123",  # milliseconds: too coarse for a loopback's transit
        b"20260101-00:00:01.12345",
        b"20260101-00:00:01.12345x",
        b"20260101-00:00:01.-12345",
        b"20260101-00:00:01. 12345",
        b"20261301-00:00:01.123456",  # month 13
        b"20260101-25:00:01.123456",
        b"2026-01-01 00:00:01.123456",
        b"\xff0260101-00:00:01.123456",
        b".123456",
    ],
)
def test_a_coarse_or_malformed_sending_time_is_none(text):
    assert _sent_unix(text) is None
