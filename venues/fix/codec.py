"""Encoding of quoterace's messages (venues.fix.messages) as FIX 4.4 tag=value fields, and back.

`encode` gives a simplefix `FixMessage` (an `Outgoing`, whose body is kept as text until its
pairs are asked for); framing incoming bytes is venues.fix.reader's job, and the session header
(CompIDs, MsgSeqNum, SendingTime), BodyLength and CheckSum venues.fix.session's.

Every message is standard FIX 4.4: it validates against the stock FIX44.xml dictionary under
a standard engine's default validation (tests/venues/test_quickfix.py checks it with QuickFIX).
quoterace's own facts travel in user-defined tags (5000-9999) only with `extras`, which a
session sets when both ends agreed at Logon (Username 553 = EXTRAS, asked and echoed), and
decoding never requires them. Fields, by message ([extras] only then):

    A  Logon               98=0, 108 HeartBtInt, 141 ResetSeqNumFlag=Y (when resetting),
                           553 Username=quoterace-extras (asking for, or agreeing to, extras)
    0 Heartbeat (112), 1 TestRequest (112), 5 Logout (58), 3 Reject (45 RefSeqNum, 371, 372,
    373, 58), 2 ResendRequest (7, 16), 4 SequenceReset (123 GapFillFlag, 36 NewSeqNo)
    R  QuoteRequest        131 QuoteReqID, 146=1 {55 Symbol, 54 Side, 38 OrderQty};
                           [5001 SentAfterS, 5007 T0, 5008 Mid (when known)]. quoterace's
                           client names it "index:attempt"; any other text is a standard
                           client's (QuoteAsk), whose draws the venue picks. For several
                           instruments, without 54 or 38, or for a Side not 1 or 2 (standard
                           all the same): a QuoteAsk on side 0, which the venue refuses (AG,
                           without 54 and 38)
    S  Quote               131, 117 QuoteID ("index:attempt", the draws quoted), 55, 54,
                           133 OfferPx and 135 OfferSize for a buy (132 BidPx, 134 BidSize for
                           a sell); [5001, 5002 LatencyS, 5003 VenueIndex, 5004 PricedAt,
                           5005 ExpiresAt]
    AG QuoteRequestReject  131, 658 QuoteRequestRejectReason (3 exceeds limit, 99 other),
                           58 Text, 146=1 {55, 54, 38}
    Z  QuoteCancel         131, 117 (the request's id: no quote came), 298 QuoteCancelType=1,
                           295=1 {55}; a venue matches it by 131, else 117
    D  NewOrderSingle      11 ClOrdID, 117 QuoteID, 40 OrdType=D (previously quoted), 55, 54,
                           38, 44 Price, 60 TransactTime. Standard, but another OrdType or
                           without 117, 44 or 38: decoded with `refused` saying why (the
                           venue rejects it; its report then without the 38 or 44 not given)
    8  ExecutionReport     37 OrderID (the QuoteID), 17 ExecID (unique per report), 11,
                           150 ExecType / 39 OrdStatus (F / 2 filled, 8 / 8 rejected), 55, 54,
                           38, 40, 44, 14 CumQty, 151 LeavesQty, 6 AvgPx, 31 LastPx / 32 LastQty
                           (fills), 103 OrdRejReason and 58 Text (rejects), 60;
                           [5003, 5006 RoundTripS]

Floats travel as the shortest decimal that reads back as the same double (`repr`, written
without an exponent, which FIX does not allow), so every value round-trips exactly. Optional
values are left out when they hold their default (NaN mid or priced_at, infinite size or
expiry, no price).
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from decimal import Decimal

from simplefix import FixMessage

from venues.fix.errors import FixError
from venues.fix.messages import (
    EXTRAS,
    Heartbeat,
    Logon,
    Logout,
    Message,
    NewOrderSingle,
    OrderPending,
    OrderReport,
    QuoteAsk,
    QuoteCancel,
    QuoteReply,
    QuoteRequestReject,
    Reject,
    ResendRequest,
    SequenceReset,
    TestRequest,
)
from venues.fix.reader import BEGIN_STRING, Received
from venues.last_look import REJECT_REASONS
from venues.messages import ExecutionReport, Quote, QuoteRequest

SYMBOL = "QUOTERACE"

_INT = re.compile(rb"0|-?[1-9][0-9]{0,17}")
_FLOAT = re.compile(rb"-?[0-9]{1,400}(\.[0-9]{1,400})?")
_KEY = re.compile(rb"(0|[1-9][0-9]{0,17}):(0|[1-9][0-9]{0,8})")
_TEXT = re.compile(rb"[\x20-\x7e]{1,256}")  # every message then fits in MAX_MESSAGE_BYTES
_COUNT = re.compile(rb"0|[1-9][0-9]{0,17}")

# FIX's OrdRejReason for each of quoterace's reject reasons: too late to enter, broker/exchange
# option (last look is the venue's option), order exceeds limit.
ORD_REJ_REASON = {"expired": 4, "price_moved": 0, "no_liquidity": 3}
assert set(ORD_REJ_REASON) == set(REJECT_REASONS)
ORD_STATUSES = "0123456789ABCDE"  # FIX 4.4's OrdStatus (39) values
ENDED_UNFILLED = ("4", "C", "3")  # OrdStatus Canceled, Expired, DoneForDay: an order unfilled
OTHER = 99  # OrdRejReason for any other reason, which Text (58) then says
TOO_MANY = "too many"  # a QuoteRequestReject's reason for the limit: 658=3 (exceeds limit)

_TYPES = {
    Logon: "A",
    Heartbeat: "0",
    TestRequest: "1",
    ResendRequest: "2",
    Reject: "3",
    SequenceReset: "4",
    Logout: "5",
    QuoteRequest: "R",
    QuoteAsk: "R",
    QuoteReply: "S",
    QuoteRequestReject: "AG",
    QuoteCancel: "Z",
    NewOrderSingle: "D",
    OrderReport: "8",
}


def encode(message: Message, extras: bool = False) -> FixMessage:
    """`message` as a FIX message without its session header (Session.encode adds it); with
    `extras`, quoterace's own tags too (only for a peer that agreed to them at Logon).

    Raises ValueError for values FIX cannot carry here (a non-finite required float, a side
    other than +1 or -1, text outside printable ASCII).
    """
    kind = _TYPES.get(type(message))
    if kind is None:
        raise TypeError(f"not a quoterace FIX message: {message!r}")
    fix = Outgoing(kind)
    if not _session_fields(fix, message):
        _application_fields(fix, message, extras)
    return fix


class Outgoing(FixMessage):
    """A FixMessage being built by `encode`, of MsgType `kind`: its body kept as text, a
    "tag=value<SOH>" string per field, which Session.encode joins once for the wire
    (`body`). simplefix's `append_pair` converts each tag and value to bytes, and its pairs
    would then be formatted again: the two cost most of an encode. The pairs are made only
    if something asks for them (`pairs`: a test, a decode of a message built here); from
    then on the message is an ordinary FixMessage."""

    def __init__(self, kind: str) -> None:
        self._text: list[str] | None = []
        super().__init__()
        self.begin_string, self.message_type = _BEGIN_STRING, kind.encode()
        self.header_index = 2  # BeginString and MsgType, once pairs are made

    @property
    def pairs(self) -> list[tuple[bytes, bytes]]:
        if self._text is not None:
            body, self._text = self.body(), None
            fields = [f.partition(b"=")[::2] for f in body.split(b"\x01")[:-1]]
            self._pairs = [(b"8", self.begin_string), (b"35", self.message_type), *fields]
        return self._pairs

    @pairs.setter
    def pairs(self, pairs: list[tuple[bytes, bytes]]) -> None:
        self._pairs = pairs

    def body(self) -> bytes | None:
        """The fields after MsgType as on the wire; None once its pairs were made (they
        may have changed)."""
        return None if self._text is None else "".join(self._text).encode()

    def append_text(self, text: str) -> None:
        """Fields "tag=value<SOH>..." as on the wire, made at once by `encode` (checked
        values: printable ASCII, no SOH)."""
        if self._text is None:
            for field in text.split("\x01")[:-1]:
                tag, _, value = field.partition("=")
                super().append_pair(int(tag), value)
            return
        self._text.append(text)

    def append_pair(self, tag: int, value: object, header: bool = False) -> None:
        """Field `tag` (an int) = `value` (str, int or ASCII bytes; None: no field)."""
        if value is None:
            return
        if self._text is None or header:
            super().append_pair(tag, value, header)  # `pairs` made first: a FixMessage now
            return
        if type(value) is bytes:
            value = value.decode()
        self._text.append(f"{tag}={value}\x01")


# tags as bytes, made once: FIX's and quoterace's own
_TAGS = {tag: str(tag).encode() for tag in (*range(1, 1000), *range(5000, 5010))}
_BEGIN_STRING = BEGIN_STRING.encode()
_second = -1
_second_text = b""


def utc_timestamp() -> bytes:
    """UTC now as a FIX timestamp to the microsecond (YYYYMMDD-HH:MM:SS.ffffff); the date and
    time of day formatted once a second."""
    global _second, _second_text
    now = time.time()
    second = int(now)
    if second != _second:
        _second, _second_text = second, time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second))
        _second_text = _second_text.encode()
    return b"%s.%06d" % (_second_text, min(int((now - second) * 1e6), 999_999))


def _session_fields(fix: FixMessage, message: Message) -> bool:
    """The body of a session-level message; False if `message` is not one."""
    add = fix.append_pair
    match message:
        case Logon(heartbeat_s=heartbeat, reset=reset, extras=asked):
            add(98, 0)
            add(108, _nonnegative(heartbeat, "HeartBtInt"))
            add(141, "Y" if reset else None)
            add(553, EXTRAS if asked else None)
        case Heartbeat(test_req_id=test):
            add(112, None if test is None else checked_text(test, "TestReqID"))
        case TestRequest(test_req_id=test):
            add(112, checked_text(test, "TestReqID"))
        case Logout(text=text):
            add(58, None if text is None else checked_text(text, "Text"))
        case Reject():
            add(45, _nonnegative(message.ref_seq, "RefSeqNum"))
            add(371, message.ref_tag)
            add(372, message.ref_msg_type)
            add(373, message.reason)
            add(58, None if message.text is None else checked_text(message.text, "Text"))
        case ResendRequest(begin=begin, end=end):
            add(7, _nonnegative(begin, "BeginSeqNo"))
            add(16, _nonnegative(end, "EndSeqNo"))
        case SequenceReset(new_seq=new_seq, gap_fill=gap_fill):
            add(123, "Y" if gap_fill else "N")
            add(36, _nonnegative(new_seq, "NewSeqNo"))
        case _:
            return False
    return True


def _application_fields(fix: FixMessage, message: Message, extras: bool) -> None:
    """The body of a quote or order message, with quoterace's own tags if `extras`."""
    add = fix.append_pair
    match message:
        case QuoteRequest():
            key = _key(message.index, message.attempt)
            text = f"131={key}\x01146=1\x0155={SYMBOL}\x0154={_side(message.side)}\x01"
            text += f"38={_number(message.size)}\x01"
            if extras:
                text += f"5001={_number(message.sent_after_s)}\x015007={_number(message.t0)}\x01"
                if not math.isnan(message.mid):
                    text += f"5008={_number(message.mid)}\x01"
            fix.append_text(text)
        case QuoteAsk(quote_req_id=quote_req_id, side=side, size=size):
            _instrument(fix, checked_text(quote_req_id, "QuoteReqID"), side, size)
        case QuoteReply(attempt=attempt, side=side, quote=quote):
            req_id = _id(message.quote_req_id, quote.request, attempt, "QuoteReqID")
            quote_id = _id(message.quote_id, quote.request, attempt, "QuoteID")
            text = f"131={req_id}\x01117={quote_id}\x0155={SYMBOL}\x0154={_side(side)}\x01"
            price, size = ("133", "135") if side == 1 else ("132", "134")
            if quote.price is not None:
                text += f"{price}={_number(quote.price)}\x01"
            if quote.size != math.inf:
                text += f"{size}={_number(quote.size)}\x01"
            if extras:
                text += f"5001={_number(quote.sent_after_s)}\x015002={_number(quote.latency_s)}\x01"
                text += f"5003={_nonnegative(quote.venue, 'VenueIndex')}\x01"
                if not math.isnan(quote.priced_at):
                    text += f"5004={_number(quote.priced_at)}\x01"
                if quote.expires_at != math.inf:
                    text += f"5005={_number(quote.expires_at)}\x01"
            fix.append_text(text)
        case QuoteRequestReject(request=request, attempt=attempt, reason=reason):
            add(131, _id(message.quote_req_id, request, attempt, "QuoteReqID"))
            add(658, 3 if reason.startswith(TOO_MANY) else 99)
            add(58, checked_text(reason, "Text"))
            add(146, 1)
            add(55, SYMBOL)
            add(54, None if message.side == 0 else _side(message.side))
            add(38, None if message.size is None else _number(message.size))
        case QuoteCancel(request=request, attempt=attempt):
            key = _id(message.quote_req_id, request, attempt, "QuoteReqID")
            # QuoteID: no quote came (else there is nothing to cancel), so the request's id;
            # QuoteCancelType 1: cancel for symbol(s)
            fix.append_text(f"131={key}\x01117={key}\x01298=1\x01295=1\x0155={SYMBOL}\x01")
        case NewOrderSingle():
            cl_ord_id = checked_text(message.cl_ord_id, "ClOrdID")
            quote_id = _id(message.quote_id, message.request, message.attempt, "QuoteID")
            text = f"11={cl_ord_id}\x01117={quote_id}\x0140=D\x0155={SYMBOL}\x01"
            text += f"54={_side(message.side)}\x0138={_number(message.size)}\x01"
            text += f"44={_number(message.price)}\x0160={utc_timestamp().decode()}\x01"
            fix.append_text(text)
        case OrderReport(cl_ord_id=cl_ord_id, report=report):
            _report_fields(fix, message, checked_text(cl_ord_id, "ClOrdID"), report, extras)


