"""The exchange side: simulated venues, their latency distributions and their messages.

Knows nothing of strategies or of the simulator that drives it.
"""

from venues.latency import DISTRIBUTIONS, Component, Latency, sample_ms, sample_s
from venues.messages import Quote, QuoteRequest
from venues.venue import Venue, VenueSpec

__all__ = [
    "DISTRIBUTIONS",
    "Component",
    "Latency",
    "Quote",
    "QuoteRequest",
    "Venue",
    "VenueSpec",
    "sample_ms",
    "sample_s",
]
