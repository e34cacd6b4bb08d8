"""The wall clock as a trio clock that reads 0 when the run starts, like the virtual one.

With `clock = "real"` the engine runs the same code in real time, so engine times mean the
same in both modes. trio's epoll backend rounds every timeout up to a whole millisecond, so
short sleeps wake late; the engine measures by how much (`timer_overshoot_ms`).
"""

from __future__ import annotations

import time

import trio


class WallClock(trio.abc.Clock):
    """`time.perf_counter()` less its value when trio started the run."""

    def __init__(self) -> None:
        self._offset = 0.0

    def start_clock(self) -> None:
        self._offset = time.perf_counter()

    def current_time(self) -> float:
        return time.perf_counter() - self._offset

    def deadline_to_sleep_time(self, deadline: float) -> float:
        return deadline - self.current_time()
