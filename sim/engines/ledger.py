"""What a trio engine run writes down as it goes, request by request, and its Records at the end.

The races of a run share one Ledger: plain preallocated lists indexed by request (cheaper to
write from a task than numpy arrays), made into the arrays of a Records once the run is over.
Each method is one event of a request's life: an order sent, its reports received.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from sim.engines.records import (
    FILLED,
    FILLED_SHARE_SLACK,
    NO_QUOTE,
    ORDER_REJECTS,
    REJECTED,
    Records,
)
from venues.messages import ExecutionReport
from venues.servers import Servers


class Counted(Protocol):
    """What the records count of a venue: quote requests received, and its servers (None for a
    venue without service, and for a remote one)."""

    requests: int
    servers: Servers | None


class Ledger:
    """A run's records in the making: per request i, what its first race decided
    (`decision_s`, `venue`), its orders and fills (`orders`, `remaining`, `notional`,
    `filled_size`, `fill_price`, `outcome`, `fill_s`), `arrival_s` and, on the wall clock,
    `lag_s` (how late it started against its schedule; empty in virtual time, where it is zero);
    per run, `rejects` by reason, `overshoot` (how late wall-clock timers woke) and `end_s`
    (when the last race ended)."""

    __slots__ = (
        "arrival_s",
        "decision_s",
        "end_s",
        "fill_price",
        "fill_s",
        "filled_size",
        "lag_s",
        "notional",
        "order_size",
        "orders",
        "outcome",
        "overshoot",
        "rejects",
        "remaining",
        "venue",
    )

    def __init__(self, arrival_s: list[float], order_size: float, real: bool = False) -> None:
        n = len(arrival_s)
        self.order_size = order_size
        self.arrival_s = arrival_s  # a closed loop's are NaN until its clients send them
        self.decision_s = [math.nan] * n
        self.venue = [-1] * n
        self.orders = [0] * n
        self.remaining = [order_size] * n
        self.notional = [0.0] * n
        self.filled_size = [0.0] * n
        self.fill_price = [math.nan] * n
        self.outcome = [NO_QUOTE] * n
        self.fill_s = [math.nan] * n
        self.rejects = [0] * len(ORDER_REJECTS)
        self.lag_s = [math.nan] * n if real else []
        self.overshoot: list[float] = []
        self.end_s = 0.0

    def ordered(self, i: int, attempt: int, elapsed: float, venue: int, orders: int) -> None:
        """Request i sent `orders` orders, the first to `venue`, `elapsed` after its arrival;
        the first attempt's decision is the one recorded."""
        if attempt == 0:
            self.decision_s[i], self.venue[i] = elapsed, venue
        self.orders[i] += orders

    def settle(
        self, i: int, sized: Sequence[tuple[float, ExecutionReport]], elapsed: float
    ) -> bool:
        """Request i's reports are in (`sized`: each order's size and report), `elapsed` after
        its arrival: add up what filled and count the rejects. True once all of it filled;
        otherwise the outcome so far is the first reject's reason (`no_liquidity` for legs that
        did not cover the size)."""
        remaining, notional, reason = self.remaining[i], self.notional[i], None
        for size, report in sized:
            if report.filled:
                remaining -= size
                notional += size * report.price
            else:
                reason = reason or report.reason
                self.rejects[REJECTED[report.reason] - 1] += 1
        self.remaining[i], self.notional[i] = remaining, notional
        filled = self.filled_size[i] = self.order_size - remaining
        if filled > 0:  # the VWAP of what filled, all of it or part
            self.fill_price[i] = notional / filled
        if remaining <= self.order_size * FILLED_SHARE_SLACK:
            self.outcome[i], self.fill_s[i] = FILLED, elapsed
            return True
        self.outcome[i] = REJECTED[reason or "no_liquidity"]
        return False

    def records(self, venues: Sequence[Counted]) -> Records:
        """The run's Records, with what each of the run's `venues` served."""
        servers = [v.servers for v in venues]
        return Records(
            decision_s=np.array(self.decision_s),
            venue=np.array(self.venue, dtype=np.int32),
            outcome=np.array(self.outcome, dtype=np.int8),
            fill_price=np.array(self.fill_price),
            fill_s=np.array(self.fill_s),
            filled_size=np.array(self.filled_size),
            orders=np.array(self.orders, dtype=np.int32),
            rejects=np.array(self.rejects, dtype=np.int64),
            venue_requests=np.array([v.requests for v in venues], dtype=np.int64),
            arrival_s=np.array(self.arrival_s),
            venue_busy_s=np.array([s.busy_s if s else 0.0 for s in servers]),
            venue_wasted_s=np.array([max(s.busy_s - s.used_s, 0.0) if s else 0.0 for s in servers]),
            venue_wait_s=np.array(
                [s.waited_s / s.started if s and s.started else 0.0 for s in servers]
            ),
            venue_utilization=np.array([_utilization(s) for s in servers]),
            timer_overshoot_s=np.array(self.overshoot),
            span_s=self.end_s,
            schedule_lag_s=np.array(self.lag_s),
        )


def _utilization(servers: Servers | None) -> float:
    """Busy time over capacity x run time; NaN for unlimited servers (or none)."""
    if servers is None or math.isinf(servers.capacity) or not servers.span_s:
        return math.nan
    return servers.busy_s / (servers.capacity * servers.span_s)
