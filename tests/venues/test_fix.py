"""The FIX wire format (venues.fix): every message round-trips exactly, and the framing reader
yields whole messages or FixError, whatever the bytes, never holding more than its limit."""

from __future__ import annotations

import dataclasses
import math
import random
import re
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simplefix import FixMessage, FixParser

from venues.fix import (
    MAX_MESSAGE_BYTES,
    REASON_CHARS,
    FixError,
    FixReader,
    Heartbeat,
    Logon,
    Logout,
    Message,
    NewOrderSingle,
    OrderReport,
    QuoteAsk,
    QuoteCancel,
    QuoteReply,
    QuoteRequestReject,
    Reject,
    ResendRequest,
    SequenceReset,
    Session,
    TestRequest,
    codec,
    decode,
    encode,
)
from venues.fix.reader import _checked, _message
from venues.last_look import REJECT_REASONS
from venues.messages import ExecutionReport, Quote, QuoteRequest

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(allow_nan=False, allow_infinity=False)
nonnegative = st.floats(min_value=0.0, allow_infinity=False)
positive = st.floats(min_value=0.0, exclude_min=True, allow_infinity=False)
index = st.integers(0, 10**12)
attempt = st.integers(0, 1000)
side = st.sampled_from((1, -1))
text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)
ids = text.filter(lambda t: not t[0].isdigit())  # a standard peer's own ids, never "i:a"
counts = st.integers(0, 10**9)

quote_requests = st.builds(
    QuoteRequest,
    index=index,
    t0=finite,
    side=side,
    size=positive,
    attempt=attempt,
    mid=st.one_of(st.just(math.nan), finite),
    sent_after_s=nonnegative,
)
quotes = st.builds(
    Quote,
    request=index,
    venue=st.integers(0, 1000),
    latency_s=nonnegative,
    price=st.one_of(st.none(), finite),
    size=st.one_of(st.just(math.inf), finite),
    priced_at=st.one_of(st.just(math.nan), finite),
    expires_at=st.one_of(st.just(math.inf), finite),
    sent_after_s=nonnegative,
)
reports = st.builds(
    ExecutionReport,
    request=index,
    venue=st.integers(0, 1000),
    price=finite,
    reason=st.one_of(st.none(), st.sampled_from(REJECT_REASONS)),
    round_trip_s=nonnegative,
)
maybe = st.one_of(st.none(), positive)
messages = st.one_of(
    st.builds(Logon, st.integers(0, 3600), st.booleans(), st.booleans()),
    st.builds(Heartbeat, st.one_of(st.none(), text)),
    st.builds(TestRequest, text),
    st.builds(Logout, st.one_of(st.none(), text)),
    st.builds(
        Reject,
        counts,
        st.one_of(st.none(), text),
        st.one_of(st.none(), counts),
        st.one_of(st.none(), st.sampled_from(("S", "8", "AG"))),
        st.one_of(st.none(), st.integers(0, 99)),
    ),
    st.builds(ResendRequest, counts, counts),
    st.builds(SequenceReset, counts, st.booleans()),
    quote_requests,
    st.builds(QuoteAsk, ids, side, positive),
    st.builds(QuoteReply, attempt, side, quotes),
    st.builds(QuoteReply, attempt, side, quotes, ids),  # a standard client's request
    st.builds(QuoteRequestReject, index, attempt, text, st.none(), side, maybe),
    st.builds(QuoteRequestReject, st.just(-1), st.just(0), text, ids, side, maybe),
    st.builds(QuoteCancel, index, attempt),
    st.builds(QuoteCancel, st.just(-1), st.just(0), ids),
    st.builds(NewOrderSingle, text, index, attempt, side, positive, finite),
    st.builds(NewOrderSingle, text, st.just(-1), st.just(0), side, positive, finite, ids),
    st.builds(
        OrderReport, text, attempt, side, positive, reports, st.one_of(st.none(), ids)
    ).filter(lambda m: m.exec_id != m.cl_ord_id),
)


