"""hedged: ask one venue, back it up with the next after a delay, within a budget."""

from __future__ import annotations

import bisect
import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from strategies import fields
from strategies.scatter import QuoteSource, scatter
from venues.messages import Quote, QuoteRequest

_PERCENTILE = re.compile(r"p(\d{1,2}(\.\d+)?)")
WARM_UP = 20  # observations before a percentile delay is trusted; no hedging until then


class HedgeLedger:
    """What a hedged strategy has seen in one run: requests, hedges and observed latencies.

    Races run concurrently, and trio orders events of the same instant arbitrarily, so every
    read is as of strictly earlier times: what happened at the very instant of the read is not
    yet known to anyone, whichever race trio runs first. That keeps runs deterministic.
    """

    def __init__(self) -> None:
        self._requests: list[float] = []
        self._hedges: list[float] = []
        self._latencies: list[tuple[float, float]] = []  # (time observed, latency)

    def request(self, t: float) -> None:
        self._requests.append(t)

    def hedge(self, t: float) -> None:
        self._hedges.append(t)

    def observe(self, t: float, latency_s: float) -> None:
        bisect.insort(self._latencies, (t, latency_s))  # ties in time ordered by value

    def tokens(self, t: float, budget: float) -> float:
        """Hedges still allowed at `t`: `budget` per request before t, less hedges before t."""
        requests = bisect.bisect_left(self._requests, t)
        return budget * requests - bisect.bisect_left(self._hedges, t)

    def percentile(self, t: float, q: float, window: int) -> float | None:
        """The q-th percentile of the last `window` latencies observed before `t` (None
        until WARM_UP have been)."""
        end = bisect.bisect_left(self._latencies, (t, -math.inf))
        if end < WARM_UP:
            return None
        recent = [latency for _, latency in self._latencies[max(0, end - window) : end]]
        return float(np.percentile(recent, q, method="higher"))


@dataclass(frozen=True)
class Hedged:
    """Ask the first venue; if no quote has come after the hedge delay, ask the next one too,
    up to `max_attempts` venues; take the first quote from any of them.

    Backup requests, as in "The Tail at Scale", gRPC's hedging policy and Finagle: a delay near
    the p95 of observed latency (`hedge_delay = "p95"`, or a fixed `hedge_delay_ms`) hedges
    only the slowest 5% of requests, which cuts the tail for a few percent more load. The
    `budget` caps that load: each request earns `budget` of a token, each hedge spends one, and
    hedging stops while the tokens are spent, so a slow venue cannot make every request double.
    `venues` names the order to ask in (default: the scenario's).
    """

    kind: ClassVar[str] = "hedged"
    venues: tuple[str, ...] = ()
    hedge_delay_ms: float | None = field(default=None, metadata={"ge": 0.0, "le": 3_600_000.0})
    hedge_delay: str = "p95"
    max_attempts: int = field(default=2, metadata={"ge": 1})
    budget: float = field(default=0.1, metadata={"ge": 0.0, "le": 10.0})
    window: int = field(default=1000, metadata={"ge": WARM_UP})
    timeout_ms: float = fields.timeout_ms()
    _ledger: HedgeLedger = field(default_factory=HedgeLedger, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _PERCENTILE.fullmatch(self.hedge_delay):
            raise ValueError(f"hedge_delay: {self.hedge_delay!r} is not a percentile like 'p95'")

    def for_run(self) -> Hedged:
        """A copy with an empty ledger: what one run learns does not leak into the next."""
        return dataclasses.replace(self)

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        ledger = self._ledger
        ledger.request(request.t0)
        order = self._order(venues)
        delay_s = self._delay_s(request.t0)
        async with scatter(request, [], timeout_s=self.timeout_ms * 1e-3) as quotes:
            quotes.ask(order[0])
            hedges = min(self.max_attempts, len(order)) - 1 if delay_s is not None else 0
            for n in range(1, hedges + 1):
                received = await quotes.collect(1, within_s=n * delay_s)
                if received:
                    return self._observed(request, received[0])
                if quotes.timed_out or ledger.tokens(request.t0 + n * delay_s, self.budget) < 1:
                    break
                ledger.hedge(request.t0 + n * delay_s)
                quotes.ask(order[n])
            received = await quotes.collect(1)
        return self._observed(request, received[0]) if received else None

    def _delay_s(self, t: float) -> float | None:
        if self.hedge_delay_ms is not None:
            return self.hedge_delay_ms * 1e-3
        q = float(self.hedge_delay[1:])
        return self._ledger.percentile(t, q, self.window)

    def _observed(self, request: QuoteRequest, quote: Quote) -> Quote:
        self._ledger.observe(request.t0 + quote.arrived_after_s, quote.arrived_after_s)
        return quote

    def _order(self, venues: Sequence[QuoteSource]) -> list[QuoteSource]:
        if not self.venues:
            return list(venues)
        by_name = {v.name: v for v in venues}
        return [by_name[name] for name in self.venues]
