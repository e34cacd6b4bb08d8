"""split: legs across venues, best price first, and what the engine makes of them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.engines.records import OUTCOMES
from sim.measure.run import run
from strategies import Split
from tests.helpers.fakes import decide, venues
from tests.helpers.scenarios import build_scenario


async def test_legs_go_best_price_first_until_the_size_is_covered(autojump_clock):
    vs = venues(1.0, 2.0, 3.0, 0.5, prices=(100.1, 100.0, 100.2, 100.4))
    for v, size in zip(vs, (1.0, 1.5, 5.0, 5.0), strict=True):
        v.size = size
    legs, _ = await decide(Split(), vs, size=3.0)
    assert [(leg.quote.venue, leg.size) for leg in legs] == [(1, 1.5), (0, 1.0), (2, 0.5)]


async def test_a_seller_sells_to_the_highest_bids_first(autojump_clock):
    vs = venues(1.0, 2.0, prices=(99.9, 100.0))
    for v in vs:
        v.size = 1.0
    legs, _ = await decide(Split(), vs, side=-1, size=2.0)
    assert [leg.quote.venue for leg in legs] == [1, 0]


def scenario(size: float, strategies: list[dict], **market):
    ladders = {"a": 1.0, "b": 2.0, "c": 3.0}  # each: 1 unit at s, 1 more at 2s (full spread)
    venues = [
        {
            "name": name,
            "latency": {"dist": "exponential", "mean_ms": 1},
            "depth": [{"size": 1, "spread_bps": s}, {"size": 1, "spread_bps": 2 * s}],
            **({"last_look": {"hold_ms": 1, "tolerance_bps": 0}} if market and name == "a" else {}),
        }
        for name, s in ladders.items()
    ]
    return build_scenario(
        venues, strategies, seed=3, requests=1000, market=market, order={"size": size}, name="split"
    )


def test_an_order_larger_than_any_venue_fills_across_them():
    result = run(scenario(3.0, [{"kind": "split"}, {"kind": "best_price"}]))
    split, best = (result.summary["strategies"][k] for k in ("split", "best_price"))
    assert best["fill_rate"] == 0.0 and best["reject_rate"]["no_liquidity"] == 1.0
    assert split["fill_rate"] == 1.0
    # Venue a quotes 3 units as the walk of its 2: (1*1 + 1*2)/2 = 1.5 bps full spread, and
    # fills 2 at half that; venue b, quoting 3 bps full for its 2, fills the last unit at 1.5
    # bps half spread: (2 * 0.75 + 1 * 1.5) / 3 = 1.0 bps, exactly, with a still market.
    records = result.records("split")
    assert records["orders"].tolist() == [2] * 1000
    np.testing.assert_allclose(
        (records["price"] - 100.0) / 100.0 * 1e4 * records["side"], 1.0, atol=1e-9
    )


def test_legs_that_cannot_cover_the_size_are_no_liquidity():
    result = run(scenario(7.0, [{"kind": "split"}]))  # 6 units of depth in all
    records = result.records("split")
    assert (records["outcome"] == OUTCOMES.index("no_liquidity")).all()
    assert records["orders"].tolist() == [3] * 1000  # every leg filled, still short


def test_rejected_legs_are_re_raced_for_what_is_left():
    strategies = [{"kind": "split"}, {"kind": "split", "name": "retrying", "max_retries": 3}]
    result = run(scenario(3.0, strategies, volatility_bps=30.0, updates_per_s=5000))
    once, retrying = (result.summary["strategies"][k] for k in ("split", "retrying"))
    # Venue a rejects its leg when the mid moved against it during the hold: about half the
    # time with zero tolerance. Retries re-race for the rest.
    assert 0.3 < once["fill_rate"] < 0.8
    assert retrying["fill_rate"] > once["fill_rate"] + 0.2
    assert result.records("retrying")["orders"].max() > 2
    assert retrying["reject_rate"]["price_moved"] > 0


@pytest.mark.parametrize("size", [1.0, 2.0])
def test_a_size_one_venue_can_fill_is_one_leg(size):
    records = run(scenario(size, [{"kind": "split"}])).records("split")
    assert records["orders"].tolist() == [1] * 1000


def test_one_leg_smaller_than_the_order_is_ordered_at_its_own_size():
    # One venue of depth 2 for an order of 3: one leg of 2, filled; 1 left, no_liquidity.
    data = scenario(3.0, [{"kind": "split"}])
    data = dataclasses.replace(data, venues=data.venues[:1])
    records = run(data).records("split")
    assert (records["outcome"] == OUTCOMES.index("no_liquidity")).all()
    assert (records["filled_size"] == 2.0).all() and (records["orders"] == 1).all()
    summary = run(data).summary["strategies"]["split"]
    assert summary["reject_rate"]["no_liquidity"] == 0.0  # the venue filled what it was asked


def test_a_strategy_hears_of_every_order_one_leg_or_several(monkeypatch):
    heard = []
    monkeypatch.setattr(
        Split, "observe_report", lambda self, report, at: heard.append(report), raising=False
    )
    run(scenario(2.0, [{"kind": "split"}]))  # one leg each: venue a has depth 2
    run(scenario(3.0, [{"kind": "split"}]))  # two legs each
    assert len(heard) == 1000 + 2000
