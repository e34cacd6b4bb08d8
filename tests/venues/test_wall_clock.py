"""Timer granularity on the wall clock: trio's epoll backend wakes whole milliseconds late,
venues.wall_clock.WallClock with precise timers (a timerfd, or spinning) within a fraction of
one."""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
import trio

from venues import timerfd, wall_clock
from venues.wall_clock import TIMERS, WallClock, precise_timers

MS = 1e-3
linux = pytest.mark.skipif(sys.platform != "linux", reason="epoll's granularity, timerfds")


async def overshoots(n: int = 20, sleep_s: float = 0.3 * MS) -> list[float]:
    """How late each of `n` sleeps of `sleep_s` woke."""
    late = []
    for _ in range(n):
        target = trio.current_time() + sleep_s
        await trio.sleep_until(target)
        late.append(trio.current_time() - target)
    return late


@linux
def test_epoll_wakes_a_short_sleep_most_of_a_millisecond_late():
    """The median, not each: a process kept off the core past a sleep's deadline before its
    loop asks epoll to wait (a busy machine) wakes at once, only as late as it was kept."""
    assert statistics.median(trio.run(overshoots)) > 0.5 * MS
    assert statistics.median(trio.run(overshoots, clock=WallClock("epoll"))) > 0.5 * MS


@pytest.mark.parametrize("timers", ["timerfd", "spin"])
def test_precise_timers_wake_timers_within_a_fraction_of_a_millisecond(timers: str):
    if timers == "timerfd" and not timerfd.available():
        pytest.skip("no timerfd here")
    late = trio.run(overshoots, clock=WallClock(timers))
    assert min(late) >= 0.0
    assert statistics.median(late) < 0.3 * MS


@linux
def test_timerfds_are_the_default_on_linux_and_cost_no_spinning():
    """A second of sleeps of 0.3 ms, one after another, each with the default clock: on time,
    and the process mostly asleep (spinning would keep it busy the whole time)."""
    clock = WallClock()
    assert clock.timers == "timerfd" == precise_timers()
    cpu, wall = time.process_time(), time.perf_counter()
    late = trio.run(overshoots, 1000, 0.7 * MS, clock=clock)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert statistics.median(late) < 0.3 * MS
    assert cpu < 0.6 * wall, (cpu, wall)


@linux
def test_a_run_closes_its_timerfd():
    """The timerfd lives as long as the run: none is left open after it, run after run."""

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    for _ in range(5):
        trio.run(overshoots, 3, clock=WallClock("timerfd"))
    assert open_fds() == before


@pytest.mark.skipif(not timerfd.available(), reason="no timerfds")
def test_a_timer_moved_earlier_or_cancelled_is_kept_to(monkeypatch):
    """The timerfd follows trio's next deadline as it moves: armed for a far timer, re-armed
    for a near one started beside it, and for the far one again once the near one is
    cancelled; each sleep ends when it should."""
    armed: list[float] = []
    arm_at = timerfd.arm_at

    def recorded(fd: int, monotonic_s: float) -> None:
        armed.append(monotonic_s)
        arm_at(fd, monotonic_s)

    monkeypatch.setattr(timerfd, "arm_at", recorded)

    async def main() -> tuple[float, dict[str, float], dict[str, float]]:
        due, woke = {}, {}
        async with trio.open_nursery() as nursery:

            async def sleeper(name: str, delay_s: float) -> None:
                due[name] = trio.current_time() + delay_s
                await trio.sleep_until(due[name])
                woke[name] = trio.current_time()

            nursery.start_soon(sleeper, "far", 0.05)
            # woken by a thread, not a timer: the far timer is armed meanwhile
            await trio.to_thread.run_sync(time.sleep, 0.005)
            due["near"] = trio.current_time() + 0.002
            with trio.move_on_at(due["near"]):
                await trio.sleep(1.0)  # cancelled at ~7 ms: its deadline replaced the far one
            woke["near"] = trio.current_time()
        return time.monotonic() - trio.current_time(), due, woke

    offset, due, woke = trio.run(main, clock=WallClock("timerfd"))
    # each deadline as armed, on the run's clock: the far timer's, the near one's, the far
    # one's again (judged against the deadlines themselves, not against the run's start: on a
    # busy machine the far sleeper may start a millisecond or more late)
    at = [m - offset for m in armed]
    expected = [due["far"], due["near"], due["far"]]
    assert len(at) == 3, (at, expected)
    assert all(abs(a - e) < 1e-3 for a, e in zip(at, expected, strict=True)), (at, expected)
    assert due["near"] < due["far"]  # a near one indeed, started 7 ms or more in
    assert due["near"] <= woke["near"] < due["far"]  # kept to, not waiting for the far one
    assert woke["far"] >= due["far"]