def wire(*values, extras: bool = True) -> bytes:
    """The messages as a client session would send them, one after another (with
    quoterace's own tags, unless told not to)."""
    session = Session("CLIENT", "V0")
    return b"".join(session.encode(encode(value, extras)) for value in values)


def same(a, b) -> bool:
    """Equal, with NaN equal to NaN (as the optional NaN fields come back)."""
    if hasattr(a, "__dataclass_fields__") or isinstance(a, tuple):
        # a dataclass's fields that are part of its value (not, say, a price's wire precision)
        names = [] if isinstance(a, tuple) else [f.name for f in dataclasses.fields(a) if f.compare]
        fields = a if isinstance(a, tuple) else [getattr(a, name) for name in names]
        other = b if isinstance(b, tuple) else [getattr(b, name, None) for name in names]
        return type(a) is type(b) and all(same(x, y) for x, y in zip(fields, other, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def assert_sendable(error: FixError) -> None:
    """A reason a server can send back in a Logout's Text."""
    assert error.reason.isascii() and error.reason.isprintable()
    assert 0 < len(error.reason) <= REASON_CHARS


# --------------------------------------------------------------------------- round trips


@FUZZ
@given(messages)
def test_every_message_round_trips_exactly(message):
    (fix,) = FixReader().feed(wire(message))
    assert same(decode(fix), message)


@FUZZ
@given(finite)
def test_floats_round_trip_bit_for_bit_and_never_in_exponent_notation(x):
    (fix,) = FixReader().feed(wire(QuoteRequest(0, x, size=1.0)))
    assert math.copysign(1.0, decode(fix).t0) == math.copysign(1.0, x)
    assert decode(fix).t0 == x
    assert b"e" not in fix.get(5007).lower()


def test_a_buy_quote_is_an_offer_and_a_sell_quote_a_bid():
    quote = Quote(7, 2, 0.002, 100.01, 5.0, 1.0, 1.2)
    (buy, sell) = FixReader().feed(wire(QuoteReply(1, 1, quote), QuoteReply(1, -1, quote)))
    assert (buy.get(133), buy.get(135), buy.get(132)) == (b"100.01", b"5.0", None)
    assert (sell.get(132), sell.get(134), sell.get(133)) == (b"100.01", b"5.0", None)
    assert buy.get(131) == buy.get(117) == b"7:1"


def test_execution_reports_say_filled_or_rejected_with_the_reason():
    fill = OrderReport("c1", 0, 1, 2.0, ExecutionReport(3, 0, 100.5, None, 0.003))
    reject = OrderReport("c2", 0, 1, 2.0, ExecutionReport(3, 0, 100.5, "price_moved", 0.003))
    filled, rejected = FixReader().feed(wire(fill, reject))
    assert [filled.get(t) for t in (150, 39, 14, 6, 31, 32)] == [
        b"F",
        b"2",
        b"2.0",
        b"100.5",
        b"100.5",
        b"2.0",
    ]
    assert [rejected.get(t) for t in (150, 39, 14, 103, 58)] == [
        b"8",
        b"8",
        b"0",
        b"0",
        b"price_moved",
    ]
    assert [filled.get(t) for t in (37, 17, 11, 131, 117)] == [b"3:0", b"c1", b"c1", None, None]


def test_quoteraces_own_tags_go_only_with_extras_and_are_never_required():
    request = QuoteRequest(3, 1.5, -1, 2.0, 1, 100.0, 0.001)
    quote = Quote(3, 2, 0.002, 100.01, 5.0, 1.0, 1.2, 0.001)
    report = OrderReport("c1", 1, 1, 2.0, ExecutionReport(3, 2, 100.5, None, 0.003))
    for message in (request, QuoteReply(1, -1, quote), report):
        (plain,) = FixReader().feed(wire(message, extras=False))
        (extra,) = FixReader().feed(wire(message))
        assert not [t for t, _ in plain.pairs if int(t) >= 5000]
        assert [t for t, _ in extra.pairs if int(t) >= 5000]
        decoded = decode(plain)  # the standard fields alone are enough
        assert type(decoded) is type(message)
    assert decode(FixReader().feed(wire(request, extras=False))[0]) == QuoteRequest(
        3, 0.0, -1, 2.0, 1
    )
    bare = decode(FixReader().feed(wire(QuoteReply(1, -1, quote), extras=False))[0])
    assert bare.quote == Quote(3, 0, 0.0, 100.01, 5.0)


def test_a_standard_quote_request_is_any_quote_req_id_with_its_instrument():
    (fix,) = FixReader().feed(wire(QuoteAsk("QR-1", 1, 3.0), extras=False))
    assert [fix.get(t) for t in (131, 146, 55, 54, 38)] == [
        b"QR-1",
        b"1",
        b"QUOTERACE",
        b"1",
        b"3.0",
    ]
    assert decode(fix) == QuoteAsk("QR-1", 1, 3.0)


def test_a_venues_own_quote_and_order_ids_and_standard_rejects_are_understood():
    """A standard venue's Quote (its own QuoteID, no Side) and its reject reasons."""
    fix = FixMessage()
    for tag, value in [(35, "S"), (117, "Q-77"), (131, "4:0"), (55, "X"), (133, "99.5")]:
        fix.append_pair(tag, value)
    # no Side: a two-sided quote (here an offer only) whose side the client picks
    offer_only = ((None, math.inf), (99.5, math.inf))
    assert decode(fix) == QuoteReply(0, 0, Quote(4, 0, 0.0, None), None, "Q-77", offer_only)
    for code, text, reason in [
        (4, "quote no longer valid", "expired"),
        (3, None, "no_liquidity"),
        (99, "price does not match quote", "price_moved"),
        (None, "no_liquidity", "no_liquidity"),
    ]:
        fix = FixMessage()
        for tag, value in [(35, "8"), (37, "NONE"), (17, "E1"), (11, "c"), (150, "8"),
                           (39, "8"), (55, "X"), (54, "1"), (151, "0"), (14, "0"), (6, "0"),
                           (103, code), (58, text)]:  # fmt: skip
            if value is not None:
                fix.append_pair(tag, value)
        assert decode(fix).report.reason == reason, (code, text)


def test_the_largest_messages_fit_in_the_default_limit():
    text = "x" * 256
    tiny = 5e-324  # the longest decimal a double takes without an exponent
    largest = [
        OrderReport(text, 10**9 - 1, 1, tiny, ExecutionReport(10**17, 1000, tiny, None, tiny)),
        QuoteReply(10**9 - 1, 1, Quote(10**17, 1000, tiny, -tiny, tiny, -tiny, -tiny, tiny)),
        QuoteRequest(10**17, -tiny, 1, tiny, 10**9 - 1, -tiny, tiny),
    ]
    for message in largest:
        assert len(wire(message)) <= MAX_MESSAGE_BYTES
        assert same(decode(FixReader().feed(wire(message))[0]), message)


def test_a_header_is_the_standard_one_and_sequence_numbers_count_from_one():
    data = wire(Logon(5), Heartbeat())
    first, second = FixReader().feed(data)
    assert data.startswith(b"8=FIX.4.4\x019=")
    assert [first.get(t) for t in (35, 49, 56, 34)] == [b"A", b"CLIENT", b"V0", b"1"]
    assert second.get(34) == b"2"
    peer = Session("V0")
    peer.check(first)
    assert peer.target == "CLIENT"  # learnt from the Logon
    peer.check(second)
    with pytest.raises(FixError, match="MsgSeqNum too low, expecting 3 but received 1"):
        peer.check(first)


@pytest.mark.parametrize(
    "bad",
    [
        QuoteRequest(0, 0.0, side=0),
        QuoteRequest(0, math.inf),
        QuoteRequest(-1, 0.0),
        Logout("caf\u00e9"),
        Logout("a\x01b"),
        OrderReport("c", 0, 1, 1.0, ExecutionReport(0, 0, 1.0, "caf\u00e9", 0.0)),
        QuoteAsk("QR\x01", 1, 1.0),
        ResendRequest(-1, 0),
    ],
)
def test_values_fix_cannot_carry_are_refused_when_encoding(bad):
    with pytest.raises(ValueError):
        encode(bad, extras=True)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ([(35, "R"), (131, "1:0"), (55, "X"), (54, "1"), (38, "0"), (5001, "0"), (5007, "0")],
         "38: must be > 0"),
        ([(35, "R"), (131, "1:0"), (55, "X"), (54, "1"), (38, "1e5"), (5001, "0"), (5007, "0")],
         "38: not a finite"),
        ([(35, "R"), (131, "1:0"), (55, "X"), (54, "1"), (38, "9" * 400), (5001, "0"),
          (5007, "0")], "38: not a finite"),
        ([(35, "R"), (131, "\x7f"), (55, "X"), (54, "1"), (38, "1")], "131: not printable"),
        ([(35, "R"), (131, "1:0"), (55, "X"), (54, "1"), (38, "1"), (5001, "-1")],
         "5001: must be >= 0"),
        ([(35, "R"), (131, "1:0"), (55, "X"), (54, "X"), (38, "1"), (5001, "0"), (5007, "0")],
         "Side"),
        ([(35, "Z"), (131, "1:0"), (131, "2:0")], "131 repeated"),
        ([(35, "D"), (11, "c"), (117, "1:0"), (40, "Z"), (55, "X"), (54, "1"), (38, "1"),
          (44, "1")], "OrdType"),
        ([(35, "8"), (11, "c"), (37, "1:0"), (17, "e"), (150, "0"), (39, "Z"), (54, "1")],
         "OrdStatus"),
        ([(35, "4"), (36, "5"), (123, "X")], "123: must be Y or N"),
        ([(35, "2"), (7, "1")], "missing tag 16"),
        ([(35, "3"), (58, "no")], "missing tag 45"),
        ([(35, "XX")], "unsupported MsgType"),
        ([(35, "A"), (98, "1"), (108, "30")], "EncryptMethod"),
        ([(35, "5"), (58, "\xff")], "printable ASCII"),
    ],
)  # fmt: skip
def test_malformed_values_raise_fix_error_naming_the_tag(fields, error):
    fix = FixMessage()
    for tag, value in fields:
        fix.append_pair(tag, value)
    with pytest.raises(FixError, match=error):
        decode(fix)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                (
                    7,
                    11,
                    16,
                    17,
                    35,
                    36,
                    37,
                    38,
                    39,
                    40,
                    44,
                    45,
                    54,
                    55,
                    58,
                    98,
                    103,
                    108,
                    112,
                    117,
                    123,
                    131,
                    141,
                    150,
                    371,
                    553,
                    5001,
                    5003,
                )
            ),
            st.binary(min_size=1, max_size=12),
        ),
        max_size=12,
    ),
    st.one_of(
        st.sampled_from((b"A", b"0", b"1", b"2", b"3", b"4", b"5", b"R", b"S", b"AG", b"Z"))
        | st.sampled_from((b"D", b"8")),
        st.binary(min_size=1, max_size=300),
    ),
)
def test_decoding_arbitrary_fields_gives_a_message_or_fix_error(fields, kind):
    fix = FixMessage()
    fix.append_pair(35, kind)
    for tag, value in fields:
        fix.append_pair(tag, value)
    try:
        assert isinstance(decode(fix), Message)
    except FixError as error:
        assert_sendable(error)


