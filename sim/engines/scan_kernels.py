"""The scans of sim.engines.scan, compiled with numba: one pass over a run's decision points in
time order, each reading only events strictly before it (folded from a heap, in the order
strategies.past_events sorts them). Imported only by the scans, so that a run that needs none
never loads numba.

Decision points are a heap of (time, request, step). An open loop pushes request i + 1's start
when request i starts (arrivals are sorted); a closed loop (`clients` > 0) pushes request
i + clients's start when request i ends, at the end plus its client's think time, as the trio
engine's client does.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from numba import njit

HEDGE, LATENCY, REQUEST = 0, 1, 2  # hedged's events, sorted as "hedge" < "latency" < "request"
FILL, SEEN = 0, 1  # adaptive's, sorted as "fill" < "latency"


@njit(cache=True)
def _first_starts(points, t0, think, clients, n):
    if clients == 0:
        if n:
            heapq.heappush(points, (t0[0], 0, 0))
    else:
        for i in range(min(clients, n)):
            heapq.heappush(points, (0.0 + think[i], i, 0))


@njit(cache=True)
def _after(points, t0, think, clients, n, i, ended):
    """The next start due once request i has started (open loop: i + 1, `ended` NaN) or
    ended at `ended` (closed loop: i + clients, after its client's think time)."""
    if clients == 0:
        if ended != ended and i + 1 < n:
            heapq.heappush(points, (t0[i + 1], i + 1, 0))
    elif ended == ended and i + clients < n:
        heapq.heappush(points, (ended + think[i + clients], i + clients, 0))


@njit(cache=True)
def hedged(
    t0_open, think, clients, latency, answers, venue, trip, fixed, q, window, budget,
    hedges_max, timeout,
):  # fmt: skip
    """strategies.hedged over every request: `latency`/`answers` rows in the strategy's venue
    order (`venue[k]`: the index of the k-th), `round_trip[v, i]` venue v's order round trip
    (closed loops). Per request: the position chosen (-1: none), its arrival after the request,
    when it was asked, how many venues were asked, and its start."""
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
    requests, hedged_count = 0, 0
    kept = min(window, n)  # one latency a request at most: a window of 1e9 needs no 8 GB
    recent = np.empty(kept)  # a ring of the last `window` latencies, oldest at `head`
    ordered = np.empty(kept)  # the same, sorted
    head, size = 0, 0
    while points:
        now, i, step = heapq.heappop(points)
        head, size, requests, hedged_count = fold_ledger(
            pending, now, recent, ordered, head, size, window, requests, hedged_count
        )
        if step == 0:  # the request starts
            t0[i] = now
            _after(points, t0_open, think, clients, n, i, np.nan)
            heapq.heappush(pending, (now, REQUEST, 0.0))
            if fixed >= 0.0:
                delay[i] = fixed
            else:
                delay[i] = percentile(ordered, size, q)
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
    return pos, decided, sent, asked, t0


@njit(cache=True)
def fold_ledger(pending, now, recent, ordered, head, size, window, requests, hedges):
    """hedged's ledger as of `now`: its (time, what, value) events in `pending` before then
    folded into its window of latencies (`_remember`) and its counts of requests and hedges.
    Returns (head, size, requests, hedges)."""
    while pending and pending[0][0] < now:
        _, what, value = heapq.heappop(pending)
        if what == HEDGE:
            hedges += 1
        elif what == REQUEST:
            requests += 1
        else:
            head, size = _remember(recent, ordered, head, size, window, value)
    return head, size, requests, hedges


@njit(cache=True)
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


@njit(cache=True)
def percentile(ordered, size, q):
    """hedged's delay: the q-th percentile of the `size` latencies in `ordered` (numpy's
    "higher"), NaN before strategies.hedged.WARM_UP of them."""
    if size < 20:
        return np.nan
    return ordered[math.ceil((size - 1) * q / 100)]


@njit(cache=True)
def _replace(ordered, size, old, value):
    """Sorted `ordered[:size]` with one `old` taken out and `value` put in, moving only the
    values between the two."""
    k = np.searchsorted(ordered[:size], old)
    while k + 1 < size and ordered[k + 1] < value:
        ordered[k] = ordered[k + 1]
        k += 1
    while k > 0 and ordered[k - 1] > value:
        ordered[k] = ordered[k - 1]
        k -= 1
    ordered[k] = value


@njit(cache=True)
def _won(i, t0, best, best_pos, delay, pos, decided, sent, pending, latency, venue, trip):
    """Request i takes its best quote: the latency observed (at t0 + its arrival, as hedged
    records it); its report comes a round trip after trio's clock reads the quote's arrival
    (t0 + (sent + latency), as the venue sleeps)."""
    p = best_pos[i]
    pos[i], decided[i] = p, best[i]
    sent[i] = 0.0 if p == 0 else p * delay[i]
    heapq.heappush(pending, (t0[i] + best[i], LATENCY, best[i]))
    return (t0[i] + best[i]) + trip[venue[p], i]


@njit(cache=True)
def adaptive(t0_open, think, clients, latency, answers, picks, fills, round_trip, alpha, timeout):
    """strategies.adaptive over every request: `picks` its random draws (sim.engines.scan),
    `fills[v, i]` whether venue v would fill request i's order. Per request: the venue taken
    (-1: none) and its quote's latency; quote requests per venue; each request's start."""
    count, n = latency.shape
    fanout = picks.shape[1]
    t0 = np.full(n, np.nan)
    winner = np.full(n, -1, dtype=np.int64)
    decided = np.full(n, np.nan)
    chosen = np.full((n, fanout), -1, dtype=np.int64)
    requests = np.zeros(count, dtype=np.int64)
    seen, has_seen = np.zeros(count), np.zeros(count, dtype=np.bool_)
    fill, has_fill = np.zeros(count), np.zeros(count, dtype=np.bool_)
    left = np.empty(count, dtype=np.int64)
    points = [(0.0, 0, 0)]
    points.pop()
    _first_starts(points, t0_open, think, clients, n)
    pending = [(0.0, 0, 0, 0.0)]
    pending.pop()
    while points:
        now, i, step = heapq.heappop(points)
        fold_stats(pending, now, seen, has_seen, fill, has_fill, alpha)
        ended = np.nan
        if step == 0:  # the request starts: choose, and see which quote comes first
            t0[i] = now
            _after(points, t0_open, think, clients, n, i, np.nan)
            choose(picks[i], left, seen, has_seen, fill, has_fill, chosen[i])
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
    return winner, decided, requests, t0


@njit(cache=True)
def fold_stats(pending, t, seen, has_seen, fill, has_fill, alpha):
    """adaptive's statistics as of `t`: its (time, venue, what, value) observations in
    `pending` before then folded into its EWMAs."""
    while pending and pending[0][0] < t:
        _, v, what, value = heapq.heappop(pending)
        if what == FILL:
            _ewma(fill, has_fill, v, value, alpha)
        else:
            _ewma(seen, has_seen, v, value, alpha)


@njit(cache=True)
def _ewma(table, has, v, value, alpha):
    """adaptive's running average of venue v's `table` (latency or fill) with `value` in."""
    table[v] = value if not has[v] else table[v] + alpha * (value - table[v])
    has[v] = True


@njit(cache=True)
def choose(picks, left, seen, has_seen, fill, has_fill, chosen):
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


@njit(cache=True)
def _score(v, seen, has_seen, fill, has_fill):
    if not has_seen[v]:
        return 0.0
    rate = fill[v] if has_fill[v] else 1.0
    return seen[v] / rate if rate > 0 else np.inf


@njit(cache=True)
def chain(think, clients, has, decided, round_trip, ended):
    """A closed loop's starts from each request's race, as its timing was decided: request i
    is sent when request i - clients has ended and its client has thought `think[i]`. A race
    ends with its order's report, (start + decided) + round trip as trio's clock adds them
    (the venue taken wakes at the start plus its quote's arrival after it), or at start +
    `ended` without an order."""
    n = think.size
    t0, end = np.empty(n), np.empty(n)
    for i in range(n):
        t0[i] = 0.0 + think[i] if i < clients else end[i - clients] + think[i]
        if has[i]:
            end[i] = (t0[i] + decided[i]) + round_trip[i]
        else:
            end[i] = t0[i] + ended[i]
    return t0
