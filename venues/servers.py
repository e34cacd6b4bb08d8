"""A venue's servers: `capacity` quote requests served at once, first come, first served.

Queue wait and service time add to a quote's latency (docs/design.md section 7). A request reaches
the venue after the outbound half of its drawn network latency, waits for a free server, is
served for its drawn service time and travels back the other half. A client that stops waiting
sends a cancel, which takes the same outbound half to arrive; with `cancel_propagation` ("tied
requests", Dean & Barroso) the venue then drops the request, queued or in service, and frees
its server; without, it serves it anyway. Work done for a request whose quote the client did
not act on is wasted, and counted (`use` is told which were used).

Ties in time never depend on trio's scheduling order. A dispatcher task wakes at each event
time and handles that instant's events in a fixed order: service completions, arrivals (by
arrival time, request, attempt, then order sent), cancels, and finally starts, queue head
first. Every event is known before its instant comes, since requests and cancels take their
outbound latency to arrive; only a venue whose outbound latency can be (or round to) zero
sees events registered during their own instant, and its dispatcher first lets every task of
that instant run (`wait_all_tasks_blocked`). On the wall clock a task can run late and register
an event for an instant already handled: it then counts from the dispatcher's present, never
from the past, so capacity and first-come-first-served order hold there too.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # trio is imported where it runs: the fast engine never loads it
    import trio


class Job:
    """One quote request at a venue with servers: when it arrives, how long it needs, and what
    became of it. Times are engine times (seconds)."""

    __slots__ = (
        "arrive",
        "dropped",
        "key",
        "outbound",
        "service",
        "spent",
        "start",
        "task",
    )

    def __init__(
        self, arrive: float, outbound: float, service: float, key: tuple[int, ...]
    ) -> None:
        self.arrive = arrive
        self.outbound = outbound  # the network time to the venue, which a cancel takes too
        self.service = service
        self.key = key  # (request, attempt, sequence): the order of arrivals at one instant
        self.start = math.nan
        self.spent = math.nan  # service time done, once final (all of it, part, or none)
        self.task: trio.lowlevel.Task | None = None
        self.dropped = False


class Servers:
    """The servers of one venue in one run, and what they did.

    `capacity` None means as many as needed (service adds to latency, nothing queues).
    `settle`: whether events may be registered during their own instant (zero outbound
    latency), so that the dispatcher must wait for every task of the instant. After the
    run, `finish(end)` serves what is left and fixes the statistics: `busy_s` (service time
    done), `waited_s` and `started` (queue wait summed over requests that began service, and
    their count), `span_s`, and `used_s`: the service time of the requests whose quotes a
    client acted on (`use`), summed exactly (math.fsum), since clients act in an order that
    ties in time leave to trio's scheduler.
    """

    def __init__(self, capacity: int | None, cancel_propagation: bool, settle: bool) -> None:
        self.capacity = math.inf if capacity is None else capacity
        self.cancel_propagation = cancel_propagation
        self._settle = settle
        self._busy = 0
        self._arrivals: list[tuple[float, tuple[int, ...], Job]] = []  # heap
        self._cancels: list[tuple[float, tuple[int, ...], Job]] = []  # heap
        self._completions: list[tuple[float, tuple[int, ...], Job]] = []  # heap
        self._queue: deque[Job] = deque()
        self._sent = 0
        self._wake: trio.CancelScope | None = None
        self._handled = -math.inf  # the last instant the dispatcher handled
        self._last_completion = 0.0
        self.busy_s = 0.0
        self._used: list[float] = []
        self.used_s = 0.0
        self.waited_s = 0.0
        self.started = 0
        self.span_s = 0.0

    async def serve(
        self, arrive: float, outbound: float, service: float, request: int, attempt: int
    ) -> Job:
        """Queue a request arriving at `arrive`, `outbound` seconds after it was sent, that
        needs `service` seconds; return its job once its service starts (`job.start`). A caller
        cancelled meanwhile cancels the request (`cancel`)."""
        import trio

        self._sent += 1
        job = Job(max(arrive, self._handled), outbound, service, (request, attempt, self._sent))
        self._push(self._arrivals, job.arrive, job)
        job.task = trio.lowlevel.current_task()

        def abort(raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            job.task = None
            self.cancel(job)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
        return job

    def use(self, service: float) -> None:
        """A client acted on the quote of a request that needed `service` seconds."""
        self._used.append(service)

    def cancel(self, job: Job) -> None:
        """The client stopped waiting for `job` now. With cancel propagation, the venue hears
        of it after the outbound half of the latency and drops the request if not done."""
        import trio

        if self.cancel_propagation and math.isnan(job.spent):
            heard = max(trio.current_time() + job.outbound, self._handled)
            self._push(self._cancels, heard, job)

    async def run(self) -> None:
        """Handle events as their times come; runs until cancelled."""
        import trio
        from trio.testing import wait_all_tasks_blocked  # loads pytest, if installed

        while True:
            with trio.CancelScope(deadline=self._next_time()) as self._wake:
                await trio.sleep_forever()
            self._wake = None
            if self._settle:
                await wait_all_tasks_blocked()
            self._advance(trio.current_time())

    def _push(self, heap: list, t: float, job: Job) -> None:
        heapq.heappush(heap, (t, job.key, job))
        if self._wake is not None and t < self._wake.deadline:
            self._wake.deadline = t

    def _next_time(self) -> float:
        return min(
            self._arrivals[0][0] if self._arrivals else math.inf,
            self._cancels[0][0] if self._cancels else math.inf,
            self._completions[0][0] if self._completions else math.inf,
        )

    def _advance(self, now: float) -> None:
        """Handle every event up to `now`, instant by instant."""
        import trio

        self._handled = now
        while (t := self._next_time()) <= now and t < math.inf:
            while self._completions and self._completions[0][0] <= t:
                _, _, job = heapq.heappop(self._completions)
                if not job.dropped:
                    self._busy -= 1
                    self._last_completion = max(self._last_completion, t)
                    self._final(job, job.service)
            while self._arrivals and self._arrivals[0][0] <= t:
                self._queue.append(heapq.heappop(self._arrivals)[2])
            while self._cancels and self._cancels[0][0] <= t:
                self._drop(heapq.heappop(self._cancels)[2], t)
            while self._busy < self.capacity and self._queue:
                job = self._queue.popleft()
                if job.dropped:
                    continue
                self._busy += 1
                job.start = t
                self.waited_s += t - job.arrive
                self.started += 1
                heapq.heappush(self._completions, (t + job.service, job.key, job))
                if job.task is not None:
                    trio.lowlevel.reschedule(job.task)
                    job.task = None

    def _drop(self, job: Job, t: float) -> None:
        """A propagated cancel reached the venue at `t`: drop `job` unless it is done."""
        if not math.isnan(job.spent):
            return
        job.dropped = True
        if math.isnan(job.start):
            self._final(job, 0.0)  # still queued (or not yet arrived): no work done
        else:
            self._busy -= 1
            self._last_completion = max(self._last_completion, t)
            self._final(job, t - job.start)

    def _final(self, job: Job, spent: float) -> None:
        job.spent = spent
        self.busy_s += spent

    def finish(self, end: float) -> None:
        """After the run (ended at `end`): serve what is left, then fix `span_s`."""
        self._advance(math.inf)
        self.span_s = max(end, self._last_completion)
        self.used_s = math.fsum(self._used)