# --------------------------------------------------------------------------- framing


def feed_in_chunks(reader: FixReader, data: bytes, cuts: list[int]) -> list[FixMessage]:
    """Feed `data` cut at `cuts`, checking that the reader never holds more than its limit."""
    out, start = [], 0
    for cut in [*sorted(cuts), len(data)]:
        out += reader.feed(data[start:cut])
        assert reader.buffered <= reader.max_size
        start = cut
    reader.close()
    return out


@FUZZ
@given(st.lists(messages, min_size=1, max_size=6), st.data())
def test_messages_split_anywhere_come_out_whole_and_in_order(values, data):
    stream = wire(*values)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    out = feed_in_chunks(FixReader(), stream, cuts)
    assert b"".join(m.encode() for m in out) == stream
    assert all(same(decode(m), v) for m, v in zip(out, values, strict=True))
    parser = FixParser()  # the pairs and MsgType simplefix's parser finds (it keeps 9 and 10)
    parser.append_buffer(stream)
    theirs = [parser.get_message() for _ in values]
    assert [(m.pairs, m.message_type) for m in out] == [
        ([p for p in m.pairs if p[0] not in (b"9", b"10")], m.message_type) for m in theirs
    ]


@FUZZ
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=5))
def test_random_bytes_give_messages_or_fix_error_and_nothing_else(data, cuts):
    try:
        for message in feed_in_chunks(FixReader(64), data, [c for c in cuts if c <= len(data)]):
            assert message.encode() in data  # only ever what was sent, whole
    except FixError as error:
        assert_sendable(error)


