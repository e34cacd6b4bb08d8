"""The scans of sim.engines.scan, compiled with numba: one pass over a run's decision points in
time order, each reading only events strictly before it (folded from a heap, in the order
strategies.past_events sorts them). Imported only by the scans, so that a run that needs none
never loads numba.

Decision points are a heap of (time, request, step). An open loop pushes request i + 1's start
when request i starts (arrivals are sorted); a closed loop (`clients` > 0) pushes request
i + clients's start when request i ends, at the end plus its client's think time, as the trio
engine's client does.

One module for every scan: numba's disk cache of a function is checked against its own
file only, so a scan cached in another file would keep an old copy of the helpers here.

`served`: the scan through venue servers, races and venues' queues in one pass over the
run's events in time order.

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
ADAPTIVE as `hedged` and `adaptive` read and learn them, strictly from earlier events, and
FIRST_K: every venue asked at once, the race woken once `want` quotes (or every venue's) have
been delivered, when it takes the first `want` of those delivered by (arrival after the
request, venue), or at its timeout those that arrived by it (`Quotes.collect(k)`); the rule
then chooses among the quotes taken (sim.engines.fast).
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from numba import njit

HEDGE, LATENCY, REQUEST = 0, 1, 2  # hedged's events, sorted as "hedge" < "latency" < "request"
FILL, SEEN = 0, 1  # adaptive's, sorted as "fill" < "latency"
FIRST_WINS, HEDGED, ADAPTIVE, FIRST_K = 0, 1, 2, 3  # the strategies `served` knows
# Event kinds, in their order at one instant: the races', then the venues'.
DELIVER, WAKE, TIMER, START, COMPLETE, ARRIVE, CANCEL = range(7)
# A job's state at its venue.
NONE, QUEUED, SERVING, DONE, DROPPED = range(5)
MASK = (1 << 30) - 1  # an event's request or venue (or step) fits in 30 bits


@njit(cache=True, nogil=True, inline="always")
def _key(what, a, b):
    """`served`'s event (what, a, b) as one int that sorts as the tuple does."""
    return (what << 60) | (a << 30) | b


@njit(cache=True, nogil=True)
def _first_starts(points, t0, think, clients, n):
    if clients == 0:
        if n:
            heapq.heappush(points, (t0[0], 0, 0))
    else:
        for i in range(min(clients, n)):
            heapq.heappush(points, (0.0 + think[i], i, 0))


@njit(cache=True, nogil=True)
def _after(points, t0, think, clients, n, i, ended):
    """The next start due once request i has started (open loop: i + 1, `ended` NaN) or
    ended at `ended` (closed loop: i + clients, after its client's think time)."""
    if clients == 0:
        if ended != ended and i + 1 < n:
            heapq.heappush(points, (t0[i + 1], i + 1, 0))
    elif ended == ended and i + clients < n:
        heapq.heappush(points, (ended + think[i + clients], i + clients, 0))


