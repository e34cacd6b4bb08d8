"""The FIX session layer, one for both ends: the venue server (the acceptor) and the client
(the initiator) run the same code.

Two parts. `Session` is the session's state without I/O: this end's CompID and the peer's, the
sequence numbers out and in, the standard header stamped on each message sent and checked on
each one received. FIX 4.4's sequence rules, as QuickFIX keeps them:

- ResetSeqNumFlag (141=Y) on a Logon starts both ends at 1 again: the acceptor resets and
  echoes it (the client sends it on every connection: each is a new session).
- A MsgSeqNum too low ends the session with a Logout "MsgSeqNum too low, expecting X but
  received Y", unless PossDupFlag (43=Y) says it is a duplicate: then it is ignored.
- A MsgSeqNum too high is acted on all the same, and the gap asked for once with a
  ResendRequest (the minimum: nothing is queued; what the peer resends is then a duplicate,
  ignored).
- A ResendRequest is answered with one SequenceReset-GapFill (43=Y, 122, 123=Y, 36 = our next
  MsgSeqNum) at its BeginSeqNo, which takes no number of its own: nothing is stored to resend,
  and a quote or report resent late would be stale anyway.
- A SequenceReset is honoured: GapFill (123=Y) in sequence, Reset (123=N) whatever its own
  number; one that would go back is refused with a Reject (35=3).
- A Reject (35=3) from the peer is recorded (`rejects`, the first MAX_REJECTS_KEPT of them as
  text; `reject_count`) and the session goes on.
- A message of another FIX version gets a Logout saying so (even before the Logon), then the
  connection closes.

`Link` runs a Session over a trio stream: a reader (the task calling `run`) and a writer.
The reader frames messages with a bounded FixReader, checks them against the Session, and
handles the session's own messages itself: the Logon (the initiator sends one and waits for
the peer's; the acceptor waits for one and answers with the same), a TestRequest (answered
with a Heartbeat carrying its id), a Heartbeat, a Logout. Every other message goes to the
application's `handle`. A message is written to the socket at once when nothing waits before it;
the rest go to the writer, which sends queued messages in order, all that are queued (up to
WRITE_BYTES) in one send, so that the outbox backs up only when the peer does not read; and a
Heartbeat after HeartBtInt of quiet (the initiator's Logon sets it for both ends). The
initiator's Logon may ask for quoterace's own tags (Username 553); an acceptor agrees by echoing
it, and only then do both ends send them (`Session.extras`).

The session ends, and `reason` says why (the first reason wins), on: no whole Logon within
`logon_timeout_s`; silence (nothing, not even a Heartbeat) for `idle_timeout_s`; bad bytes or
a bad message (FixError, a Logout carrying its reason back); the peer's Logout (answered with
one; its text, read whatever its MsgSeqNum, is the reason); the peer closing the connection;
`end` or `logout` called by the application. Then queued messages and a Logout (once logged
on) are sent for at most `linger_s`, and `run` returns. A peer that stops reading (its outbox
full, or one send stalled past `send_timeout_s`) ends the session at once, with nothing more
sent: `abort`.
"""

from __future__ import annotations

import calendar
import ipaddress
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import trio
from simplefix import FixMessage

from venues.fix.codec import (
    Outgoing,
    checked_text,
    decode,
    encode,
    int_field,
    text_field,
)
from venues.fix.codec import utc_timestamp as _sending_time
from venues.fix.errors import REASON_CHARS, FixError
from venues.fix.messages import (
    Heartbeat,
    Logon,
    Logout,
    Message,
    Reject,
    ResendRequest,
    SequenceReset,
    TestRequest,
)
from venues.fix.reader import FixReader, WrongBeginString

MAX_REJECTS_KEPT = 20  # Rejects kept as text per session; all are counted

WRITE_BYTES = 65536  # what the writer sends at once at most: about a socket buffer
MAX_TRANSIT_S = 0.1  # a SendingTime further back than this (or ahead) is not trusted


