"""The FIX 4.4 tag=value wire format of quoterace's messages.

Three parts: `FixReader`, which frames messages out of a byte stream holding at most a bounded
number of bytes; `Session`, which stamps outgoing messages with the standard header and checks
incoming ones'; and `encode`/`decode` between FIX messages and quoterace values.

simplefix's `FixMessage` builds messages (it computes BodyLength and CheckSum), but its
`FixParser` is not used: it buffers without limit while it waits for a CheckSum field, skips
garbage before a BeginString silently, never checks BodyLength or the checksum, and trusts
data-length fields (tag 95 and friends) to say how much more to wait for. A peer must not be
able to make a server hold memory or accept a corrupt message, so framing here is strict:
every message is `8=FIX.4.4|9=<length>|...|10=<checksum>|`, whole and nothing between.

Fields, by message (custom tags are in the user-defined range 5000-9999):

    R  QuoteRequest        131 QuoteReqID "index:attempt", 146=1, 55 Symbol, 54 Side,
                           38 OrderQty, 5001 SentAfterS, 5007 T0, 5008 Mid (when known)
    S  Quote               131, 117 QuoteID (the same "index:attempt"), 55, 54, 133 OfferPx
                           and 135 OfferSize for a buy (132 BidPx, 134 BidSize for a sell),
                           5001, 5002 LatencyS, 5003 VenueIndex, 5004 PricedAt, 5005 ExpiresAt
    AG QuoteRequestReject  131, 658 QuoteRequestRejectReason=99 (other), 58 Text
    Z  QuoteCancel         131, 298 QuoteCancelType=1
    D  NewOrderSingle      11 ClOrdID, 117 QuoteID, 40 OrdType=D (previously quoted), 55, 54,
                           38, 44 Price, 60 TransactTime
    8  ExecutionReport     37 OrderID (the QuoteID), 17 ExecID (the ClOrdID), 11, 131,
                           150 ExecType / 39 OrdStatus (F / 2 filled, 8 / 8 rejected), 55, 54,
                           38, 44, 14 CumQty, 151 LeavesQty, 6 AvgPx, 31 LastPx / 32 LastQty
                           (fills), 103 OrdRejReason and 58 Text (rejects: one of
                           REJECT_REASONS), 5003, 5006 RoundTripS
    A  Logon (98=0, 108 HeartBtInt), 0 Heartbeat (112), 1 TestRequest (112), 5 Logout (58)

Floats travel as the shortest decimal that reads back as the same double (`repr`, written
without an exponent, which FIX does not allow), so every value round-trips exactly. Optional
values are left out when they hold their default (NaN mid or priced_at, infinite size or
expiry, no price). Sequence numbers must follow 1, 2, 3, ...: there is no resend, so a gap is
an error. Data fields (whose values may hold SOH) are not supported.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from simplefix import FixMessage

from venues.last_look import REJECT_REASONS
from venues.messages import ExecutionReport, Quote, QuoteRequest

BEGIN_STRING = "FIX.4.4"
MAX_MESSAGE_BYTES = 4096
SYMBOL = "QUOTERACE"
REASON_CHARS = 200

SOH = 1  # the field separator, as a byte value
_PREFIX = b"8=FIX.4.4\x019="
_TRAILER = len(b"10=000\x01")
_TAG = re.compile(rb"[1-9][0-9]{0,8}")
_INT = re.compile(rb"0|-?[1-9][0-9]{0,17}")
_FLOAT = re.compile(rb"-?[0-9]{1,400}(\.[0-9]{1,400})?")
_KEY = re.compile(rb"(0|[1-9][0-9]{0,17}):(0|[1-9][0-9]{0,8})")
_TEXT = re.compile(rb"[\x20-\x7e]{1,256}")  # every message then fits in MAX_MESSAGE_BYTES

# FIX's OrdRejReason for each of quoterace's reject reasons: too late to enter, broker/exchange
# option (last look is the venue's option), order exceeds limit.
ORD_REJ_REASON = {"expired": 4, "price_moved": 0, "no_liquidity": 3}
assert set(ORD_REJ_REASON) == set(REJECT_REASONS)


class FixError(Exception):
    """Bytes or a message that are not valid quoterace FIX: `reason` says what is wrong, in at
    most REASON_CHARS printable characters, so that it can go back to the peer in a Logout."""

    def __init__(self, reason: str) -> None:
        reason = reason[:REASON_CHARS]
        super().__init__(reason)
        self.reason = reason


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

    def feed(self, data: bytes) -> list[FixMessage]:
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

    def _next(self) -> FixMessage | None:
        """Take the first message out of the buffer, if whole."""
        buffer, start = self._buffer, len(_PREFIX)
        if buffer[:start] != _PREFIX[: len(buffer)]:
            raise FixError("garbage: a message must begin 8=FIX.4.4|9=")
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


def _message(body: bytes) -> FixMessage:
    """The FixMessage of a framed body (fields without the final SOH), checked field by field."""
    message = FixMessage()
    message.append_pair(8, BEGIN_STRING)
    for n, field in enumerate(body.split(b"\x01")):
        tag, equals, value = field.partition(b"=")
        if not equals or not _TAG.fullmatch(tag) or not value:
            raise FixError(f"field {n + 3} is not tag=value")
        if n == 0 and tag != b"35":
            raise FixError("MsgType (35) must be the third field")
        if tag in (b"8", b"9", b"10") or (n and tag == b"35"):
            raise FixError(f"tag {tag.decode()} repeated or out of place")
        message.append_pair(tag, value)
    return message


class Session:
    """One end of a FIX session: outgoing sequence numbers and header, incoming checks.

    `sender` is this end's CompID, `target` the peer's (a server learns it from the Logon).
    """

    def __init__(self, sender: str, target: str | None = None) -> None:
        self.sender = _checked_text(sender, "SenderCompID")
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
        if _int(message, 34) != self.received + 1:
            raise FixError(f"MsgSeqNum {_int(message, 34)}, expected {self.received + 1}")
        sender = _text(message, 49)
        if self.target is None:
            self.target = sender
        elif sender != self.target:
            raise FixError("SenderCompID is not the peer's")
        if _text(message, 56) != self.sender:
            raise FixError("TargetCompID is not ours")
        _text(message, 52)
        self.received += 1


@dataclass(frozen=True)
class Logon:
    """35=A: open a session; `heartbeat_s` is HeartBtInt (0: no heartbeats)."""

    heartbeat_s: int = 30


@dataclass(frozen=True)
class Heartbeat:
    """35=0: still here; the answer to a TestRequest carries its id."""

    test_req_id: str | None = None


@dataclass(frozen=True)
class TestRequest:
    """35=1: asks the peer for a Heartbeat with this id."""

    __test__ = False  # not a pytest test class
    test_req_id: str


@dataclass(frozen=True)
class Logout:
    """35=5: the session ends; `text` says why."""

    text: str | None = None


@dataclass(frozen=True)
class QuoteReply:
    """35=S: the venue's `quote` for attempt `attempt` of request `quote.request`, on `side`.

    Its QuoteID is "request:attempt", the key an order for it names.
    """

    attempt: int
    side: int
    quote: Quote


@dataclass(frozen=True)
class QuoteRequestReject:
    """35=AG: the venue will not quote this request; `reason` says why."""

    request: int
    attempt: int
    reason: str


@dataclass(frozen=True)
class QuoteCancel:
    """35=Z: the client no longer waits for its request's quote."""

    request: int
    attempt: int


