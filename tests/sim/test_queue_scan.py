"""The queue scans' shortcuts (sim.engines.queue_scan) against the event scan they shorten.

The quotes and load without cancels come from one compiled pass per venue (a recursion with
one server); they must be, to the bit, what the event scan over the venue's instants gives
(sim.engines.queue_scan.scan over each venue's whole run); and with cancels propagated, the
rounds of `Queues.settle` must come to what plain rounds of whole scans settle to. Random
small queues: capacity 1 to 3 or unlimited, times on a coarse grid so that arrivals,
completions and cancels tie exactly, zero service, venues that drop some requests, with and
without propagation, and arrivals far from request order (the sort's fallback).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engines import queue_scan
from sim.engines.queues import Queued, Queues, Served

grid = st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 3.0])


@st.composite
def queues(draw_from) -> Queues:
    n = draw_from(st.integers(0, 40))
    count = draw_from(st.integers(1, 3))
    gaps = draw_from(st.lists(grid, min_size=n, max_size=n))
    t0 = np.cumsum(np.array(gaps, dtype=float))
    scale = 50.0 if draw_from(st.booleans()) else 1.0  # 50: arrivals far from request order
    latency = scale * np.array(
        draw_from(st.lists(grid, min_size=count * n, max_size=count * n)), dtype=float
    ).reshape(count, n)
    answers = np.array(
        draw_from(st.lists(st.booleans(), min_size=count * n, max_size=count * n)), dtype=bool
    ).reshape(count, n) | draw_from(st.booleans())
    service, capacity = [], []
    for _ in range(count):
        kind = draw_from(st.sampled_from(["none", "grid", "zero", "random"]))
        if kind == "none":
            service.append(None)
        elif kind == "zero":
            service.append(np.zeros(n))
        elif kind == "grid":
            service.append(np.array(draw_from(st.lists(grid, min_size=n, max_size=n)), float))
        else:
            seed = draw_from(st.integers(0, 2**16))
            service.append(np.random.default_rng(seed).exponential(1.0, n))
        capacity.append(draw_from(st.sampled_from([1, 1, 2, 3, None])))
    propagates = draw_from(st.lists(st.booleans(), min_size=count, max_size=count))
    return Queues(t0, latency, answers, service, capacity, propagates)


def by_event_scan(q: Queues, heard: np.ndarray | None = None):
    """The quotes and load as one event scan over each venue's whole run gives them, its
    cancels heard at `heard` (venue x request; None: none)."""
    arrive = q.t0[None, :] + q.half
    latency, priced_at, priced_after = q.network.copy(), arrive.copy(), q.half.copy()
    servers: list[Served | None] = []
    for v, s in enumerate(q.service):
        if s is None:
            servers.append(None)
            continue
        queued = np.flatnonzero(q.answers[v])
        order = queued[np.argsort(arrive[v, queued], kind="stable")]
        k = order.size
        a, service = arrive[v, order], s[order]
        start, spent, dropped = np.empty(k), np.empty(k), np.zeros(k, dtype=bool)
        busy, wait = np.empty(k, dtype=np.int64), np.empty(k, dtype=np.int64)
        cancels = np.full(k, np.inf) if heard is None else heard[v, order]
        capacity = k + 1 if q.capacity[v] is None else q.capacity[v]
        room = [np.empty(k, dtype=np.int64), np.empty(k)]  # the scan's own: two more below
        room += [np.empty(k, dtype=np.int64), np.empty(k, dtype=np.int64)]
        nb, nw, last = queue_scan.scan(
            0, k, a, service, cancels, order, capacity, start, spent, dropped, busy, wait, *room
        )
        busy_s = waited_s = 0.0
        for j in busy[:nb]:
            busy_s += spent[j]
        for j in wait[:nw]:
            waited_s += start[j] - a[j]
        total = (q.network[v, order] + (start - a)) + service
        latency[v, order] = np.where(dropped, np.inf, total)
        priced_at[v, order] = np.where(dropped, q.t0[order], start + service)
        priced_after[v, order] = np.where(dropped, 0.0, total - q.half[v, order])
        servers.append(Served(busy_s, waited_s, int(nw), float(last)))
    return latency, priced_at, priced_after, tuple(servers)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(queues())
def test_one_pass_per_venue_is_the_event_scan(q: Queues) -> None:
    latency, priced_at, priced_after, servers = by_event_scan(q)
    got = q.uncancelled
    assert np.array_equal(got.latency, latency)
    assert np.array_equal(got.priced_at, priced_at)
    assert np.array_equal(got.priced_after, priced_after)
    assert got.servers == servers


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]), max_size=60),
    st.integers(0, 2**16),
    st.sampled_from([0.1, 1.0, 100.0]),
)
def test_arrival_order_is_a_stable_sort(gaps, seed, scale) -> None:
    """By arrival, ties in request order, whether the insertion sort finishes or gives up."""
    n = len(gaps)
    rng = np.random.default_rng(seed)
    t0 = np.cumsum(np.array(gaps, dtype=float))
    half = scale * rng.integers(0, 4, n) * 0.5
    jobs = rng.random(n) < 0.8
    queued = np.flatnonzero(jobs)
    expected = queued[np.argsort((t0 + half)[queued], kind="stable")]
    assert np.array_equal(queue_scan.arrival_order(t0, half, jobs), expected)


def kth_quote(k: int, timeout: float):
    """A race that ends at its k-th quote (its latency after the request), else the timeout."""

    def exits(queued: Queued, requests: np.ndarray | None) -> np.ndarray:
        latency = queued.latency if requests is None else queued.latency[:, requests]
        kth = np.sort(latency, axis=0)[min(k, latency.shape[0]) - 1]
        return np.minimum(kth, timeout)

    return exits


@settings(max_examples=300, deadline=None, derandomize=True)
@given(queues(), st.integers(1, 3), st.sampled_from([0.5, 2.0, 100.0]))
def test_settled_cancels_are_the_fixed_point_of_whole_scans(q: Queues, k, timeout) -> None:
    """From no cancel, whole scans and the cancels their races leave, until the cancels
    repeat: `settle`'s segments rescanned in compiled rounds come to the same."""
    exits = kth_quote(k, timeout)
    heard = np.full(q.network.shape, np.inf)
    for _ in range(q.t0.size + 2):
        latency, priced_at, priced_after, servers = by_event_scan(q, heard)
        ended = q.t0 + exits(Queued(latency, priced_at, priced_after, ()), None)
        late = q.answers & q.propagates[:, None] & (q.t0[None, :] + latency > ended[None, :])
        cancels = np.where(late, ended[None, :] + q.half, np.inf)
        if np.array_equal(cancels, heard):
            break
        heard = cancels
    got = q.settle(exits)
    assert np.array_equal(got.latency, latency)
    assert np.array_equal(got.priced_at, priced_at)
    assert np.array_equal(got.priced_after, priced_after)
    assert got.servers == servers


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
edges = st.sampled_from([1e16, 1.0, 1e-16, 0.1, -1e16])  # sums that round across partials
tiny = st.floats(min_value=0.0, max_value=1e-300, allow_nan=False, allow_subnormal=True)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.one_of(finite, tiny, edges), max_size=40))
def test_the_service_used_is_fsum_of_the_legs_ordered_from_each_venue(terms) -> None:
    service = np.array([*terms, 5.0], dtype=float)
    n = service.size
    q = Queues(
        np.zeros(n), np.ones((2, n)), np.ones((2, n), bool), [service, None], [1, 1], [False] * 2
    )
    venue = np.full((2, n), -1, dtype=np.int64)
    venue[0, :-1] = 0
    venue[1, ::3] = 0  # a request's second leg at the same venue counts again
    picked = [service[i] for leg in venue for i in np.flatnonzero(leg == 0)]
    assert q.used(venue).tolist() == [math.fsum(picked), 0.0]
