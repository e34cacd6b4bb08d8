"""FIX 4.4 for network mode: the framing reader (reader), quoterace's messages (messages) and
their tag encoding (codec), the session layer both ends run (session), and the venue server
(server)."""

from venues.fix.codec import decode, encode
from venues.fix.errors import REASON_CHARS, FixError
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
from venues.fix.reader import MAX_MESSAGE_BYTES, FixReader, WrongBeginString
from venues.fix.server import NETWORKS, Limits, VenueServer
from venues.fix.session import Link, Session, SessionLimits

__all__ = [
    "EXTRAS",
    "MAX_MESSAGE_BYTES",
    "NETWORKS",
    "REASON_CHARS",
    "FixError",
    "FixReader",
    "Heartbeat",
    "Limits",
    "Link",
    "Logon",
    "Logout",
    "Message",
    "NewOrderSingle",
    "OrderPending",
    "OrderReport",
    "QuoteAsk",
    "QuoteCancel",
    "QuoteReply",
    "QuoteRequestReject",
    "Reject",
    "ResendRequest",
    "SequenceReset",
    "Session",
    "SessionLimits",
    "TestRequest",
    "VenueServer",
    "WrongBeginString",
    "decode",
    "encode",
]
