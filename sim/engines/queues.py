"""Venue servers for the fast engine: each venue's FIFO queue, served as venues.servers serves it.

A venue's servers are an event scan over its instants, compiled with numba, handling each
instant's events in the dispatcher's fixed order: completions (by request), arrivals (by
arrival time, then request), cancels (by the time heard, then request), then starts from the
queue head. Busy time and queue wait are added up in that order too, so that `busy_s` and
`waited_s` are the trio engine's floats.

The scan runs a segment at a time: the queue served without any cancel falls idle between
segments (every request before one finished before its first arrives), and cancels only
shorten or drop work, which in a first-come-first-served queue never delays a start, so with
any cancels the segments stay apart (checked). A change of cancels then rescans only the
segments it touches (`Queues.settle`).

numba is imported on first use, so that runs without venue servers never load it.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Served:
    """One venue's servers over the run: `busy_s` (service done), `waited_s` and `started`
    (queue wait of the requests that began service, and their count), `last_completion` (the
    last instant a server was freed, 0 if none)."""

    busy_s: float
    waited_s: float
    started: int
    last_completion: float


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


class _Venue:
    """One venue's servers: its jobs (the requests it answers) in arrival order, their
    segments, and the state of a scan (`start`, `spent`, `dropped`, the cancels `heard`, and
    per segment the order its jobs added to busy time and wait, and its last freeing)."""

    def __init__(self, arrive: np.ndarray, service: np.ndarray, jobs: np.ndarray, capacity):
        queued = np.flatnonzero(jobs)
        self.order = queued[np.argsort(arrive[queued], kind="stable")]  # ties: lower request
        self.position = np.full(arrive.size, -1, dtype=np.int64)
        self.position[self.order] = np.arange(self.order.size)
        self.arrive, self.service = arrive[self.order], service[self.order]
        self.request = self.order.astype(np.int64)
        k = self.order.size
        self.capacity = k + 1 if capacity is None else int(capacity)
        self.heard = np.full(k, np.inf)
        self.start, self.spent = np.full(k, np.nan), np.full(k, np.nan)
        self.dropped = np.zeros(k, dtype=np.bool_)
        self.busy_seq, self.wait_seq = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
        self.lo, self.hi = np.array([0], dtype=np.int64), np.array([k], dtype=np.int64)
        self.counts = np.zeros((1, 2), dtype=np.int64)
        self.last = np.zeros(1)
        self._rescan(np.arange(1 if k else 0))
        finish = self.start + self.service
        ends = np.maximum.accumulate(finish)
        firsts = np.flatnonzero(ends[:-1] < self.arrive[1:]) + 1
        self.lo = np.concatenate(([0], firsts)).astype(np.int64) if k else self.lo[:0]
        self.hi = np.concatenate((firsts, [k])).astype(np.int64) if k else self.hi[:0]
        self.segment = np.repeat(np.arange(self.lo.size), self.hi - self.lo)
        # Scanned as segments, the same: each job adds its service and its wait once, in the
        # order of the whole scan, segment after segment; each segment's last freeing is its
        # last completion.
        self.counts = np.repeat((self.hi - self.lo)[:, None], 2, axis=1)
        self.last = np.maximum.reduceat(finish, self.lo) if k else np.zeros(0)

    def copy(self) -> _Venue:
        """A scan state of its own over the same jobs and segments."""
        other = object.__new__(_Venue)
        other.__dict__.update(self.__dict__)
        for name in ("heard", "start", "spent", "dropped", "busy_seq", "wait_seq", "counts"):
            setattr(other, name, getattr(self, name).copy())
        other.last = self.last.copy()
        return other

    def cancel(self, requests: np.ndarray, heard: np.ndarray) -> np.ndarray:
        """Cancels for `requests` heard at `heard` now: rescan the segments they change, and
        return the requests whose service those segments hold."""
        at = self.position[requests]
        mine = at >= 0
        at, heard = at[mine], heard[mine]
        changed = self.heard[at] != heard
        at = at[changed]
        if not at.size:
            return at
        self.heard[at] = heard[changed]
        dirty = np.zeros(self.lo.size, dtype=bool)
        dirty[self.segment[at]] = True
        self._rescan(np.flatnonzero(dirty))
        return self.order[dirty[self.segment]]

    def _rescan(self, segments: np.ndarray) -> None:
        bad = _kernels().rescan(
            segments.astype(np.int64), self.lo, self.hi, self.arrive, self.service, self.heard,
            self.request, self.capacity, self.start, self.spent, self.dropped, self.busy_seq,
            self.wait_seq, self.counts, self.last,
        )  # fmt: skip
        if bad >= 0:
            raise RuntimeError(f"venue servers: segment {bad} ran into the next (a bug)")

    def served(self) -> Served:
        busy_s, waited_s, started = _kernels().totals(
            self.lo, self.counts, self.busy_seq, self.wait_seq, self.spent, self.start, self.arrive
        )
        return Served(busy_s, waited_s, int(started), float(self.last.max(initial=0.0)))


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
        served = np.array([s is not None for s in service], dtype=bool)
        self.propagates = np.array(propagates, dtype=bool) & served
        self.half = 0.5 * latency

    @functools.cached_property
    def venues(self) -> list[_Venue | None]:
        """Each venue's servers, scanned without cancels (None: a venue without servers);
        scanned on first use (a run whose scan serves the venues itself never needs them)."""
        arrive = self.t0[None, :] + self.half  # (t0 + sent) + half, sent 0
        return [
            None if s is None else _Venue(arrive[v], s, self.answers[v], self.capacity[v])
            for v, s in enumerate(self.service)
        ]

    @functools.cached_property
    def uncancelled(self) -> Queued:
        """The quotes and load without any cancel: each venue served in one compiled pass,
        venues in parallel threads (sim.engines.queue_scan.uncancelled). The same for every
        strategy of a run that asks every venue at once, so the run's `Prepared` shares it."""
        latency, priced_at = np.empty_like(self.network), np.empty_like(self.network)
        priced_after = np.empty_like(self.network)
        kernels = _kernels()

        def serve(v: int) -> Served | None:
            if self.service[v] is None:
                latency[v], priced_at[v], priced_after[v] = self.network[v], 0.0, self.half[v]
                np.add(self.t0, self.half[v], out=priced_at[v])  # (t0 + sent) + half, sent 0
                return None
            capacity = self.capacity[v]
            *_, busy_s, waited_s, started, last = kernels.uncancelled(
                self.t0, self.half[v], self.network[v], self.service[v], self.answers[v],
                self.t0.size + 1 if capacity is None else capacity,
                latency[v], priced_at[v], priced_after[v],
            )  # fmt: skip
            return Served(busy_s, waited_s, started, last)

        servers = tuple(_pool().map(serve, range(len(self.service))))
        return Queued(latency, priced_at, priced_after, servers)

    def _quotes(self, v, venue: _Venue, requests, latency, priced_at, priced_after) -> None:
        """Venue v's quotes for `requests` (its jobs), from its scan, into the arrays."""
        at = venue.position[requests]
        start, service, dropped = venue.start[at], venue.service[at], venue.dropped[at]
        wait = start - venue.arrive[at]
        total = np.where(dropped, np.inf, (self.network[v, requests] + wait) + service)
        latency[v, requests] = total
        priced_at[v, requests] = np.where(dropped, self.t0[requests], start + service)
        priced_after[v, requests] = np.where(dropped, 0.0, total - self.half[v, requests])

    def _heard(self, latency: np.ndarray, exit_s: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(venue x cols) when each cancel of the requests `cols` reaches its venue, for
        races whose gathering ended `exit_s` after the request: a quote still on its way then
        (arriving later by the clock) is cancelled, and with propagation its venue hears of
        it after the outbound half of the network latency."""
        t0 = self.t0[cols]
        ended = t0 + exit_s  # the clock when the gather left (a quote's or a timer's time)
        late = self.answers[:, cols] & self.propagates[:, None]
        late &= t0[None, :] + latency[:, cols] > ended
        return np.where(late, ended[None, :] + self.half[:, cols], np.inf)

    def settle(self, exits: Callable[[Queued, np.ndarray | None], np.ndarray]) -> Queued:
        """The servers as the trio engine runs them, for a strategy whose races end their
        gathering `exits(queued, requests)` after each of `requests` (None: all).

        Without cancel propagation no race affects another's queue: the servers are served
        once, without cancels, for every strategy. With it, decisions and cancels feed each
        other: from no cancel at all, each round cancels what the decisions leave, rescans the
        segments whose cancels changed, and decides again the requests whose quotes changed,
        until the cancels repeat. A fixed point is trio's run: trio's cancels are one (its
        queues, decisions and cancels follow each other as here), and there is only one, since
        a cancel follows from the queues before it by a positive delay (a decision at t
        depends only on cancels heard before t, less a service and a network half; its cancels
        are heard after t, plus a network half), so two fixed points agreeing on the cancels
        heard before some instant agree on the next. The same order bounds the rounds: after
        round r the r earliest decisions are trio's (each depends only on cancels from earlier
        ones), so it takes a round per link of the longest chain of races that cancels tie
        together (a cancel frees a server sooner, which speeds a later race, whose decision
        moves its own cancels), which near a venue's capacity can be thousands; more than a
        round per request, and one to see nothing move, would be a bug: RuntimeError.
        """
        base = self.uncancelled
        if not self.propagates.any():
            return base
        venues = [v and v.copy() for v in self.venues]
        latency, priced_at = base.latency.copy(), base.priced_at.copy()
        priced_after = base.priced_after.copy()
        queued = Queued(latency, priced_at, priced_after, ())
        n = self.t0.size
        heard = np.full((len(venues), n), np.inf)
        exit_s = exits(queued, None)
        cols = np.arange(n)
        rounds = n + 2
        for _ in range(rounds):
            cancels = self._heard(latency, exit_s[cols], cols)
            moved = (cancels != heard[:, cols]).any(axis=0)
            if not moved.any():
                servers = tuple(v and v.served() for v in venues)
                return Queued(latency, priced_at, priced_after, servers)
            cols, cancels = cols[moved], cancels[:, moved]
            heard[:, cols] = cancels
            touched = []
            for v, venue in enumerate(venues):
                if venue is not None and self.propagates[v]:
                    requests = venue.cancel(cols, cancels[v])
                    before = latency[v, requests], priced_at[v, requests]
                    self._quotes(v, venue, requests, latency, priced_at, priced_after)
                    after = latency[v, requests], priced_at[v, requests]
                    touched.append(requests[(after[0] != before[0]) | (after[1] != before[1])])
            changed = np.zeros(n, dtype=bool)
            for requests in touched:
                changed[requests] = True
            cols = np.flatnonzero(changed)  # the requests whose quotes changed
            exit_s[cols] = exits(queued, cols)
        raise RuntimeError(f"venue servers: cancels still changing after {rounds} rounds (a bug)")

    def used(self, venue: np.ndarray) -> np.ndarray:
        """(venue,) the service time of the quotes acted on: leg k of request i ordered from
        `venue[k, i]` (-1: none). Summed exactly, as venues.servers sums it (math.fsum)."""
        used = np.zeros(len(self.service))
        venue = np.ascontiguousarray(venue, dtype=np.int64)
        for v, service in enumerate(self.service):
            if service is not None:
                used[v] = _kernels().exact_sum(service, venue, v)
                if np.isnan(used[v]):  # a term not finite: math.fsum says what comes of it
                    requests = np.broadcast_to(np.arange(self.t0.size), venue.shape)
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


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """Threads for the venues' scans (compiled without the GIL), started once."""
    return ThreadPoolExecutor(max_workers=os.cpu_count(), thread_name_prefix="queues")


def _kernels():
    """The scans (sim.engines.queue_scan), compiled with numba on first use."""
    from sim.engines import queue_scan

    return queue_scan