class Session:
    """One end of a FIX session: outgoing sequence numbers and header, incoming checks.

    `sender` is this end's CompID, `target` the peer's (a server learns it from the Logon).
    `extras`: both ends agreed at Logon to quoterace's own tags (venues.fix.codec).
    """

    def __init__(self, sender: str, target: str | None = None) -> None:
        self.sender = checked_text(sender, "SenderCompID")
        self.target = target
        self.extras = False
        self.sent = 0  # MsgSeqNum of the last message sent
        self.received = 0  # of the last one received (the next expected is one more)
        self.gap: tuple[int, int] | None = None  # MsgSeqNums skipped by the last check
        self._head: tuple[str, bytes] | None = None  # (target, its header up to MsgSeqNum's value)
        self._comp_ids: tuple[str, bytes | None, bytes] | None = None  # (target, its, ours)

    def encode(self, message: FixMessage, gap_fill_at: int | None = None) -> bytes:
        """`message` on the wire, with the next sequence number and the time now; with
        `gap_fill_at`, as a possible duplicate (43=Y, 122) at that number, taking none."""
        if self.target is None:
            raise ValueError("the session's target is not known yet")
        if self._head is None or self._head[0] != self.target:
            self._head = self.target, f"49={self.sender}\x0156={self.target}\x0134=".encode()
        now = _sending_time()
        if gap_fill_at is None:
            self.sent += 1
            header = b"%s%d\x0152=%s\x01" % (self._head[1], self.sent, now)
        else:
            header = b"%s%d\x0143=Y\x0152=%s\x01122=%s\x01" % (self._head[1], gap_fill_at, now, now)
        return _wire(message, header)

    def check(self, message: FixMessage) -> bool:
        """Whether to act on `message`: False for a duplicate (PossDupFlag 43=Y, MsgSeqNum
        already seen), which is ignored. Raise FixError unless it is from the peer, to us,
        in sequence: a MsgSeqNum too low without PossDupFlag ends the session. One too high
        is taken, the numbers skipped left in `gap` (to ask for: a ResendRequest). A Logon
        with ResetSeqNumFlag (141=Y) starts the peer's numbers again at 1; a SequenceReset-
        Reset (4, 123=N) is not checked, since it sets them (`reset_to`). The first
        message, from a peer not known yet, names it."""
        fields = getattr(message, "fields", None)  # a Received's index
        if fields is None or not self._from_peer(fields) or message.repeated:
            sender = text_field(message, 49)
            if self.target is None:
                self.target = sender
            elif sender != self.target:
                raise FixError("SenderCompID is not the peer's")
            if text_field(message, 56) != self.sender:
                raise FixError("TargetCompID is not ours")
        text_field(message, 52)
        seq, kind, self.gap = int_field(message, 34), message.message_type, None
        if kind == b"A" and message.get(141) == b"Y":
            self.received = 0
        if kind == b"4" and message.get(123) != b"Y":
            return True
        expected = self.received + 1
        if seq < expected:
            if message.get(43) == b"Y":
                return False
            raise FixError(f"MsgSeqNum too low, expecting {expected} but received {seq}")
        if seq > expected:
            self.gap = (expected, seq - 1)
        self.received = seq
        return True

    def _from_peer(self, fields: dict[bytes, bytes]) -> bool:
        """Whether a message's CompIDs are exactly the peer's and ours, as bytes (the usual
        case, checked without reading them as text)."""
        if self._comp_ids is None or self._comp_ids[0] != self.target:
            if self.target is None:
                return False
            try:  # a target FIX cannot carry: never the peer's (text_field says why)
                peer = checked_text(self.target, "SenderCompID").encode()
            except ValueError:
                peer = None
            self._comp_ids = self.target, peer, self.sender.encode()
        _, peer, us = self._comp_ids
        return peer is not None and fields.get(b"49") == peer and fields.get(b"56") == us

    def reset_to(self, new_seq: int) -> bool:
        """A SequenceReset: the peer's next MsgSeqNum is `new_seq`. False (nothing changed)
        if that would go back: FIX forbids it."""
        if new_seq < self.received + 1:
            return False
        self.received = new_seq - 1
        return True