def _instrument(fix: FixMessage, quote_req_id: str, side: int, size: float) -> None:
    """A QuoteRequest's QuoteReqID and its one NoRelatedSym entry."""
    add = fix.append_pair
    add(131, quote_req_id)
    add(146, 1)
    add(55, SYMBOL)
    add(54, _side(side))
    add(38, _number(size))


def _report_fields(
    fix: FixMessage, message: OrderReport, cl_ord_id: str, report: ExecutionReport, extras: bool
) -> None:
    filled = report.reason is None
    order_id = _id(message.order_id, report.request, message.attempt, "OrderID")
    exec_id = cl_ord_id if message.exec_id is None else checked_text(message.exec_id, "ExecID")
    size, price = _number_or_none(message.size), _number_or_none(report.price)
    text = f"37={order_id}\x0117={exec_id}\x0111={cl_ord_id}\x01"
    text += "150=F\x0139=2\x01" if filled else "150=8\x0139=8\x01"
    text += f"55={SYMBOL}\x0154={_side(message.side)}\x01"
    text += "40=D\x01" if size is None else f"38={size}\x0140=D\x01"
    if price is not None:  # else: rejected, an order that gave none (see NewOrderSingle.refused)
        text += f"44={price}\x01"
    if filled:
        text += f"14={size}\x01151=0\x016={price}\x0131={price}\x0132={size}\x01"
    else:
        reason = ORD_REJ_REASON.get(report.reason, OTHER)
        text += (
            f"14=0\x01151=0\x016=0\x01103={reason}\x0158={checked_text(report.reason, 'Text')}\x01"
        )
    text += f"60={utc_timestamp().decode()}\x01"
    if extras:
        text += f"5003={_nonnegative(report.venue, 'VenueIndex')}\x01"
        text += f"5006={_number(report.round_trip_s)}\x01"
    fix.append_text(text)