@njit(cache=True, nogil=True)
def hedged(
    t0_open, think, clients, latency, answers, venue, trip, fixed, q, window, budget,
    hedges_max, timeout, ring_in, requests_in, hedges_in,
):  # fmt: skip
    """strategies.hedged over every request: `latency`/`answers` rows in the strategy's venue
    order (`venue[k]`: the index of the k-th), `round_trip[v, i]` venue v's order round trip
    (closed loops). Per request: the position chosen (-1: none), its arrival after the request,
    when it was asked, how many venues were asked, and its start.

    The ledger starts as carried in (`ring_in`: its window of latencies, oldest first, and
    its counts of requests and hedges; empty and 0 for a run's start). Also returned: the
    latencies folded into the window, in the order folded, and the last idle instant
    (`idle`: the request, from 1, before whose start every event of the requests before it
    was folded and none of them has a decision point left; 0 if none), with the number of
    latencies folded, requests and hedges as of then: the ledger a resumed scan carries."""
    n = latency.shape[1]
    t0 = np.full(n, np.nan)
    pos = np.full(n, -1, dtype=np.int64)
    decided = np.full(n, np.nan)
    sent = np.zeros(n)
    asked = np.zeros(n, dtype=np.int64)
    delay = np.full(n, np.nan)
    hedges = np.zeros(n, dtype=np.int64)
    best = np.full(n, np.inf)
    best_pos = np.full(n, -1, dtype=np.int64)
    points = [(0.0, 0, 0)]
    points.pop()
    _first_starts(points, t0_open, think, clients, n)
    pending = [(0.0, 0, 0.0)]
    pending.pop()
    requests, hedged_count = requests_in, hedges_in
    # one latency a request at most: a window of 1e9 needs no 8 GB
    kept = min(window, ring_in.size + n)
    recent = np.empty(max(kept, 1))  # a ring of the last `window` latencies, oldest at `head`
    ordered = np.empty(max(kept, 1))  # the same, sorted
    head, size = 0, ring_in.size
    recent[:size] = ring_in
    ordered[:size] = np.sort(ring_in)
    folded = np.empty(n)  # the latencies folded in, in order (one a request at most)
    logged, idle, idle_state = 0, 0, (0, 0, 0)
    while points:
        now, i, step = heapq.heappop(points)
        head, size, requests, hedged_count, logged = _fold_ledger(
            pending, now, recent, ordered, head, size, window, requests, hedged_count, folded,
            logged,
        )  # fmt: skip
        if step == 0:  # the request starts
            if i and not points and not pending:
                idle, idle_state = i, (logged, requests, hedged_count)
            t0[i] = now
            _after(points, t0_open, think, clients, n, i, np.nan)
            heapq.heappush(pending, (now, REQUEST, 0.0))
            if fixed >= 0.0:
                delay[i] = fixed
            else:
                delay[i] = _percentile(ordered, size, q)
            hedges[i] = hedges_max if delay[i] == delay[i] else 0
            asked[i] = 1
            if answers[0, i]:
                best[i], best_pos[i] = 0.0 + latency[0, i], 0
            following = 1
        elif budget * requests - hedged_count < 1:  # no token for this hedge: wait for a quote
            following = hedges[i] + 1
        else:  # hedge
            heapq.heappush(pending, (now, HEDGE, 0.0))
            s = step * delay[i]
            asked[i] = step + 1
            if answers[step, i]:
                arrives = s + latency[step, i]
                if arrives < best[i] or (arrives == best[i] and venue[step] < venue[best_pos[i]]):
                    best[i], best_pos[i] = arrives, step
            following = step + 1
        ended, won = np.nan, False
        if following <= hedges[i]:
            within = following * delay[i]
            if best[i] <= min(timeout, within):
                won = True
            elif within >= timeout:
                ended = t0[i] + timeout
            else:
                heapq.heappush(points, (t0[i] + within, i, following))
        elif best[i] <= timeout:
            won = True
        else:
            ended = t0[i] + timeout
        if won:
            ended = _won(
                i, t0, best, best_pos, delay, pos, decided, sent, pending, latency, venue, trip
            )
        if ended == ended:
            _after(points, t0_open, think, clients, n, i, ended)
    return pos, decided, sent, asked, t0, folded[:logged], idle, idle_state


@njit(cache=True, nogil=True, inline="always")
def _fold_ledger(pending, now, recent, ordered, head, size, window, requests, hedges, log, logged):
    """hedged's ledger as of `now`: its (time, what, value) events in `pending` before then
    folded into its window of latencies (`_remember`, and after the `logged` first of `log`)
    and its counts of requests and hedges. Returns (head, size, requests, hedges, logged)."""
    while pending and pending[0][0] < now:
        _, what, value = heapq.heappop(pending)
        if what == HEDGE:
            hedges += 1
        elif what == REQUEST:
            requests += 1
        else:
            head, size = _remember(recent, ordered, head, size, window, value)
            log[logged] = value
            logged += 1
    return head, size, requests, hedges, logged


@njit(cache=True, nogil=True)
def _remember(recent, ordered, head, size, window, value):
    """hedged's last `window` latencies, `value` the newest: a ring `recent` (`size` of
    them, the oldest at `head`) and the same sorted in `ordered`. Returns (head, size)."""
    if size == window:  # the oldest latency leaves as this one comes
        _replace(ordered, size, recent[head], value)
        recent[head] = value
        return (head + 1) % window, size
    recent[(head + size) % window] = value
    k = size
    while k > 0 and ordered[k - 1] > value:
        ordered[k] = ordered[k - 1]
        k -= 1
    ordered[k] = value
    return head, size + 1


@njit(cache=True, nogil=True, inline="always")
def _percentile(ordered, size, q):
    """hedged's delay: the q-th percentile of the `size` latencies in `ordered` (numpy's
    "higher"), NaN before strategies.hedged.WARM_UP of them."""
    if size < 20:
        return np.nan
    return ordered[math.ceil((size - 1) * q / 100)]


