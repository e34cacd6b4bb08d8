"""Messages between a client and a venue: what is asked and what comes back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    """Request number `index` of a run, arriving at engine time `t0` (seconds).

    `side` is +1 to buy and -1 to sell; `size` is the quantity wanted.
    """

    index: int
    t0: float
    side: int = 1
    size: float = 1.0


@dataclass(frozen=True, slots=True)
class Quote:
    """Venue number `venue`'s answer to the request whose index is `request`.

    `latency_s` is the sampled latency (request sent -> quote received): the truth that clock
    arithmetic only approximates. `price` is None until venues price their quotes.
    """

    request: int
    venue: int
    latency_s: float
    price: float | None = None
