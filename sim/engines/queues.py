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
segments it touches (`Queues.settle`), in compiled rounds, venues in parallel threads; a
cancel heard once its job is done changes nothing and rescans nothing.

Without cancels (no propagation, or before the first round) each venue is one compiled pass
over its jobs, with one server the recursion start = max(arrival, previous end); the run's
strategies that ask every venue at once share it (`Queues.uncancelled`, cached).

numba is imported on first use, so that runs without venue servers never load it.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from sim.engines.exact_sum import EXACT_UNITS, exactly


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
    per segment the order its jobs added to busy time and wait, and its last freeing), from
    its scan without cancels (`order`, `start`: sim.engines.queue_scan.uncancelled)."""

    def __init__(self, order, start, t0, half, service, capacity: int) -> None:
        self.order, self.request, self.capacity = order, order, capacity
        (self.arrive, self.service, self.position, self.start, self.spent, self.dropped,
         self.heard, self.busy_seq, self.wait_seq, self.lo, self.hi, self.segment, self.counts,
         self.last) = _kernels().segmented(order, start, t0, half, service, capacity)  # fmt: skip
        self.dirty = np.zeros(self.lo.size, dtype=np.bool_)  # room for cancel_round

    def cancel_round(self, cols, exit_s, t0, half, network, latency, priced_at, priced_after):
        """One round of cancels for the requests `cols`, whose races ended their gathering
        `exit_s` after them (sim.engines.queue_scan.cancel_round), into this venue's rows of
        the quotes: how many of its cancels changed, and the requests whose quotes moved."""
        changed = np.empty(self.order.size, dtype=np.int64)
        moved, count = _kernels().cancel_round(
            cols, exit_s, t0, half, network, latency, priced_at, priced_after, self.position,
            self.segment, self.lo, self.hi, self.arrive, self.service, self.heard, self.request,
            self.capacity, self.start, self.spent, self.dropped, self.busy_seq, self.wait_seq,
            self.counts, self.last, self.dirty, changed,
        )  # fmt: skip
        if moved < 0:
            raise RuntimeError(f"venue servers: segment {-1 - moved} ran into the next (a bug)")
        return moved, changed[:count]

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
        self._scanned: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # by `uncancelled`

    def _venues(self) -> list[_Venue | None]:
        """The scan state of each venue that propagates cancels, from its pass without
        cancels (None for the others), in parallel threads: a state of its own for each
        `settle`, built afresh (cheaper than copying one)."""

        def venue(v: int) -> _Venue | None:
            if not self.propagates[v]:
                return None
            order, start = self._scanned[v]
            capacity = self._capacity(v)
            return _Venue(order, start, self.t0, self.half[v], self.service[v], capacity)

        return list(_pool().map(venue, range(len(self.service))))

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
            order, start, busy_s, waited_s, started, last = kernels.uncancelled(
                self.t0, self.half[v], self.network[v], self.service[v], self.answers[v],
                self._capacity(v), latency[v], priced_at[v], priced_after[v],
            )  # fmt: skip
            if self.propagates[v]:
                self._scanned[v] = order, start  # where `settle` starts from
            return Served(busy_s, waited_s, started, last)

        servers = tuple(_pool().map(serve, range(len(self.service))))
        return Queued(latency, priced_at, priced_after, servers)

    def _capacity(self, v: int) -> int:
        """Venue v's servers, unlimited as one more than there are requests."""
        capacity = self.capacity[v]
        return self.t0.size + 1 if capacity is None else int(capacity)

    def _round(self, venues, cols, exit_s, queued: Queued) -> tuple[int, np.ndarray]:
        """A round of `settle`: each venue's cancels of the requests `cols` as their races now
        end (`exit_s`), its segments they change scanned again and its quotes in `queued`
        updated, venues in parallel threads. How many cancels changed, and the requests whose
        quotes moved."""

        def cancel(v: int) -> tuple[int, np.ndarray]:
            rows = (queued.latency[v], queued.priced_at[v], queued.priced_after[v])
            network = self.network[v]
            return venues[v].cancel_round(cols, exit_s, self.t0, self.half[v], network, *rows)

        done = list(_pool().map(cancel, [v for v, venue in enumerate(venues) if venue]))
        changed = np.zeros(self.t0.size, dtype=bool)
        for _, requests in done:
            changed[requests] = True
        return sum(moved for moved, _ in done), np.flatnonzero(changed)

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
        round per request, and one to see nothing move, would be a bug: RuntimeError. A round
        is compiled, but for the decisions (`_round`).
        """
        base = self.uncancelled  # before `_venues`, which start from its scans
        if not self.propagates.any():
            return base
        venues = self._venues()
        latency, priced_at = base.latency.copy(), base.priced_at.copy()
        queued = Queued(latency, priced_at, base.priced_after.copy(), ())
        exit_s = exits(queued, None)
        cols = np.arange(self.t0.size)
        rounds = self.t0.size + 2
        for _ in range(rounds):
            moved, cols = self._round(venues, cols, exit_s, queued)
            if not moved:
                kept = zip(venues, base.servers, strict=True)
                servers = tuple(b if v is None else v.served() for v, b in kept)
                return Queued(latency, priced_at, queued.priced_after, servers)
            exit_s[cols] = exits(queued, cols)
        raise RuntimeError(f"venue servers: cancels still changing after {rounds} rounds (a bug)")

    def used(self, venue: np.ndarray) -> np.ndarray:
        """(venue,) the service time of the quotes acted on: leg k of request i ordered from
        `venue[k, i]` (-1: none). Summed exactly, as venues.servers sums it (math.fsum)."""
        used = np.zeros(len(self.service))
        for v, service in enumerate(self.service):
            if service is not None:
                s = np.broadcast_to(service, venue.shape)[venue == v]
                finite = np.isfinite(s).all()  # else math.fsum says what comes of it
                used[v] = exactly(s) / EXACT_UNITS if finite else math.fsum(s.tolist())
        return used

    def load(self, queued: Queued, used: np.ndarray, end: float) -> dict[str, np.ndarray]:
        """The Records' venue load fields of a run through these servers (`venue_load`)."""
        return venue_load(queued.servers, self.capacity, used, end)


def venue_load(
    servers: Sequence[Served | None], capacity: Sequence[int | None], used: np.ndarray, end: float
) -> dict[str, np.ndarray]:
    """The Records' venue load fields (sim.engines.ledger) of a run that ended at `end`: each
    venue's `servers` (its `capacity`), and the service time of the quotes acted on (`used`)."""
    count = len(servers)
    busy, wasted, wait = np.zeros(count), np.zeros(count), np.zeros(count)
    utilization = np.full(count, np.nan)
    for v, s in enumerate(servers):
        if s is None:
            continue
        busy[v], wasted[v] = s.busy_s, max(s.busy_s - used[v], 0.0)
        wait[v] = s.waited_s / s.started if s.started else 0.0
        span = max(end, s.last_completion)
        if capacity[v] is not None and span:
            utilization[v] = s.busy_s / (capacity[v] * span)
    return {
        "venue_busy_s": busy,
        "venue_wasted_s": wasted,
        "venue_wait_s": wait,
        "venue_utilization": utilization,
    }


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """Threads for the venues' scans (compiled without the GIL), started once (once more in a
    forked child, which has none of its parent's threads: a sweep's workers)."""
    return ThreadPoolExecutor(max_workers=os.cpu_count(), thread_name_prefix="queues")


os.register_at_fork(after_in_child=_pool.cache_clear)


def _kernels():
    """The scans (sim.engines.queue_scan), compiled with numba on first use."""
    from sim.engines import queue_scan

    return queue_scan
