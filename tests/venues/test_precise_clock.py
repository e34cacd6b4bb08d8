"""Timer granularity on the wall clock: trio's epoll backend wakes whole milliseconds late,
venues.precise_clock.PreciseClock within a fraction of one."""

from __future__ import annotations

import statistics
import sys

import pytest
import trio

from venues.precise_clock import PreciseClock

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


def test_the_precise_clock_wakes_timers_within_a_fraction_of_a_millisecond():
    late = trio.run(overshoots, clock=PreciseClock())
    assert min(late) >= 0.0
    assert statistics.median(late) < 0.3 * MS


def test_the_precise_clock_reads_zero_at_the_start_and_checks_its_spin():
    async def now() -> float:
        return trio.current_time()

    assert 0.0 <= trio.run(now, clock=PreciseClock()) < 0.1
    with pytest.raises(ValueError, match="spin_s"):
        PreciseClock(spin_s=-1.0)