def decode(fix: FixMessage) -> Message:
    """The quoterace value of a framed message; FixError if it is not one (a required field
    missing or malformed, or a MsgType quoterace does not use). quoterace's own tags are
    read when present, never required."""
    kind = fix.message_type
    message = _session_message(fix, kind)
    if message is not None:
        return message
    if kind == b"R":
        return _quote_request(fix)
    if kind == b"S":
        return _quote_reply(fix)
    if kind == b"AG":
        quote_req_id = text_field(fix, 131)
        key = _parsed_key(quote_req_id)
        return QuoteRequestReject(
            *(key or (-1, 0)),
            text_field(fix, 58, required=False) or "rejected",
            None if key else quote_req_id,
            _decoded_side(fix) if fix.get(54) is not None else 1,
            _optional(fix, 38, None),
        )
    if kind == b"Z":
        quote_req_id = text_field(fix, 131, required=False) or text_field(fix, 117)
        key = _parsed_key(quote_req_id) or _parsed_key(text_field(fix, 117))
        if key is not None and quote_req_id == _key(*key):
            return QuoteCancel(*key)
        return QuoteCancel(*(key or (-1, 0)), quote_req_id)
    if kind == b"D":
        cl_ord_id = text_field(fix, 11)
        text_field(fix, 55)
        side = _decoded_side(fix)
        refused = _unquoted(fix)
        if refused is not None:
            size, price = _optional(fix, 38, math.nan), _optional(fix, 44, math.nan)
            return NewOrderSingle(cl_ord_id, -1, 0, side, size, price, refused=refused)
        quote_id = text_field(fix, 117)
        key = _parsed_key(quote_id)
        return NewOrderSingle(
            cl_ord_id,
            *(key or (-1, 0)),
            side,
            _positive(fix, 38),
            _float(fix, 44),
            None if key else quote_id,
            _decimals(fix.get(44)),
        )
    if kind == b"8":
        return _order_report(fix)
    if kind == b"j":  # BusinessMessageReject: recorded as a Reject is
        return Reject(
            _optional_count(fix, 45) or 0,
            text_field(fix, 58, required=False),
            None,
            text_field(fix, 372, required=False),
            _optional_count(fix, 380),
        )
    raise FixError(f"unsupported MsgType {kind[:20]!r}")


