"""The trio engine: every request a race in virtual time, then an order.

Requests start on the arrival schedule, so races overlap when arrivals outpace latency. Each
race hands the strategy the request and the venues; the strategy scatters with a nursery and
decides under a cancel scope. The client then sends an order for the chosen quote and waits for
the venue's fill or reject; after a reject it may re-race (`max_retries`). The clock is trio's
MockClock with autojump: whenever every task is blocked, time jumps to the next deadline, so a
simulated hour costs only CPU time.

`run_trio` runs one strategy over the draws: a TrioEngine, with a method per job (the race, the
order, the client loop), writing what happens in a Ledger (sim.engines.ledger).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

import trio

from sim.engines.ledger import Counted, Ledger
from sim.engines.records import FILLED_SHARE_SLACK, Records
from sim.model.arrivals import MAX_SPAN_S
from sim.model.draws import Draws
from sim.model.errors import ScenarioError
from strategies.registry import Strategy
from strategies.scatter import LastEvent, QuoteSource, exact_or_clock, last_event
from strategies.split import Leg
from venues.messages import ExecutionReport, Quote, QuoteRequest
from venues.venue import Venue, VenueSpec
from venues.wall_clock import WallClock

# A race still running this long after the last arrival is stuck (a strategy that never gives
# up on a venue that never answers). The longest legitimate request: 11 attempts (10 retries)
# of an hour's timeout, an hour's order round trip and an hour's hold, 33 hours; twice that
# and more is stuck. The run stops there instead of waiting forever.
STUCK_AFTER_S = 3e5

# Requests started between two progress reports.
PROGRESS_EVERY = 256


class StuckRaceError(RuntimeError):
    """Some race had not decided STUCK_AFTER_S of virtual time after the last arrival."""


class RacedVenue(QuoteSource, Counted, Protocol):
    """A venue as the engine races it: a simulated Venue, or (network mode) a connection to
    one (sim.network.connection)."""

    async def order(
        self, quote: Quote, request: QuoteRequest, decided_after_s: float
    ) -> ExecutionReport: ...


# Opens connections to the venues, for as long as the context lasts.
Connect = Callable[[], AbstractAsyncContextManager[Sequence[RacedVenue]]]


@dataclass(frozen=True)
class Remote:
    """Venues over the network (network mode): `connect()` opens connections to them, raced in
    place of simulated venues, and the run keeps time on `clock`, a wall clock."""

    clock: trio.abc.Clock
    connect: Connect


def decision_legs(
    decision: object, index: int, remaining: float, venues: int, strategy: Strategy
) -> list[Leg]:
    """`strategy`'s decision for request `index` (a Quote or legs, `remaining` left to fill,
    `venues` venues) as legs, or a TypeError/ValueError that says what is wrong with it."""
    if isinstance(decision, Quote):
        decision = [Leg(decision, remaining)]  # a quote `order` did not take: checked below
    legs = list(decision) if isinstance(decision, list | tuple) else None
    who = getattr(strategy, "kind", type(strategy).__name__)
    if legs is None or not all(isinstance(leg, Leg) for leg in legs):
        raise TypeError(f"strategy {who!r} decided {decision!r}: not a Quote, legs or None")
    for leg in legs:
        if not 0 <= leg.quote.venue < venues:
            raise ValueError(f"strategy {who!r}: a leg on venue {leg.quote.venue} (no such venue)")
        if leg.quote.request != index:
            raise ValueError(f"strategy {who!r}: a leg on a quote for request {leg.quote.request}")
        if not leg.size > 0:
            raise ValueError(f"strategy {who!r}: a leg of size {leg.size}")
    if len({leg.quote.venue for leg in legs}) != len(legs):
        raise ValueError(f"strategy {who!r}: two legs on one venue (one order per venue)")
    if sum(leg.size for leg in legs) > remaining * (1 + FILLED_SHARE_SLACK):
        raise ValueError(f"strategy {who!r}: legs for more than the {remaining:g} left to fill")
    return legs


def _only(group: BaseExceptionGroup) -> BaseException:
    """The one exception inside nested groups (a strategy's own error, unwrapped), else the
    group."""
    while len(group.exceptions) == 1 and isinstance(group.exceptions[0], BaseExceptionGroup):
        group = group.exceptions[0]
    return group.exceptions[0] if len(group.exceptions) == 1 else group


def run_trio(
    draws: Draws,
    strategy: Strategy,
    *,
    venues: tuple[VenueSpec, ...],
    mid: Callable[[float], float],
    order_size: float = 1.0,
    max_retries: int = 0,
    seed: int = 0,
    clients: int | None = None,
    clock: Literal["virtual", "real"] = "virtual",
    on_progress: Callable[[int], None] | None = None,
    remote: Remote | None = None,
) -> Records:
    """Run every request of `draws` as a race decided by `strategy`, in virtual time (or on
    the wall clock with `clock="real"`). Requests start on `draws.arrival_s`, or, when the
    draws have think times, from `clients` closed-loop clients. `on_progress(n)` hears of
    requests started, PROGRESS_EVERY at a time (each one on the wall clock). `remote`, for
    network mode (`clock="real"`), races connections to the venues on its own wall clock."""
    if clock not in ("virtual", "real"):
        raise ValueError(f"clock must be 'virtual' or 'real', not {clock!r}")
    if remote is not None and clock != "real":
        raise ValueError("venues over the network need a wall clock")
    if hasattr(strategy, "for_run"):  # a strategy that learns within a run starts afresh
        strategy = strategy.for_run(seed)
    engine = TrioEngine(
        draws,
        strategy,
        venues=None if remote is not None else venues,
        mid=mid,
        order_size=order_size,
        max_retries=max_retries,
        clients=clients,
        real=clock != "virtual",
        on_progress=on_progress,
    )
    if remote is not None:
        return engine.run(remote.clock, remote.connect)
    if clock == "virtual":
        from trio.testing import MockClock  # loads pytest, if installed: only when needed

        return engine.run(MockClock(autojump_threshold=0))
    return engine.run(WallClock())


class TrioEngine:
    """One run of the trio engine: the races of every request of `draws`, and their records
    (`ledger`). Each job is a method: the race (`race`: decide, order, re-race after a
    reject), the order (`order`, `send`, `send_legs`), the client loop (`run`, `race_all`,
    `open_loop`, `client`) and the record keeping (sim.engines.ledger).

    `venues` are raced as simulated venues; None for venues connected when the run starts
    (`run`'s `connect`). `real`: on a wall clock, where progress is reported request by
    request, and timers' overshoot and each request's schedule lag are recorded."""

    def __init__(
        self,
        draws: Draws,
        strategy: Strategy,
        *,
        venues: tuple[VenueSpec, ...] | None,
        mid: Callable[[float], float],
        order_size: float = 1.0,
        max_retries: int = 0,
        clients: int | None = None,
        real: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        attempts = len(draws.venues[0].latency_s) if draws.venues else 1
        if max_retries + 1 > attempts:
            raise ValueError(f"draws hold {attempts} attempts; {max_retries} retries need more")
        self.closed = draws.think_s is not None
        if self.closed and not clients:
            raise ValueError("a closed loop needs its number of clients")
        self.draws, self.strategy, self.mid = draws, strategy, mid
        self.max_retries, self.clients, self.real = max_retries, clients, real
        self.observe_report = getattr(strategy, "observe_report", None)
        self.sides = draws.side.tolist()
        self.live: list[RacedVenue] = []
        if venues is not None:
            pairs = enumerate(zip(venues, draws.venues, strict=True))
            # a MidPath's recorded bids and asks, for venues quoting the recorded spread
            touch = mid.touch if getattr(mid, "has_touch", False) else None
            self.live = [Venue(v, spec, d.as_lists(), mid, touch) for v, (spec, d) in pairs]
        # wasted work to account for (never over the network: a remote venue's queue is its own)
        self.served = any(v.servers is not None for v in self.live)
        arrivals = [math.nan] * draws.requests if self.closed else draws.arrival_s.tolist()
        self.ledger = Ledger(arrivals, order_size, real)
        self.lag_at_start = real and not self.closed  # a closed loop's lag is its client's
        self.on_progress, self.started = on_progress, 0
        self.every = 1 if real else PROGRESS_EVERY  # on the wall clock a request is slow to come

    # The race

    async def race(self, i: int, t0: float) -> None:
        """Request i, arrived at `t0`: race for a quote, order, and race again for what is
        left after a reject while retries are left. On the wall clock an open loop's request
        notes how late it started: its race's deadlines count from `t0`, so lag eats into them."""
        if self.lag_at_start:
            self.ledger.lag_s[i] = trio.current_time() - t0
        self.started += 1
        if self.on_progress is not None and self.started % self.every == 0:
            self.on_progress(self.every)
        event = LastEvent()
        last_event.set(event)  # this race's task has its own context
        ledger, side = self.ledger, self.sides[i]
        start, elapsed = t0, 0.0  # elapsed: exact time from arrival to `start`
        for attempt in range(self.max_retries + 1):
            request = QuoteRequest(i, start, side, ledger.remaining[i], attempt, self.mid(start))
            event.elapsed_s = math.nan
            decision = await self.strategy.decide(request, self.live)
            now = trio.current_time()
            if not decision:
                return
            decided = exact_or_clock(event.elapsed_s, now - start)
            elapsed += decided
            sized = await self.order(decision, request, elapsed, decided)
            elapsed += max(report.round_trip_s for _, report in sized)
            if ledger.settle(i, sized, elapsed):
                return
            start = trio.current_time()

    # The order

    async def order(
        self, decision: object, request: QuoteRequest, elapsed: float, decided: float
    ) -> tuple[tuple[float, ExecutionReport], ...]:
        """Act on a decision made `decided` into the attempt (`elapsed` since arrival): an
        order per leg, recorded; each leg's size with its report, in the legs' order."""
        i, attempt, live = request.index, request.attempt, self.live
        if (  # the common case: one quote, for this request, from a venue that exists
            type(decision) is Quote and decision.request == i and 0 <= decision.venue < len(live)
        ):
            self.ledger.ordered(i, attempt, elapsed, decision.venue, 1)
            if self.served:
                live[decision.venue].used(attempt, i)
            return ((request.size, await self.send(decision, request, decided)),)
        legs = decision_legs(decision, i, request.size, len(live), self.strategy)
        self.ledger.ordered(i, attempt, elapsed, legs[0].quote.venue, len(legs))
        for leg in legs if self.served else ():
            live[leg.quote.venue].used(attempt, i)
        reports = await self.send_legs(legs, request, decided)
        return tuple(zip((leg.size for leg in legs), reports, strict=True))

    async def send(self, quote: Quote, request: QuoteRequest, decided: float) -> ExecutionReport:
        """One order to the quote's venue; a strategy that learns hears how it went."""
        sent = trio.current_time()
        report = await self.live[quote.venue].order(quote, request, decided)
        if self.real:
            self.ledger.overshoot.append(trio.current_time() - sent - report.round_trip_s)
        if self.observe_report is not None:
            self.observe_report(report, trio.current_time())
        return report

    async def send_legs(
        self, legs: list[Leg], request: QuoteRequest, decided: float
    ) -> list[ExecutionReport]:
        """An order per leg, sent at once; the reports in the legs' order."""
        reports: list = [None] * len(legs)

        async def one(n: int, leg: Leg) -> None:
            leg_request = dataclasses.replace(request, size=leg.size)
            reports[n] = await self.send(leg.quote, leg_request, decided)

        async with trio.open_nursery() as nursery:
            for n, leg in enumerate(legs):
                nursery.start_soon(one, n, leg)
        return reports

    # The client loop

    def run(
        self,
        clock: trio.abc.Clock,
        connect: Connect | None = None,
    ) -> Records:
        """Race every request on `clock` (after `connect()` has connected the venues, in
        network mode) and return the records; a strategy's own error is raised unwrapped."""
        try:
            trio.run(self._main, connect, clock=clock)
        except BaseExceptionGroup as group:
            raise _only(group) from None
        if self.on_progress is not None and self.started % self.every:
            self.on_progress(self.started % self.every)
        return self.ledger.records(self.live)

    async def _main(self, connect: Connect | None) -> None:
        if connect is None:
            await self.race_all()
            return
        async with connect() as connections:
            self.live.extend(connections)
            if not self.closed:  # the schedule starts once the venues are connected
                now, arrivals = trio.current_time(), self.ledger.arrival_s
                arrivals[:] = [now + t0 for t0 in arrivals]
            await self.race_all()

    async def race_all(self) -> None:
        """Every request, from the open loop's schedule or the closed loop's clients, with the
        venues' servers running; they then finish at the run's end."""
        async with trio.open_nursery() as venues_nursery:
            for venue in self.live:
                if venue.servers is not None:
                    venues_nursery.start_soon(venue.servers.run)
            if self.closed:
                async with trio.open_nursery() as nursery:
                    for first in range(min(self.clients, self.draws.requests)):
                        nursery.start_soon(self.client, first)
            else:
                await self.open_loop()
            venues_nursery.cancel_scope.cancel()
        end = self.ledger.end_s = trio.current_time()
        for venue in self.live:
            if venue.servers is not None:
                venue.servers.finish(end)

    async def open_loop(self) -> None:
        """Start each request at its arrival, whatever the races before it are doing."""
        arrivals = self.ledger.arrival_s
        horizon = (arrivals[-1] if arrivals else 0.0) + STUCK_AFTER_S
        with trio.move_on_at(horizon) as guard:
            async with trio.open_nursery() as nursery:
                for i, t0 in enumerate(arrivals):
                    await self.woke(t0)
                    nursery.start_soon(self.race, i, t0)
        if guard.cancelled_caught:
            raise StuckRaceError(
                f"races still undecided {STUCK_AFTER_S:g} s after the last arrival"
            )

    async def client(self, first: int) -> None:
        """A closed-loop client: requests first, first + clients, ..., each sent once the one
        before has ended and the client has thought. Its schedule is its own: a request is due
        when the thinking ends, and on the wall clock its lag is how late the client woke to
        send it (its race counts from the send, so lag slows the client but spares its
        deadlines)."""
        think, ledger = self.draws.think_s, self.ledger
        for i in range(first, self.draws.requests, self.clients):
            due = trio.current_time() + think[i]
            await self.woke(due)
            ledger.arrival_s[i] = t0 = trio.current_time()
            if self.real:
                ledger.lag_s[i] = t0 - due
            if t0 > MAX_SPAN_S:  # an open loop's span is checked up front (sim.model.scenario)
                raise ScenarioError(
                    "arrivals",
                    f"the closed loop ran past {MAX_SPAN_S:g} s of virtual time, where engine "
                    "time keeps sub-nanosecond resolution: fewer requests or shorter latencies",
                )
            with trio.move_on_after(STUCK_AFTER_S) as guard:
                await self.race(i, t0)
            if guard.cancelled_caught:
                raise StuckRaceError(f"request {i} still undecided after {STUCK_AFTER_S:g} s")

    async def woke(self, target: float) -> None:
        """Sleep until `target`; on the wall clock, note how late the timer woke us."""
        await trio.sleep_until(target)
        if self.real:
            self.ledger.overshoot.append(trio.current_time() - target)