@FUZZ
@given(messages, st.data())
def test_changing_any_one_byte_is_always_caught(message, data):
    good = wire(message)
    at = data.draw(st.integers(0, len(good) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != good[at]))
    bad = good[:at] + bytes([byte]) + good[at + 1 :]
    reader = FixReader()
    # a longer BodyLength waits for more bytes: the end of the stream then reveals it
    with pytest.raises(FixError):
        reader.feed(bad)
        reader.close()


@FUZZ
@given(st.integers(MAX_MESSAGE_BYTES + 1, 10**6), st.integers(1, 8192))
def test_an_oversized_message_is_refused_from_its_header_alone(declared, chunk):
    header = b"8=FIX.4.4\x019=" + str(declared).encode() + b"\x0135=0\x01"
    reader = FixReader()
    with pytest.raises(FixError, match=r"oversized|BodyLength"):
        feed_in_chunks(reader, header + b"x" * chunk, list(range(0, len(header) + chunk, 7)))


def test_a_flood_without_framing_is_refused_at_once_and_never_buffered():
    reader = FixReader()
    with pytest.raises(FixError, match="garbage"):
        reader.feed(b"x" * 10**6)
    assert reader.buffered <= MAX_MESSAGE_BYTES


def test_a_stream_ending_inside_a_message_is_truncated():
    data = wire(Heartbeat())
    reader = FixReader()
    assert reader.feed(data[:-1]) == []
    with pytest.raises(FixError, match="truncated"):
        reader.close()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"8=FIX.4.2\x019=5\x01", "BeginString FIX.4.2 not supported"),
        (b"8=FIXT.1.1\x01", "BeginString FIXT.1.1 not supported"),
        (b"8=FIX.4.4\x018=", "garbage"),
        (b"8=FIX" + b"x" * 30, "garbage"),
        (b"8=FIX.4.4\x019=x\x01", "BodyLength"),
        (b"8=FIX.4.4\x019=\x0135=0\x01", "BodyLength"),  # empty: not a header to wait on
        (b"8=FIX.4.4\x019=05\x0135=0\x0110=000\x01", "BodyLength"),
        (b"8=FIX.4.4\x019=5\x0135=0\x0110=999\x01", "checksum mismatch"),
        (b"8=FIX.4.4\x019=4\x0135=0\x0110=000\x01", "CheckSum field"),
        (b"8=FIX.4.4\x019=6\x0135=0\x01", None),  # not yet whole: no error until the end
    ],
)
def test_bad_framing_is_named(data, error):
    reader = FixReader()
    if error is None:
        assert reader.feed(data) == []
        return
    with pytest.raises(FixError, match=error):
        reader.feed(data)