def _session_message(fix: FixMessage, kind: bytes) -> Message | None:
    """A session-level message of MsgType `kind`; None for any other MsgType."""
    if kind == b"A":
        if int_field(fix, 98) != 0:
            raise FixError("EncryptMethod (98) must be 0")
        return Logon(_count(fix, 108), _flag(fix, 141), fix.get(553) == EXTRAS.encode())
    if kind == b"0":
        return Heartbeat(text_field(fix, 112, required=False))
    if kind == b"1":
        return TestRequest(text_field(fix, 112))
    if kind == b"5":
        return Logout(text_field(fix, 58, required=False))
    if kind == b"3":
        return Reject(
            _count(fix, 45),
            text_field(fix, 58, required=False),
            _optional_count(fix, 371),
            text_field(fix, 372, required=False),
            _optional_count(fix, 373),
        )
    if kind == b"2":
        return ResendRequest(_count(fix, 7), _count(fix, 16))
    if kind == b"4":
        return SequenceReset(_count(fix, 36), _flag(fix, 123))
    return None


def _quote_request(fix: FixMessage) -> QuoteRequest | QuoteAsk:
    """quoterace's own QuoteRequest (QuoteReqID "index:attempt"), or a standard client's."""
    if type(fix) is Received and not fix.repeated:
        with contextlib.suppress(_Unusual):
            return _own_quote_request(fix.fields)
    quote_req_id = text_field(fix, 131)
    if fix.get(146) not in (None, b"1"):  # several instruments: standard, and refused
        return QuoteAsk(quote_req_id, 0, math.nan)
    text_field(fix, 55)
    side = fix.get(54)
    if side in _OTHER_SIDES or side is None or fix.get(38) is None:
        return QuoteAsk(quote_req_id, 0, math.nan)  # standard, but not one side for a size
    side, size = _decoded_side(fix), _positive(fix, 38)
    key = _parsed_key(quote_req_id)
    if key is None:
        return QuoteAsk(quote_req_id, side, size)
    return QuoteRequest(
        key[0],
        _optional(fix, 5007, 0.0),
        side,
        size,
        key[1],
        _optional(fix, 5008, math.nan),
        _nonnegative_optional(fix, 5001),
    )


