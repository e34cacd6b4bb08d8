"""The event scan of venue servers (sim.engines.queues), compiled with numba and cached on disk.

Its own module, imported only when a run has venue servers: numba caches functions defined at
a module's top level, and loading it takes a while.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True)
def heap_less(t, key, i, j):
    return t[i] < t[j] or (t[i] == t[j] and key[i] < key[j])


@njit(cache=True)
def swap(t, key, job, i, j):
    t[i], t[j] = t[j], t[i]
    key[i], key[j] = key[j], key[i]
    job[i], job[j] = job[j], job[i]


@njit(cache=True)
def push(t, key, job, size, at, k, j):
    t[size], key[size], job[size] = at, k, j
    i = size
    while i > 0 and heap_less(t, key, i, (i - 1) // 2):
        swap(t, key, job, i, (i - 1) // 2)
        i = (i - 1) // 2
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
            return top, size
        swap(t, key, job, i, smallest)
        i = smallest


@njit(cache=True)
def scan(a, b, arrive, service, heard, request, capacity, start, spent, dropped, busy_seq,
         wait_seq, work, heap_times, heap_keys, heap_jobs):  # fmt: skip
    """Jobs a to b (in arrival order) through the servers, from idle: each one's start,
    service done and whether it was dropped; the order they added to busy time and to
    wait (into busy_seq and wait_seq from a); returns how many did each, and the last
    instant a server was freed. `work` and `heap_*` are room for b - a (not sliced: a view
    costs reference counting, per segment)."""
    cancelled = work  # the cancels, by (time heard, request)
    c = 0
    for j in range(a, b):
        start[j], spent[j], dropped[j] = np.nan, np.nan, False
        if heard[j] < math.inf:
            cancelled[c] = j
            c += 1
            i = c - 1  # insertion sort: they come nearly in order
            while i > 0 and (
                heard[cancelled[i - 1]] > heard[j]
                or (heard[cancelled[i - 1]] == heard[j] and request[cancelled[i - 1]] > request[j])
            ):
                cancelled[i] = cancelled[i - 1]
                i -= 1
            cancelled[i] = j
    heap_t, heap_key, heap_job = heap_times, heap_keys, heap_jobs
    size = 0
    arrived = head = a
    cancels = busy = nb = nw = 0
    last = 0.0
    while True:
        t = math.inf
        if size:
            t = heap_t[0]
        if arrived < b and arrive[arrived] < t:
            t = arrive[arrived]
        if cancels < c and heard[cancelled[cancels]] < t:
            t = heard[cancelled[cancels]]
        if t == math.inf:
            return nb, nw, last
        while size and heap_t[0] <= t:
            j, size = pop(heap_t, heap_key, heap_job, size)
            if not dropped[j]:
                busy -= 1
                last = max(last, t)
                spent[j] = service[j]
                busy_seq[a + nb] = j
                nb += 1
        while arrived < b and arrive[arrived] <= t:
            arrived += 1
        while cancels < c and heard[cancelled[cancels]] <= t:
            j = cancelled[cancels]
            cancels += 1
            if not math.isnan(spent[j]):
                continue  # done before the cancel came
            dropped[j] = True
            if math.isnan(start[j]):
                spent[j] = 0.0  # still queued: no work done (adds nothing)
            else:
                busy -= 1
                last = max(last, t)
                spent[j] = t - start[j]
                busy_seq[a + nb] = j
                nb += 1
        while busy < capacity and head < arrived:
            j = head
            head += 1
            if dropped[j]:
                continue
            busy += 1
            start[j] = t
            wait_seq[a + nw] = j
            nw += 1
            size = push(heap_t, heap_key, heap_job, size, t + service[j], request[j], j)


@njit(cache=True, nogil=True)
def totals(lo, counts, busy_seq, wait_seq, spent, start, arrive):
    """Busy time and wait added up in the order the scans did, segment after segment."""
    busy_s = waited_s = 0.0
    started = 0
    for s in range(lo.size):
        for i in range(counts[s, 0]):
            busy_s += spent[busy_seq[lo[s] + i]]
        for i in range(counts[s, 1]):
            j = wait_seq[lo[s] + i]
            waited_s += start[j] - arrive[j]
            started += 1
    return busy_s, waited_s, started


@njit(cache=True, nogil=True)
def arrival_order(t0, half, jobs):
    """The requests `jobs` marks (a venue's), in order of arrival t0 + half (ties: the lower
    request first). Arrivals come nearly in request order, so an insertion sort takes them in
    one pass; should they not, a stable merge sort."""
    n = t0.size
    order = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        if jobs[i]:
            order[k] = i
            k += 1
    order = order[:k]
    moves, limit = 0, 16 * k + 64
    for p in range(1, k):
        j = order[p]
        a = t0[j] + half[j]
        q = p
        while q > 0 and t0[order[q - 1]] + half[order[q - 1]] > a:
            order[q] = order[q - 1]
            q -= 1
        order[q] = j
        moves += p - q
        if moves > limit:  # far from sorted: sort them all at once instead
            order = np.sort(order)
            arrive = t0[order] + half[order]
            return order[np.argsort(arrive, kind="mergesort")]
    return order


@njit(cache=True, nogil=True)
def uncancelled(t0, half, network, service, jobs, capacity, latency, priced_at, priced_after):
    """One venue's servers without any cancel, from idle: its jobs (`jobs`, the requests it
    answers) in arrival order, each started as soon as a server is free and every job before
    it has started; its quotes into the rows `latency`, `priced_at`, `priced_after` (the
    other requests' too: the network alone). Returns the jobs in arrival order, their starts,
    and the busy time, wait, starts and last freeing added up as `scan` adds them (with one
    server, jobs start and end in arrival order: its recursion; else `scan` itself)."""
    n = t0.size
    for i in range(n):
        latency[i], priced_at[i], priced_after[i] = network[i], t0[i] + half[i], half[i]
    order = arrival_order(t0, half, jobs)
    k = order.size
    start = np.empty(k)
    busy_s = waited_s = last = 0.0
    if capacity == 1:
        free = -math.inf
        for p in range(k):
            j = order[p]
            arrive = t0[j] + half[j]
            start[p] = max(arrive, free)
            free = start[p] + service[j]
            busy_s += service[j]
            waited_s += start[p] - arrive
            last = max(last, free)
    else:
        arrive, served = np.empty(k), np.empty(k)
        for p in range(k):
            arrive[p], served[p] = t0[order[p]] + half[order[p]], service[order[p]]
        spent, dropped = np.empty(k), np.empty(k, np.bool_)
        busy_seq, wait_seq = np.empty(k, np.int64), np.empty(k, np.int64)
        work, keys, jobs_at = np.empty(k, np.int64), np.empty(k, np.int64), np.empty(k, np.int64)
        nb, nw, last = scan(
            0, k, arrive, served, np.full(k, math.inf), order, capacity, start, spent, dropped,
            busy_seq, wait_seq, work, np.empty(k), keys, jobs_at,
        )  # fmt: skip
        for i in range(nb):
            busy_s += spent[busy_seq[i]]
        for i in range(nw):
            waited_s += start[wait_seq[i]] - arrive[wait_seq[i]]
    for p in range(k):
        j = order[p]
        total = (network[j] + (start[p] - (t0[j] + half[j]))) + service[j]
        latency[j], priced_at[j], priced_after[j] = total, start[p] + service[j], total - half[j]
    return order, start, busy_s, waited_s, k, last


@njit(cache=True, nogil=True)
def cancel_round(cols, exit_s, t0, half, network, latency, priced_at, priced_after, position,
                 segment, lo, hi, arrive, service, heard, request, capacity, start, spent,
                 dropped, busy_seq, wait_seq, counts, last, dirty, changed):  # fmt: skip
    """One round of a venue's cancels (sim.engines.queues.Queues.settle), for the requests
    `cols`, whose races ended their gathering `exit_s` after them: a quote still on its way
    then (by the row `latency`) is cancelled, heard a network half after the race ended. The
    segments whose cancels changed are scanned again, and their jobs' quotes written into the
    rows; the requests whose quote (latency or pricing instant) moved go into `changed`.
    Returns (cancels that changed, requests changed), or (-1 - s, 0) for a segment s that
    ran into the next (a bug). `dirty`: room for a flag per segment, all False."""
    moved = 0
    picked = np.empty(cols.size, np.int64)
    for i in cols:
        p = position[i]
        if p < 0:
            continue
        ended = t0[i] + exit_s[i]  # the clock when the gather left
        h = ended + half[i] if t0[i] + latency[i] > ended else math.inf
        if heard[p] != h:
            # a cancel heard once the job is done, before and now, changes nothing: its
            # segment's scan stands (at one instant, a cancel comes after the job ends and
            # before it starts)
            first = min(heard[p], h)
            done = not dropped[p] and start[p] < first and start[p] + service[p] <= first
            heard[p] = h
            moved += 1
            s = segment[p]
            if done:
                picked[moved - 1] = -1
            elif not dirty[s]:
                dirty[s] = True
                picked[moved - 1] = s
            else:
                picked[moved - 1] = -1
    k = arrive.size
    work, keys, jobs = np.empty(k, np.int64), np.empty(k, np.int64), np.empty(k, np.int64)
    times = np.empty(k)
    c = 0
    for s in picked[:moved]:  # in any order: segments are apart
        if s < 0:
            continue
        dirty[s] = False
        a, b = lo[s], hi[s]
        nb, nw, end = scan(
            a, b, arrive, service, heard, request, capacity, start, spent, dropped,
            busy_seq, wait_seq, work, times, keys, jobs,
        )  # fmt: skip
        counts[s, 0], counts[s, 1], last[s] = nb, nw, end
        if b < k and end >= arrive[b]:
            return -1 - s, 0
        for p in range(a, b):
            r = request[p]
            if dropped[p]:
                total, at, after = math.inf, t0[r], 0.0
            else:
                total = (network[r] + (start[p] - arrive[p])) + service[p]
                at, after = start[p] + service[p], total - half[r]
            if total != latency[r] or at != priced_at[r]:
                changed[c] = r
                c += 1
            latency[r], priced_at[r], priced_after[r] = total, at, after
    return moved, c


@njit(cache=True, nogil=True)
def segmented(order, start, t0, half, service, capacity):
    """A venue's scan state without cancels, from `uncancelled`'s jobs in arrival order and
    their starts: per job its arrival, service, start, service done, drop and cancel heard;
    per request its job (-1: none); the order jobs added to busy time and wait (with one
    server, theirs; else the event scan's); the segments (runs of jobs that keep a server
    busy: each one starts before every job before it has finished) as bounds `lo`, `hi`, the
    segment of each job, and per segment how many added busy time and wait and its last
    freeing."""
    k, n = order.size, t0.size
    arrive, served = np.empty(k), np.empty(k)
    position = np.full(n, -1, np.int64)
    for p in range(k):
        j = order[p]
        arrive[p], served[p], position[j] = t0[j] + half[j], service[j], p
    start, spent = start.copy(), served.copy()
    dropped, heard = np.zeros(k, np.bool_), np.full(k, math.inf)
    busy_seq, wait_seq = np.arange(k), np.arange(k)
    if capacity != 1:  # completions come out of order: as the event scan takes them
        work, keys, jobs = np.empty(k, np.int64), np.empty(k, np.int64), np.empty(k, np.int64)
        scan(
            0, k, arrive, served, heard, order, capacity, start, spent, dropped, busy_seq,
            wait_seq, work, np.empty(k), keys, jobs,
        )  # fmt: skip
    lo, segment, last = np.empty(k, np.int64), np.empty(k, np.int64), np.empty(k)
    count, end = 0, -math.inf
    for p in range(k):
        finish = start[p] + served[p]
        if p == 0 or end < arrive[p]:  # every job before has finished: a new segment
            lo[count], last[count] = p, finish
            count += 1
        end = max(end, finish)
        last[count - 1] = max(last[count - 1], finish)
        segment[p] = count - 1
    lo, last = lo[:count].copy(), last[:count].copy()
    hi = np.empty(count, np.int64)
    hi[: count - 1], hi[count - 1 :] = lo[1:], k
    counts = np.empty((count, 2), np.int64)
    for s in range(count):
        counts[s, 0] = counts[s, 1] = hi[s] - lo[s]
    return (arrive, served, position, start, spent, dropped, heard, busy_seq, wait_seq, lo, hi,
            segment, counts, last)  # fmt: skip
