"""FixReader: FIX messages framed out of a byte stream, strictly, in bounded memory.

simplefix's `FixParser` is not used: it buffers without limit while it waits for a CheckSum
field, skips garbage before a BeginString silently, never checks BodyLength or the checksum,
and trusts data-length fields (tag 95 and friends) to say how much more to wait for. A peer
must not be able to make a server hold memory or accept a corrupt message, so framing here is
strict: every message is `8=FIX.4.4|9=<length>|...|10=<checksum>|`, whole and nothing between.
Data fields (whose values may hold SOH) are not supported. A message of another FIX version
is a WrongBeginString, which names it (a Logout can then say so).
"""

from __future__ import annotations

import re

from simplefix import FixMessage

from venues.fix.errors import FixError

BEGIN_STRING = "FIX.4.4"
MAX_MESSAGE_BYTES = 4096

SOH = 1  # the field separator, as a byte value
_PREFIX = b"8=FIX.4.4\x019="
_TRAILER = len(b"10=000\x01")
_TAG_DIGITS = 9  # a tag is a positive integer of at most this many digits
_ZERO = ord("0")
_FRAMING = (b"8", b"9", b"10", b"35")  # BeginString, BodyLength, CheckSum, MsgType: once
_BEGIN_STRING = BEGIN_STRING.encode()
_OTHER_FIX = b"8=FIX"  # another BeginString (FIX.4.2, FIXT.1.1): named, so a Logout can say so
_SENDER = re.compile(rb"\x0149=([\x20-\x7e]{1,64})\x01")
# A body as `_message` checks it, field by field: MsgType first, then tag=value fields with
# tags of 1 to _TAG_DIGITS digits and no framing tag among them; and its fields, once it is.
_BODY = re.compile(rb"35=[^\x01]+(?:\x01(?!(?:8|9|10|35)=)[1-9][0-9]{0,8}=[^\x01]+)*")
_FIELD = re.compile(rb"([^\x01=]+)=([^\x01]+)")


class WrongBeginString(FixError):
    """A message of another FIX version: `sender` is its SenderCompID, if it came with it (a
    Logout saying so can then go back, before any Logon)."""

    def __init__(self, reason: str, sender: str | None) -> None:
        super().__init__(reason)
        self.sender = sender


