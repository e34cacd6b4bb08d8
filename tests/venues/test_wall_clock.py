"""Timer granularity on the wall clock: trio's epoll backend wakes whole milliseconds late,
venues.wall_clock.WallClock with precise timers within a fraction of one."""

from __future__ import annotations

import statistics
import sys
import time

import pytest
import trio

from venues.wall_clock import PRECISE_SPIN_S, WallClock

MS = 1e-3


async def overshoots(n: int = 20, sleep_s: float = 0.3 * MS) -> list[float]:
    """How late each of `n` sleeps of `sleep_s` woke."""
    late = []
    for _ in range(n):
        target = trio.current_time() + sleep_s
        await trio.sleep_until(target)
        late.append(trio.current_time() - target)
    return late


@pytest.mark.skipif(sys.platform != "linux", reason="epoll's granularity")
def test_epoll_wakes_a_short_sleep_most_of_a_millisecond_late():
    assert min(trio.run(overshoots)) > 0.5 * MS
    assert min(trio.run(overshoots, clock=WallClock())) > 0.5 * MS


def test_precise_timers_wake_timers_within_a_fraction_of_a_millisecond():
    late = trio.run(overshoots, clock=WallClock(PRECISE_SPIN_S))
    assert min(late) >= 0.0
    assert statistics.median(late) < 0.3 * MS


def test_the_wall_clock_reads_zero_at_the_start_and_checks_its_spin():
    async def now() -> float:
        return trio.current_time()

    clock = WallClock(PRECISE_SPIN_S)
    before = time.time()
    assert 0.0 <= trio.run(now, clock=clock) < 0.1
    assert before <= clock.started_unix <= time.time()
    with pytest.raises(ValueError, match="spin_s"):
        WallClock(spin_s=-1.0)
