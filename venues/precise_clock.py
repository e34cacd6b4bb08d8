"""A wall clock for trio whose timers wake within microseconds of their deadline, for CPU.

trio's epoll backend hands its timeout to `epoll_wait`, which counts whole milliseconds:
Python rounds the timeout up, so a timer wakes up to ~1 ms late (plus the kernel's timer
slack, ~50 us). A venue served on the wall clock with sub-millisecond latencies would answer
late by about that much on every quote. `PreciseClock` tells trio's run loop to sleep only
until `spin_s` before the next deadline and then to poll without sleeping (epoll with a zero
timeout, I/O still served) until the deadline has passed: every timer of the run, the
venue's latency and service sleeps and its dispatcher's alike, then wakes within a few
microseconds. The price is one core kept busy for up to `spin_s` before each deadline.

Like sim.wallclock.WallClock it reads 0 when the run starts (time.perf_counter less its value
then), so engine times mean the same in either.
"""

from __future__ import annotations

import time

import trio

# epoll_wait sleeps whole milliseconds, rounded up, and the kernel adds its slack: sleeping to
# 1.5 ms before a deadline wakes before it.
SPIN_S = 1.5e-3


class PreciseClock(trio.abc.Clock):
    """`time.perf_counter()` less its value when the run started; timers spin their last
    `spin_s` seconds."""

    def __init__(self, spin_s: float = SPIN_S) -> None:
        if not spin_s >= 0:
            raise ValueError(f"spin_s: {spin_s} must be >= 0")
        self.spin_s = spin_s
        self._offset = 0.0

    def start_clock(self) -> None:
        self._offset = time.perf_counter()

    def current_time(self) -> float:
        return time.perf_counter() - self._offset

    def deadline_to_sleep_time(self, deadline: float) -> float:
        left = deadline - self.current_time()
        return left - self.spin_s if left > self.spin_s else 0.0
