"""Alarms: callbacks at trio times, run by one task.

A venue server's answers come due by the thousand a second. A task each (spawned, put to
sleep, and for most quotes cancelled when the client's race has moved on) costs more CPU than
the rest of the answer's work: measured with `tmicro`-style loops, ~0.1 ms to spawn a sleeping
task and as much again to cancel it, against a heap push and a flag. One task per connection
sleeps until the earliest alarm and runs every alarm due, in time order (ties in the order they
were set), exactly when a task sleeping until the same deadline would have woken.

On a venues.wall_clock.WallClock with timerfds the task sleeps on a timerfd of its own, armed
for the earliest alarm, rather than under a cancel scope's deadline: a trio deadline wakes the
clock's timerfd task first and then cancels the sleep with an exception, which measured, on a
loaded 2-core machine, twice the CPU of the wake-up itself (~135 us a timer against ~70). That
task lives as long as the alarms' nursery, its timerfd with it.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

import trio

from venues import timerfd
from venues.wall_clock import WallClock

SLACK = 64  # cancelled alarms kept in the heap beyond the live ones before it is rebuilt


class Alarm:
    """One callback due at a time; `cancel` stops it (harmless once it has run)."""

    __slots__ = ("_alarms", "action")

    def __init__(self, alarms: Alarms, action: Callable[[], None]) -> None:
        self._alarms = alarms
        self.action: Callable[[], None] | None = action

    def cancel(self) -> None:
        if self.action is not None:
            self.action = None
            self._alarms._live -= 1


class Alarms:
    """Callbacks due at trio times. `start_soon` starts the task that runs them (a nursery's,
    so that it ends with the session that set them); it runs only while alarms are set."""

    def __init__(self, start_soon: Callable[[Callable[[], object]], None]) -> None:
        self._start_soon = start_soon
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._live = 0
        self._running = False
        self._sleep: trio.CancelScope | None = None
        self._timer: tuple[int, WallClock] | None = None  # the task's timerfd, and its clock
        self._armed = math.inf  # the time it is armed for

    def at(self, when: float, action: Callable[[], None]) -> Alarm:
        """Call `action` at trio time `when` (at once, in the alarms' task, if it is past)."""
        alarm = Alarm(self, action)
        if self._heap and when < self._heap[0][0] and self._sleep is not None:
            self._sleep.deadline = when
        if when < self._armed and self._timer is not None:
            self._arm(when)
        heapq.heappush(self._heap, (when, next(self._order), alarm))
        self._live += 1
        if len(self._heap) > 2 * self._live + SLACK:
            self._heap = [entry for entry in self._heap if entry[2].action is not None]
            heapq.heapify(self._heap)
        if not self._running:
            self._running = True
            self._start_soon(self._run)
        return alarm

    def _arm(self, when: float) -> None:
        fd, clock = self._timer
        self._armed = when
        timerfd.arm_at(fd, clock.monotonic_at(when))

    async def _run(self) -> None:
        clock = trio.lowlevel.current_clock()
        if isinstance(clock, WallClock) and clock.timers == "timerfd":
            fd = timerfd.create()
            if fd is not None:
                await self._run_on(fd, clock)
                return
        await self._run_in_scopes()

    async def _run_on(self, fd: int, clock: WallClock) -> None:
        """Run alarms as they come due, woken by timerfd `fd` on `clock`, until cancelled."""
        self._timer = fd, clock
        try:
            while True:
                heap, now = self._heap, trio.current_time()
                while heap and (heap[0][2].action is None or heap[0][0] <= now):
                    alarm = heapq.heappop(heap)[2]
                    if alarm.action is not None:
                        action, alarm.action = alarm.action, None
                        self._live -= 1
                        action()
                    heap = self._heap  # an action may have set alarms, and so rebuilt it
                self._armed = math.inf
                if heap:
                    self._arm(heap[0][0])  # which also clears it: no read needed
                else:
                    timerfd.clear(fd)  # fired: readable until read
                await trio.lowlevel.wait_readable(fd)
        finally:
            self._running, self._timer, self._armed = False, None, math.inf
            timerfd.close(fd)

    async def _run_in_scopes(self) -> None:
        """Run alarms as they come due, sleeping under a cancel scope until the next, until
        none is left."""
        try:
            while self._heap:
                heap = self._heap  # `at` may have rebuilt it while this slept
                when, _, alarm = heap[0]
                if alarm.action is None:
                    heapq.heappop(heap)
                    continue
                if when > trio.current_time():
                    with trio.CancelScope(deadline=when) as self._sleep:
                        await trio.sleep_forever()
                    self._sleep = None
                    continue
                heapq.heappop(heap)
                action, alarm.action = alarm.action, None
                self._live -= 1
                action()
        finally:
            self._running = False
            self._sleep = None
