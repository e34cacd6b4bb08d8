"""What a summary in pieces adds up of one strategy's decided pieces (sim.measure.pieces._split):
the first k requests joined, and the rest kept as no more than the pieces after the cut (the
one that straddles it sliced), never as a view of everything joined."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.engines.fast import run_fast
from sim.measure.pieces import PER_REQUEST, _joined, _rows, _split
from sim.model.draws import draw
from sim.model.scenario import load


@pytest.fixture(scope="module")
def records():
    scenario = load("default").with_overrides(requests=40)
    strategy = scenario.strategies[0].strategy
    return run_fast(draw(scenario), strategy, venues=scenario.venues, mid=scenario.mid_path())


@pytest.mark.parametrize("k", [0, 5, 12, 13, 30, 40])
def test_the_first_k_requests_and_the_rest(records, k) -> None:
    pieces = [_owned(records, slice(a, b)) for a, b in [(0, 12), (12, 12), (12, 30), (30, 40)]]
    first, rest = _split(pieces, k)
    for name in PER_REQUEST:
        whole = getattr(records, name)
        got = [getattr(p, name) for p in first]
        assert np.array_equal(np.concatenate(got) if got else whole[:0], whole[:k], equal_nan=True)
        kept = [getattr(p, name) for p in rest]
        assert np.array_equal(np.concatenate(kept) if kept else whole[:0], whole[k:], True)
        for array in kept:  # a piece's own, or a view of the one that straddles the cut
            assert array.base is None or array.base.size <= 18  # not all 40 joined
    if first:
        assert _joined(first).decision_s.size == k


def _owned(records, rows: slice):
    """The requests `rows` of `records` as a piece of its own (its arrays copies, as a scan's
    settled pieces are)."""
    piece = _rows(records, rows)
    return dataclasses.replace(piece, **{n: getattr(piece, n).copy() for n in PER_REQUEST})