@njit(cache=True, nogil=True)
def _replace(ordered, size, old, value):
    """Sorted `ordered[:size]` with one `old` taken out and `value` put in, moving only the
    values between the two, found by bisection (a window of latencies holds hundreds), and
    moved by unsigned index (numba would check every signed one for a negative)."""
    k = np.searchsorted(ordered[:size], old)
    j = np.searchsorted(ordered[:size], value)
    one = np.uint64(1)
    if j > k:  # the values after old's place and before value's move down one
        for m in range(np.uint64(k), np.uint64(j) - one):
            ordered[m] = ordered[m + one]
        ordered[j - 1] = value
    else:  # those from value's place up to old's move up one
        for m in range(np.uint64(k), np.uint64(j), -1):
            ordered[m] = ordered[m - one]
        ordered[j] = value


@njit(cache=True, nogil=True)
def _won(i, t0, best, best_pos, delay, pos, decided, sent, pending, latency, venue, trip):
    """Request i takes its best quote: the latency observed (at t0 + its arrival, as hedged
    records it); its report comes a round trip after trio's clock reads the quote's arrival
    (t0 + (sent + latency), as the venue sleeps)."""
    p = best_pos[i]
    pos[i], decided[i] = p, best[i]
    sent[i] = 0.0 if p == 0 else p * delay[i]
    heapq.heappush(pending, (t0[i] + best[i], LATENCY, best[i]))
    return (t0[i] + best[i]) + trip[venue[p], i]


@njit(cache=True, nogil=True)
def adaptive(
    t0_open, think, clients, latency, answers, picks, fills, round_trip, alpha, timeout, learned_in
):  # fmt: skip
    """strategies.adaptive over every request: `picks` its random draws (sim.engines.scan),
    `fills[v, i]` whether venue v would fill request i's order, its EWMAs as carried in
    (`learned_in`, as `served` has them). Per request: the venue taken (-1: none) and its
    quote's latency; quote requests per venue; each request's start. Also the last idle
    instant (as `hedged` has it; 0 if none), and as of then its EWMAs and quote requests."""
    count, n = latency.shape
    fanout = picks.shape[1]
    t0 = np.full(n, np.nan)
    winner = np.full(n, -1, dtype=np.int64)
    decided = np.full(n, np.nan)
    chosen = np.full((n, fanout), -1, dtype=np.int64)
    requests = np.zeros(count, dtype=np.int64)
    seen, has_seen = learned_in[0].copy(), learned_in[1] > 0
    fill, has_fill = learned_in[2].copy(), learned_in[3] > 0
    idle, idle_learned, idle_requests = 0, np.zeros((4, count)), np.zeros(count, dtype=np.int64)
    left = np.empty(count, dtype=np.int64)
    points = [(0.0, 0, 0)]
    points.pop()
    _first_starts(points, t0_open, think, clients, n)
    pending = [(0.0, 0, 0, 0.0)]
    pending.pop()
    while points:
        now, i, step = heapq.heappop(points)
        _fold_stats(pending, now, seen, has_seen, fill, has_fill, alpha)
        ended = np.nan
        if step == 0:  # the request starts: choose, and see which quote comes first
            if clients == 0 and i and len(points) + len(pending) == 0:
                idle, idle_requests[:] = i, requests
                idle_learned[0], idle_learned[1] = seen, has_seen
                idle_learned[2], idle_learned[3] = fill, has_fill
            t0[i] = now
            _after(points, t0_open, think, clients, n, i, np.nan)
            _choose(picks[i], left, seen, has_seen, fill, has_fill, chosen[i])
            w, first = -1, np.inf
            for k in range(fanout):
                v = chosen[i, k]
                requests[v] += 1
                late = not answers[v, i] or latency[v, i] > timeout
                if not late and (latency[v, i] < first or (latency[v, i] == first and v < w)):
                    w, first = v, latency[v, i]
            if w >= 0:
                winner[i], decided[i] = w, first
                heapq.heappush(points, (now + (0.0 + first), i, 1))
            else:
                at = now + timeout
                for k in range(fanout):
                    heapq.heappush(pending, (at, chosen[i, k], SEEN, timeout))
                ended = at
        else:  # its first quote arrives: what each venue asked was seen to take
            w, first = winner[i], decided[i]
            for k in range(fanout):
                v = chosen[i, k]
                value = first
                if v != w:
                    value = max(first, seen[v] if has_seen[v] else 0.0)
                heapq.heappush(pending, (now, v, SEEN, value))
            ended = now + round_trip[w, i]
            heapq.heappush(pending, (ended, w, FILL, 1.0 if fills[w, i] else 0.0))
        if ended == ended:
            _after(points, t0_open, think, clients, n, i, ended)
    return winner, decided, requests, t0, idle, idle_learned, idle_requests