def _quote_reply(fix: FixMessage) -> QuoteReply:
    if type(fix) is Received and not fix.repeated:
        with contextlib.suppress(_Unusual):
            return _own_quote_reply(fix.fields)
    quote_id = text_field(fix, 117)
    quote_req_id = text_field(fix, 131, required=False)
    key = _parsed_key(quote_id) or _parsed_key(quote_req_id) or (-1, 0)
    # without a Side, a two-sided quote: the client takes the side it asked for
    side = _decoded_side(fix) if fix.get(54) is not None else 0
    two_sided = None
    if side == 0:
        two_sided = tuple(
            (_optional(fix, price, None), _optional(fix, size, math.inf))
            for price, size in ((132, 134), (133, 135))
        )
    price, size = (133, 135) if side == 1 else (132, 134)
    quote = Quote(
        key[0],
        _optional_count(fix, 5003) or 0,
        _nonnegative_optional(fix, 5002),
        _optional(fix, price, None) if side else None,
        _optional(fix, size, math.inf),
        _optional(fix, 5004, math.nan),
        _optional(fix, 5005, math.inf),
        _nonnegative_optional(fix, 5001),
    )
    own = _key(*key) if key[0] >= 0 else None
    return QuoteReply(
        key[1],
        side,
        quote,
        None if quote_req_id == own else quote_req_id,
        None if quote_id == own else quote_id,
        two_sided,
    )


