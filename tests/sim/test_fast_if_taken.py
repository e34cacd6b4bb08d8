"""Adaptive's verdicts `if_taken` where only depth can reject (no last look, no quote time to
live): read from the venues' depth alone, the same booleans as pricing and judging every
venue's order (sim.engines.fast._judged_fills)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engines.fast import Prepared, _depth_only, _if_taken, _judged_fills
from sim.model.draws import draw
from sim.model.scenario import parse


def scenario(size: float, last_look: bool = False):
    """Three venues, two with shallow depth, one answering only sometimes."""
    venues = [
        {"name": "deep", "latency": {"dist": "exponential", "mean_ms": 0.5}},
        {
            "name": "shallow",
            "latency": {"dist": "exponential", "mean_ms": 0.4},
            "depth": [{"size": 1.0, "spread_bps": 1.0}],
        },
        {
            "name": "sometimes",
            "latency": {"dist": "exponential", "mean_ms": 0.3},
            "depth": [{"size": 0.5, "spread_bps": 1.0}, {"size": 1.5, "spread_bps": 2.0}],
            "fail_prob": 0.4,
        },
    ]
    if last_look:
        venues[0]["last_look"] = {"hold_ms": 0.1, "tolerance_bps": 0.5}
    return parse(
        {
            "arrivals": {"process": "poisson", "rate_per_s": 500.0},
            "order": {"size": size},
            "market": {"volatility_bps": 40.0, "updates_per_s": 1000},
            "venues": venues,
            "strategies": [{"kind": "adaptive", "timeout_ms": 5.0}],
        },
        default_name="if-taken",
    ).with_overrides(requests=3000)


@pytest.mark.parametrize("size", [0.4, 1.0, 1.2, 2.0, 2.5])
def test_depth_alone_gives_the_judged_verdicts(size: float) -> None:
    s = scenario(size)
    draws, mid = draw(s), s.mid_path()
    prepared = Prepared(draws, mid, s.venues)
    judged = _judged_fills(prepared, s.venues, mid, size, 5e-3)
    fast = _depth_only(prepared, s.venues, size)
    assert fast.dtype == judged.dtype and fast.shape == judged.shape == (3, 3000)
    np.testing.assert_array_equal(fast, judged)
    np.testing.assert_array_equal(_if_taken(prepared, s.venues, mid, size, 5e-3), judged)


def test_the_sizes_make_a_mix_of_verdicts() -> None:
    """The cases above are not all fills: a size past a venue's depth is refused there, and a
    venue that did not answer reads the first venue's verdict."""
    s = scenario(2.5)
    prepared = Prepared(draw(s), s.mid_path(), s.venues)
    fills, answered = _depth_only(prepared, s.venues, 2.5), prepared.answers
    assert fills[0].all() and not fills[1][answered[1]].any()
    assert not fills[2][answered[2]].any() and fills[2][~answered[2]].all()
    assert (~answered[2]).any()


def test_last_look_is_judged() -> None:
    """With last look, verdicts depend on the market: the orders are priced and judged."""
    s = scenario(0.4, last_look=True)
    draws, mid = draw(s), s.mid_path()
    prepared = Prepared(draws, mid, s.venues)
    judged = _judged_fills(prepared, s.venues, mid, 0.4, 5e-3)
    np.testing.assert_array_equal(_if_taken(prepared, s.venues, mid, 0.4, 5e-3), judged)
    assert not judged[0].all()  # some refused by last look, which depth alone would fill