@njit(cache=True, nogil=True, inline="always")
def _fold_stats(pending, t, seen, has_seen, fill, has_fill, alpha):
    """adaptive's statistics as of `t`: its (time, venue, what, value) observations in
    `pending` before then folded into its EWMAs."""
    while pending and pending[0][0] < t:
        _, v, what, value = heapq.heappop(pending)
        if what == FILL:
            fill[v], has_fill[v] = _ewma(fill[v], has_fill[v], value, alpha), True
        else:
            seen[v], has_seen[v] = _ewma(seen[v], has_seen[v], value, alpha), True


@njit(cache=True, nogil=True, inline="always")
def _ewma(average, has, value, alpha):
    """adaptive's running `average` (of a venue's latency or fill, if it `has` one) with
    `value` in."""
    return value if not has else average + alpha * (value - average)


@njit(cache=True, nogil=True)
def _choose(picks, left, seen, has_seen, fill, has_fill, chosen):
    """adaptive's picks for one request (its draws `picks`, sim.engines.scan) by the venues'
    scores now, into `chosen`; `left`: room for every venue."""
    for k in range(left.size):
        left[k] = k
    m = left.size
    for k in range(chosen.size):
        a, b = picks[k, 0], picks[k, 1]
        j = a
        if b >= 0:
            sa, sb = (
                _score(left[a], seen, has_seen, fill, has_fill),
                _score(left[b], seen, has_seen, fill, has_fill),
            )
            if sb < sa or (sb == sa and left[b] < left[a]):
                j = b
        chosen[k] = left[j]
        left[j : m - 1] = left[j + 1 : m].copy()
        m -= 1


@njit(cache=True, nogil=True)
def _score(v, seen, has_seen, fill, has_fill):
    if not has_seen[v]:
        return 0.0
    rate = fill[v] if has_fill[v] else 1.0
    return seen[v] / rate if rate > 0 else np.inf


@njit(cache=True, nogil=True)
def chain(think, clients, has, decided, round_trip, ended, before):
    """A closed loop's starts and ends from each request's race, as its timing was decided:
    request i is sent when request i - clients has ended and its client has thought
    `think[i]` (the first `clients` after `before`: 0 at the run's start, or the ends of the
    requests before these). A race ends with its order's report, (start + decided) + round
    trip as trio's clock adds them (the venue taken wakes at the start plus its quote's
    arrival after it), or at start + `ended` without an order."""
    n = think.size
    t0, end = np.empty(n), np.empty(n)
    for i in range(n):
        t0[i] = before[i] + think[i] if i < clients else end[i - clients] + think[i]
        if has[i]:
            end[i] = (t0[i] + decided[i]) + round_trip[i]
        else:
            end[i] = t0[i] + ended[i]
    return t0, end


