"""The exchange side: simulated venues, their latency distributions, pricing, last look and
their messages, and (network mode) a venue served over FIX (venues.fix).

Knows nothing of strategies or of the simulator that drives it.
"""

from venues.fix import FixError, FixReader, Limits, VenueServer
from venues.last_look import REJECT_REASONS, LastLook, adverse_move_bps, judge
from venues.latency import DISTRIBUTIONS, Component, Latency, sample_ms, sample_s
from venues.messages import ExecutionReport, Quote, QuoteRequest
from venues.pricing import Ladder, Level, quote_price
from venues.venue import Venue, VenueDraws, VenueSpec
from venues.wall_clock import TIMERS, WallClock, precise_timers

__all__ = [
    "DISTRIBUTIONS",
    "REJECT_REASONS",
    "TIMERS",
    "Component",
    "ExecutionReport",
    "FixError",
    "FixReader",
    "Ladder",
    "LastLook",
    "Latency",
    "Level",
    "Limits",
    "Quote",
    "QuoteRequest",
    "Venue",
    "VenueDraws",
    "VenueServer",
    "VenueSpec",
    "WallClock",
    "adverse_move_bps",
    "judge",
    "precise_timers",
    "quote_price",
    "sample_ms",
    "sample_s",
]