class FixReader:
    """Frames FIX messages out of a byte stream, holding at most `max_size` bytes.

    `feed(data)` returns the messages that `data` completes; a message declaring more than
    `max_size` bytes, bad framing (BeginString, BodyLength, a field that is not tag=value, a
    CheckSum field out of place), a wrong checksum, or bytes between messages raise FixError
    as soon as they are seen, without waiting for the rest. At the end of the stream, `close()`
    raises FixError if a message was cut short. After a FixError the stream cannot be trusted:
    drop it.
    """

    def __init__(self, max_size: int = MAX_MESSAGE_BYTES) -> None:
        if max_size < 64:
            raise ValueError(f"max_size: {max_size} is too small for any message")
        self.max_size = max_size
        self._digits = len(str(max_size))  # a longer BodyLength is too long anyway
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """How many bytes of an incomplete message are held."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Received]:
        """The messages completed by `data`, in order."""
        messages = []
        view = memoryview(data)
        while view:
            # After the messages are taken out the buffer holds less than one message, which
            # is never more than max_size: so there is always room here.
            room = self.max_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            while (message := self._next()) is not None:
                messages.append(message)
        return messages

    def close(self) -> None:
        """The stream has ended: an incomplete message held is an error."""
        if self._buffer:
            raise FixError(f"truncated: the stream ended {len(self._buffer)} bytes into a message")

    def _next(self) -> Received | None:
        """Take the first message out of the buffer, if whole."""
        buffer, start = self._buffer, len(_PREFIX)
        if buffer[:start] != _PREFIX[: len(buffer)]:
            _not_fix_4_4(buffer)
            return None  # perhaps another version: wait for its BeginString's end
        if len(buffer) <= start:
            return None
        # One digit more than the limit has is enough to tell an oversized message.
        end = buffer.find(SOH, start, start + self._digits + 2)
        digits = buffer[start : start + self._digits + 1] if end < 0 else buffer[start:end]
        if not digits.isdigit() or digits[0] == ord("0"):
            raise FixError("bad BodyLength")
        if len(digits) > self._digits:
            raise FixError(f"oversized: BodyLength has more digits than {self.max_size}")
        if end < 0:
            return None
        body_end = end + 1 + int(digits)
        size = body_end + _TRAILER
        if size > self.max_size:
            raise FixError(f"oversized: {size} bytes, more than the limit of {self.max_size}")
        if len(buffer) < size:
            return None
        trailer = buffer[body_end:size]
        if trailer[:3] != b"10=" or not trailer[3:6].isdigit() or trailer[6] != SOH:
            raise FixError("bad CheckSum field, or BodyLength wrong")
        if int(trailer[3:6]) != sum(buffer[:body_end]) % 256:
            raise FixError("checksum mismatch")
        if buffer[body_end - 1] != SOH:
            raise FixError("BodyLength wrong: the body does not end with a field")
        message = _message(bytes(buffer[end + 1 : body_end - 1]))
        del buffer[:size]
        return message


def _not_fix_4_4(buffer: bytearray) -> None:
    """A buffer that does not begin as FIX.4.4 does: WrongBeginString once another version's
    BeginString is whole, FixError for anything else that is not the start of one."""
    end = buffer.find(SOH, 0, 24)
    if buffer[:5] == _OTHER_FIX and end > 0 and buffer[2:end] != _PREFIX[2:9]:
        sender = _SENDER.search(buffer)
        raise WrongBeginString(
            f"BeginString {bytes(buffer[2:end]).decode('ascii', 'replace')} not "
            f"supported ({BEGIN_STRING} only)",
            None if sender is None else sender[1].decode(),
        )
    if not (end < 0 and buffer[:5] == _OTHER_FIX[: len(buffer)] and len(buffer) < 24):
        raise FixError("garbage: a message must begin 8=FIX.4.4|9=")


class Received(FixMessage):
    """A FixMessage as FixReader framed it, indexed: `fields` maps each tag to its first value,
    `repeated` holds the tags that occur more than once (a decoder reads a dozen fields of
    each message; simplefix's `get` scans them all for each)."""

    def __init__(self, pairs: list[tuple[bytes, bytes]]) -> None:
        super().__init__()
        self.pairs = pairs
        self.fields: dict[bytes, bytes] = dict(pairs)  # the last values: right if no repeats
        self.repeated: set[bytes] = set()
        if len(self.fields) < len(pairs):
            self.fields.clear()
            for tag, value in pairs:
                if tag in self.fields:
                    self.repeated.add(tag)
                else:
                    self.fields[tag] = value
        self.begin_string, self.message_type = self.fields.get(b"8"), self.fields.get(b"35")

    def get(self, tag: int | str | bytes, nth: int = 1) -> bytes | None:
        """simplefix's `get`: the `nth` value of `tag` (None if there is none); the first
        one from `fields`."""
        if nth != 1:
            return super().get(tag, nth)
        return self.fields.get(tag if isinstance(tag, bytes) else str(tag).encode())


def _message(body: bytes) -> Received:
    """The message of a framed body (fields without the final SOH), checked field by field.
    Its pairs are set at once: simplefix's `append_pair` converts each tag and value again,
    which costs more than the framing (this runs for every message a venue or client reads).
    A well-formed body (nearly all) is checked and split by regular expressions at once; any
    other is gone through field by field, to say what is wrong with it."""
    if _BODY.fullmatch(body):
        return Received([(b"8", _BEGIN_STRING), *_FIELD.findall(body)])
    return _checked(body)


def _checked(body: bytes) -> Received:
    """`_message`, field by field: FixError naming the first field that is wrong."""
    pairs = [field.partition(b"=")[::2] for field in body.split(b"\x01")]
    for n, (tag, value) in enumerate(pairs):
        if not (value and 0 < len(tag) <= _TAG_DIGITS and tag.isdigit() and tag[0] != _ZERO):
            raise FixError(f"field {n + 3} is not tag=value")
        if n == 0 and tag != b"35":
            raise FixError("MsgType (35) must be the third field")
        if n and tag in _FRAMING:
            raise FixError(f"tag {tag.decode()} repeated or out of place")
    return Received([(b"8", _BEGIN_STRING), *pairs])