@dataclass(frozen=True)
class NewOrderSingle:
    """35=D: an order of `size` on `side`, at `price`, for the quote of (request, attempt)."""

    cl_ord_id: str
    request: int
    attempt: int
    side: int
    size: float
    price: float


@dataclass(frozen=True)
class OrderReport:
    """35=8: the venue's `report` on order `cl_ord_id` (attempt `attempt`, `side`, `size`)."""

    cl_ord_id: str
    attempt: int
    side: int
    size: float
    report: ExecutionReport


Message = (
    Logon
    | Heartbeat
    | TestRequest
    | Logout
    | QuoteRequest
    | QuoteReply
    | QuoteRequestReject
    | QuoteCancel
    | NewOrderSingle
    | OrderReport
)


def encode(message: Message) -> FixMessage:
    """`message` as a FIX message without its session header (Session.encode adds it).

    Raises ValueError for values FIX cannot carry here (a non-finite required float, a side
    other than +1 or -1, text outside printable ASCII).
    """
    fix = FixMessage()
    fix.append_pair(8, BEGIN_STRING, header=True)
    add = fix.append_pair
    match message:
        case Logon(heartbeat_s=heartbeat):
            fix.append_pair(35, "A", header=True)
            add(98, 0)
            add(108, _nonnegative(heartbeat, "HeartBtInt"))
        case Heartbeat(test_req_id=test):
            fix.append_pair(35, "0", header=True)
            add(112, None if test is None else _checked_text(test, "TestReqID"))
        case TestRequest(test_req_id=test):
            fix.append_pair(35, "1", header=True)
            add(112, _checked_text(test, "TestReqID"))
        case Logout(text=text):
            fix.append_pair(35, "5", header=True)
            add(58, None if text is None else _checked_text(text, "Text"))
        case QuoteRequest():
            fix.append_pair(35, "R", header=True)
            add(131, _key(message.index, message.attempt))
            add(146, 1)
            add(55, SYMBOL)
            add(54, _side(message.side))
            add(38, _number(message.size))
            add(5001, _number(message.sent_after_s))
            add(5007, _number(message.t0))
            add(5008, None if math.isnan(message.mid) else _number(message.mid))
        case QuoteReply(attempt=attempt, side=side, quote=quote):
            fix.append_pair(35, "S", header=True)
            key = _key(quote.request, attempt)
            add(131, key)
            add(117, key)
            add(55, SYMBOL)
            add(54, _side(side))
            price, size = (133, 135) if side == 1 else (132, 134)
            add(price, None if quote.price is None else _number(quote.price))
            add(size, None if quote.size == math.inf else _number(quote.size))
            add(5001, _number(quote.sent_after_s))
            add(5002, _number(quote.latency_s))
            add(5003, _nonnegative(quote.venue, "VenueIndex"))
            add(5004, None if math.isnan(quote.priced_at) else _number(quote.priced_at))
            add(5005, None if quote.expires_at == math.inf else _number(quote.expires_at))
        case QuoteRequestReject(request=request, attempt=attempt, reason=reason):
            fix.append_pair(35, "AG", header=True)
            add(131, _key(request, attempt))
            add(658, 99)
            add(58, _checked_text(reason, "Text"))
        case QuoteCancel(request=request, attempt=attempt):
            fix.append_pair(35, "Z", header=True)
            add(131, _key(request, attempt))
            add(298, 1)
        case NewOrderSingle():
            fix.append_pair(35, "D", header=True)
            add(11, _checked_text(message.cl_ord_id, "ClOrdID"))
            add(117, _key(message.request, message.attempt))
            add(40, "D")
            add(55, SYMBOL)
            add(54, _side(message.side))
            add(38, _number(message.size))
            add(44, _number(message.price))
            fix.append_utc_timestamp(60, datetime.now(UTC), precision=6)
        case OrderReport(cl_ord_id=cl_ord_id, report=report):
            fix.append_pair(35, "8", header=True)
            _report_fields(fix, message, _checked_text(cl_ord_id, "ClOrdID"), report)
        case _:
            raise TypeError(f"not a quoterace FIX message: {message!r}")
    return fix


