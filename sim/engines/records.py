"""What both engines record of a run: per-request outcomes (Records) and the outcome codes.

Shared by the trio engine, the fast engine and everything that measures or reports a run, so
that none of those needs an engine to read a run's records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from venues.last_look import REJECT_REASONS

# Why an order did not fill: the venue's reasons, or (network mode) its connection failed
# before the report came.
ORDER_REJECTS = (*REJECT_REASONS, "venue_failed")

# Outcome codes of a request: filled, rejected (by the last reject's reason), or no quote.
FILLED = 0
REJECTED = {reason: code for code, reason in enumerate(ORDER_REJECTS, start=1)}
NO_QUOTE = len(ORDER_REJECTS) + 1
OUTCOMES = ("filled", *ORDER_REJECTS, "no_quote")

# A split order counts as filled when what is left unfilled is below this share of its size
# (float rounding of the legs' sizes).
FILLED_SHARE_SLACK = 1e-9


@dataclass(frozen=True)
class Records:
    """Per-request outcomes of one strategy's run, indexed by request.

    `decision_s[i]`: the first race's decision time minus arrival, NaN when it found no quote;
    `venue[i]`: the venue that race chose (-1 for none); `outcome[i]`: an index into
    OUTCOMES (a retry that finds no quote leaves the last reject's reason); `fill_price[i]`:
    the VWAP of what filled (NaN if nothing did); `fill_s[i]` (fill report time minus
    arrival): NaN unless all of it filled; `filled_size[i]`: how
    much of the order filled (all of it, or a split's partial fill); `orders[i]`: orders sent;
    `rejects[r]`: orders rejected for ORDER_REJECTS[r]; `arrival_s[i]`: when request i
    started (the schedule, or when a closed loop's client sent it).

    Per venue v over the whole run: `venue_requests[v]` quote requests received; with
    `service`, `venue_busy_s[v]` service time done, `venue_wasted_s[v]` of it for requests
    whose quote no decision used, `venue_wait_s[v]` mean queue wait of the
    requests it began serving, `venue_utilization[v]` busy time over capacity x run time (NaN
    without service or capacity). `timer_overshoot_s`: on the wall clock, how late each timed
    sleep (request starts, order round trips) woke; empty in virtual time. `span_s`: when the
    last request ended. `schedule_lag_s[i]`: on the wall clock, how late request i started
    against its schedule (an open loop's arrival, or a closed-loop client's end of thinking);
    empty in virtual time, where requests start on time by construction.
    """

    decision_s: np.ndarray
    venue: np.ndarray
    outcome: np.ndarray
    fill_price: np.ndarray
    fill_s: np.ndarray
    filled_size: np.ndarray
    orders: np.ndarray
    rejects: np.ndarray
    venue_requests: np.ndarray
    arrival_s: np.ndarray
    venue_busy_s: np.ndarray
    venue_wasted_s: np.ndarray
    venue_wait_s: np.ndarray
    venue_utilization: np.ndarray
    timer_overshoot_s: np.ndarray
    span_s: float
    schedule_lag_s: np.ndarray = field(default_factory=lambda: np.empty(0))