class _Unusual(Exception):
    """Not a message the fast paths below read: the general path reads it (and says what is
    wrong with it, if anything is)."""


def _own_quote_request(fields: dict[bytes, bytes]) -> QuoteRequest:
    """`_quote_request` for quoterace's own QuoteRequest, well formed and without repeated
    tags (nearly every one a venue reads), from its fields at once; else _Unusual."""
    key = _KEY.fullmatch(fields.get(b"131") or b"")
    symbol, side = fields.get(b"55"), fields.get(b"54")
    if key is None or symbol is None or side not in (b"1", b"2") or not _TEXT.fullmatch(symbol):
        raise _Unusual
    size = _real(fields.get(b"38"), 0.0)
    if not size > 0:
        raise _Unusual
    return QuoteRequest(
        int(key[1]),
        _real(fields.get(b"5007"), 0.0),
        1 if side == b"1" else -1,
        size,
        int(key[2]),
        _real(fields.get(b"5008"), math.nan),
        _at_least_zero(fields.get(b"5001")),
    )


def _own_quote_reply(fields: dict[bytes, bytes]) -> QuoteReply:
    """`_quote_reply` for quoterace's own Quote (QuoteID and QuoteReqID the same "index:attempt",
    a Side), well formed and without repeated tags (nearly every one a client reads), from its
    fields at once; else _Unusual."""
    quote_id, side = fields.get(b"117"), fields.get(b"54")
    key = _KEY.fullmatch(quote_id or b"")
    if key is None or fields.get(b"131") != quote_id or side not in (b"1", b"2"):
        raise _Unusual
    price, size = (b"133", b"135") if side == b"1" else (b"132", b"134")
    venue = fields.get(b"5003")
    if venue is not None and not _COUNT.fullmatch(venue):
        raise _Unusual
    quote = Quote(
        int(key[1]),
        0 if venue is None else int(venue),
        _at_least_zero(fields.get(b"5002")),
        _real(fields.get(price), None),
        _real(fields.get(size), math.inf),
        _real(fields.get(b"5004"), math.nan),
        _real(fields.get(b"5005"), math.inf),
        _at_least_zero(fields.get(b"5001")),
    )
    return QuoteReply(int(key[2]), 1 if side == b"1" else -1, quote)