@njit(cache=True, nogil=True)
def served(
    kind, t0_open, think, clients, latency, answers, service, has_servers, capacity,
    propagates, trip, timeout, order, fixed, q, window, budget, hedges_max, picks, fills, alpha,
    want, ring_in, requests_in, hedges_in, learned_in, sums_in, starts_in,
):  # fmt: skip
    """Every request of the run by strategy `kind` through the venues' servers.

    Per (venue, request): the network `latency`, whether it `answers`, the `service` time
    (venues `has_servers`, with `capacity` servers each and `propagates` cancels) and the
    order round trip `trip`. An open loop starts on `t0_open`; a closed loop's `clients`
    send after `think`. HEDGED asks the venues in `order` after its delay (`fixed`, or the
    q-th percentile of the last `window` latencies), within `budget` and `hedges_max`;
    ADAPTIVE picks by `picks` (sim.engines.scan) and learns fills from `fills` with `alpha`.
    FIRST_K waits for `want` quotes.

    Returns per request its start, the venue taken (-1: none), the quote's arrival after
    the request, the engine time it was taken (trio's clock then) and when that venue was
    asked; per venue the quote requests; per (venue, request) each quote's latency after it
    was asked (infinity: never asked), the engine time it was priced at and how long after
    it was asked; per venue its busy time, queue wait summed, starts and last freeing, added
    up in the dispatcher's order; FIRST_K's (venue x request) whether each quote was taken
    (else none: no requests).

    A closed loop's first `clients` requests start at `starts_in` (a run's first: after their
    think times). A scan resumed at an idle instant starts from what was learned
    (hedged's ledger as `hedged` carries it, adaptive's EWMAs `learned_in`: latency seen,
    whether seen, fill, whether filled, per venue) and the busy time and queue wait added up
    (`sums_in`), idle venues. Also returned: the latencies hedged folded in, in order; the
    last idle instant (the request, from 1, before which every request has started, and
    before whose start every event of those has passed and been folded in, every venue idle:
    in a closed loop the one a request starts at while the others' clients think, when
    they started in order; 0 if none), and as of then hedged's counts (latencies folded,
    requests, hedges), adaptive's EWMAs, per venue the busy time and wait added up, starts,
    last freeing and quote requests, and a closed loop's next `clients` starts (of the
    request idle and those after it, one per client).
    """
    count, n = latency.shape
    if n > MASK:
        raise ValueError("served: more requests than an event's key holds")
    t0 = np.full(n, np.nan)
    winner = np.full(n, -1, dtype=np.int64)
    decided, took_at = np.full(n, np.nan), np.full(n, np.nan)
    sent_won = np.zeros(n)
    asked = np.zeros(count, dtype=np.int64)
    quote_latency = np.full((count, n), np.inf)
    priced_at = np.zeros((count, n))
    priced_after = np.zeros((count, n))
    busy_s, waited_s = sums_in[0].copy(), sums_in[1].copy()
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
    # FIRST_K: the quotes delivered to each race, and those it took
    delivered = np.zeros(n if kind == FIRST_K else 0, dtype=np.int64)
    got = np.zeros((count, n if kind == FIRST_K else 0), dtype=np.bool_)
    took = np.zeros((count, n if kind == FIRST_K else 0), dtype=np.bool_)
    awaited = min(want, count)
    line = np.empty(count, dtype=np.int64)
    # what the strategy has learned (hedged: its ledger; adaptive: its EWMAs)
    requests, hedged_count = requests_in, hedges_in
    kept = min(window, ring_in.size + n)
    recent, ordered = np.empty(max(kept, 1)), np.empty(max(kept, 1))
    ring, size = 0, ring_in.size
    recent[:size] = ring_in
    ordered[:size] = np.sort(ring_in)
    folded, logged = np.empty(n), 0
    seen, has_seen = learned_in[0].copy(), learned_in[1] > 0
    fill, has_fill = learned_in[2].copy(), learned_in[3] > 0
    racing_now, opened = 0, 0  # races on, jobs queued or in service (or on their way)
    idle, idle_counts = 0, (0, 0, 0)
    idle_learned, idle_sums = np.zeros((4, count)), np.zeros((5, count))
    # a closed loop's clients: each one's next start (request j's client: j % clients)
    next_start, idle_starts = np.zeros(max(clients, 1)), np.zeros(max(clients, 1))
    begun, top = 0, -1  # requests started so far, and the highest of them
    left = np.empty(count, dtype=np.int64)
    chosen = np.empty(picks.shape[1], dtype=np.int64)

    # the events, (time, _key(what, a, b)): a heap in `heap_t`, `heap_k` (`_push`, `_pop`)
    # arrays that never grow (numba would count references to them at each event), room for
    # every event the scan pushes (`_push` raises past it): a start a request; per venue asked
    # its arrival (or its quote, without servers), end of service, quote, the quote's wake-up
    # and a cancel, five at most (six counted); a deadline at the start and at each hedge (one
    # spare). Only the pages that the heap reaches are ever touched.
    asks = max(count, order.size)
    room = clients + n * (1 + 6 * asks + hedges_max + 2)
    heap_t, heap_k, heap_n = np.empty(room), np.empty(room, dtype=np.int64), 0
    ledger = [(0.0, 0, 0.0)]  # hedged's events: (time, what, value)
    ledger.pop()
    pending = [(0.0, 0, 0, 0.0)]  # adaptive's: (time, venue, what, value)
    pending.pop()
    if clients == 0:
        if n:
            heap_n = _push(heap_t, heap_k, heap_n, t0_open[0], _key(START, 0, 0))
    else:
        for i in range(min(clients, n)):
            next_start[i] = starts_in[i]
            heap_n = _push(heap_t, heap_k, heap_n, starts_in[i], _key(START, i, 0))
    # an open loop's timeouts but hedged's, each a race's start plus the same timeout, come in
    # the order the races start: a queue beside the heap of the other events (the timers of
    # races that ended long before would fill it), its head skipped once its race has ended
    queued_timers = clients == 0 and kind != HEDGED
    timers = np.empty(n if queued_timers else 0, dtype=np.int64)
    first_timer, timers_set = 0, 0
    now = -np.inf
    while True:
        while first_timer < timers_set and not racing[timers[first_timer]]:
            first_timer += 1  # its race has ended: it would do nothing
        timed = first_timer < timers_set
        timer, timer_key = np.inf, 0
        if timed:
            timer, timer_key = deadline[timers[first_timer]], _key(TIMER, timers[first_timer], 0)
        if (not heap_n or heap_t[0] > now) and (not timed or timer > now):
            for v in range(count):  # the instant is over but for the venues' starts
                if touched[v]:
                    touched[v] = False
                    while busy[v] < capacity[v] and head[v] >= 0:  # a server free, a job queued
                        i = head[v]
                        head[v] = behind[v, i]
                        if head[v] < 0:
                            tail[v] = -1
                        if job[v, i] != QUEUED:
                            continue  # dropped while queued
                        # its quote will reach its client at (t0 + sent) + total (venues.venue),
                        # priced when service ends (written out here, as the first asks below
                        # are: an inlined helper's arrays cost numba an atomic reference count
                        # each)
                        job[v, i] = SERVING
                        busy[v] += 1
                        started_at[v, i] = now
                        waited_s[v] += now - arrived_at[v, i]
                        started[v] += 1
                        if now + service[v, i] > now:
                            at, key = now + service[v, i], _key(COMPLETE, v, i)
                            heap_n = _push(heap_t, heap_k, heap_n, at, key)
                        else:  # ends as it starts: its server is free for the next at once,
                            # as trio's dispatcher handles the instant's completions again
                            job[v, i] = DONE
                            opened -= 1
                            busy[v] -= 1
                            last[v] = max(last[v], now)
                            busy_s[v] += service[v, i]
                        total = (latency[v, i] + (now - arrived_at[v, i])) + service[v, i]
                        quote_latency[v, i] = total
                        priced_at[v, i] = now + service[v, i]
                        priced_after[v, i] = total - 0.5 * latency[v, i]
                        if racing[i]:  # else its race has ended, and would never see it
                            at = max((t0[i] + sent[v, i]) + total, now)
                            heap_n = _push(heap_t, heap_k, heap_n, at, _key(DELIVER, i, v))
            if not heap_n and not timed:
                break
        if timed and (not heap_n or _earlier(timer, timer_key, heap_t[0], heap_k[0])):
            now, key = timer, timer_key
            first_timer += 1
        else:
            now, key, heap_n = _pop(heap_t, heap_k, heap_n)
        what, a, b = key >> 60, (key >> 30) & MASK, key & MASK
        if what >= COMPLETE:  # a venue's event: a, b the venue and the request
            touched[a] = True
            if what == COMPLETE:
                if job[a, b] == SERVING:
                    job[a, b] = DONE
                    opened -= 1
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
                opened -= 1
            elif job[a, b] == SERVING:  # or in service: its server is free
                job[a, b] = DROPPED
                opened -= 1
                busy[a] -= 1
                last[a] = max(last[a], now)
                busy_s[a] += now - started_at[a, b]
            continue
        i = a
        if what == START:
            t0[i] = now
            racing[i] = True
            if kind == HEDGED:
                ring, size, requests, hedged_count, logged = _fold_ledger(
                    ledger, now, recent, ordered, ring, size, window, requests, hedged_count,
                    folded, logged,
                )  # fmt: skip
            elif kind == ADAPTIVE:
                _fold_stats(pending, now, seen, has_seen, fill, has_fill, alpha)
            # idle: no race on, no job at a venue, nothing learned left to fold in
            quiet = racing_now == 0 and opened == 0 and len(ledger) + len(pending) == 0
            # and every request before `begun` ended; a closed loop's clients' next starts known
            if begun and top == begun - 1 and quiet and begun + clients <= n:
                idle, idle_counts = begun, (logged, requests, hedged_count)
                for j in range(begun, begun + clients):
                    idle_starts[j - begun] = next_start[j % clients]
                idle_learned[0], idle_learned[1] = seen, has_seen
                idle_learned[2], idle_learned[3] = fill, has_fill
                idle_sums[0], idle_sums[1] = busy_s, waited_s
                idle_sums[2], idle_sums[3], idle_sums[4] = started, last, asked
            begun, top = begun + 1, max(top, i)
            racing_now += 1
            if clients == 0 and i + 1 < n:
                heap_n = _push(heap_t, heap_k, heap_n, t0_open[i + 1], _key(START, i + 1, 0))
            if kind == HEDGED:
                heapq.heappush(ledger, (now, REQUEST, 0.0))
                delay[i] = fixed if fixed >= 0.0 else _percentile(ordered, size, q)
                hedges[i] = hedges_max if delay[i] == delay[i] else 0
            elif kind == ADAPTIVE:
                _choose(picks[i], left, seen, has_seen, fill, has_fill, chosen)
            # the venues asked at once (hedged: its first), as `_ask` asks them
            for k in range(1 if kind == HEDGED else chosen.size if kind == ADAPTIVE else count):
                v = order[0] if kind == HEDGED else chosen[k] if kind == ADAPTIVE else k
                asked[v] += 1
                sent[v, i] = 0.0
                if answers[v, i]:
                    half = 0.5 * latency[v, i]
                    if has_servers[v]:
                        job[v, i] = QUEUED
                        opened += 1
                        arrived_at[v, i] = t0[i] + half
                        heap_n = _push(heap_t, heap_k, heap_n, arrived_at[v, i], _key(ARRIVE, v, i))
                    else:
                        quote_latency[v, i] = latency[v, i]
                        priced_at[v, i], priced_after[v, i] = t0[i] + half, half
                        at = max(t0[i] + latency[v, i], now)
                        heap_n = _push(heap_t, heap_k, heap_n, at, _key(DELIVER, i, v))
            if kind == HEDGED:
                step[i], until[i] = 1, _until(1, hedges[i], delay[i], timeout)
                deadline[i] = at = t0[i] + until[i]
                heap_n = _push(heap_t, heap_k, heap_n, at, _key(TIMER, i, 1))
            else:
                if queued_timers:
                    until[i], deadline[i] = timeout, t0[i] + timeout
                    timers[timers_set] = i
                    timers_set += 1
                else:
                    step[i], until[i] = 0, _until(0, hedges[i], delay[i], timeout)
                    deadline[i] = at = t0[i] + until[i]
                    heap_n = _push(heap_t, heap_k, heap_n, at, _key(TIMER, i, 0))
            continue
        if not racing[i]:
            continue  # the race has ended: what comes for it now is never seen
        if what == DELIVER and kind == FIRST_K:  # the race wakes once it has `want`
            got[b, i] = True
            delivered[i] += 1
            if delivered[i] >= awaited and now < deadline[i]:
                heap_n = _push(heap_t, heap_k, heap_n, now, _key(WAKE, i, 0))
            continue
        if what == DELIVER:  # venue b's quote reaches the client
            arrival = sent[b, i] + quote_latency[b, i]
            if arrival < best[i] or (arrival == best[i] and b < best_v[i]):
                best[i], best_v[i] = arrival, b
            if now < deadline[i]:
                heap_n = _push(heap_t, heap_k, heap_n, now, _key(WAKE, i, 0))
            continue
        if what == TIMER and b != step[i]:
            continue  # a deadline the race has moved on from
        if kind == FIRST_K:  # its quotes taken (at its timeout, maybe none)
            _take(i, want, what == TIMER, timeout, got, sent, quote_latency, line, took, best,
                  best_v)  # fmt: skip
        elif what == TIMER and not best[i] <= until[i]:  # no quote taken yet
            if until[i] >= timeout:  # timed out: what arrived after it never counts
                best_v[i] = -1
            elif kind == HEDGED and step[i] <= hedges[i]:  # no quote yet: hedge, if allowed
                ring, size, requests, hedged_count, logged = _fold_ledger(
                    ledger, now, recent, ordered, ring, size, window, requests, hedged_count,
                    folded, logged,
                )  # fmt: skip
                s = step[i]
                if budget * requests - hedged_count < 1:
                    s = hedges[i] + 1  # no token: wait for a quote until the timeout
                else:
                    heapq.heappush(ledger, (now, HEDGE, 0.0))
                    at, ask = _ask(
                        order[s], i, s * delay[i], now, t0, latency, answers, has_servers, sent,
                        job, arrived_at, asked, quote_latency, priced_at, priced_after,
                    )  # fmt: skip
                    if ask >= 0:
                        heap_n = _push(heap_t, heap_k, heap_n, at, ask)
                    opened += job[order[s], i] == QUEUED
                    s += 1
                if best_v[i] < 0:
                    step[i], until[i] = s, _until(s, hedges[i], delay[i], timeout)
                    deadline[i] = at = t0[i] + until[i]
                    heap_n = _push(heap_t, heap_k, heap_n, at, _key(TIMER, i, s))
                    continue
            # else a quote delivered at the deadline, an ulp late after the request: taken now
        racing[i] = False
        racing_now -= 1
        w = best_v[i]
        for v in range(count):  # cancel what is still on its way
            if v != w and propagates[v] and (job[v, i] == QUEUED or job[v, i] == SERVING):
                if kind == FIRST_K and got[v, i]:
                    continue  # its task has delivered: nothing to cancel
                at = now + 0.5 * latency[v, i]
                heap_n = _push(heap_t, heap_k, heap_n, at, _key(CANCEL, v, i))
        ended = now
        if w >= 0:
            winner[i], decided[i], took_at[i], sent_won[i] = w, best[i], now, sent[w, i]
            ended = now + trip[w, i]
            if kind == HEDGED:
                heapq.heappush(ledger, (t0[i] + best[i], LATENCY, best[i]))
            elif kind == ADAPTIVE:
                at = t0[i] + best[i]
                _fold_stats(pending, at, seen, has_seen, fill, has_fill, alpha)
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
            j = i + clients
            next_start[j % clients] = ended + think[j]
            heap_n = _push(heap_t, heap_k, heap_n, next_start[j % clients], _key(START, j, 0))
    return (
        t0, winner, decided, took_at, sent_won, asked, quote_latency, priced_at, priced_after,
        busy_s, waited_s, started, last, folded[:logged], idle, idle_counts, idle_learned,
        idle_sums, idle_starts[:clients], took,
    )  # fmt: skip


