"""Rules over arrays: a block of quote requests decided at once, for the fast engine.

Where requests do not interact, a rule's decision is a function of each request's own quotes,
so a strategy can state its rule twice in one module: as a trio gatherer (`decide`, one race
at a time) and over arrays (`decide_arrays`, a block of races at once, from the same draws).
`QuoteArrays` is what the array rule sees: every venue's quote for every request of the block,
as (venue x request) arrays; `Decisions` is what it answers: the orders each request sends.

Both forms must decide alike, to the bit: quotes arriving exactly at a timeout or deadline
count; ties in time go to the lower venue (the one trio wakes first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from venues.pricing import quote_price


class Mids(Protocol):
    """The market as a block's quotes met it (the engine looks mids up on first use)."""

    def quoted(self, until: float) -> np.ndarray:
        """(venue x request) the mid each quote was priced at, for quotes asked at the request
        and arriving by `until` after it (the others: any value, never looked at)."""

    def priced(self, until: float) -> np.ndarray:
        """`quoted`, but what each quote was priced from: for a venue quoting the recorded
        spread, the recorded touch on the request's side (the ask for a buy, the bid for a
        sell) rather than the mid."""

    def seen(self) -> np.ndarray:
        """(request,) the mid the client saw when it sent each request."""


@dataclass(frozen=True)
class QuoteArrays:
    """A block of quote requests, every venue asked at once at each request's start:
    `latency[v, i]` is when venue v's quote for request i arrives after the request (a venue
    asked `s` later answers `s + latency` after it) and `answers[v, i]` whether it ever does.
    The quote is for `size[i]` on `side[i]` (+1.0 buy, -1.0 sell): venue v quotes
    `available[v, i]` of it at a full spread of `spread[v, i]`, plus its `skew[v, 0]` and the
    drawn `noise[v, i]`, priced at the mid halfway through its latency (`mids`; or at the
    recorded touch then, for a venue quoting the recorded spread)."""

    latency: np.ndarray
    answers: np.ndarray
    side: np.ndarray
    size: np.ndarray
    spread: np.ndarray
    available: np.ndarray
    skew: np.ndarray
    noise: np.ndarray
    mids: Mids

    @property
    def venues(self) -> int:
        return self.latency.shape[0]

    @property
    def requests(self) -> int:
        return self.latency.shape[1]

    def in_by(self, t: float) -> np.ndarray:
        """(venue x request) whether each quote has arrived by `t` after its request."""
        return self.answers & (self.latency <= t)

    def arrival(self, took: np.ndarray) -> np.ndarray:
        """When each quote in `took` arrived (infinity for the others)."""
        return np.where(took, self.latency, np.inf)

    def can_fill(self) -> np.ndarray:
        """(venue x request) whether each venue quotes the whole size."""
        return self.available >= self.size

    def prices(self, until: float) -> np.ndarray:
        """(venue x request) the price of each quote arriving by `until` (the others: any
        value), as the venue prices it (venues.pricing.quote_price)."""
        base = self.mids.priced(until)
        return quote_price(base, self.side, self.spread, self.skew, self.noise)


@dataclass(frozen=True)
class Decisions:
    """A block's decisions: the orders each request sends, as legs. `venue[k, i]` is leg k's
    venue for request i (-1: no such leg), for `size[k, i]` (None: the whole size asked).
    `decided[i]`: the decision time after the request (NaN with no order); `ended[i]`: when
    a race with no order ends; `sent[i]`: when the venue ordered from was asked, after the
    request (None: at once); `asked[i]`: how many venues it asked, the first ones (None: all)."""

    venue: np.ndarray
    decided: np.ndarray
    ended: np.ndarray
    size: np.ndarray | None = None
    sent: np.ndarray | None = None
    asked: np.ndarray | None = None

    @classmethod
    def one(cls, chosen: np.ndarray, decided: np.ndarray, timeout: float) -> Decisions:
        """One order per request, on venue `chosen[i]` (-1: none) at `decided[i]`, every
        venue asked at once, a race without a quote ending at its `timeout`."""
        has = chosen >= 0
        return cls(chosen[None, :], np.where(has, decided, np.nan), np.full(chosen.size, timeout))


def last(arrival: np.ndarray, took: np.ndarray) -> np.ndarray:
    """(request,) when the last quote of those in `took` arrived (-infinity: none)."""
    return np.max(np.where(took, arrival, -np.inf), axis=0)