def _real(value: bytes | None, default: float | None) -> float | None:
    """A decimal field's value as a finite float, `default` if absent; else _Unusual."""
    if value is None:
        return default
    if not _FLOAT.fullmatch(value):
        raise _Unusual
    number = float(value)
    if not math.isfinite(number):
        raise _Unusual
    return number


def _at_least_zero(value: bytes | None) -> float:
    """`_real`, absent meaning 0, and not negative; else _Unusual."""
    number = _real(value, 0.0)
    if number < 0:
        raise _Unusual
    return number


def _order_report(fix: FixMessage) -> OrderReport | OrderPending:
    """An ExecutionReport, by its OrdStatus (39): filled (2); rejected (8), whose reason is
    quoterace's own Text, else read from OrdRejReason (103): 4 expired, 3 no_liquidity,
    anything else (a price mismatch, a venue's own rule) price_moved; canceled, expired or done
    for the day (4, C, 3) unfilled: "expired"; any other status (New, PendingNew,
    PartiallyFilled, ...) does not end the order: OrderPending."""
    cl_ord_id = text_field(fix, 11)
    status = text_field(fix, 39)
    if status == "2":
        reason = None
    elif status == "8":
        reason = text_field(fix, 58, required=False)
        if reason not in REJECT_REASONS:
            code = _optional_count(fix, 103)
            reason = {4: "expired", 3: "no_liquidity"}.get(code, "price_moved")
    elif status in ENDED_UNFILLED:
        reason = "expired"
    elif status in ORD_STATUSES:
        return OrderPending(cl_ord_id, status)
    else:
        raise FixError(f"OrdStatus (39) {status!r} is not one of FIX 4.4's")
    order_id = text_field(fix, 37)
    key = _parsed_key(order_id) or (-1, 0)
    price = _optional(fix, 44, None)
    report = ExecutionReport(
        key[0],
        _optional_count(fix, 5003) or 0,
        _optional(fix, 31, 0.0) if price is None else price,
        reason,
        _nonnegative_optional(fix, 5006),
    )
    exec_id = text_field(fix, 17)
    size = _optional(fix, 38, None) or _optional(fix, 14, 0.0)
    return OrderReport(
        cl_ord_id,
        key[1],
        _decoded_side(fix),
        size,
        report,
        None if exec_id == cl_ord_id else exec_id,
        None if key[0] >= 0 and order_id == _key(*key) else order_id,
    )


def _decimals(text: bytes | None) -> int | None:
    """How many decimals a number was written with (None for no number)."""
    if text is None:
        return None
    _, dot, decimals = text.partition(b".")
    return len(decimals) if dot else 0


def _value(fix: FixMessage, tag: int, required: bool = True) -> bytes | None:
    """The value of `tag`, which must occur once (or, not `required`, not at all)."""
    if type(fix) is not Received:
        fix = _indexed(fix)
    name = _TAGS.get(tag) or str(tag).encode()
    value = fix.fields.get(name)
    if value is None:
        if required:
            raise FixError(f"missing tag {tag}")
        return None
    if fix.repeated and name in fix.repeated:
        raise FixError(f"tag {tag} repeated")
    return value


def _indexed(fix: FixMessage) -> Received:
    """`fix` indexed as FixReader indexes what it reads (a message built here: once, and
    again if it grew)."""
    if isinstance(fix, Received):
        return fix
    cached = getattr(fix, "_indexed", None)
    if cached is None or len(cached.pairs) != len(fix.pairs):
        cached = fix._indexed = Received(list(fix.pairs))
    return cached