@njit(cache=True, nogil=True, inline="always")
def _take(i, want, timed_out, timeout, got, sent, quote_latency, line, took, best, best_v):
    """FIRST_K's request i takes the first `want` quotes delivered to it, by (arrival after
    the request, venue), into `took` (at its timeout only those that arrived by it, as
    strategies.scatter's gather drops a quote delivered then but an ulp later): `best`,
    `best_v` the last taken's arrival and venue (-1: none taken)."""
    m = 0
    for v in range(got.shape[0]):
        if got[v, i] and (not timed_out or sent[v, i] + quote_latency[v, i] <= timeout):
            a, k = sent[v, i] + quote_latency[v, i], m  # insertion by (arrival, venue)
            while k > 0 and sent[line[k - 1], i] + quote_latency[line[k - 1], i] > a:
                line[k] = line[k - 1]
                k -= 1
            line[k] = v
            m += 1
    best[i], best_v[i] = np.inf, -1
    for k in range(min(want, m)):
        v = line[k]
        took[v, i] = True
        best[i], best_v[i] = sent[v, i] + quote_latency[v, i], v


@njit(cache=True, nogil=True, inline="always")
def _until(s, hedges, delay, timeout):
    """How long after its start a race waits for a quote until its s-th hedge (from 1) of
    `hedges`, `delay` apart, or past its hedges until the timeout, as strategies.scatter
    counts deadlines (its TIMER's at its start plus that)."""
    if 1 <= s <= hedges:
        return min(timeout, s * delay)
    return timeout


