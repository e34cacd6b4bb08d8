"""The trio engine: every request a race in virtual time, then an order.

Requests start on the arrival schedule, so races overlap when arrivals outpace latency. Each
race hands the strategy the request and the venues; the strategy scatters with a nursery and
decides under a cancel scope. The client then sends an order for the chosen quote and waits for
the venue's fill or reject; after a reject it may re-race (`max_retries`). The clock is trio's
MockClock with autojump: whenever every task is blocked, time jumps to the next deadline, so a
simulated hour costs only CPU time.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

import numpy as np
import trio
import trio.testing

from sim.engines.records import FILLED, NO_QUOTE, ORDER_REJECTS, REJECTED, Records
from sim.model.draws import Draws
from sim.model.errors import ScenarioError
from sim.model.scenario import MAX_SPAN_S
from strategies.registry import Strategy
from strategies.scatter import LastEvent, QuoteSource, exact_or_clock, last_event
from strategies.split import Leg
from venues.messages import ExecutionReport, Quote, QuoteRequest
from venues.servers import Servers
from venues.venue import Venue, VenueSpec
from venues.wall_clock import WallClock

# A race still running this long after the last arrival is stuck (a strategy that never gives
# up on a venue that never answers). The longest legitimate request: 11 attempts (10 retries)
# of an hour's timeout, an hour's order round trip and an hour's hold, 33 hours; twice that
# and more is stuck. The run stops there instead of waiting forever.
STUCK_AFTER_S = 3e5

# Requests started between two progress reports.
PROGRESS_EVERY = 256

# A split order counts as filled when what is left unfilled is below this share of its size
# (float rounding of the legs' sizes).
FILLED_SHARE_SLACK = 1e-9


class StuckRaceError(RuntimeError):
    """Some race had not decided STUCK_AFTER_S of virtual time after the last arrival."""


def _legs(
    decision: object, index: int, remaining: float, venues: int, strategy: Strategy
) -> list[Leg]:
    """A strategy's decision as legs, or a TypeError/ValueError that says what is wrong."""
    if isinstance(decision, Quote):
        decision = [Leg(decision, remaining)]  # a quote the fast path refused: checked below
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
    clock: str | trio.abc.Clock = "virtual",
    on_progress: Callable[[int], None] | None = None,
    connect: Callable[[], AbstractAsyncContextManager[Sequence[QuoteSource]]] | None = None,
) -> Records:
    """Run every request of `draws` as a race decided by `strategy`, in virtual time (or on
    the wall clock with `clock="real"`, or on a wall clock of your own: a trio Clock).
    Requests start on `draws.arrival_s`, or, when the draws have think times, from `clients`
    closed-loop clients. `on_progress(n)` hears of requests started, PROGRESS_EVERY at a time
    (each one on the wall clock). `connect()`, for network mode, opens connections to the
    venues (sim.network.connection) to race in place of simulated ones, on a wall clock."""
    attempts = len(draws.venues[0].latency_s) if draws.venues else 1
    if max_retries + 1 > attempts:
        raise ValueError(f"draws hold {attempts} attempts; {max_retries} retries need more")
    if hasattr(strategy, "for_run"):  # a strategy that learns within a run starts afresh
        strategy = strategy.for_run(seed)
    observe_report = getattr(strategy, "observe_report", None)
    n = draws.requests
    real = clock != "virtual"
    if connect is not None and not real:
        raise ValueError("venues over the network need a wall clock")
    closed = draws.think_s is not None
    if closed and not clients:
        raise ValueError("a closed loop needs its number of clients")
    arrivals = [math.nan] * n if closed else draws.arrival_s.tolist()
    overshoot: list[float] = []
    sides = draws.side.tolist()
    live = (
        []  # connected in the run
        if connect is not None
        else [
            Venue(v, spec, d.as_lists(), mid)
            for v, (spec, d) in enumerate(zip(venues, draws.venues, strict=True))
        ]
    )
    # wasted work to account for (never over the network: a remote venue's queue is its own)
    served = any(v.servers is not None for v in live)
    decision_s = [math.nan] * n
    chosen = [-1] * n
    outcome = [NO_QUOTE] * n
    fill_price = [math.nan] * n
    fill = [math.nan] * n
    filled_size = [0.0] * n
    orders = [0] * n
    rejects = [0] * len(ORDER_REJECTS)

    started = 0
    every = 1 if real else PROGRESS_EVERY  # on the wall clock a request is slow to come

    async def race(i: int, t0: float) -> None:
        nonlocal started
        started += 1
        if on_progress is not None and started % every == 0:
            on_progress(every)
        event = LastEvent()
        last_event.set(event)  # this race's task has its own context
        start, elapsed = t0, 0.0  # elapsed: exact time from arrival to `start`
        remaining, notional = order_size, 0.0
        for attempt in range(max_retries + 1):
            request = QuoteRequest(i, start, sides[i], remaining, attempt, mid(start))
            event.elapsed_s = math.nan
            decision = await strategy.decide(request, live)
            now = trio.current_time()
            if not decision:
                return
            decided = exact_or_clock(event.elapsed_s, now - start)
            elapsed += decided
            if (  # the common case: one quote, for this request, from a venue that exists
                type(decision) is Quote
                and decision.request == i
                and 0 <= decision.venue < len(live)
            ):
                if attempt == 0:
                    decision_s[i], chosen[i] = elapsed, decision.venue
                orders[i] += 1
                if served:
                    live[decision.venue].used(attempt, i)
                sized = ((remaining, await _order(decision, request, decided)),)
            else:
                legs = _legs(decision, i, remaining, len(live), strategy)
                if attempt == 0:
                    decision_s[i], chosen[i] = elapsed, legs[0].quote.venue
                orders[i] += len(legs)
                for leg in legs if served else ():
                    live[leg.quote.venue].used(attempt, i)
                reports = await _send(legs, request, decided)
                sized = tuple(zip((leg.size for leg in legs), reports, strict=True))
            reason = None
            for size, report in sized:
                if report.filled:
                    remaining -= size
                    notional += size * report.price
                else:
                    reason = reason or report.reason
                    rejects[REJECTED[report.reason] - 1] += 1
            elapsed += max(report.round_trip_s for _, report in sized)
            filled_size[i] = order_size - remaining
            if filled_size[i] > 0:  # the VWAP of what filled, all of it or part
                fill_price[i] = notional / filled_size[i]
            if remaining <= order_size * FILLED_SHARE_SLACK:
                outcome[i], fill[i] = FILLED, elapsed
                return
            outcome[i] = REJECTED[reason or "no_liquidity"]  # legs that did not cover the size
            start = trio.current_time()

    async def _order(quote: Quote, request: QuoteRequest, decided: float) -> ExecutionReport:
        """One order to the quote's venue; a strategy that learns hears how it went."""
        sent = trio.current_time()
        report = await live[quote.venue].order(quote, request, decided)
        if real:
            overshoot.append(trio.current_time() - sent - report.round_trip_s)
        if observe_report is not None:
            observe_report(report, trio.current_time())
        return report

    async def _send(legs: list[Leg], request: QuoteRequest, decided: float) -> list:
        """Send an order per leg, at once; the reports in the legs' order."""
        reports: list = [None] * len(legs)

        async def one(n: int, leg: Leg) -> None:
            leg_request = dataclasses.replace(request, size=leg.size)
            reports[n] = await _order(leg.quote, leg_request, decided)

        async with trio.open_nursery() as nursery:
            for n, leg in enumerate(legs):
                nursery.start_soon(one, n, leg)
        return reports

    async def woke(target: float) -> None:
        """Sleep until `target`; on the wall clock, note how late the timer woke us."""
        await trio.sleep_until(target)
        if real:
            overshoot.append(trio.current_time() - target)

    async def open_loop() -> None:
        horizon = (arrivals[-1] if arrivals else 0.0) + STUCK_AFTER_S
        with trio.move_on_at(horizon) as guard:
            async with trio.open_nursery() as nursery:
                for i, t0 in enumerate(arrivals):
                    await woke(t0)
                    nursery.start_soon(race, i, t0)
        if guard.cancelled_caught:
            raise StuckRaceError(
                f"races still undecided {STUCK_AFTER_S:g} s after the last arrival"
            )

    async def client(first: int) -> None:
        """A closed-loop client: requests first, first + clients, ..., each sent once the one
        before has ended and the client has thought."""
        think = draws.think_s
        for i in range(first, n, clients):
            await woke(trio.current_time() + think[i])
            arrivals[i] = t0 = trio.current_time()
            if t0 > MAX_SPAN_S:  # an open loop's span is checked up front (sim.model.scenario)
                raise ScenarioError(
                    "arrivals",
                    f"the closed loop ran past {MAX_SPAN_S:g} s of virtual time, where engine "
                    "time keeps sub-nanosecond resolution: fewer requests or shorter latencies",
                )
            with trio.move_on_after(STUCK_AFTER_S) as guard:
                await race(i, t0)
            if guard.cancelled_caught:
                raise StuckRaceError(f"request {i} still undecided after {STUCK_AFTER_S:g} s")

    async def main() -> None:
        if connect is None:
            await race_all()
            return
        async with connect() as connections:
            live.extend(connections)
            # the schedule starts once the venues are connected, not before
            if not closed:
                now = trio.current_time()
                arrivals[:] = [now + t0 for t0 in arrivals]
            await race_all()

    async def race_all() -> None:
        async with trio.open_nursery() as venues_nursery:
            for venue in live:
                if venue.servers is not None:
                    venues_nursery.start_soon(venue.servers.run)
            if closed:
                async with trio.open_nursery() as nursery:
                    for first in range(min(clients, n)):
                        nursery.start_soon(client, first)
            else:
                await open_loop()
            venues_nursery.cancel_scope.cancel()
        nonlocal end
        end = trio.current_time()
        for venue in live:
            if venue.servers is not None:
                venue.servers.finish(end)

    end = 0.0
    if clock == "virtual":
        clock = trio.testing.MockClock(autojump_threshold=0)
    elif clock == "real":
        clock = WallClock()
    try:
        trio.run(main, clock=clock)
    except BaseExceptionGroup as group:
        raise _only(group) from None
    if on_progress is not None and started % every:
        on_progress(started % every)
    servers = [v.servers for v in live]
    return Records(
        decision_s=np.array(decision_s),
        venue=np.array(chosen, dtype=np.int32),
        outcome=np.array(outcome, dtype=np.int8),
        fill_price=np.array(fill_price),
        fill_s=np.array(fill),
        filled_size=np.array(filled_size),
        orders=np.array(orders, dtype=np.int32),
        rejects=np.array(rejects, dtype=np.int64),
        venue_requests=np.array([v.requests for v in live], dtype=np.int64),
        arrival_s=np.array(arrivals),
        venue_busy_s=np.array([s.busy_s if s else 0.0 for s in servers]),
        venue_wasted_s=np.array([max(s.busy_s - s.used_s, 0.0) if s else 0.0 for s in servers]),
        venue_wait_s=np.array(
            [s.waited_s / s.started if s and s.started else 0.0 for s in servers]
        ),
        venue_utilization=np.array([_utilization(s) for s in servers]),
        timer_overshoot_s=np.array(overshoot),
        span_s=end,
    )


def _utilization(servers: Servers | None) -> float:
    """Busy time over capacity x run time; NaN for unlimited servers (or none)."""
    if servers is None or math.isinf(servers.capacity) or not servers.span_s:
        return math.nan
    return servers.busy_s / (servers.capacity * servers.span_s)
