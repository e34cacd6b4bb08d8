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


@njit(cache=True)
def rescan(segments, lo, hi, arrive, service, heard, request, capacity, start, spent,
           dropped, busy_seq, wait_seq, counts, last):  # fmt: skip
    """Scan `segments`; the first that ends after the next begins (else -1)."""
    k = arrive.size
    work, heap_keys, heap_jobs = (
        np.empty(k, np.int64),
        np.empty(k, np.int64),
        np.empty(k, np.int64),
    )
    heap_times = np.empty(k)
    for s in segments:
        a, b = lo[s], hi[s]
        nb, nw, end = scan(
            a, b, arrive, service, heard, request, capacity, start, spent, dropped,
            busy_seq, wait_seq, work, heap_times, heap_keys, heap_jobs,
        )  # fmt: skip
        counts[s, 0], counts[s, 1], last[s] = nb, nw, end
        if b < arrive.size and end >= arrive[b]:
            return s
    return -1


@njit(cache=True)
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