@njit(cache=True, nogil=True, inline="always")
def _ask(
    v, i, s, now, t0, latency, answers, has_servers, sent, job, arrived_at, asked, quote_latency,
    priced_at, priced_after,
):  # fmt: skip
    """Request i asks venue v, `s` after it (at `now`): through its servers, the request
    reaches the venue a half later (venues.venue); else the quote comes back at
    t0 + (s + latency), priced halfway. Returns the event that follows, (time, key), its key
    -1 for none (a venue that does not answer)."""
    asked[v] += 1
    sent[v, i] = s
    if not answers[v, i]:
        return 0.0, -1
    half = 0.5 * latency[v, i]
    if has_servers[v]:
        job[v, i] = QUEUED
        arrived_at[v, i] = (t0[i] + s) + half
        return arrived_at[v, i], _key(ARRIVE, v, i)
    quote_latency[v, i] = latency[v, i]
    priced_at[v, i] = (t0[i] + s) + half
    priced_after[v, i] = half
    return max(t0[i] + (s + latency[v, i]), now), _key(DELIVER, i, v)


@njit(cache=True, nogil=True, inline="always")
def _earlier(t, k, u, m):
    """Whether event (t, k) comes before (u, m), as the tuples compare."""
    return t < u if t != u else k < m


@njit(cache=True, nogil=True, inline="always")
def _push(times, keys, size, t, k):
    """`served`'s events, a binary min-heap by (time, key) of `size` in `times` and `keys`,
    with (t, k) in. Returns the new size. Raises rather than write past the arrays (numba
    does not check bounds): never, by `served`'s count of the pushes a request can make."""
    if size == times.size:
        raise RuntimeError("served: more events pending than counted")
    one, j = np.uint64(1), np.uint64(size)
    while j > 0:
        up = (j - one) >> one
        if not _earlier(t, k, times[up], keys[up]):
            break
        times[j], keys[j] = times[up], keys[up]
        j = up
    times[j], keys[j] = t, k
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def _pop(times, keys, size):
    """The first of `served`'s events (`_push`) taken out: (time, key, size left)."""
    t, k = times[0], keys[0]
    size -= 1
    last_t, last_k = times[size], keys[size]
    one, j, left = np.uint64(1), np.uint64(0), np.uint64(size)
    while True:
        down = (j << one) + one
        if down >= left:
            break
        if down + one < left and _earlier(
            times[down + one], keys[down + one], times[down], keys[down]
        ):
            down += one
        if not _earlier(times[down], keys[down], last_t, last_k):
            break
        times[j], keys[j] = times[down], keys[down]
        j = down
    times[j], keys[j] = last_t, last_k
    return t, k, size