def text_field(fix: FixMessage, tag: int, required: bool = True) -> str | None:
    """Field `tag` as printable ASCII text (None if absent and not required); else FixError."""
    value = _value(fix, tag, required)
    if value is None:
        return None
    if not _TEXT.fullmatch(value):
        raise FixError(f"tag {tag}: not printable ASCII (at most 256 characters)")
    return value.decode()


def int_field(fix: FixMessage, tag: int) -> int:
    """Required field `tag` as an integer; else FixError."""
    value = _value(fix, tag)
    if not _INT.fullmatch(value):
        raise FixError(f"tag {tag}: not an integer")
    return int(value)


def _count(fix: FixMessage, tag: int) -> int:
    value = int_field(fix, tag)
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


def _parsed_key(text: str | None) -> tuple[int, int] | None:
    """(request index, attempt) from quoterace's QuoteReqID or QuoteID "index:attempt"; None
    for any other id (a standard peer's own)."""
    match = None if text is None else _KEY.fullmatch(text.encode())
    return None if match is None else (int(match[1]), int(match[2]))


def _flag(fix: FixMessage, tag: int) -> bool:
    """A Boolean field: Y or N, absent meaning N."""
    value = _value(fix, tag, required=False)
    if value not in (None, b"Y", b"N"):
        raise FixError(f"tag {tag}: must be Y or N")
    return value == b"Y"


def _optional_count(fix: FixMessage, tag: int) -> int | None:
    return None if fix.get(tag) is None else _count(fix, tag)


def _nonnegative_optional(fix: FixMessage, tag: int) -> float:
    value = _optional(fix, tag, 0.0)
    if value < 0:
        raise FixError(f"tag {tag}: must be >= 0")
    return value


def _id(text: str | None, request: int, attempt: int, name: str) -> str:
    """A peer's own id `text`, or (None) quoterace's "request:attempt"."""
    return _key(request, attempt) if text is None else checked_text(text, name)


# FIX 4.4's Sides other than buy (1) and sell (2): a request for one is standard, and refused
_OTHER_SIDES = frozenset(bytes([c]) for c in b"3456789ABCDEFG")


def _unquoted(fix: FixMessage) -> str | None:
    """Why a standard NewOrderSingle is no order for a quote, to reject it for (None if it
    is one): another OrdType, or no QuoteID, Price or OrderQty (FIX 4.4 requires none of them).
    An OrdType FIX does not have is malformed: FixError."""
    kind = _value(fix, 40)
    if kind != b"D":
        why = "OrdType (40) must be D (previously quoted)"
        if kind not in _ORD_TYPES:
            raise FixError(why)
        return why
    for tag, name in ((117, "QuoteID"), (44, "Price"), (38, "OrderQty")):
        if fix.get(tag) is None:
            return f"{name} ({tag}) required: an order for a quote"
    return None


# FIX 4.4's OrdTypes: an order of another is standard, and rejected (only D is served)
_ORD_TYPES = frozenset(bytes([c]) for c in b"123456789ABCDEFGHIJKLMNOPQ")


def _decoded_side(fix: FixMessage) -> int:
    side = _value(fix, 54)
    if side not in (b"1", b"2"):
        raise FixError("Side (54) must be 1 (buy) or 2 (sell)")
    return 1 if side == b"1" else -1


def _number_or_none(x: float) -> str | None:
    """`_number(x)`, or None for NaN: a value a standard peer did not give."""
    return None if math.isnan(x) else _number(x)


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


def checked_text(text: str, name: str) -> str:
    """`text`, if FIX can carry it as field `name`'s value; else ValueError."""
    if not (text.isascii() and _TEXT.fullmatch(text.encode())):
        raise ValueError(f"{name} {text!r}: must be 1 to 256 printable ASCII characters")
    return text
