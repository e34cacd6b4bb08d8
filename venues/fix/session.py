"""The FIX session layer, one for both ends: the venue server (the acceptor) and the client
(the initiator) run the same code.

Two parts. `Session` is the session's state without I/O: this end's CompID and the peer's, the
sequence numbers out and in, the standard header stamped on each message sent and checked on
each one received. Sequence numbers must follow 1, 2, 3, ...: there is no resend, so a gap is
an error.

`Link` runs a Session over a trio stream: a reader (the task calling `run`) and a writer.
The reader frames messages with a bounded FixReader, checks them against the Session, and
handles the session's own messages itself: the Logon (the initiator sends one and waits for
the peer's; the acceptor waits for one and answers with the same), a TestRequest (answered
with a Heartbeat carrying its id), a Heartbeat, a Logout. Every other message goes to the
application's `handle`. The writer sends queued messages in order, all that are queued (up to
WRITE_BYTES) in one send, so that the outbox backs up only when the peer does not read; and a
Heartbeat after HeartBtInt of quiet (the initiator's Logon sets it for both ends).

The session ends, and `reason` says why (the first reason wins), on: no whole Logon within
`logon_timeout_s`; silence (nothing, not even a Heartbeat) for `idle_timeout_s`; bad bytes or
a bad message (FixError, a Logout carrying its reason back); the peer's Logout (answered with
one); the peer closing the connection; `end` or `logout` called by the application. Then
queued messages and a Logout (once logged on) are sent for at most `linger_s`, and `run`
returns. A peer that stops reading (its outbox full, or one send stalled past
`send_timeout_s`) ends the session at once, with nothing more sent: `abort`.

The rest of FIX 4.4's session layer (Reject, ResendRequest, SequenceReset, PossDupFlag,
ResetSeqNumFlag) would land here: a store of sent messages and the gap logic in `Session`,
their messages handled in `Link._receive`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import trio
from simplefix import FixMessage

from venues.fix.codec import checked_text, decode, encode, int_field, text_field
from venues.fix.errors import REASON_CHARS, FixError
from venues.fix.messages import Heartbeat, Logon, Logout, Message, TestRequest
from venues.fix.reader import FixReader

WRITE_BYTES = 65536  # what the writer sends at once at most: about a socket buffer


class Session:
    """One end of a FIX session: outgoing sequence numbers and header, incoming checks.

    `sender` is this end's CompID, `target` the peer's (a server learns it from the Logon).
    """

    def __init__(self, sender: str, target: str | None = None) -> None:
        self.sender = checked_text(sender, "SenderCompID")
        self.target = target
        self.sent = 0  # MsgSeqNum of the last message sent
        self.received = 0  # and received

    def encode(self, message: FixMessage) -> bytes:
        """`message` on the wire, with the next sequence number and the time now."""
        if self.target is None:
            raise ValueError("the session's target is not known yet")
        self.sent += 1
        message.append_pair(49, self.sender, header=True)
        message.append_pair(56, self.target, header=True)
        message.append_pair(34, self.sent, header=True)
        message.append_utc_timestamp(52, datetime.now(UTC), precision=6, header=True)
        return message.encode()

    def check(self, message: FixMessage) -> None:
        """Raise FixError unless `message` is the peer's next message in this session (the
        first one, from a peer not known yet, names it)."""
        if int_field(message, 34) != self.received + 1:
            raise FixError(f"MsgSeqNum {int_field(message, 34)}, expected {self.received + 1}")
        sender = text_field(message, 49)
        if self.target is None:
            self.target = sender
        elif sender != self.target:
            raise FixError("SenderCompID is not the peer's")
        if text_field(message, 56) != self.sender:
            raise FixError("TargetCompID is not ours")
        text_field(message, 52)
        self.received += 1


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
        self._handle = handle
        self._ended = ended
        self._reader = FixReader(limits.max_message_bytes)
        self._outbox, self._outgoing = trio.open_memory_channel[bytes](limits.max_outbox)
        self._heartbeat_s = math.inf
        self._initiator = False
        self._logging_out = False  # our Logout is queued: wait for the peer's, send no more
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

        with self._scope:
            async with trio.open_nursery() as link:
                link.start_soon(self._write)
                if logon is not None:
                    self._initiator = True
                    self._heartbeat_s = logon.heartbeat_s or math.inf
                    self.send(logon)
                async with trio.open_nursery() as self.tasks:
                    reason, text = await self._read(start)
                    self.tasks.cancel_scope.cancel()
                self._stop(reason)
                if self.logged_on and not self._logging_out:
                    self._queue(Logout(text))
                self._outbox.close()
                link.cancel_scope.deadline = trio.current_time() + self.limits.linger_s
        start()

    def send(self, message: Message) -> None:
        """Queue `message`, unless the session has ended or is logging out; a peer that lets
        the outbox fill up is not reading: abort."""
        if self.reason is None and not self._logging_out:
            self._queue(message)

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

    def _queue(self, message: Message) -> None:
        try:
            self._outbox.send_nowait(self.session.encode(encode(message)))
        except trio.WouldBlock:
            self.abort(f"{self.peer} is not reading: {self.limits.max_outbox} messages queued")

    async def _read(self, start: Callable[[], None]) -> tuple[str, str | None]:
        """Read and act on messages until the session ends: why, and the Logout's text."""
        limits = self.limits
        logon_by = trio.current_time() + limits.logon_timeout_s
        try:
            with self._reading:
                while True:
                    until = (
                        trio.current_time() + limits.idle_timeout_s if self.logged_on else logon_by
                    )
                    with trio.move_on_at(until) as quiet:
                        data = await self.stream.receive_some(limits.max_message_bytes)
                    if quiet.cancelled_caught and not self.logged_on:
                        reply = " reply" if self._initiator else ""
                        return f"no Logon{reply} in {limits.logon_timeout_s:g} s", None
                    if quiet.cancelled_caught:
                        # the initiator (a client) finds its venue silent; the acceptor, its
                        # peer idle
                        word = "silent" if self._initiator else "idle"
                        reason = f"{word} for {limits.idle_timeout_s:g} s"
                        return reason, reason
                    if not data:
                        self._reader.close()
                        return f"{self.peer} closed the connection", None
                    for fix in self._reader.feed(data):
                        if (logout := self._receive(fix, start)) is not None:
                            said = f": {logout.text}" if logout.text else ""
                            return f"{self.peer} logged out{said}", None
        except FixError as error:
            return f"protocol error: {error.reason}", error.reason
        except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
            return f"connection lost: {e or 'reset'}", None
        if self.reason is None:  # our Logout unanswered
            return "logged out", None
        return self.reason, self.reason[:REASON_CHARS]  # end(reason)

    def _receive(self, fix: FixMessage, start: Callable[[], None]) -> Logout | None:
        """Act on one message; the peer's Logout, which ends the session, is returned."""
        self.session.check(fix)
        message = decode(fix)
        if not self.logged_on:
            if not isinstance(message, Logon):
                raise FixError("the first message must be a Logon")
            self.logged_on = True
            if not self._initiator:
                self._heartbeat_s = message.heartbeat_s or math.inf
                self.send(message)
            start()
            return None
        match message:
            case Heartbeat():
                pass
            case TestRequest(test_req_id=test):
                self.send(Heartbeat(test))
            case Logout():
                return message
            case _:
                self._handle(message)
        return None

    async def _write(self) -> None:
        """Send queued messages in order, and a Heartbeat after heartbeat_s of quiet, until
        the outbox is closed; abort on a send stalled past send_timeout_s."""
        send_timeout_s = self.limits.send_timeout_s
        try:
            while True:
                with trio.move_on_after(self._heartbeat_s) as quiet:
                    data = await self._outgoing.receive()
                if quiet.cancelled_caught:
                    self.send(Heartbeat())  # queued: sequence numbers stay in order
                    continue
                data = self._more(data)
                with trio.move_on_after(send_timeout_s) as stalled:
                    await self.stream.send_all(data)
                if stalled.cancelled_caught:
                    self.abort(f"{self.peer} is not reading: a send stalled {send_timeout_s:g} s")
                    return
        except trio.EndOfChannel:
            pass
        except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
            self.abort(f"connection lost: {e or 'reset'}")

    def _more(self, data: bytes) -> bytes:
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
        return b"".join(batch)