def _report_fields(
    fix: FixMessage, message: OrderReport, cl_ord_id: str, report: ExecutionReport
) -> None:
    add, filled = fix.append_pair, report.reason is None
    if not filled and report.reason not in ORD_REJ_REASON:
        raise ValueError(f"reject reason {report.reason!r} is not one of {REJECT_REASONS}")
    key = _key(report.request, message.attempt)
    add(37, key)
    add(17, cl_ord_id)
    add(11, cl_ord_id)
    add(131, key)
    add(150, "F" if filled else "8")
    add(39, "2" if filled else "8")
    add(55, SYMBOL)
    add(54, _side(message.side))
    size, price = _number(message.size), _number(report.price)
    add(38, size)
    add(44, price)
    add(14, size if filled else 0)
    add(151, 0)
    add(6, price if filled else 0)
    if filled:
        add(31, price)
        add(32, size)
    else:
        add(103, ORD_REJ_REASON[report.reason])
        add(58, report.reason)
    add(5003, _nonnegative(report.venue, "VenueIndex"))
    add(5006, _number(report.round_trip_s))


def decode(fix: FixMessage) -> Message:
    """The quoterace value of a framed message; FixError if it is not one (a required field
    missing or malformed, or a MsgType quoterace does not use)."""
    kind = fix.message_type
    if kind == b"A":
        if _int(fix, 98) != 0:
            raise FixError("EncryptMethod (98) must be 0")
        return Logon(_count(fix, 108))
    if kind == b"0":
        return Heartbeat(_text(fix, 112, required=False))
    if kind == b"1":
        return TestRequest(_text(fix, 112))
    if kind == b"5":
        return Logout(_text(fix, 58, required=False))
    if kind == b"R":
        index, attempt = _request_key(fix, 131)
        _text(fix, 55)
        return QuoteRequest(
            index,
            _float(fix, 5007),
            _decoded_side(fix),
            _positive(fix, 38),
            attempt,
            _optional(fix, 5008, math.nan),
            _nonnegative_float(fix, 5001),
        )
    if kind == b"S":
        return _quote_reply(fix)
    if kind == b"AG":
        return QuoteRequestReject(*_request_key(fix, 131), _text(fix, 58))
    if kind == b"Z":
        return QuoteCancel(*_request_key(fix, 131))
    if kind == b"D":
        if fix.get(40) != b"D":
            raise FixError("OrdType (40) must be D (previously quoted)")
        _text(fix, 55)
        return NewOrderSingle(
            _text(fix, 11),
            *_request_key(fix, 117),
            _decoded_side(fix),
            _positive(fix, 38),
            _float(fix, 44),
        )
    if kind == b"8":
        return _order_report(fix)
    raise FixError(f"unsupported MsgType {kind[:20]!r}")


