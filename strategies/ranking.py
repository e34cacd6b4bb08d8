"""How quotes rank for a client: by what they cost, quotes too small for the order last."""

from __future__ import annotations

import math
from collections.abc import Sequence

from venues.messages import Quote, QuoteRequest


def rank(quote: Quote, request: QuoteRequest) -> tuple[bool, float]:
    """Sort key, lower is better: quotes too small for the order after those that can fill it,
    then the cost per unit on the request's side (an unpriced quote after every priced one)."""
    price = math.inf if quote.price is None else request.side * quote.price
    return quote.size < request.size, price


def best(quotes: Sequence[Quote], request: QuoteRequest) -> Quote | None:
    """The best of `quotes` (given in order of arrival: the earliest wins among equals)."""
    return min(quotes, key=lambda q: rank(q, request), default=None)


def cost_bps(quote: Quote, request: QuoteRequest) -> float:
    """What the quote costs against the mid the client saw at the request, in bps (positive
    is worse); infinite for an unpriced quote or when the client saw no mid."""
    if quote.price is None or math.isnan(request.mid):
        return math.inf
    return request.side * (quote.price - request.mid) / request.mid * 1e4
