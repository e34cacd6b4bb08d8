"""The exchange side: simulated venues, their latency distributions, pricing, last look and
their messages, and (network mode) a venue served over FIX (venues.fix).

Knows nothing of strategies or of the simulator that drives it.
"""

from typing import Any

from venues.last_look import REJECT_REASONS, LastLook, adverse_move_bps, judge
from venues.latency import DISTRIBUTIONS, Component, Latency, sample_ms, sample_s
from venues.messages import ExecutionReport, Quote, QuoteRequest
from venues.pricing import Ladder, Level, quote_price
from venues.venue import Venue, VenueDraws, VenueSpec


def __getattr__(name: str) -> Any:
    """The FIX server's and the wall clock's names, imported on first use: they are network
    mode's and the wall clock's (trio's I/O, timerfd), which a run in virtual time never
    loads."""
    if name in ("FixError", "FixReader", "Limits", "VenueServer"):
        from venues import fix

        return getattr(fix, name)
    if name in ("TIMERS", "WallClock", "precise_timers"):
        from venues import wall_clock

        return getattr(wall_clock, name)
    raise AttributeError(f"module 'venues' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the ones imported on first use among them."""
    return sorted(set(globals()) | set(__all__))


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