def _quote_reply(fix: FixMessage) -> QuoteReply:
    request, attempt = _request_key(fix, 131)
    if _request_key(fix, 117) != (request, attempt):
        raise FixError("QuoteID differs from QuoteReqID")
    side = _decoded_side(fix)
    price, size = (133, 135) if side == 1 else (132, 134)
    quote = Quote(
        request,
        _count(fix, 5003),
        _nonnegative_float(fix, 5002),
        _optional(fix, price, None),
        _optional(fix, size, math.inf),
        _optional(fix, 5004, math.nan),
        _optional(fix, 5005, math.inf),
        _nonnegative_float(fix, 5001),
    )
    return QuoteReply(attempt, side, quote)


def _order_report(fix: FixMessage) -> OrderReport:
    request, attempt = _request_key(fix, 131)
    status = (fix.get(150), fix.get(39))
    if status == (b"F", b"2"):
        reason = None
    elif status == (b"8", b"8"):
        reason = _text(fix, 58)
        if reason not in REJECT_REASONS:
            raise FixError(f"reject reason {reason!r} is not one of {REJECT_REASONS}")
    else:
        raise FixError("ExecType/OrdStatus (150/39) must be F/2 (filled) or 8/8 (rejected)")
    report = ExecutionReport(
        request, _count(fix, 5003), _float(fix, 44), reason, _nonnegative_float(fix, 5006)
    )
    return OrderReport(_text(fix, 11), attempt, _decoded_side(fix), _positive(fix, 38), report)


