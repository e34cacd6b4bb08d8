"""The scan of sim.engines.scan through venue servers, compiled with numba: races and venues'
queues in one pass over the run's events in time order.

Through servers a quote's arrival is known only once its request starts service, which
depends on the races before it (and, with cancel propagation, on when they ended), so the
venues' dispatchers (venues.servers) are events of the scan beside the races': a request
reaches its venue after the outbound half of its latency (ARRIVE), waits for a server, is
served (COMPLETE), or dropped by a cancel heard a half after its race ended (CANCEL); the
quote reaches the client at (t0 + sent) + total, as the venue sleeps (DELIVER), where the
race takes it (WAKE) or its next deadline does (TIMER); requests start (START) on the
arrivals, or a client's think time after its previous request ended (closed loops).

At each instant the races' events come first, then each venue's in its dispatcher's order
(completions, arrivals, cancels by request), then the venues' starts, queue head first: as
trio's dispatcher handles an instant once every task of it has run. A race at t only reaches
a venue after a network half, and a venue's start at t only reaches a client after service
and a half, so the order across the two sides matters only where a half vanishes in engine
time; there it is the one trio's dispatcher keeps for such venues (`settle`).

A gather takes quotes as strategies.scatter does: one delivered before its deadline wakes it
(the first by arrival after the request, then venue); at the deadline it takes those that
arrived by it after the request, and one delivered then but an ulp later after the request
stays for its next wait. Strategies: FIRST_WINS (every venue asked at once), HEDGED and
ADAPTIVE as sim.engines.scan_kernels reads and learns them, strictly from earlier events.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

from sim.engines.scan_kernels import (
    FILL,
    HEDGE,
    LATENCY,
    REQUEST,
    SEEN,
    choose,
    fold_ledger,
    fold_stats,
    percentile,
)

FIRST_WINS, HEDGED, ADAPTIVE = 0, 1, 2
# Event kinds, in their order at one instant: the races', then the venues'.
DELIVER, WAKE, TIMER, START, COMPLETE, ARRIVE, CANCEL = range(7)
# A job's state at its venue.
NONE, QUEUED, SERVING, DONE, DROPPED = range(5)


@njit(cache=True)
def served(
    kind, t0_open, think, clients, latency, answers, service, has_servers, capacity,
    propagates, trip, timeout, order, fixed, q, window, budget, hedges_max, picks, fills, alpha,
):  # fmt: skip
    """Every request of the run by strategy `kind` through the venues' servers.

    Per (venue, request): the network `latency`, whether it `answers`, the `service` time
    (venues `has_servers`, with `capacity` servers each and `propagates` cancels) and the
    order round trip `trip`. An open loop starts on `t0_open`; a closed loop's `clients`
    send after `think`. HEDGED asks the venues in `order` after its delay (`fixed`, or the
    q-th percentile of the last `window` latencies), within `budget` and `hedges_max`;
    ADAPTIVE picks by `picks` (sim.engines.scan) and learns fills from `fills` with `alpha`.

    Returns per request its start, the venue taken (-1: none), the quote's arrival after
    the request and when that venue was asked; per venue the quote requests; per (venue,
    request) each quote's latency after it was asked (infinity: never asked), the engine
    time it was priced at and how long after it was asked; per venue its busy time, queue
    wait summed, starts and last freeing, added up in the dispatcher's order.
    """
    count, n = latency.shape
    t0 = np.full(n, np.nan)
    winner = np.full(n, -1, dtype=np.int64)
    decided = np.full(n, np.nan)
    sent_won = np.zeros(n)
    asked = np.zeros(count, dtype=np.int64)
    quote_latency = np.full((count, n), np.inf)
    priced_at = np.zeros((count, n))
    priced_after = np.zeros((count, n))
    busy_s, waited_s = np.zeros(count), np.zeros(count)
    started, last = np.zeros(count, dtype=np.int64), np.zeros(count)
    # the venues: each job (venue, request) and each venue's FIFO queue, linked by `behind`
    sent = np.full((count, n), np.nan)
    job = np.zeros((count, n), dtype=np.int8)
    arrived_at, started_at = np.zeros((count, n)), np.zeros((count, n))
    behind = np.full((count, n), -1, dtype=np.int64)
    head, tail = np.full(count, -1, dtype=np.int64), np.full(count, -1, dtype=np.int64)
    busy = np.zeros(count, dtype=np.int64)
    touched = np.zeros(count, dtype=np.bool_)
    # the races: each one's deadline, and the first quote delivered to it
    racing = np.zeros(n, dtype=np.bool_)
    deadline, until = np.zeros(n), np.zeros(n)
    step, hedges = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    delay = np.full(n, np.nan)
    best, best_v = np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    # what the strategy has learned (hedged: its ledger; adaptive: its EWMAs)
    requests, hedged_count = 0, 0
    kept = min(window, n)
    recent, ordered = np.empty(max(kept, 1)), np.empty(max(kept, 1))
    ring, size = 0, 0
    seen, has_seen = np.zeros(count), np.zeros(count, dtype=np.bool_)
    fill, has_fill = np.zeros(count), np.zeros(count, dtype=np.bool_)
    left = np.empty(count, dtype=np.int64)
    chosen = np.empty(picks.shape[1], dtype=np.int64)

    events = [(0.0, 0, 0, 0)]
    events.pop()
    ledger = [(0.0, 0, 0.0)]  # hedged's events: (time, what, value)
    ledger.pop()
    pending = [(0.0, 0, 0, 0.0)]  # adaptive's: (time, venue, what, value)
    pending.pop()
    if clients == 0:
        if n:
            heapq.heappush(events, (t0_open[0], START, 0, 0))
    else:
        for i in range(min(clients, n)):
            heapq.heappush(events, (0.0 + think[i], START, i, 0))
    now = -np.inf
    while True:
        if not events or events[0][0] > now:  # the instant is over but for the venues' starts
            for v in range(count):
                if touched[v]:
                    touched[v] = False
                    _starts(
                        v, now, events, job, behind, head, tail, busy, capacity, arrived_at,
                        started_at, service, latency, sent, t0, quote_latency, priced_at,
                        priced_after, waited_s, started, busy_s, last,
                    )  # fmt: skip
            if not events:
                break
        now, what, a, b = heapq.heappop(events)
        if what >= COMPLETE:  # a venue's event: a, b the venue and the request
            touched[a] = True
            if what == COMPLETE:
                if job[a, b] == SERVING:
                    job[a, b] = DONE
                    busy[a] -= 1
                    last[a] = max(last[a], now)
                    busy_s[a] += service[a, b]
            elif what == ARRIVE:
                if job[a, b] == QUEUED:
                    if tail[a] < 0:
                        head[a] = b
                    else:
                        behind[a, tail[a]] = b
                    tail[a] = b
            elif job[a, b] == QUEUED:  # a cancel reaches a request still queued (or coming)
                job[a, b] = DROPPED
            elif job[a, b] == SERVING:  # or in service: its server is free
                job[a, b] = DROPPED
                busy[a] -= 1
                last[a] = max(last[a], now)
                busy_s[a] += now - started_at[a, b]
            continue
        i = a
        if what == START:
            t0[i] = now
            racing[i] = True
            if clients == 0 and i + 1 < n:
                heapq.heappush(events, (t0_open[i + 1], START, i + 1, 0))
            if kind == HEDGED:
                ring, size, requests, hedged_count = fold_ledger(
                    ledger, now, recent, ordered, ring, size, window, requests, hedged_count
                )
                heapq.heappush(ledger, (now, REQUEST, 0.0))
                delay[i] = fixed if fixed >= 0.0 else percentile(ordered, size, q)
                hedges[i] = hedges_max if delay[i] == delay[i] else 0
                _ask(order[0], i, 0.0, now, events, t0, latency, answers, has_servers, sent,
                     job, arrived_at, asked, quote_latency, priced_at, priced_after)  # fmt: skip
                _next_deadline(i, 1, hedges, delay, timeout, t0, step, deadline, until, events)
            else:
                if kind == ADAPTIVE:
                    fold_stats(pending, now, seen, has_seen, fill, has_fill, alpha)
                    choose(picks[i], left, seen, has_seen, fill, has_fill, chosen)
                for k in range(chosen.size if kind == ADAPTIVE else count):
                    v = chosen[k] if kind == ADAPTIVE else k
                    _ask(v, i, 0.0, now, events, t0, latency, answers, has_servers, sent, job,
                         arrived_at, asked, quote_latency, priced_at, priced_after)  # fmt: skip
                _next_deadline(i, 0, hedges, delay, timeout, t0, step, deadline, until, events)
            continue
        if not racing[i]:
            continue  # the race has ended: what comes for it now is never seen
        if what == DELIVER:  # venue b's quote reaches the client
            arrival = sent[b, i] + quote_latency[b, i]
            if arrival < best[i] or (arrival == best[i] and b < best_v[i]):
                best[i], best_v[i] = arrival, b
            if now < deadline[i]:
                heapq.heappush(events, (now, WAKE, i, 0))
            continue
        if what == TIMER and b != step[i]:
            continue  # a deadline the race has moved on from
        taken = what == WAKE or best[i] <= until[i]
        if not taken and what == TIMER:
            if until[i] >= timeout:  # timed out: what arrived after it never counts
                best_v[i] = -1
            elif kind == HEDGED and step[i] <= hedges[i]:  # no quote yet: hedge, if allowed
                ring, size, requests, hedged_count = fold_ledger(
                    ledger, now, recent, ordered, ring, size, window, requests, hedged_count
                )
                s = step[i]
                if budget * requests - hedged_count < 1:
                    s = hedges[i] + 1  # no token: wait for a quote until the timeout
                else:
                    heapq.heappush(ledger, (now, HEDGE, 0.0))
                    _ask(order[s], i, s * delay[i], now, events, t0, latency, answers,
                         has_servers, sent, job, arrived_at, asked, quote_latency, priced_at,
                         priced_after)  # fmt: skip
                    s += 1
                if best_v[i] < 0:
                    _next_deadline(i, s, hedges, delay, timeout, t0, step, deadline, until,
                                   events)  # fmt: skip
                    continue
            # else a quote delivered at the deadline, an ulp late after the request: taken now
        racing[i] = False
        w = best_v[i]
        for v in range(count):  # cancel what is still on its way
            if v != w and propagates[v] and (job[v, i] == QUEUED or job[v, i] == SERVING):
                heapq.heappush(events, (now + 0.5 * latency[v, i], CANCEL, v, i))
        ended = now
        if w >= 0:
            winner[i], decided[i], sent_won[i] = w, best[i], sent[w, i]
            ended = now + trip[w, i]
            if kind == HEDGED:
                heapq.heappush(ledger, (t0[i] + best[i], LATENCY, best[i]))
            elif kind == ADAPTIVE:
                at = t0[i] + best[i]
                fold_stats(pending, at, seen, has_seen, fill, has_fill, alpha)
                for v in range(count):
                    if sent[v, i] == sent[v, i]:
                        value = quote_latency[w, i]
                        if v != w:
                            value = max(value, seen[v] if has_seen[v] else 0.0)
                        heapq.heappush(pending, (at, v, SEEN, value))
                heapq.heappush(pending, (ended, w, FILL, 1.0 if fills[w, i] else 0.0))
        elif kind == ADAPTIVE:
            for v in range(count):
                if sent[v, i] == sent[v, i]:
                    heapq.heappush(pending, (t0[i] + timeout, v, SEEN, timeout))
        if clients and i + clients < n:
            heapq.heappush(events, (ended + think[i + clients], START, i + clients, 0))
    return (
        t0, winner, decided, sent_won, asked, quote_latency, priced_at, priced_after, busy_s,
        waited_s, started, last,
    )  # fmt: skip


@njit(cache=True)
def _next_deadline(i, s, hedges, delay, timeout, t0, step, deadline, until, events):
    """Request i waits for a quote until its s-th hedge (from 1), or past its hedges until
    the timeout, as strategies.scatter counts deadlines: t0 + their time after it."""
    until[i] = timeout
    if 1 <= s <= hedges[i]:
        until[i] = min(timeout, s * delay[i])
    step[i] = s
    deadline[i] = t0[i] + until[i]
    heapq.heappush(events, (deadline[i], TIMER, i, s))


@njit(cache=True)
def _ask(
    v, i, s, now, events, t0, latency, answers, has_servers, sent, job, arrived_at, asked,
    quote_latency, priced_at, priced_after,
):  # fmt: skip
    """Request i asks venue v, `s` after it (at `now`): through its servers, the request
    reaches the venue a half later (venues.venue); else the quote comes back at
    t0 + (s + latency), priced halfway."""
    asked[v] += 1
    sent[v, i] = s
    if not answers[v, i]:
        return
    half = 0.5 * latency[v, i]
    if has_servers[v]:
        job[v, i] = QUEUED
        arrived_at[v, i] = (t0[i] + s) + half
        heapq.heappush(events, (arrived_at[v, i], ARRIVE, v, i))
        return
    quote_latency[v, i] = latency[v, i]
    priced_at[v, i] = (t0[i] + s) + half
    priced_after[v, i] = half
    heapq.heappush(events, (max(t0[i] + (s + latency[v, i]), now), DELIVER, i, v))


@njit(cache=True)
def _starts(
    v, now, events, job, behind, head, tail, busy, capacity, arrived_at, started_at, service,
    latency, sent, t0, quote_latency, priced_at, priced_after, waited_s, started, busy_s, last,
):  # fmt: skip
    """Venue v's free servers take requests from its queue head at `now`; each one's quote
    will reach its client at (t0 + sent) + total (venues.venue), priced when service ends.
    A service that ends in the instant it starts frees its server for the next at once, as
    trio's dispatcher handles the instant's completions again before any client runs."""
    while busy[v] < capacity[v] and head[v] >= 0:
        i = head[v]
        head[v] = behind[v, i]
        if head[v] < 0:
            tail[v] = -1
        if job[v, i] != QUEUED:
            continue  # dropped while queued
        job[v, i] = SERVING
        busy[v] += 1
        started_at[v, i] = now
        waited_s[v] += now - arrived_at[v, i]
        started[v] += 1
        if now + service[v, i] > now:
            heapq.heappush(events, (now + service[v, i], COMPLETE, v, i))
        else:
            job[v, i] = DONE
            busy[v] -= 1
            last[v] = max(last[v], now)
            busy_s[v] += service[v, i]
        total = (latency[v, i] + (now - arrived_at[v, i])) + service[v, i]
        quote_latency[v, i] = total
        priced_at[v, i] = now + service[v, i]
        priced_after[v, i] = total - 0.5 * latency[v, i]
        heapq.heappush(events, (max((t0[i] + sent[v, i]) + total, now), DELIVER, i, v))