def test_an_empty_body_length_is_refused_before_anything_more_is_held():
    """Else the reader would wait on it for ever, holding whatever the peer sends next."""
    reader = FixReader()
    with pytest.raises(FixError, match="bad BodyLength"):
        for _ in range(10):
            reader.feed(b"8=FIX.4.4\x019=\x01" + b"58=x\x01" * 1000)
    assert reader.buffered <= MAX_MESSAGE_BYTES


def test_a_checksum_right_for_a_bad_body_still_fails_field_by_field():
    body = b"35=0\x01=x\x01"
    head = b"8=FIX.4.4\x019=" + str(len(body)).encode() + b"\x01"
    checksum = sum(head + body) % 256
    with pytest.raises(FixError, match="not tag=value"):
        FixReader().feed(head + body + b"10=%03d\x01" % checksum)


def framed(body: bytes) -> bytes:
    """`body` (the fields from MsgType on, each ending in SOH) framed as FIX 4.4 with its right
    BodyLength and CheckSum: whatever is wrong with it is in its fields."""
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    return head + body + b"10=%03d\x01" % (sum(head + body) % 256)


HEAD = b"35=0\x0149=C\x0156=V\x0134=1\x0152=20260101-00:00:00.000000\x01"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (b"058=x\x01", "field 8 is not tag=value"),  # a leading zero
        (b"0=x\x01", "field 8 is not tag=value"),
        (b"1234567890=x\x01", "field 8 is not tag=value"),  # ten digits
        (b"5a=x\x01", "field 8 is not tag=value"),
        (b"-5=x\x01", "field 8 is not tag=value"),
        (b"+5=x\x01", "field 8 is not tag=value"),
        (b" 5=x\x01", "field 8 is not tag=value"),
        (b"\xb2=x\x01", "field 8 is not tag=value"),  # a superscript two in Latin-1
        (b"=x\x01", "field 8 is not tag=value"),
        (b"58=\x01", "field 8 is not tag=value"),  # an empty value
        (b"58\x01", "field 8 is not tag=value"),  # no "="
        (b"\x01", "field 8 is not tag=value"),  # an empty field
        (b"58=a\x0159=\x01", "field 9 is not tag=value"),
        (b"35=0\x01", "tag 35 repeated or out of place"),
        (b"8=FIX.4.4\x01", "tag 8 repeated or out of place"),
        (b"9=5\x01", "tag 9 repeated or out of place"),
        (b"10=000\x01", "tag 10 repeated or out of place"),
    ],
)
def test_each_bad_field_is_refused_with_its_place(fields, error):
    with pytest.raises(FixError, match=error):
        FixReader().feed(framed(HEAD + fields))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"49=C\x0135=0\x01", r"MsgType \(35\) must be the third field"),
        (b"8=FIX.4.4\x0135=0\x01", r"MsgType \(35\) must be the third field"),
        (b"10=000\x0135=0\x01", r"MsgType \(35\) must be the third field"),
        (b"035=0\x01", "field 3 is not tag=value"),  # not 35 with a leading zero either
    ],
)
def test_msg_type_must_come_first_after_the_framing(body, error):
    with pytest.raises(FixError, match=error):
        FixReader().feed(framed(body))


