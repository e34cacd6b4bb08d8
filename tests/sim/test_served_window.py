"""hedged's window of latencies in the scans (sim.engines.scan_kernels._remember, _replace):
kept sorted as the latencies come and go, ties, ends and a latency replacing its equal
included, against the last `window` of them sorted."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engines import scan_kernels


@pytest.mark.parametrize("window", [1, 2, 7, 50])
def test_the_window_stays_the_last_latencies_sorted(window: int) -> None:
    rng = np.random.default_rng(window)
    # few distinct values, so that ties, and a value replacing its equal, are common
    values = rng.integers(0, 9, size=400).astype(np.float64) * 0.5
    recent, ordered = np.empty(window), np.empty(window)
    head, size = 0, 0
    for j, value in enumerate(values):
        head, size = scan_kernels._remember(recent, ordered, head, size, window, value)
        expected = np.sort(values[max(0, j + 1 - window) : j + 1])
        assert size == expected.size
        np.testing.assert_array_equal(ordered[:size], expected)
        oldest_first = np.roll(recent[:size], -head) if size == window else recent[:size]
        np.testing.assert_array_equal(oldest_first, values[j + 1 - size : j + 1])


def test_a_replace_at_either_end_moves_every_value_between() -> None:
    for old, value in [(1.0, 9.0), (9.0, 1.0), (1.0, 0.5), (9.0, 9.5), (4.0, 4.0)]:
        ordered = np.array([1.0, 2.0, 4.0, 4.0, 7.0, 9.0])
        expected = list(ordered)
        expected.remove(old)
        scan_kernels._replace(ordered, ordered.size, old, value)
        np.testing.assert_array_equal(ordered, np.sort([*expected, value]))
