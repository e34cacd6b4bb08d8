"""The FIX messages quoterace speaks, as values (venues.fix.codec puts them on the wire)."""

from __future__ import annotations

from dataclasses import dataclass, field

from venues.messages import ExecutionReport, Quote, QuoteRequest

EXTRAS = "quoterace-extras"  # Logon's Username (553) asking for quoterace's own tags


@dataclass(frozen=True)
class Logon:
    """35=A: open a session; `heartbeat_s` is HeartBtInt (0: no heartbeats). `reset` is
    ResetSeqNumFlag (141=Y: both ends start again at MsgSeqNum 1); `extras`, Username (553)
    EXTRAS: this end asks for (or, answering, agrees to) quoterace's own tags (5000+)."""

    heartbeat_s: int = 30
    reset: bool = False
    extras: bool = False


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
class Reject:
    """35=3: the peer refused message `ref_seq` at the session level; `text` says why (with
    RefTagID 371, RefMsgType 372 and SessionRejectReason 373 when given)."""

    ref_seq: int
    text: str | None = None
    ref_tag: int | None = None
    ref_msg_type: str | None = None
    reason: int | None = None


@dataclass(frozen=True)
class ResendRequest:
    """35=2: send again messages `begin` to `end` (0: all since `begin`)."""

    begin: int
    end: int = 0


@dataclass(frozen=True)
class SequenceReset:
    """35=4: the next MsgSeqNum is `new_seq`; `gap_fill` (123=Y) stands for messages not
    resent, else (123=N) a reset whatever this message's own MsgSeqNum."""

    new_seq: int
    gap_fill: bool = True


@dataclass(frozen=True)
class QuoteAsk:
    """35=R from a standard client: a QuoteReqID that is not quoterace's "index:attempt"
    (`quote_req_id`, any text), for `size` on `side`. The venue picks the draws."""

    quote_req_id: str
    side: int
    size: float


@dataclass(frozen=True)
class QuoteReply:
    """35=S: the venue's `quote` for attempt `attempt` of request `quote.request`, on `side`.

    Its QuoteID (`quote_id`, default "request:attempt") is what an order for it names; its
    QuoteReqID is `quote_req_id` (default the same "request:attempt", quoterace's own).
    """

    attempt: int
    side: int
    quote: Quote
    quote_req_id: str | None = None
    quote_id: str | None = None
    two_sided: tuple[tuple[float | None, float], tuple[float | None, float]] | None = None
    """A standard venue's quote without a Side (54): ((bid, bid size), (offer, offer size)),
    `side` 0 and `quote` unpriced; the client takes the side it asked for."""


@dataclass(frozen=True)
class QuoteRequestReject:
    """35=AG: the venue will not quote this request; `reason` says why. `quote_req_id`
    (default "request:attempt"), `side` and `size` echo the request."""

    request: int
    attempt: int
    reason: str
    quote_req_id: str | None = None
    side: int = 1
    size: float | None = None


@dataclass(frozen=True)
class QuoteCancel:
    """35=Z: the client no longer waits for its request's quote. Its QuoteReqID and QuoteID
    are "request:attempt" unless `quote_req_id` (a standard client's own) says otherwise;
    a venue matches a cancel by either."""

    request: int
    attempt: int
    quote_req_id: str | None = None


@dataclass(frozen=True)
class NewOrderSingle:
    """35=D: an order of `size` on `side`, at `price`, for the quote of (request, attempt),
    whose QuoteID is `quote_id` (default "request:attempt"; a venue's own otherwise). A
    venue reads (request, attempt) from a QuoteID of that form, else (-1, 0): not its own."""

    cl_ord_id: str
    request: int
    attempt: int
    side: int
    size: float
    price: float
    quote_id: str | None = None
    # decimals of the price as it came on the wire (not part of the order's value)
    price_decimals: int | None = field(default=None, compare=False)
    # a standard order that is no order for a quote (another OrdType; no QuoteID, Price or
    # OrderQty, which FIX 4.4 allows): why the venue rejects it (its size or price then NaN
    # where absent)
    refused: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class OrderReport:
    """35=8: the venue's `report` on order `cl_ord_id` (attempt `attempt`, `side`, `size`).

    Its ExecID is `exec_id` (unique per report: the venue numbers them; default the
    ClOrdID), its OrderID `order_id` (default the quote's id "request:attempt"; "NONE" for an
    order for no quote of the venue's).
    """

    cl_ord_id: str
    attempt: int
    side: int
    size: float
    report: ExecutionReport
    exec_id: str | None = None
    order_id: str | None = None


@dataclass(frozen=True)
class OrderPending:
    """35=8 that does not end order `cl_ord_id`: a standard venue's acknowledgement (OrdStatus
    `status` 0 New, A PendingNew, 1 PartiallyFilled, ...). The client waits on for the report
    that ends it; quoterace's venues never send one."""

    cl_ord_id: str
    status: str


Message = (
    Logon
    | Heartbeat
    | TestRequest
    | Logout
    | Reject
    | ResendRequest
    | SequenceReset
    | QuoteRequest
    | QuoteAsk
    | QuoteReply
    | QuoteRequestReject
    | QuoteCancel
    | NewOrderSingle
    | OrderReport
    | OrderPending
)