def test_the_widest_tag_and_any_value_bytes_are_taken():
    fields = b"999999999=x\x0158=a=b\x0158=\xff\x7f\x01"
    (fix,) = FixReader().feed(framed(HEAD + fields))
    assert fix.message_type == b"0"
    assert fix.pairs[-3:] == [(b"999999999", b"x"), (b"58", b"a=b"), (b"58", b"\xff\x7f")]
    assert fix.pairs[0] == (b"8", b"FIX.4.4") and fix.get(34) == b"1"


def test_the_reader_matches_simplefix_on_valid_input():
    data = wire(Logon(5), QuoteRequest(3, 1.5, -1, 2.0, 1, 100.0, 0.001))
    parser = FixParser()
    parser.append_buffer(data)
    ours = FixReader().feed(data)
    theirs = [parser.get_message(), parser.get_message()]
    assert [m.encode() for m in ours] == [m.encode() for m in theirs]


field_bytes = st.sampled_from([b"=", b"\x01", b"0", b"8", b"9", b"10", b"35", b"58", b"a", b"\xff"])


@FUZZ
@given(st.lists(field_bytes, max_size=30).map(b"".join))
def test_a_body_is_read_as_field_by_field_whatever_it_holds(tail):
    body = b"35=0\x01" + tail
    try:
        slow = _checked(body)
    except FixError as error:
        with pytest.raises(FixError, match=re.escape(error.reason)):
            _message(body)
    else:
        assert _message(body).pairs == slow.pairs


