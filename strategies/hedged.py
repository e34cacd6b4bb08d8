"""hedged: ask one venue, back it up with the next after a delay, within a budget."""

from __future__ import annotations

import dataclasses
import math
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from sortedcontainers import SortedList

from strategies import fields
from strategies.past_events import PastEvents
from strategies.scatter import QuoteSource, scatter
from venues.messages import Quote, QuoteRequest

_PERCENTILE = re.compile(r"p(\d{1,2}(\.\d+)?)")
WARM_UP = 20  # observations before a percentile delay is trusted; no hedging until then


class HedgeLedger:
    """What a hedged strategy has seen in one run: requests, hedges and observed latencies,
    each counted once strictly in the past (strategies.past_events). Memory: the last `window`
    latencies.
    """

    def __init__(self, window: int) -> None:
        self._events = PastEvents()
        self._window = window
        self._recent: deque[float] = deque()
        self._sorted = SortedList()
        self.requests = 0
        self.hedges = 0

    def record(self, t: float, what: str, value: float = 0.0) -> None:
        """A "request", a "hedge" or an observed "latency" (seconds) at time `t`."""
        self._events.record(t, what, value)

    def as_of(self, t: float) -> HedgeLedger:
        """Fold in every event before `t`; returns self, for reading."""
        for _, what, value in self._events.before(t):
            if what == "request":
                self.requests += 1
            elif what == "hedge":
                self.hedges += 1
            else:
                self._recent.append(value)
                self._sorted.add(value)
                if len(self._recent) > self._window:
                    self._sorted.remove(self._recent.popleft())
        return self

    def tokens(self, budget: float) -> float:
        """Hedges still allowed: `budget` per request, less the hedges sent."""
        return budget * self.requests - self.hedges

    def percentile(self, q: float) -> float | None:
        """The q-th percentile of the recent latencies (numpy's "higher" method), or None
        until WARM_UP have been observed."""
        n = len(self._sorted)
        if n < WARM_UP:
            return None
        return self._sorted[math.ceil((n - 1) * q / 100)]


@dataclass(frozen=True)
class Hedged:
    """Ask the first venue; if no quote has come after the hedge delay, ask the next one too,
    up to `max_attempts` venues; take the first quote from any of them.

    Backup requests, as in "The Tail at Scale", gRPC's hedging policy and Finagle: a delay near
    the p95 of observed latency (`hedge_delay = "p95"`, or a fixed `hedge_delay_ms`) hedges
    only the slowest 5% of requests, which cuts the tail for a few percent more load. The
    `budget` caps that load: each request earns `budget` of a token, each hedge spends one, and
    hedging stops while the tokens are spent, so a slow venue cannot make every request double.
    `venues` names the order to ask in (default: the scenario's); `hedge_delay_ms`, when
    given, wins over `hedge_delay`.
    """

    kind: ClassVar[str] = "hedged"
    name: str = fields.name()
    venues: tuple[str, ...] = ()
    hedge_delay_ms: float | None = fields.delay_ms(None)
    hedge_delay: str = "p95"
    max_attempts: int = field(default=2, metadata={"ge": 1})
    budget: float = field(default=0.1, metadata={"ge": 0.0, "le": 10.0})
    window: int = field(default=1000, metadata={"ge": WARM_UP})
    timeout_ms: float = fields.timeout_ms()
    _ledger: HedgeLedger = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.hedge_delay, str) or not _PERCENTILE.fullmatch(self.hedge_delay):
            raise ValueError(f"hedge_delay: {self.hedge_delay!r} is not a percentile like 'p95'")
        if len(set(self.venues)) != len(self.venues):
            raise ValueError("venues: names a venue twice (a backup to the same venue never helps)")
        object.__setattr__(self, "_ledger", HedgeLedger(self.window))

    def for_run(self, seed: int) -> Hedged:
        """A copy with an empty ledger: what one run learns does not leak into the next."""
        return dataclasses.replace(self)

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        ledger = self._ledger
        ledger.record(request.t0, "request")
        order = self._order(venues)
        delay_s = self._delay_s(request.t0)
        async with scatter(request, [], timeout_s=self.timeout_ms * 1e-3) as quotes:
            quotes.ask(order[0])
            hedges = min(self.max_attempts, len(order)) - 1 if delay_s is not None else 0
            for n in range(1, hedges + 1):
                received = await quotes.collect(1, within_s=n * delay_s)
                if received:
                    return self._observed(request, received[0])
                at = request.t0 + n * delay_s
                if quotes.timed_out or ledger.as_of(at).tokens(self.budget) < 1:
                    break
                ledger.record(at, "hedge")
                quotes.ask(order[n])
            received = await quotes.collect(1)
        return self._observed(request, received[0]) if received else None

    def _delay_s(self, t: float) -> float | None:
        if self.hedge_delay_ms is not None:
            return self.hedge_delay_ms * 1e-3
        return self._ledger.as_of(t).percentile(float(self.hedge_delay[1:]))

    def _observed(self, request: QuoteRequest, quote: Quote) -> Quote:
        self._ledger.record(request.t0 + quote.arrived_after_s, "latency", quote.arrived_after_s)
        return quote

    def _order(self, venues: Sequence[QuoteSource]) -> list[QuoteSource]:
        if not self.venues:
            return list(venues)
        by_name = {v.name: v for v in venues}
        return [by_name[name] for name in self.venues]