@pytest.mark.skipif(not timerfd.available(), reason="no timerfds")
def test_the_timerfd_is_armed_for_the_deadline_itself(monkeypatch):
    """A pause between reading the clock and arming the timerfd (the process off the core, or
    another thread holding the GIL) does not move the timer later: it is armed for the
    deadline, not for what was left of it when the clock was read."""
    armed: list[float] = []
    monkeypatch.setattr(timerfd, "arm_at", lambda fd, monotonic_s: armed.append(monotonic_s))
    ticks = iter([100.0, 100.001, 100.005])  # the start, the read, then 4 ms off the core
    clock_time = SimpleNamespace(monotonic=lambda: next(ticks), time=time.time)
    monkeypatch.setattr(wall_clock, "time", clock_time)
    clock = WallClock("timerfd")
    clock.start_clock()
    clock._fd = 99  # as if its task already waited on one (arm_at is recorded, not called)
    assert clock.deadline_to_sleep_time(0.010) == pytest.approx(0.009)
    assert armed == [pytest.approx(100.010, abs=1e-9)]


def test_the_wall_clock_reads_zero_at_the_start_and_checks_its_timers():
    async def now() -> float:
        return trio.current_time()

    clock = WallClock("spin")
    before = time.time()
    assert 0.0 <= trio.run(now, clock=clock) < 0.1
    assert before <= clock.started_unix <= time.time()
    assert set(TIMERS) == {"timerfd", "spin", "epoll"}
    with pytest.raises(ValueError, match="timers: 'fast'"):
        WallClock("fast")


@linux
def test_a_first_timer_as_the_run_ends_is_kept_without_a_timerfd():
    """A run whose first timer comes once trio closed its system tasks' nursery (an async
    generator's cleanup, run as trio finalizes them) ends normally, and leaves no timerfd."""

    async def ticker() -> AsyncIterator[int]:
        try:
            while True:
                yield 1
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(0.002)

    async def main() -> None:
        await ticks.__anext__()  # left unfinished: trio closes it after the system tasks

    ticks = ticker()
    before = len(os.listdir("/proc/self/fd"))
    trio.run(main, clock=WallClock("timerfd"))
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.skipif(not timerfd.available(), reason="no timerfds")
def test_arming_a_timerfd_clears_an_expiry_not_read():
    """venues.fix.alarms re-arms its timerfd without reading it first."""
    import select

    fd = timerfd.create()
    with select.epoll() as poll:
        poll.register(fd, select.EPOLLIN)
        timerfd.arm_at(fd, time.monotonic() - 1.0)
        assert poll.poll(0.05)  # fired at once
        timerfd.arm_at(fd, time.monotonic() + 0.05)
        assert not poll.poll(0.01)  # not readable until it fires again
        assert poll.poll(1.0)
    timerfd.close(fd)


@pytest.mark.skipif(not timerfd.available(), reason="no timerfds")
@pytest.mark.parametrize("far_s", [math.inf, 1e20, 2.0**64 + 4096])
def test_a_timerfd_armed_too_far_to_fit_never_fires(far_s):
    """A time beyond what the kernel takes (its seconds would wrap, to a time past for the
    last) or infinity is armed as never, not an error or an expiry at once."""
    import select

    fd = timerfd.create()
    with select.epoll() as poll:
        poll.register(fd, select.EPOLLIN)
        timerfd.arm_at(fd, time.monotonic() - 1.0)
        assert poll.poll(0.05)  # fired at once
        timerfd.arm_at(fd, far_s)
        assert not poll.poll(0.01)
    timerfd.close(fd)
