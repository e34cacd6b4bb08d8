"""Messages between a client and a venue: what is asked and what comes back.

They are values: never change one after it is made. A Quote is immutable, since a strategy
hands it back with its order and the venue honours what it says: a named tuple, which is as
immutable as a frozen dataclass and five times cheaper to build (several are made per race,
which `quoterace bench` sees). Requests and reports are plain slotted dataclasses for the same
reason; only the engine and the venues make them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(slots=True)
class QuoteRequest:
    """Attempt `attempt` of request number `index`, sent at engine time `t0` (seconds).

    `side` is +1 to buy and -1 to sell; `size` is the quantity wanted. A retry after a reject is
    a new attempt of the same request, sent when the reject arrives. `mid` is the market mid the
    client saw when it sent the request (NaN when it saw none). A venue asked later in the race
    (staggered, hedged) gets the request `sent_after_s` after t0; its latency counts from then.
    """

    index: int
    t0: float
    side: int = 1
    size: float = 1.0
    attempt: int = 0
    mid: float = math.nan
    sent_after_s: float = 0.0


class Quote(NamedTuple):
    """Venue number `venue`'s answer to the request whose index is `request`.

    `latency_s` is the sampled latency (request sent -> quote received): the truth that clock
    arithmetic only approximates; it counts from when the request was sent to this venue,
    `sent_after_s` after the attempt began. `price` is None from venues that do not price;
    `size` is how much the venue will trade at that price. The venue priced it at `priced_at`
    and honours it until `expires_at` (engine times).
    """

    request: int
    venue: int
    latency_s: float
    price: float | None = None
    size: float = math.inf
    priced_at: float = math.nan
    expires_at: float = math.inf
    sent_after_s: float = 0.0

    @property
    def arrived_after_s(self) -> float:
        """When the quote arrived, in seconds after the attempt began (exact for draws)."""
        return self.sent_after_s + self.latency_s


@dataclass(slots=True)
class ExecutionReport:
    """A venue's answer to an order: a fill at `price`, or a reject for `reason`.

    `round_trip_s` is the drawn order latency plus the venue's last-look hold: the exact time
    from sending the order to receiving this report.
    """

    request: int
    venue: int
    price: float
    reason: str | None
    round_trip_s: float

    @property
    def filled(self) -> bool:
        """True for a fill."""
        return self.reason is None
