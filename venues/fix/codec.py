"""Encoding of quoterace's messages (venues.fix.messages) as FIX 4.4 tag=value fields, and back.

simplefix's `FixMessage` builds messages (it computes BodyLength and CheckSum); framing
incoming bytes is venues.fix.reader's job, and the session header (CompIDs, MsgSeqNum,
SendingTime) venues.fix.session's.

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
expiry, no price).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import Decimal

from simplefix import FixMessage

from venues.fix.errors import FixError
from venues.fix.messages import (
    Heartbeat,
    Logon,
    Logout,
    Message,
    NewOrderSingle,
    OrderReport,
    QuoteCancel,
    QuoteReply,
    QuoteRequestReject,
    TestRequest,
)
from venues.fix.reader import BEGIN_STRING
from venues.last_look import REJECT_REASONS
from venues.messages import ExecutionReport, Quote, QuoteRequest

SYMBOL = "QUOTERACE"

_INT = re.compile(rb"0|-?[1-9][0-9]{0,17}")
_FLOAT = re.compile(rb"-?[0-9]{1,400}(\.[0-9]{1,400})?")
_KEY = re.compile(rb"(0|[1-9][0-9]{0,17}):(0|[1-9][0-9]{0,8})")
_TEXT = re.compile(rb"[\x20-\x7e]{1,256}")  # every message then fits in MAX_MESSAGE_BYTES

# FIX's OrdRejReason for each of quoterace's reject reasons: too late to enter, broker/exchange
# option (last look is the venue's option), order exceeds limit.
ORD_REJ_REASON = {"expired": 4, "price_moved": 0, "no_liquidity": 3}
assert set(ORD_REJ_REASON) == set(REJECT_REASONS)


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
            add(112, None if test is None else checked_text(test, "TestReqID"))
        case TestRequest(test_req_id=test):
            fix.append_pair(35, "1", header=True)
            add(112, checked_text(test, "TestReqID"))
        case Logout(text=text):
            fix.append_pair(35, "5", header=True)
            add(58, None if text is None else checked_text(text, "Text"))
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
            add(58, checked_text(reason, "Text"))
        case QuoteCancel(request=request, attempt=attempt):
            fix.append_pair(35, "Z", header=True)
            add(131, _key(request, attempt))
            add(298, 1)
        case NewOrderSingle():
            fix.append_pair(35, "D", header=True)
            add(11, checked_text(message.cl_ord_id, "ClOrdID"))
            add(117, _key(message.request, message.attempt))
            add(40, "D")
            add(55, SYMBOL)
            add(54, _side(message.side))
            add(38, _number(message.size))
            add(44, _number(message.price))
            fix.append_utc_timestamp(60, datetime.now(UTC), precision=6)
        case OrderReport(cl_ord_id=cl_ord_id, report=report):
            fix.append_pair(35, "8", header=True)
            _report_fields(fix, message, checked_text(cl_ord_id, "ClOrdID"), report)
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
        if int_field(fix, 98) != 0:
            raise FixError("EncryptMethod (98) must be 0")
        return Logon(_count(fix, 108))
    if kind == b"0":
        return Heartbeat(text_field(fix, 112, required=False))
    if kind == b"1":
        return TestRequest(text_field(fix, 112))
    if kind == b"5":
        return Logout(text_field(fix, 58, required=False))
    if kind == b"R":
        index, attempt = _request_key(fix, 131)
        text_field(fix, 55)
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
        return QuoteRequestReject(*_request_key(fix, 131), text_field(fix, 58))
    if kind == b"Z":
        return QuoteCancel(*_request_key(fix, 131))
    if kind == b"D":
        if fix.get(40) != b"D":
            raise FixError("OrdType (40) must be D (previously quoted)")
        text_field(fix, 55)
        return NewOrderSingle(
            text_field(fix, 11),
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
        reason = text_field(fix, 58)
        if reason not in REJECT_REASONS:
            raise FixError(f"reject reason {reason!r} is not one of {REJECT_REASONS}")
    else:
        raise FixError("ExecType/OrdStatus (150/39) must be F/2 (filled) or 8/8 (rejected)")
    report = ExecutionReport(
        request, _count(fix, 5003), _float(fix, 44), reason, _nonnegative_float(fix, 5006)
    )
    return OrderReport(text_field(fix, 11), attempt, _decoded_side(fix), _positive(fix, 38), report)


def _value(fix: FixMessage, tag: int, required: bool = True) -> bytes | None:
    value = fix.get(tag)
    if value is None and required:
        raise FixError(f"missing tag {tag}")
    if value is not None and fix.get(tag, 2) is not None:
        raise FixError(f"tag {tag} repeated")
    return value


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


def checked_text(text: str, name: str) -> str:
    """`text`, if FIX can carry it as field `name`'s value; else ValueError."""
    if not (text.isascii() and _TEXT.fullmatch(text.encode())):
        raise ValueError(f"{name} {text!r}: must be 1 to 256 printable ASCII characters")
    return text
