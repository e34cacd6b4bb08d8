"""The wall clock as a trio clock that reads 0 when the run starts, like the virtual one, with
precise timers.

With `clock = "real"` the engine runs the same code in real time, so engine times mean the
same in both modes; a venue server and the client in network mode run on it too. trio's epoll
backend hands its timeout to `epoll_wait`, which counts whole milliseconds: Python rounds the
timeout up, so a timer wakes up to ~1 ms late (plus the kernel's timer slack, ~50 us), and
every timer due within the same millisecond wakes at once. The engine measures by how much
(`timer_overshoot_ms`).

Precise timers wake within tens of microseconds instead, in one of two ways (`timers`):

- "timerfd" (Linux): the clock arms a timerfd (venues.timerfd) for trio's next deadline, and a
  system task of the run waits on it, so the kernel wakes trio's epoll at the deadline itself.
  It costs one wake-up per deadline and no spinning: the default where it is available.
- "spin": the clock tells trio's run loop to sleep whole milliseconds only, as many as end at
  least PRECISE_SPIN_S before the next deadline, and then to poll without sleeping (epoll with
  a zero timeout, I/O still served) until the deadline has passed, at the price of one core
  kept busy for PRECISE_SPIN_S plus under a millisecond (half of one on average) before each
  deadline. Where there is no timerfd, and only when asked for (`precise_timers`).

"epoll" is trio's own timers, whole milliseconds late: the default where there is no timerfd.
"""

from __future__ import annotations

import math
import time

import trio

from venues import timerfd

# What epoll_wait may add to a whole number of milliseconds: the kernel's timer slack (~50 us)
# and the wake-up. Sleeping whole milliseconds to this much before a deadline wakes before it.
PRECISE_SPIN_S = 0.15e-3
# Taken off a whole number of milliseconds so that Python's rounding up keeps it whole.
_UNDER_S = 1e-7
TIMERS = ("timerfd", "spin", "epoll")


def precise_timers() -> str:
    """The precise timers this system has: "timerfd", else "spin"."""
    return "timerfd" if timerfd.available() else "spin"


class WallClock(trio.abc.Clock):
    """`time.monotonic()` less its value when trio started the run, with `timers` (one of
    TIMERS; default: "timerfd" where there are timerfds, else "epoll", so precise where it
    costs nothing). `timers` says which it used; `started_unix` is the Unix time at which it
    read 0."""

    def __init__(self, timers: str | None = None) -> None:
        if timers is None:
            timers = "timerfd" if timerfd.available() else "epoll"
        if timers not in TIMERS:
            raise ValueError(f"timers: {timers!r} is not one of {TIMERS}")
        if timers == "timerfd" and not timerfd.available():
            raise ValueError("timers: this system has no timerfd (use 'spin')")
        self.timers = timers
        self.started_unix = 0.0
        self._offset = 0.0
        self._fd: int | None = None  # the run's timerfd, once its task waits on it
        self._armed = math.nan  # the deadline it is armed for

    def start_clock(self) -> None:
        self._offset = time.monotonic()
        self.started_unix = time.time()
        self._fd, self._armed = None, math.nan

    def current_time(self) -> float:
        return time.monotonic() - self._offset

    def monotonic_at(self, t: float) -> float:
        """`time.monotonic()`'s reading at this clock's time `t` (a timerfd's clock)."""
        return t + self._offset

    def deadline_to_sleep_time(self, deadline: float) -> float:
        left = deadline - self.current_time()
        if self.timers == "epoll" or math.isinf(left):
            return max(left, 0.0)
        if self.timers == "spin":
            whole_ms = math.floor((left - PRECISE_SPIN_S) * 1e3)
            return whole_ms * 1e-3 - _UNDER_S if whole_ms > 0 else 0.0
        if left > 0 and deadline != self._armed:
            if self._fd is None:
                # trio asks only once its system nursery is open: the task can start now, and
                # the loop comes round at once to arm the timer
                self._fd = timerfd.create()
                if self._fd is None:  # none to be had after all: epoll's timers
                    self.timers = "epoll"
                    return max(left, 0.0)
                try:
                    trio.lowlevel.spawn_system_task(self._wake, self._fd, name="timerfd")
                except RuntimeError:  # the run is ending (its system tasks' nursery closed)
                    timerfd.close(self._fd)
                    self._fd = -1
                    return max(left, 0.0)
                return 0.0
            if self._fd >= 0:  # else the run is ending
                self._armed = deadline
                timerfd.arm_at(self._fd, deadline + self._offset)  # not now + left: now moves
        return max(left, 0.0)

    async def _wake(self, fd: int) -> None:
        """Wait on the run's timerfd until the run ends: each time it fires, trio's epoll
        wakes and the run loop finds its deadline passed."""
        try:
            while True:
                await trio.lowlevel.wait_readable(fd)
                timerfd.clear(fd)
                self._armed = math.nan
        finally:
            self._fd = -1  # the run is ending: nothing more to arm
            timerfd.close(fd)
