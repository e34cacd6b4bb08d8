"""The wall clock as a trio clock that reads 0 when the run starts, like the virtual one, with
precise timers on request.

With `clock = "real"` the engine runs the same code in real time, so engine times mean the
same in both modes; a venue server (network mode) runs on it too. trio's epoll backend hands
its timeout to `epoll_wait`, which counts whole milliseconds: Python rounds the timeout up, so
a timer wakes up to ~1 ms late (plus the kernel's timer slack, ~50 us). The engine measures by
how much (`timer_overshoot_ms`). With `spin_s` > 0 (PRECISE_SPIN_S) the clock tells trio's
run loop to sleep whole milliseconds only, as many as end at least `spin_s` before the next
deadline, and then to poll without sleeping (epoll with a zero timeout, I/O still served)
until the deadline has passed: every timer of the run then wakes within a few microseconds,
at the price of one core kept busy for `spin_s` plus under a millisecond (half of one on
average) before each deadline.
"""

from __future__ import annotations

import math
import time

import trio

# What epoll_wait may add to a whole number of milliseconds: the kernel's timer slack (~50 us)
# and the wake-up. Sleeping whole milliseconds to this much before a deadline wakes before it.
PRECISE_SPIN_S = 0.15e-3
# Taken off a whole number of milliseconds so that Python's rounding up keeps it whole.
_UNDER_S = 1e-7


class WallClock(trio.abc.Clock):
    """`time.perf_counter()` less its value when trio started the run; timers spin their last
    `spin_s` seconds and the fraction of a millisecond before. `started_unix` is the Unix time
    at which it read 0."""

    def __init__(self, spin_s: float = 0.0) -> None:
        if not spin_s >= 0:
            raise ValueError(f"spin_s: {spin_s} must be >= 0")
        self.spin_s = spin_s
        self.started_unix = 0.0
        self._offset = 0.0

    def start_clock(self) -> None:
        self._offset = time.perf_counter()
        self.started_unix = time.time()

    def current_time(self) -> float:
        return time.perf_counter() - self._offset

    def deadline_to_sleep_time(self, deadline: float) -> float:
        left = deadline - self.current_time()
        if not self.spin_s or math.isinf(left):
            return max(left, 0.0)
        whole_ms = math.floor((left - self.spin_s) * 1e3)
        return whole_ms * 1e-3 - _UNDER_S if whole_ms > 0 else 0.0