@FUZZ
@given(messages, st.booleans())
def test_a_message_encode_built_goes_out_as_simplefix_would_put_its_fields(message, extras):
    built = encode(message, extras)
    with mock.patch("venues.fix.session._sending_time", lambda: b"20260101-00:00:00.000000"):
        ours = Session("C", "V").encode(built)  # from its text
        plain = FixMessage()
        for tag, value in built.pairs:  # made now, from the same text
            plain.append_pair(tag, value, header=tag in (b"8", b"35"))
        assert ours == Session("C", "V").encode(plain)


def test_a_message_encode_built_then_changed_goes_out_changed():
    fix = encode(QuoteCancel(3, 0))
    fix.append_pair(58, "why")
    assert fix.get(131) == b"3:0"
    fix.append_pair(1, "ACCT")
    data = Session("C", "V").encode(fix)
    assert data.endswith(b"\x0158=why\x011=ACCT\x01" + data[-7:]) and b"\x01131=3:0\x01" in data


# Values of a QuoteRequest's or Quote's fields, well formed or not, for the fast decode.
_numbers = [b"1", b"0", b"-0", b"2.5", b"-0.5", b"1e5", b".5", b"5.", b"+1", b"01", b"1" * 400]
_QUOTE_FIELDS = {
    b"131": [b"0:0", b"3:1", b"01:0", b"1:01", b"a:b", b"18446744073709551616:0"],
    b"117": [b"0:0", b"3:1", b"01:0", b"own"],
    b"55": [b"\xff", b"A" * 257],
    b"54": [b"1", b"2", b"3", b" 1"],
    b"5003": [b"0", b"3", b"-1", b"01", b"1.0"],
    **{tag: _numbers for tag in (b"38", b"132", b"133", b"134", b"135", b"5001", b"5002")},
    **{tag: _numbers for tag in (b"5004", b"5005", b"5007", b"5008", b"5009")},
}
_REQUEST = [b"131=3:1", b"146=1", b"55=QUOTERACE", b"54=2", b"38=2.5", b"5001=0.5", b"5007=9.5"]
_QUOTE = [b"131=3:1", b"117=3:1", b"55=QUOTERACE", b"54=1", b"133=99.5", b"135=2", b"5003=1"]


def quote_bodies() -> list[bytes]:
    """quoterace's own QuoteRequest and Quote, and each with one field left out, or one value
    changed (to another well formed or not; QuoteID and QuoteReqID alike or not), or a field
    repeated; its fields in an order shuffled (fixed seed)."""
    shuffle = random.Random(14).shuffle
    bodies = []
    for kind, base in ((b"R", _REQUEST), (b"S", _QUOTE)):
        variants = [base, *(base[:n] + base[n + 1 :] for n in range(len(base)))]
        variants += [[*base, field] for field in base]  # repeated
        for tag, values in _QUOTE_FIELDS.items():
            kept = [f for f in base if not f.startswith(tag + b"=")]
            variants += [[*kept, tag + b"=" + value] for value in values]
            if tag == b"131":  # both ids alike
                kept = [f for f in kept if not f.startswith(b"117=")]
                variants += [[*kept, b"131=" + value, b"117=" + value] for value in values]
        for fields in variants:
            fields = list(fields)
            shuffle(fields)
            bodies.append(b"\x01".join([b"35=" + kind, *fields]))
    return bodies


def _decoded(fix: FixMessage) -> str:
    try:
        return repr(decode(fix))  # repr: NaN equals NaN
    except FixError as error:
        return f"FixError: {error.reason}"


def test_the_fast_decode_of_quotes_reads_what_the_general_one_does():
    messages = [_message(body) for body in quote_bodies()]
    fast = [_decoded(fix) for fix in messages]
    unusual = mock.Mock(side_effect=codec._Unusual)
    with mock.patch.multiple(codec, _own_quote_request=unusual, _own_quote_reply=unusual):
        general = [_decoded(fix) for fix in messages]
    assert fast == general
    assert sum(not g.startswith("FixError") for g in general) > 100  # not all refused
