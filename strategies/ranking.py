"""How quotes rank for a client: by what they cost, quotes too small for the order last.

Each rule for one quote (`rank`, `best`, `cost_bps`) has its form over arrays beside it
(`rank_arrays`, `best_arrays`, `cost_bps_arrays`), for the fast engine: the same order, the
same float operations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from strategies.arrays import QuoteArrays
from venues.messages import Quote, QuoteRequest


def rank(quote: Quote, request: QuoteRequest) -> tuple[bool, float]:
    """Sort key, lower is better: quotes too small for the order after those that can fill it,
    then the cost per unit on the request's side (an unpriced quote after every priced one)."""
    price = math.inf if quote.price is None else request.side * quote.price
    return quote.size < request.size, price


def best(quotes: Sequence[Quote], request: QuoteRequest) -> Quote | None:
    """The best of `quotes` (given in order of arrival: the earliest wins among equals)."""
    return min(quotes, key=lambda q: rank(q, request), default=None)


def relative_cost_bps(side: Any, price: Any, reference: Any, mid: Any) -> Any:
    """side * (price - reference) / mid in bps: positive is worse for the client. Floats or
    numpy arrays alike."""
    return side * (price - reference) / mid * 1e4


def cost_bps(quote: Quote, request: QuoteRequest) -> float:
    """What the quote costs against the mid the client saw at the request, in bps (positive
    is worse); infinite for an unpriced quote or when the client saw no mid."""
    if quote.price is None or math.isnan(request.mid):
        return math.inf
    return relative_cost_bps(request.side, quote.price, request.mid, request.mid)


def rank_arrays(quotes: QuoteArrays, until: float) -> tuple[np.ndarray, np.ndarray]:
    """`rank` of every quote arriving by `until` (venue x request): too small for the order,
    and the cost per unit on the request's side."""
    return ~quotes.can_fill(), quotes.side * quotes.prices(until)


def best_arrays(quotes: QuoteArrays, took: np.ndarray, arrival: np.ndarray) -> np.ndarray:
    """`best` of the quotes each request took (`took`, arriving at `arrival`): the venue of
    the best (-1: none). Among equals the earliest, then the lower venue (trio's order)."""
    small, cost = rank_arrays(quotes, float(np.max(np.where(took, arrival, 0.0), initial=0.0)))
    deep = took & ~small
    candidates = np.where(deep.any(axis=0), deep, took)
    for key in (cost, arrival):  # narrow to the lowest cost, then the earliest
        value = np.where(candidates, key, np.inf)
        candidates = candidates & (value == value.min(axis=0))
    best_venue = np.argmax(candidates, axis=0)  # the first True: the lower venue
    return np.where(took.any(axis=0), best_venue, -1)


def cost_bps_arrays(quotes: QuoteArrays, until: float) -> np.ndarray:
    """`cost_bps` of every quote arriving by `until` (venue x request)."""
    seen = quotes.mids.seen()
    return relative_cost_bps(quotes.side, quotes.prices(until), seen, seen)
