"""Schedule lag: how late a wall-clock run started its requests, and the rate that it held.

In virtual time a request starts exactly at its arrival. On the wall clock (`clock = "real"`,
and network mode) the client's event loop may be busy when a request is due: timers wake up to
a millisecond late (epoll), and a loop with more work than time falls behind its schedule. An
open loop's races count their deadlines from the scheduled arrival, so a request that starts
late has that much less of its timeout left: enough lag, and races time out for the client's
sake, not the venues'. A closed loop's schedule is each client's own (a request is due when
its thinking ends) and its race counts from the send, so there lag only slows the clients.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.engines.records import Records
from sim.measure.histograms import latency_histogram, latency_ms


def schedule_lag_summary(records: Records, closed: bool) -> dict[str, Any]:
    """`schedule_lag_ms`, the percentiles of how late requests started, and the rates of the
    schedule and of the starts that held it (`scheduled_rate_per_s`, `started_rate_per_s`:
    requests per second from the first to the last); the schedule's rate is None for a
    `closed` loop, whose arrivals are when its clients sent. Nothing in virtual time."""
    lag = records.schedule_lag_s
    if lag.size == 0:
        return {}
    started = records.arrival_s if closed else records.arrival_s + lag
    return {
        "schedule_lag_ms": latency_ms(latency_histogram(lag), lag),
        "scheduled_rate_per_s": None if closed else _rate(records.arrival_s),
        "started_rate_per_s": _rate(started),
    }


def _rate(times_s: np.ndarray) -> float | None:
    """Requests per second from the first of `times_s` to the last (None for fewer than two,
    or all at once)."""
    span = float(times_s.max() - times_s.min()) if times_s.size > 1 else 0.0
    return round((times_s.size - 1) / span, 6) if span > 0 else None
