"""The queue scans' shortcuts (sim.engines.queue_scan) against the event scan they shorten.

The quotes and load without cancels come from one compiled pass per venue (a recursion with
one server); they must be, to the bit, what the event scan over the venue's instants gives
(`_Venue`, which settles cancels). Random small queues: capacity 1 to 3 or unlimited, times
on a coarse grid so that arrivals, completions and cancels tie exactly, zero service, venues
that drop some requests, and arrivals far from request order (the sort's fallback).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engines import queue_scan
from sim.engines.queues import Queues, Served, _Venue

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
    return Queues(t0, latency, answers, service, capacity, [False] * count)


def by_event_scan(q: Queues):
    """The quotes and load as the event scan gives them (`_Venue`, no cancel)."""
    arrive = q.t0[None, :] + q.half
    latency, priced_at, priced_after = q.network.copy(), arrive, q.half.copy()
    servers: list[Served | None] = []
    for v, s in enumerate(q.service):
        if s is None:
            servers.append(None)
            continue
        venue = _Venue(arrive[v], s, q.answers[v], q.capacity[v])
        q._quotes(v, venue, venue.order, latency, priced_at, priced_after)
        servers.append(venue.served())
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


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
edges = st.sampled_from([1e16, 1.0, 1e-16, 0.1, -1e16])  # sums that round across partials
tiny = st.floats(min_value=0.0, max_value=1e-300, allow_nan=False, allow_subnormal=True)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.one_of(finite, tiny, edges), max_size=40))
def test_exact_sum_is_fsum(terms) -> None:
    service = np.array([*terms, 5.0], dtype=float)
    venue = np.full((2, service.size), -1, dtype=np.int64)
    venue[0, :-1] = 0
    venue[1, ::3] = 0  # a request's second leg at the same venue counts again
    picked = [service[i] for leg in venue for i in np.flatnonzero(leg == 0)]
    assert queue_scan.exact_sum(service, venue, 0) == math.fsum(picked)
    assert queue_scan.exact_sum(service, venue, 1) == 0.0
