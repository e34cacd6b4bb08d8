"""venues.fix.alarms: callbacks at trio times from one task, as tasks sleeping until the same
deadlines would have woken."""

import math
import os
from collections.abc import Callable

import pytest
import trio
import trio.testing

from venues import timerfd
from venues.fix.alarms import SLACK, Alarms
from venues.wall_clock import WallClock


async def test_alarms_run_at_their_times_in_time_order_ties_in_the_order_set(autojump_clock):
    ran = []
    async with trio.open_nursery() as nursery:
        alarms = Alarms(nursery.start_soon)
        start = trio.current_time()
        for name, after in (("c", 3.0), ("a", 1.0), ("b1", 2.0), ("b2", 2.0), ("now", 0.0)):
            alarms.at(start + after, lambda name=name: ran.append((name, trio.current_time())))
    assert [name for name, _ in ran] == ["now", "a", "b1", "b2", "c"]
    assert [at - start for _, at in ran] == [0.0, 1.0, 2.0, 2.0, 3.0]


async def test_an_earlier_alarm_set_while_the_task_sleeps_wakes_it_in_time(autojump_clock):
    ran = []
    async with trio.open_nursery() as nursery:
        alarms = Alarms(nursery.start_soon)
        start = trio.current_time()
        alarms.at(start + 10.0, lambda: ran.append(("late", trio.current_time() - start)))
        await trio.sleep(1.0)  # the alarms' task sleeps until start + 10
        alarms.at(start + 2.0, lambda: ran.append(("early", trio.current_time() - start)))
    assert ran == [("early", 2.0), ("late", 10.0)]


async def test_a_cancelled_alarm_never_runs_and_cancelling_a_run_one_is_harmless(autojump_clock):
    ran = []
    async with trio.open_nursery() as nursery:
        alarms = Alarms(nursery.start_soon)
        start = trio.current_time()
        first = alarms.at(start + 1.0, lambda: ran.append("first"))
        gone = alarms.at(start + 2.0, lambda: ran.append("gone"))
        alarms.at(start + 3.0, lambda: ran.append("last"))
        await trio.sleep(1.5)
        gone.cancel()
        first.cancel()  # already run
    assert ran == ["first", "last"]


async def test_the_task_ends_with_the_last_alarm_and_starts_again_for_the_next(autojump_clock):
    started, ran = [], []
    async with trio.open_nursery() as nursery:

        def start_soon(run):
            started.append(trio.current_time())
            nursery.start_soon(run)

        alarms = Alarms(start_soon)
        alarms.at(trio.current_time() + 1.0, lambda: ran.append(1))
        alarms.at(trio.current_time() + 1.0, lambda: ran.append(2))
        await trio.sleep(5.0)
        alarms.at(trio.current_time() + 1.0, lambda: ran.append(3))
    assert ran == [1, 2, 3]
    assert len(started) == 2


async def test_cancelled_alarms_do_not_pile_up(autojump_clock):
    async with trio.open_nursery() as nursery:
        alarms = Alarms(nursery.start_soon)
        keep = alarms.at(trio.current_time() + 100.0, lambda: None)
        for _ in range(10_000):  # a client that asks and gives up, over and over
            alarms.at(trio.current_time() + 50.0, lambda: None).cancel()
            assert len(alarms._heap) <= 2 * 2 + SLACK  # two live at most, as each is set
        keep.cancel()


timerfds = pytest.mark.skipif(not timerfd.available(), reason="no timerfds")


@timerfds
def test_on_a_timerfd_alarms_run_in_order_never_early_and_its_fd_is_closed():
    """On a WallClock with timerfds the task waits on a timerfd of its own: alarms run in time
    order (ties as set), none before its time, an earlier one set while it waits wakes it in
    time, a cancelled one never runs; cancelled, the task closes its timerfd."""
    ms = 1e-3

    async def main() -> tuple[list[tuple[str, float, float]], int]:
        ran: list[tuple[str, float, float]] = []
        await trio.sleep(0.1 * ms)  # the clock's own timerfd is open from here
        inside = _open_fds()
        async with trio.open_nursery() as nursery:
            alarms = Alarms(nursery.start_soon)
            start = trio.current_time()

            def note(name: str, due: float) -> Callable[[], None]:
                return lambda: ran.append((name, due, trio.current_time()))

            for name, after in (("c", 300), ("a", 100), ("b1", 200), ("b2", 200), ("gone", 250)):
                due = start + after * ms
                alarm = alarms.at(due, note(name, due))
            alarm.cancel()  # "gone"
            await trio.testing.wait_all_tasks_blocked()  # the task waits for "a"
            early = trio.current_time() + 5 * ms  # long before "a", however late this runs
            alarms.at(early, note("early", early))
            alarms.at(start, note("past", start))
            await trio.sleep_until(start + 350 * ms)
            while_open = _open_fds() - inside
            nursery.cancel_scope.cancel()
        return ran, while_open

    before = _open_fds()
    ran, while_open = trio.run(main, clock=WallClock("timerfd"))
    assert [name for name, _, _ in ran] == ["past", "early", "a", "b1", "b2", "c"]
    assert all(at >= due for _, due, at in ran)
    assert while_open == 1  # the alarms' own timerfd
    assert _open_fds() == before


@timerfds
def test_on_a_timerfd_an_alarm_never_due_waits_and_later_ones_still_run():
    """An alarm at infinity (a drawn latency from a heavy tail) leaves the task waiting, not
    failed: one set after it runs in time."""

    async def main() -> list[str]:
        ran: list[str] = []
        async with trio.open_nursery() as nursery:
            alarms = Alarms(nursery.start_soon)
            alarms.at(math.inf, lambda: ran.append("never"))
            await trio.testing.wait_all_tasks_blocked()  # the task waits, armed for it
            alarms.at(trio.current_time() + 1e-3, lambda: ran.append("soon"))
            await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        return ran

    assert trio.run(main, clock=WallClock("timerfd")) == ["soon"]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
