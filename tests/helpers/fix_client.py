"""A minimal FIX client for the venue server's tests: one connection, one message at a time,
checking the server's header and sequence numbers as it reads. It asks for quoterace's own
tags at Logon (as quoterace's client does with its own venues) unless told not to."""

from __future__ import annotations

import trio

from venues.fix import FixReader, Logon, Message, Session, decode, encode


class Client:
    """A client session on `stream`, as `sender`, with the venue `target`."""

    def __init__(self, stream: trio.abc.Stream, sender: str = "CLIENT", target: str = "V0"):
        self.stream = stream
        self.session = Session(sender, target)
        self.reader = FixReader()
        self.pending: list = []

    async def send(self, *messages: Message) -> None:
        extras = self.session.extras
        await self.send_raw(b"".join(self.session.encode(encode(m, extras)) for m in messages))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def receive(self, timeout_s: float = 2.0) -> Message | None:
        """The server's next message; None once it has closed the connection."""
        with trio.fail_after(timeout_s):
            while not self.pending:
                data = await self.stream.receive_some(4096)
                if not data:
                    self.reader.close()
                    return None
                self.pending += self.reader.feed(data)
        fix = self.pending.pop(0)
        if not self.session.check(fix):
            return await self.receive(timeout_s)  # a duplicate
        return decode(fix)

    async def until_closed(self, timeout_s: float = 2.0) -> list[Message]:
        """Every message the server sends until it closes the connection."""
        received = []
        while (message := await self.receive(timeout_s)) is not None:
            received.append(message)
        return received


async def connect(
    port: int,
    *,
    sender: str = "CLIENT",
    logon: bool = True,
    extras: bool = True,
    timeout_s: float = 2.0,
) -> Client:
    """A client connected to 127.0.0.1:`port`, logged on (within `timeout_s`) unless told not
    to, asking for quoterace's own tags if told to (the venue agrees)."""
    client = Client(await trio.open_tcp_stream("127.0.0.1", port), sender)
    if logon:
        await client.send(Logon(0, extras=extras))
        assert await client.receive(timeout_s) == Logon(0, extras=extras)
        client.session.extras = extras
    return client