def _value(fix: FixMessage, tag: int, required: bool = True) -> bytes | None:
    value = fix.get(tag)
    if value is None and required:
        raise FixError(f"missing tag {tag}")
    if value is not None and fix.get(tag, 2) is not None:
        raise FixError(f"tag {tag} repeated")
    return value


def _text(fix: FixMessage, tag: int, required: bool = True) -> str | None:
    value = _value(fix, tag, required)
    if value is None:
        return None
    if not _TEXT.fullmatch(value):
        raise FixError(f"tag {tag}: not printable ASCII (at most 256 characters)")
    return value.decode()


def _int(fix: FixMessage, tag: int) -> int:
    value = _value(fix, tag)
    if not _INT.fullmatch(value):
        raise FixError(f"tag {tag}: not an integer")
    return int(value)


def _count(fix: FixMessage, tag: int) -> int:
    value = _int(fix, tag)
    if value < 0:
        raise FixError(f"tag {tag}: negative")
    return value


def _float(fix: FixMessage, tag: int) -> float:
    number = _optional(fix, tag, None)
    if number is None:
        raise FixError(f"missing tag {tag}")
    return number


def _optional(fix: FixMessage, tag: int, default: float | None) -> float | None:
    """A float field, or `default` when absent."""
    value = _value(fix, tag, required=False)
    if value is None:
        return default
    number = float(value) if _FLOAT.fullmatch(value) else math.nan
    if not math.isfinite(number):
        raise FixError(f"tag {tag}: not a finite decimal number")
    return number


def _positive(fix: FixMessage, tag: int) -> float:
    value = _float(fix, tag)
    if value <= 0:
        raise FixError(f"tag {tag}: must be > 0")
    return value


def _nonnegative_float(fix: FixMessage, tag: int) -> float:
    value = _float(fix, tag)
    if value < 0:
        raise FixError(f"tag {tag}: must be >= 0")
    return value


def _request_key(fix: FixMessage, tag: int) -> tuple[int, int]:
    """(request index, attempt) from a QuoteReqID or QuoteID "index:attempt"."""
    match = _KEY.fullmatch(_value(fix, tag))
    if match is None:
        raise FixError(f"tag {tag}: not request:attempt")
    return int(match[1]), int(match[2])


def _decoded_side(fix: FixMessage) -> int:
    side = _value(fix, 54)
    if side not in (b"1", b"2"):
        raise FixError("Side (54) must be 1 (buy) or 2 (sell)")
    return 1 if side == b"1" else -1


def _number(x: float) -> str:
    """`x` as the shortest decimal that reads back as the same double, without an exponent."""
    if not math.isfinite(x):
        raise ValueError(f"{x!r} cannot be sent: FIX numbers are finite")
    text = repr(float(x))
    return format(Decimal(text), "f") if "e" in text else text


def _side(side: int) -> str:
    if side not in (1, -1):
        raise ValueError(f"side {side!r}: must be +1 (buy) or -1 (sell)")
    return "1" if side == 1 else "2"


def _key(request: int, attempt: int) -> str:
    return f"{_nonnegative(request, 'request')}:{_nonnegative(attempt, 'attempt')}"


def _nonnegative(value: int, name: str) -> int:
    if value < 0:
        raise ValueError(f"{name} {value}: must be >= 0")
    return value


def _checked_text(text: str, name: str) -> str:
    if not (text.isascii() and _TEXT.fullmatch(text.encode())):
        raise ValueError(f"{name} {text!r}: must be 1 to 256 printable ASCII characters")
    return text