def _wire(message: FixMessage, header: bytes) -> bytes:
    """`message` (BeginString, MsgType and body) on the wire with the session's `header`
    fields after MsgType: what simplefix's encode makes of them, built at once (its checksum
    loop alone costs more than the rest); the body of one `encode` built is taken whole."""
    body = message.body() if isinstance(message, Outgoing) else None
    if body is None:
        body = b"".join(b"%s=%s\x01" % p for p in message.pairs if p[0] not in _FRAMING)
    rest = b"35=%s\x01%s%s" % (message.message_type, header, body)
    head = b"8=%s\x019=%d\x01" % (message.begin_string, len(rest))
    return b"%s%s10=%03d\x01" % (head, rest, (sum(head) + sum(rest)) % 256)


_FRAMING = (b"8", b"9", b"35", b"10")  # the fields `_wire` places itself
_sent_second: tuple[bytes, int] = (b"", 0)


def _sent_unix(text: bytes | None) -> float | None:
    """The Unix time of a SendingTime written to the microsecond or finer (None for a coarser
    or malformed one: a millisecond is too coarse to count a loopback's transit by); the
    date and time of day parsed once a second."""
    global _sent_second
    head, _, fraction = (text or b"").partition(b".")
    if len(fraction) < 6 or not fraction.isdigit():
        return None
    if head != _sent_second[0]:
        try:
            parsed = time.strptime(head.decode("ascii"), "%Y%m%d-%H:%M:%S")
        except (UnicodeDecodeError, ValueError):
            return None
        _sent_second = head, calendar.timegm(parsed)
    return _sent_second[1] + int(fraction) / 10 ** len(fraction)


def _on_loopback(sock: object) -> bool:
    """Whether a trio socket's peer is on this host's loopback (so shares its clocks)."""
    try:
        return ipaddress.ip_address(sock.getpeername()[0]).is_loopback
    except (AttributeError, OSError, ValueError, TypeError, IndexError):
        return False


@dataclass(frozen=True)
class SessionLimits:
    """What a Link allows its peer. Times in seconds."""

    max_message_bytes: int  # the FixReader's bound
    logon_timeout_s: float  # from the start to the peer's whole Logon
    idle_timeout_s: float  # nothing received for this long (heartbeats count): ended
    send_timeout_s: float  # one send stalled this long (the peer is not reading): aborted
    max_outbox: int  # messages waiting to be sent; one more and the link is aborted
    linger_s: float  # once ended, to send what is queued and a Logout


