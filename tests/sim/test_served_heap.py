"""served's event heap (sim.engines.scan_kernels._push, _pop) gives events back in the order
the (time, key) tuples sort, ties and equal events included."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from sim.engines import scan_kernels


@njit(cache=False)
def _drain(times_in, keys_in, pops_between):
    """Push each (time, key) in turn, popping `pops_between[j]` after the j-th push, then
    pop the rest: the pops in order."""
    n = times_in.size
    times, keys, size = np.empty(n), np.empty(n, dtype=np.int64), 0
    out_t, out_k, m = np.empty(n), np.empty(n, dtype=np.int64), 0
    for j in range(n):
        size = scan_kernels._push(times, keys, size, times_in[j], keys_in[j])
        for _ in range(min(pops_between[j], size)):
            out_t[m], out_k[m], size = scan_kernels._pop(times, keys, size)
            m += 1
    while size:
        out_t[m], out_k[m], size = scan_kernels._pop(times, keys, size)
        m += 1
    return out_t, out_k


def _reference(times_in, keys_in, pops_between):
    import heapq

    heap, out = [], []
    for t, k, p in zip(times_in.tolist(), keys_in.tolist(), pops_between.tolist(), strict=True):
        heapq.heappush(heap, (t, k))
        for _ in range(min(p, len(heap))):
            out.append(heapq.heappop(heap))
    while heap:
        out.append(heapq.heappop(heap))
    return out


def test_the_heap_pops_as_heapq_does() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 17, 500):
        times = rng.integers(0, 6, n) * 0.25  # few distinct times: many ties
        keys = rng.integers(0, 4, n).astype(np.int64) << 60 | rng.integers(0, 5, n)
        pops = rng.integers(0, 3, n)
        got_t, got_k = _drain(times, keys, pops)
        assert list(zip(got_t.tolist(), got_k.tolist(), strict=True)) == _reference(
            times, keys, pops
        )


def test_a_push_past_the_arrays_raises() -> None:
    """numba checks no bounds: a heap that is full refuses the next event."""
    times, keys = np.empty(2), np.empty(2, dtype=np.int64)
    size = scan_kernels._push(times, keys, 0, 1.0, 5)
    size = scan_kernels._push(times, keys, size, 0.5, 7)
    assert size == 2 and times[0] == 0.5
    with pytest.raises(RuntimeError, match="more events pending than counted"):
        scan_kernels._push(times, keys, size, 0.25, 1)
