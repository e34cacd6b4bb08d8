"""A summary in pieces decides its groups of strategies side by side (sim.measure.pieces): each
chunk's scans run at once in threads of their own, and the summary is the run's, byte for byte;
on a market that moves they take turns in the calling thread.

The scans are made to meet at a barrier, so that the test fails unless they really overlap
(a barrier that is never met breaks after its timeout: no timing is measured).
"""

from __future__ import annotations

import dataclasses
import threading

import pytest

import sim.measure.pieces as pieces_module
from sim.measure.run import run, summary
from sim.model.market import MarketSpec
from sim.model.scenario import load
from sim.report.atomic import summary_json
from venues.pricing import Level

# overload's groups: the rules over arrays on one first_wins scan, hedged, adaptive
GROUPS = 3


@pytest.fixture
def scans(monkeypatch) -> list[str]:
    """Pieces of 100 requests; the name of the thread of each scan, in the order they began."""
    threads: list[str] = []
    lock = threading.Lock()
    scanned = pieces_module.resumed

    def noting(draws, strategy, **kw):
        with lock:
            threads.append(threading.current_thread().name)
        return scanned(draws, strategy, **kw)

    monkeypatch.setattr(pieces_module, "STEP", 100)
    monkeypatch.setattr(pieces_module, "resumed", noting)
    return threads


def same(scenario) -> None:
    """The summary in pieces is the run's decided at once, byte for byte (but the engine)."""
    streamed, whole = summary(scenario, engine="fast"), run(scenario, engine="fast").summary
    streamed.pop("engine"), whole.pop("engine")
    assert summary_json(streamed) == summary_json(whole)


def test_the_groups_scan_side_by_side_and_sum_up_as_the_run(monkeypatch, scans) -> None:
    """Every group's first scan waits at a barrier for the others: met only if all three
    run at once. Decided side by side, in pieces, the summary is the run's."""
    met = threading.Barrier(GROUPS, timeout=60)
    first: set[int] = set()
    noting = pieces_module.resumed

    def meeting(draws, strategy, **kw):
        if id(strategy) not in first:
            first.add(id(strategy))
            met.wait()  # a BrokenBarrierError here: the groups' scans did not overlap
        return noting(draws, strategy, **kw)

    monkeypatch.setattr(pieces_module, "resumed", meeting)
    same(load("overload").with_overrides(requests=1500))
    assert len(set(scans)) == GROUPS
    assert all(name.startswith("pieces") for name in scans)
    assert len(scans) > 10 * GROUPS  # many pieces, each group's cut at its own instants


def test_on_a_moving_market_the_groups_take_turns(scans) -> None:
    """Only the thread that made the market path may extend it: the scans stay in it."""
    scenario = load("overload").with_overrides(requests=600)
    scenario = dataclasses.replace(scenario, market=MarketSpec(volatility_bps=50.0))
    same(scenario)
    assert set(scans) == {threading.current_thread().name}


def test_a_group_that_fails_fails_the_summary(monkeypatch, scans) -> None:
    """An error in one group's scan reaches the caller, the others' threads ended."""
    noting = pieces_module.resumed

    def failing(draws, strategy, **kw):
        if strategy.kind == "hedged":
            raise RuntimeError("hedged failed")
        return noting(draws, strategy, **kw)

    monkeypatch.setattr(pieces_module, "resumed", failing)
    with pytest.raises(RuntimeError, match="hedged failed"):
        summary(load("overload").with_overrides(requests=300), engine="fast")
    assert not [t for t in threading.enumerate() if t.name.startswith("pieces")]


@pytest.mark.parametrize("fanout", [2, 4])
def test_a_group_sharing_servers_and_depth_sums_up_as_the_run(scans, fanout: int) -> None:
    """Shallow depth (adaptive's verdicts read from it alone) and adaptive asking several of
    the servers' venues: each group's strategies share one Prepared and the venues' load is
    the whole run's, not each piece's added up."""
    scenario = load("overload").with_overrides(requests=700)
    shallow = (Level(size=1.0, spread_bps=1.0), Level(size=0.4, spread_bps=2.0))
    venues = [dataclasses.replace(scenario.venues[0], depth=shallow), *scenario.venues[1:]]
    strategies = [
        dataclasses.replace(e, strategy=dataclasses.replace(e.strategy, fanout=fanout))
        if e.strategy.kind == "adaptive"
        else e
        for e in scenario.strategies
    ]
    order = dataclasses.replace(scenario.order, size=1.5)
    same(
        dataclasses.replace(
            scenario, venues=tuple(venues), strategies=tuple(strategies), order=order
        )
    )
    assert len(scans) > 5
