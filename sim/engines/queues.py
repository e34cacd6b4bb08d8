"""Venue servers for the fast engine: each venue's FIFO queue, served as venues.servers serves it.

`serve` runs one venue's servers over its quote requests of one attempt (all asked at their
request's start), given when each one's cancel reaches the venue (infinity: never, as without
cancel propagation). It is an event scan over the venue's instants, compiled with numba,
handling each instant's events in the dispatcher's fixed order: completions (by request),
arrivals (by arrival time, then request), cancels (by the time heard, then request), then
starts from the queue head. It adds up busy time and queue wait in that order too, so that
`busy_s` and `waited_s` are the trio engine's floats.

numba is imported on first use, so that runs without venue servers never load it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Served:
    """One venue's servers over one attempt: per request (in request order) when its service
    started and how much of it was done (NaN: never started / no job, as for a request the
    venue never answers), and whether a propagated cancel dropped it; per venue the run's
    `busy_s` (service done), `waited_s` and
    `started` (queue wait of the requests that began service, and their count) and
    `last_completion` (the last instant a server was freed, 0 if none)."""

    start: np.ndarray
    spent: np.ndarray
    dropped: np.ndarray
    busy_s: float
    waited_s: float
    started: int
    last_completion: float


def serve(
    arrive: np.ndarray,
    service: np.ndarray,
    heard: np.ndarray,
    jobs: np.ndarray,
    capacity: int | None,
    order: np.ndarray | None = None,
) -> Served:
    """The servers of one venue: request i (those with `jobs[i]`) arrives at `arrive[i]`,
    needs `service[i]`, and a cancel for it reaches the venue at `heard[i]` (infinity:
    none); `capacity` servers (None: as many as needed). `order`: the jobs' indices by
    arrival (`arrival_order`), when the caller already has them."""
    n = arrive.size
    if order is None:
        order = arrival_order(arrive, jobs)
    k = order.size
    a, s, h = arrive[order], service[order], heard[order]
    cancelled = np.flatnonzero(np.isfinite(h))
    by_heard = cancelled[np.lexsort((order[cancelled], h[cancelled]))]  # ties: lower request
    cap = k + 1 if capacity is None else int(capacity)
    start, spent, dropped, totals = _scan()(a, s, h, order.astype(np.int64), by_heard, cap)
    full_start, full_spent = np.full(n, np.nan), np.full(n, np.nan)
    full_dropped = np.zeros(n, dtype=bool)
    full_start[order], full_spent[order], full_dropped[order] = start, spent, dropped
    return Served(
        full_start, full_spent, full_dropped, totals[0], totals[1], int(totals[2]), totals[3]
    )


def arrival_order(arrive: np.ndarray, jobs: np.ndarray) -> np.ndarray:
    """The indices of `jobs` by arrival at the venue, ties by request (a stable sort of
    requests in index order)."""
    queued = np.flatnonzero(jobs)
    return queued[np.argsort(arrive[queued], kind="stable")]


@functools.cache
def _scan():
    """The event scan, compiled on first use (numba caches it on disk)."""
    from numba import njit

    @njit(cache=True)
    def heap_less(t, key, i, j):
        return t[i] < t[j] or (t[i] == t[j] and key[i] < key[j])

    @njit(cache=True)
    def push(t, key, job, size, at, k, j):
        t[size], key[size], job[size] = at, k, j
        i = size
        while i > 0:
            parent = (i - 1) // 2
            if not heap_less(t, key, i, parent):
                break
            t[i], t[parent] = t[parent], t[i]
            key[i], key[parent] = key[parent], key[i]
            job[i], job[parent] = job[parent], job[i]
            i = parent
        return size + 1

    @njit(cache=True)
    def pop(t, key, job, size):
        top = job[0]
        size -= 1
        t[0], key[0], job[0] = t[size], key[size], job[size]
        i = 0
        while True:
            left, smallest = 2 * i + 1, i
            if left < size and heap_less(t, key, left, smallest):
                smallest = left
            if left + 1 < size and heap_less(t, key, left + 1, smallest):
                smallest = left + 1
            if smallest == i:
                break
            t[i], t[smallest] = t[smallest], t[i]
            key[i], key[smallest] = key[smallest], key[i]
            job[i], job[smallest] = job[smallest], job[i]
            i = smallest
        return top, size

    @njit(cache=True)
    def scan(arrive, service, heard, request, by_heard, capacity):
        """Jobs in arrival order; returns each one's start, time spent and whether it was
        dropped, and (busy_s, waited_s, started, last_completion)."""
        k = arrive.size
        start = np.full(k, np.nan)
        spent = np.full(k, np.nan)
        dropped = np.zeros(k, dtype=np.bool_)
        heap_t = np.empty(k)
        heap_key = np.empty(k, dtype=np.int64)
        heap_job = np.empty(k, dtype=np.int64)
        size = 0
        arrived = head = cancels = busy = started = 0
        busy_s = waited_s = last = 0.0
        while True:
            t = math.inf
            if size:
                t = heap_t[0]
            if arrived < k and arrive[arrived] < t:
                t = arrive[arrived]
            if cancels < by_heard.size and heard[by_heard[cancels]] < t:
                t = heard[by_heard[cancels]]
            if t == math.inf:
                break
            while size and heap_t[0] <= t:
                j, size = pop(heap_t, heap_key, heap_job, size)
                if not dropped[j]:
                    busy -= 1
                    last = max(last, t)
                    spent[j] = service[j]
                    busy_s += service[j]
            while arrived < k and arrive[arrived] <= t:
                arrived += 1
            while cancels < by_heard.size and heard[by_heard[cancels]] <= t:
                j = by_heard[cancels]
                cancels += 1
                if not math.isnan(spent[j]):
                    continue  # done before the cancel came
                dropped[j] = True
                if math.isnan(start[j]):
                    spent[j] = 0.0  # still queued: no work done
                else:
                    busy -= 1
                    last = max(last, t)
                    spent[j] = t - start[j]
                    busy_s += spent[j]
            while busy < capacity and head < arrived:
                j = head
                head += 1
                if dropped[j]:
                    continue
                busy += 1
                start[j] = t
                waited_s += t - arrive[j]
                started += 1
                size = push(heap_t, heap_key, heap_job, size, t + service[j], request[j], j)
        return start, spent, dropped, np.array([busy_s, waited_s, float(started), last])

    return scan


# The fixed point of cancels and decisions takes a few rounds per link of the longest chain of
# races that cancels tie together (a cancel frees a server sooner, which speeds a later race,
# whose decision moves its own cancels): more than this and the run is refused.
MAX_ROUNDS = 200


@dataclass(frozen=True)
class Queued:
    """A run's first attempt through its venues' servers, as (venue x request) arrays: each
    quote's latency after its request (network, queue wait and service; infinity for one
    dropped by a propagated cancel), the engine time it was priced at, and how long after its
    request that was (the quote's latency less the network's inbound half); and each venue's
    `Served` (None for a venue without servers)."""

    latency: np.ndarray
    priced_at: np.ndarray
    priced_after: np.ndarray
    servers: tuple[Served | None, ...]


class Queues:
    """The venue servers of a run's first attempt: every venue asked at each request's start
    (`t0`), with the draws' network `latency`, `answers` and `service` (None for a venue
    without servers), `capacity` and `propagates` (cancel propagation) per venue."""

    def __init__(
        self,
        t0: np.ndarray,
        latency: np.ndarray,
        answers: np.ndarray,
        service: list[np.ndarray | None],
        capacity: list[int | None],
        propagates: list[bool],
    ) -> None:
        self.t0, self.network, self.answers = t0, latency, answers
        self.service, self.capacity = service, capacity
        self.propagates = np.array(propagates, dtype=bool) & np.array(
            [s is not None for s in service]
        )
        self.half = 0.5 * latency
        self.arrive = t0[None, :] + self.half  # (t0 + sent) + half, sent 0
        self.order = [
            None if s is None else arrival_order(self.arrive[v], answers[v])
            for v, s in enumerate(service)
        ]
        self._uncancelled: Queued | None = None

    def queued(self, heard: np.ndarray | None = None) -> Queued:
        """The servers with cancels reaching the venues at `heard` (venue x request;
        infinity: none; None: no cancel at all)."""
        if heard is None and self._uncancelled is not None:
            return self._uncancelled
        none = np.full(self.t0.size, np.inf)
        latency = self.network.copy()
        priced_at = self.t0[None, :] + self.half
        priced_after = self.half.copy()
        servers: list[Served | None] = []
        for v, service in enumerate(self.service):
            if service is None:
                servers.append(None)
                continue
            h = none if heard is None else heard[v]
            s = serve(self.arrive[v], service, h, self.answers[v], self.capacity[v], self.order[v])
            servers.append(s)
            jobs = self.answers[v]
            done = jobs & ~s.dropped  # served in full
            wait = s.start - self.arrive[v]
            total = np.where(done, (self.network[v] + wait) + service, np.inf)
            latency[v] = np.where(jobs, total, self.network[v])
            priced_at[v] = np.where(done, s.start + service, self.t0)
            priced_after[v] = np.where(done, total - self.half[v], 0.0)
        out = Queued(latency, priced_at, priced_after, tuple(servers))
        if heard is None:
            self._uncancelled = out
        return out

    def heard(self, queued: Queued, exit_s: np.ndarray) -> np.ndarray:
        """(venue x request) when each cancel reaches its venue, for races whose gathering
        ended `exit_s` after the request: a quote still on its way then (arriving later by
        the clock) is cancelled, and with propagation its venue hears of it after the
        outbound half of the network latency."""
        ended = self.t0 + exit_s  # the clock when the gather left (a quote's or a timer's time)
        late = self.answers & self.propagates[:, None] & (self.t0[None, :] + queued.latency > ended)
        return np.where(late, ended[None, :] + self.half, np.inf)

    def settle(self, exits: Callable[[Queued], np.ndarray]) -> Queued:
        """The servers as the trio engine runs them, for a strategy whose races end their
        gathering `exits(queued)` after each request.

        Without cancel propagation no race affects another's queue, so the servers are
        served once, without cancels. With it, decisions and cancels feed each other: from
        no cancel at all, each round serves the queues with the last round's cancels, decides,
        and cancels what those decisions leave, until the cancels repeat. A fixed point is
        trio's run: trio's cancels are one (its queues, decisions and cancels follow each
        other as here), and there is only one, since a cancel follows from queues before it
        by a positive delay (a decision at t depends only on cancels heard before t, less a
        service and a network half; its cancels are heard after t, plus a network half), so two
        fixed points agreeing on the cancels heard before some instant agree on the next.
        More than MAX_ROUNDS rounds raise RuntimeError.
        """
        queued = self.queued()
        if not self.propagates.any():
            return queued
        heard = None
        for _ in range(MAX_ROUNDS):
            cancels = self.heard(queued, exits(queued))
            if heard is not None and np.array_equal(cancels, heard):
                return queued
            heard = cancels
            queued = self.queued(heard)
        raise RuntimeError(f"venue servers: cancels still changing after {MAX_ROUNDS} rounds")

    def used(self, venue: np.ndarray) -> np.ndarray:
        """(venue,) the service time of the quotes acted on: leg k of request i ordered from
        `venue[k, i]` (-1: none). Summed exactly, as venues.servers sums it."""
        used = np.zeros(len(self.service))
        requests = np.broadcast_to(np.arange(self.t0.size), venue.shape)
        for v, service in enumerate(self.service):
            if service is not None:
                used[v] = math.fsum(service[requests[venue == v]].tolist())
        return used

    def load(self, queued: Queued, used: np.ndarray, end: float) -> dict[str, np.ndarray]:
        """The Records' venue load fields (sim.engines.ledger) of a run that ended at `end`."""
        count = len(self.service)
        busy, wasted, wait = np.zeros(count), np.zeros(count), np.zeros(count)
        utilization = np.full(count, np.nan)
        for v, s in enumerate(queued.servers):
            if s is None:
                continue
            busy[v], wasted[v] = s.busy_s, max(s.busy_s - used[v], 0.0)
            wait[v] = s.waited_s / s.started if s.started else 0.0
            span = max(end, s.last_completion)
            if self.capacity[v] is not None and span:
                utilization[v] = s.busy_s / (self.capacity[v] * span)
        return {
            "venue_busy_s": busy,
            "venue_wasted_s": wasted,
            "venue_wait_s": wait,
            "venue_utilization": utilization,
        }
