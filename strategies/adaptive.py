"""adaptive: ask the venues that have lately been fast and filled, with some exploration."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from strategies import fields
from strategies.past_events import PastEvents
from strategies.scatter import QuoteSource, scatter
from venues.messages import ExecutionReport, Quote, QuoteRequest


class VenueStats:
    """Running EWMAs of each venue's latency and fill rate, as one run observes them, each
    observation folded in once strictly in the past (strategies.past_events)."""

    def __init__(self) -> None:
        self._events = PastEvents()
        self.latency: dict[int, float] = {}
        self.fill: dict[int, float] = {}

    def observe(self, t: float, venue: int, what: str, value: float) -> None:
        """Record `what` ("latency" in seconds, or "fill" 0/1) of `venue` at time `t`."""
        self._events.record(t, venue, what, value)

    def as_of(self, t: float, alpha: float) -> None:
        """Fold in every observation made before `t`."""
        for _, venue, what, value in self._events.before(t):
            table = self.latency if what == "latency" else self.fill
            table[venue] = (
                value if venue not in table else table[venue] + alpha * (value - table[venue])
            )

    def score(self, venue: int) -> float:
        """Expected time to a fill (latency / fill rate), lower is better: 0 for a venue not yet
        seen (try it), infinite for one that has never filled (only exploration asks it)."""
        if venue not in self.latency:
            return 0.0
        fill = self.fill.get(venue, 1.0)
        return self.latency[venue] / fill if fill > 0 else math.inf


@dataclass(frozen=True)
class Adaptive:
    """Ask `fanout` venues chosen by their recent latency and fill rate, and take the first
    quote.

    Load balancing as a client learns it: each venue's score is its EWMA latency divided by its
    EWMA fill rate (over about `window` observations), and each pick compares two random
    venues and keeps the better (power of two choices: nearly as good as always taking the
    best, without herding every client onto it). With probability `explore` a pick is uniform
    instead, so a venue that recovers is noticed. Fewer venues asked means less load and a
    weaker minimum: the knob between first_wins and a single venue.
    """

    kind: ClassVar[str] = "adaptive"
    name: str = fields.name()
    fanout: int = field(default=2, metadata={"ge": 1})
    explore: float = field(default=0.1, metadata={"ge": 0.0, "le": 1.0})
    window: int = field(default=100, metadata={"ge": 1})
    timeout_ms: float = fields.timeout_ms()
    _stats: VenueStats = field(default_factory=VenueStats, init=False, repr=False, compare=False)
    _seed: int = field(default=0, init=False, repr=False, compare=False)

    def for_run(self, seed: int) -> Adaptive:
        """A copy with no statistics (what one run learns does not leak into the next) whose
        random picks are keyed by `seed`."""
        fresh = dataclasses.replace(self)
        object.__setattr__(fresh, "_seed", seed)
        return fresh

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        self._stats.as_of(request.t0, 2.0 / (self.window + 1))
        chosen = self._choose(request, venues)
        async with scatter(request, chosen, timeout_s=self.timeout_ms * 1e-3) as quotes:
            async for quote in quotes:
                at = request.t0 + quote.arrived_after_s
                self._stats.as_of(at, 2.0 / (self.window + 1))  # read losers as of now, not
                for venue in chosen:  # as of whichever race trio happened to run first
                    latency = quote.latency_s
                    if venue.index != quote.venue:  # a loser: at least as slow as the winner
                        latency = max(latency, self._stats.latency.get(venue.index, 0.0))
                    self._stats.observe(at, venue.index, "latency", latency)
                return quote
        for venue in chosen:  # nothing by the timeout: as slow as the timeout
            self._stats.observe(
                request.t0 + self.timeout_ms * 1e-3, venue.index, "latency", self.timeout_ms * 1e-3
            )
        return None

    def observe_report(self, report: ExecutionReport, at: float) -> None:
        """The engine tells the strategy how its order went, when the report arrived: fills
        feed the fill-rate EWMA."""
        self._stats.observe(at, report.venue, "fill", 1.0 if report.filled else 0.0)

    def _choose(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> list[QuoteSource]:
        # Keyed by seed and request, not drawn in scheduling order (string seeds are hashed
        # with SHA-512, the same on every machine).
        rng = random.Random(f"{self._seed}:{request.index}:{request.attempt}")
        left = list(venues)
        chosen = []
        for _ in range(min(self.fanout, len(left))):
            if len(left) == 1 or rng.random() < self.explore:
                pick = left[rng.randrange(len(left))]
            else:
                a, b = rng.sample(left, 2)
                pick = min(a, b, key=lambda v: (self._stats.score(v.index), v.index))
            left.remove(pick)
            chosen.append(pick)
        return chosen
