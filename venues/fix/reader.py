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
# A field of a body, where one begins (after SOH, or at the start): a tag of 1 to _TAG_DIGITS
# digits, "=", and a value up to the next SOH; what does not begin so is not found at all.
_FIELDS = re.compile(rb"(?<![^\x01])([1-9][0-9]{0,8})=([^\x01]+)")


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
        self._buffer = b""  # the start of a message not yet whole

    @property
    def buffered(self) -> int:
        """How many bytes of an incomplete message are held."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Received]:
        """The messages completed by `data`, in order. They are framed where they lie in
        `data` (joined to the start of one held from before, if any): what is left over, less
        than one message (so never more than max_size), is held for the next feed."""
        if self._buffer:
            data, self._buffer = self._buffer + data, b""
        elif type(data) is not bytes:
            data = bytes(data)
        messages, at, end = [], 0, len(data)
        while at < end:
            size = self._size(data, at)
            if size is None or at + size > end:
                self._buffer = data[at:]
                break
            messages.append(self._framed(data, at, at + size))
            at += size
        return messages

    def close(self) -> None:
        """The stream has ended: an incomplete message held is an error."""
        if self._buffer:
            raise FixError(f"truncated: the stream ended {len(self._buffer)} bytes into a message")

    def _size(self, data: bytes, at: int) -> int | None:
        """The size of the message that begins at `data[at]`, from its BodyLength; None if
        its header is not whole yet. FixError for a header that is wrong already, or too
        large a message."""
        start = at + len(_PREFIX)
        if not data.startswith(_PREFIX, at):
            head = data[at:start]
            if head != _PREFIX[: len(head)]:
                _not_fix_4_4(data[at : at + self.max_size])
            return None  # perhaps another version: wait for its BeginString's end
        # One digit more than the limit has is enough to tell an oversized message.
        end = data.find(b"\x01", start, start + self._digits + 2)
        digits = data[start : start + self._digits + 1] if end < 0 else data[start:end]
        if not digits and end < 0:
            return None  # the stream stops at "9=": wait for its value
        if not digits.isdigit() or digits[0] == _ZERO:
            raise FixError("bad BodyLength")
        if len(digits) > self._digits:
            raise FixError(f"oversized: BodyLength has more digits than {self.max_size}")
        if end < 0:
            return None
        size = end + 1 + int(digits) + _TRAILER - at
        if size > self.max_size:
            raise FixError(f"oversized: {size} bytes, more than the limit of {self.max_size}")
        return size

    def _framed(self, data: bytes, at: int, end: int) -> Received:
        """The whole message `data[at:end]`, its trailer and body checked."""
        body_end = end - _TRAILER
        trailer = data[body_end:end]
        if trailer[:3] != b"10=" or not trailer[3:6].isdigit() or trailer[6] != SOH:
            raise FixError("bad CheckSum field, or BodyLength wrong")
        if int(trailer[3:6]) != sum(data[at:body_end]) % 256:
            raise FixError("checksum mismatch")
        if data[body_end - 1] != SOH:
            raise FixError("BodyLength wrong: the body does not end with a field")
        return _message(data[data.index(b"\x01", at + len(_PREFIX)) + 1 : body_end - 1])


def _not_fix_4_4(buffer: bytes) -> None:
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
    A well-formed body (nearly all) is split by one regular expression, which finds a field
    only where one begins and is whole: as many as there are fields, MsgType first, and no
    framing tag among the rest, and every field was one. Any other body is gone through field
    by field, to say what is wrong with it."""
    pairs = _FIELDS.findall(body)
    if len(pairs) == body.count(b"\x01") + 1 and pairs[0][0] == b"35":
        message = Received([(b"8", _BEGIN_STRING), *pairs])
        fields, repeated = message.fields, message.repeated
        framing = b"9" in fields or b"10" in fields
        if not framing and not (repeated and (b"8" in repeated or b"35" in repeated)):
            return message
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