class Link:
    """A Session run over `stream`, under `limits`; `handle(message)` gets the application's
    messages (raising FixError ends the session with that reason), and `ended(reason)`, if
    given, is told at once when the session ends. `peer` names the peer in reasons.

    `tasks` is a nursery for the application's tasks while `run` runs: they are cancelled
    when the session ends, before the Logout is queued.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        session: Session,
        limits: SessionLimits,
        handle: Callable[[Message], None],
        *,
        ended: Callable[[str], None] | None = None,
        peer: str = "the peer",
    ) -> None:
        self.stream = stream
        self.session = session
        self.limits = limits
        self.peer = peer
        self.logged_on = False
        self.reason: str | None = None  # why the session ended; None while it runs
        self.tasks: trio.Nursery | None = None
        self.rejects: list[str] = []  # the peer's Rejects (35=3), the first MAX_REJECTS_KEPT
        self.reject_count = 0
        self._handle = handle
        self._ended = ended
        self._reader = FixReader(limits.max_message_bytes)
        self._outbox, self._outgoing = trio.open_memory_channel[bytes](limits.max_outbox)
        self._socket = getattr(stream, "socket", None)  # a SocketStream's: written directly
        self._same_clock = _on_loopback(self._socket)  # the peer's SendingTime is on our clock
        self._handling: FixMessage | None = None  # the message `handle` is acting on
        self._queued = 0  # messages handed to the writer and not yet sent
        self._sent_at = 0.0  # when something was last sent (for Heartbeats; set by run)
        self._heartbeat_s = math.inf
        self._quiet = trio.CancelScope()  # the writer's wait for something to send
        self._initiator = False
        self._extras_asked = False  # the initiator's Logon asked for quoterace's own tags
        self._logging_out = False  # our Logout is queued: wait for the peer's, send no more
        self._logout_unlogged = False  # a Logout goes even before the Logon (wrong version)
        self._scope = trio.CancelScope()  # the whole link, cancelled by abort
        self._reading = trio.CancelScope()  # the reader, cancelled by end

    async def run(
        self,
        logon: Logon | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run the session until it ends, then linger (see the module docstring). With `logon`,
        this end initiates the session with it; without, it waits for the peer's Logon.
        Started (for `nursery.start`) once logged on, or once the session ended before."""
        started = False

        def start() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        self._sent_at = trio.current_time()
        with self._scope:
            async with trio.open_nursery() as link:
                link.start_soon(self._write)
                if logon is not None:
                    self._initiator = True
                    self._heartbeat_s = logon.heartbeat_s or math.inf
                    self.send(logon)
                    self._extras_asked = logon.extras  # on once the reply agrees
                async with trio.open_nursery() as self.tasks:
                    reason, text = await self._read(start)
                    self.tasks.cancel_scope.cancel()
                self._stop(reason)
                if (self.logged_on or self._logout_unlogged) and not self._logging_out:
                    self._queue(Logout(text))
                self._outbox.close()
                link.cancel_scope.deadline = trio.current_time() + self.limits.linger_s
        start()

    def send(self, message: Message) -> None:
        """Queue `message`, unless the session has ended or is logging out; a peer that lets
        the outbox fill up is not reading: abort."""
        if self.reason is None and not self._logging_out:
            self._queue(message)

    def sent_at(self) -> float:
        """When the peer sent the message `handle` is acting on, in trio time: its SendingTime
        (52) when the peer shares our clock (it is on loopback) and wrote microseconds, else
        now. A venue counts a request's latency from it, so that the time the request took to
        reach it (the loopback, its own wake-up and reading, other clients read first) is part
        of the drawn latency rather than added to it."""
        if not self._same_clock or self._handling is None:
            return trio.current_time()
        sent = _sent_unix(self._handling.get(52))
        # the two clocks read back to back: a pause between them would move the answer
        now, transit = trio.current_time(), math.nan if sent is None else time.time() - sent
        return now - transit if 0.0 <= transit <= MAX_TRANSIT_S else now

    def logout(self) -> None:
        """End the session from this end: a Logout, then wait for the peer's (at most
        linger_s) and close."""
        if self.reason is None and not self._logging_out:
            self.send(Logout())
            self._logging_out = True
            self._reading.deadline = trio.current_time() + self.limits.linger_s

    def end(self, reason: str) -> None:
        """End the session now for `reason`, which the Logout carries to the peer."""
        self._stop(reason)
        self._reading.cancel()

    def abort(self, reason: str) -> None:
        """Close the connection now for `reason`, dropping whatever is queued."""
        self._stop(reason)
        self._scope.cancel()

    def _stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            if self._ended is not None:
                self._ended(reason)

    def _queue(self, message: Message, gap_fill_at: int | None = None) -> None:
        """Send `message` now if nothing is waiting before it, else (or what the socket did
        not take) hand it to the writer."""
        data = self.session.encode(encode(message, self.session.extras), gap_fill_at)
        if self._queued == 0:
            data = self._send_now(data)
            if not data:
                return
        try:
            self._outbox.send_nowait(data)
        except trio.WouldBlock:
            self.abort(f"{self.peer} is not reading: {self.limits.max_outbox} messages queued")
        else:
            self._queued += 1

    def _send_now(self, data: bytes) -> bytes:
        """Write `data` to the socket at once, without waiting (it is non-blocking); what it
        did not take is returned. Handing each message to the writer task would cost a turn
        of the event loop before it leaves: measured, ~0.05 ms of every round trip. Not a
        socket, or an error (the writer's send meets it again and ends the link): all of it."""
        fd = -1 if self._socket is None else self._socket.fileno()  # -1 once closed
        if fd < 0:
            return data
        try:
            sent = os.write(fd, data)
        except OSError:  # BlockingIOError (the socket's buffer is full) among them
            return data
        self._sent_at = trio.current_time()
        return data[sent:]

    async def _read(self, start: Callable[[], None]) -> tuple[str, str | None]:
        """Read and act on messages until the session ends: why, and the Logout's text."""
        limits = self.limits
        heard = trio.current_time()  # when the peer was last heard from
        logon_by = heard + limits.logon_timeout_s
        receive = self.stream.receive_some if self._socket is None else self._receive_some
        feed = self._reader.feed
        try:
            with self._reading:
                while True:
                    # One scope for many reads, its deadline checked when it passes: a scope
                    # (and a deadline) per read cost a tenth of a message's handling.
                    until = heard + limits.idle_timeout_s if self.logged_on else logon_by
                    if until <= trio.current_time():
                        if not self.logged_on:
                            reply = " reply" if self._initiator else ""
                            return f"no Logon{reply} in {limits.logon_timeout_s:g} s", None
                        # the initiator (a client) finds its venue silent; the acceptor, its
                        # peer idle
                        word = "silent" if self._initiator else "idle"
                        reason = f"{word} for {limits.idle_timeout_s:g} s"
                        return reason, reason
                    with trio.move_on_at(until) as quiet:
                        while True:
                            data = await receive(limits.max_message_bytes)
                            heard = trio.current_time()
                            if not data:
                                self._reader.close()
                                return f"{self.peer} closed the connection", None
                            logged_on = self.logged_on
                            for fix in feed(data):
                                if (logout := self._receive(fix, start)) is not None:
                                    said = f": {logout.text}" if logout.text else ""
                                    return f"{self.peer} logged out{said}", None
                            if self.logged_on and not logged_on:  # idle from now on
                                quiet.deadline = heard + limits.idle_timeout_s
        except WrongBeginString as error:
            if self.session.target is None:
                self.session.target = error.sender or "UNKNOWN"
            self._logout_unlogged = True
            return f"protocol error: {error.reason}", error.reason
        except FixError as error:
            return f"protocol error: {error.reason}", error.reason
        except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
            return f"connection lost: {e or 'reset'}", None
        if self.reason is None:  # our Logout unanswered
            return "logged out", None
        return self.reason, self.reason[:REASON_CHARS]  # end(reason)

    async def _receive_some(self, max_bytes: int) -> bytes:
        """The socket stream's `receive_some`, read directly: wait until the socket is
        readable, then read it. trio's (its socket's `recv`) first tries a read that, a message
        at a time, nearly always fails (the exception costs), and wraps it in two context
        managers: measured, a tenth of a message's handling. The same checkpoint, errors and
        result."""
        while True:
            fd = self._socket.fileno()  # -1 once closed
            if fd >= 0:
                await trio.lowlevel.wait_readable(fd)
            if fd < 0 or self._socket.fileno() != fd:  # closed, while this waited to run
                raise trio.ClosedResourceError("this socket was already closed")
            try:
                return os.read(fd, max_bytes)
            except BlockingIOError:
                continue  # readable, then not: wait again
            except OSError as e:
                raise trio.BrokenResourceError(f"socket connection broken: {e}") from e

    def _receive(self, fix: FixMessage, start: Callable[[], None]) -> Logout | None:
        """Act on one message; the peer's Logout, which ends the session, is returned."""
        if fix.message_type == b"5":  # its reason counts, whatever its MsgSeqNum
            return decode(fix)
        if not self.session.check(fix):
            return None  # a duplicate
        gap, message = self.session.gap, decode(fix)
        if not self.logged_on:
            self._logon(message, start)
        elif isinstance(message, Reject):
            self._rejected(message)
        elif isinstance(message, SequenceReset):
            if not self.session.reset_to(message.new_seq):
                seq = int_field(fix, 34)
                self.send(Reject(seq, "NewSeqNo would go back", 36, "4", 5))
        else:
            match message:
                case Heartbeat():
                    pass
                case TestRequest(test_req_id=test):
                    self.send(Heartbeat(test))
                case ResendRequest(begin=begin):
                    if begin <= self.session.sent:  # nothing stored: a gap fill to our next
                        self._queue(SequenceReset(self.session.sent + 1), max(begin, 1))
                case _:
                    self._handling = fix
                    try:
                        self._handle(message)
                    finally:
                        self._handling = None
        if gap is not None:
            self.send(ResendRequest(*gap))
        return None

    def _logon(self, message: Message, start: Callable[[], None]) -> None:
        """The peer's Logon, the first message: the acceptor answers it (echoing a reset and
        agreeing to extras); the initiator learns whether its extras were agreed to."""
        if not isinstance(message, Logon):
            raise FixError("the first message must be a Logon")
        self.logged_on = True
        if self._initiator:
            self.session.extras = self._extras_asked and message.extras
        else:
            self._heartbeat_s = message.heartbeat_s or math.inf
            self._quiet.deadline = self._sent_at + self._heartbeat_s
            if message.reset:
                self.session.sent = 0
            self.send(message)  # the same HeartBtInt, ResetSeqNumFlag and Username
            self.session.extras = message.extras
        start()

    def _rejected(self, reject: Reject) -> None:
        """Record the peer's Reject: the session goes on."""
        self.reject_count += 1
        if len(self.rejects) < MAX_REJECTS_KEPT:
            about = ", ".join(
                f"{name} {value}"
                for name, value in (
                    ("RefSeqNum", reject.ref_seq),
                    ("RefTagID", reject.ref_tag),
                    ("RefMsgType", reject.ref_msg_type),
                    ("SessionRejectReason", reject.reason),
                )
                if value is not None
            )
            self.rejects.append(f"{reject.text or 'rejected'} ({about})")

    async def _write(self) -> None:
        """Send queued messages in order, and a Heartbeat after heartbeat_s of quiet, until
        the outbox is closed; abort on a send stalled past send_timeout_s."""
        send_timeout_s = self.limits.send_timeout_s
        try:
            while True:
                with trio.move_on_at(self._sent_at + self._heartbeat_s) as self._quiet:
                    data = await self._outgoing.receive()
                if self._quiet.cancelled_caught:
                    now = trio.current_time()
                    if now >= self._sent_at + self._heartbeat_s:  # else: sent since, wait on
                        self._sent_at = now  # the next one a HeartBtInt on, sent or not
                        self.send(Heartbeat())
                    continue
                data, count = self._more(data)
                with trio.move_on_after(send_timeout_s) as stalled:
                    await self.stream.send_all(data)
                if stalled.cancelled_caught:
                    self.abort(f"{self.peer} is not reading: a send stalled {send_timeout_s:g} s")
                    return
                self._queued -= count
                self._sent_at = trio.current_time()
        except trio.EndOfChannel:
            pass
        except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
            self.abort(f"connection lost: {e or 'reset'}")

    def _more(self, data: bytes) -> tuple[bytes, int]:
        """`data` and whatever else is queued, up to WRITE_BYTES: one send for them all. The
        application may queue hundreds of messages in one turn of the event loop (quotes due
        at once); sent one per turn, they would fill the outbox of a peer that reads them all."""
        batch, size = [data], len(data)
        while size < WRITE_BYTES:
            try:
                batch.append(self._outgoing.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            size += len(batch[-1])
        return b"".join(batch), len(batch)
