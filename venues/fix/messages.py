"""The FIX messages quoterace speaks, as values (venues.fix.codec puts them on the wire)."""

from __future__ import annotations

from dataclasses import dataclass

from venues.messages import ExecutionReport, Quote, QuoteRequest


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
