"""`sim.summary` on the fast engine where races interact (learning strategies, venue servers):
decided a piece at a time, cut at idle instants, with what the scan learned and the venues'
load carried across (sim.measure.run._Resumed), it is the summary of the run decided at once,
byte for byte.

Pieces of STEP requests, made small here, so that runs of a few hundred requests cut many
times: a scan that finds no idle instant in a piece (an overloaded queue) waits for the next.
"""

from __future__ import annotations

import collections
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import sim.measure.run as run_module
from sim.engines.fast import unsupported
from sim.engines.scan import Carried
from sim.measure import tally
from sim.measure.run import EXACT_UNITS, _exactly, run, summary
from sim.model import streams
from sim.model.scenario import load, parse
from sim.report.atomic import summary_json
from tests.sim.test_fast import agreement
from tests.sim.test_fast_queues import scenarios
from tests.sim.test_fast_queues import strategies as rules
from tests.sim.test_fast_scan import _adaptive_scenario
from tests.sim.test_fast_served import learning


@pytest.fixture
def cuts(monkeypatch) -> collections.Counter:
    """Pieces of 100 requests; counts the scans by outcome: "cut" (stopped at an idle
    instant before the end), "none" (no idle instant: the piece waits), "end" (the last),
    and the requests scanned ("scanned")."""
    counted: collections.Counter = collections.Counter()
    scanned = run_module.resumed

    def counting(draws, strategy, **kw):
        s = scanned(draws, strategy, **kw)
        n = s.arrival_s.size
        counted["end" if not kw["pause"] else "cut" if n else "none"] += 1
        counted["scanned"] += draws.requests
        return s

    monkeypatch.setattr(run_module, "STEP", 100)
    monkeypatch.setattr(run_module, "resumed", counting)
    return counted


def same(scenario, engine: str = "fast") -> dict:
    """The streamed summary is `engine`'s run's, byte for byte (but for the engine's name)."""
    streamed, whole = summary(scenario, engine="fast"), run(scenario, engine=engine).summary
    streamed.pop("engine"), whole.pop("engine")
    assert summary_json(streamed) == summary_json(whole)
    return streamed


@pytest.mark.parametrize(
    ("name", "requests", "pieces"),
    [("overload", 1500, True), ("hedging", 1500, True), ("tied-requests", 1500, False)],
)
def test_bundled_scenarios_streamed_are_the_run(cuts, name, requests, pieces) -> None:
    """Overload (every strategy, rules over arrays on one queue scan) and hedging cut many
    times; tied-requests, whose first_k moves the queues it decides on by its cancels, is
    decided at once."""
    same(load(name).with_overrides(requests=requests))
    assert (cuts["cut"] > 10) is pieces


def test_a_closed_loop_streamed_is_the_run(cuts) -> None:
    """Coordinated omission's closed loop is decided at once."""
    same(load("coordinated-omission").with_overrides(requests=400))
    assert not cuts


@pytest.mark.parametrize(("name", "requests"), [("overload", 300), ("hedging", 600)])
def test_streamed_summaries_are_the_trio_engines(cuts, name, requests) -> None:
    same(load(name).with_overrides(requests=requests), engine="trio")
    assert cuts["cut"]


def test_an_overloaded_queue_waits_for_an_idle_instant(cuts) -> None:
    """Scattered to every venue at twice their capacity, queues never empty: pieces find no
    idle instant and wait, and the run is decided at the end, as at once. Each scan that
    finds none waits for twice the requests: a few times the run's scanned, not a piece's
    worth more each piece (quadratic in the run)."""
    scenario = load("overload").with_overrides(requests=600)
    scenario = scenario.with_strategies(["first_wins", "best_price", "hedged"])
    arrivals = dataclasses.replace(scenario.arrivals, rate_per_s=2000.0)
    same(dataclasses.replace(scenario, arrivals=arrivals))
    assert cuts["none"] and not cuts["cut"]
    assert cuts["scanned"] <= 3 * 2 * 600  # two scans: the rules' queues, and hedged


def test_requests_waiting_across_chunks_keep_the_market_behind_them(monkeypatch, cuts) -> None:
    """A queue that never empties over minutes of a moving market, drawn 128 requests at a
    time: the path behind each chunk is forgotten only up to the first request still
    waiting to be decided (their quotes and last look look it up)."""
    monkeypatch.setattr(streams, "BLOCK", 64)
    monkeypatch.setattr(tally, "CHUNK", 128)
    monkeypatch.setattr(run_module, "CHUNK", 128)
    slow = {"dist": "constant", "ms": 2000.0}
    table = {
        "scenario": {"seed": 3, "requests": 300},
        "arrivals": {"process": "poisson", "rate_per_s": 1.0},
        "market": {"volatility_bps": 100.0, "updates_per_s": 50.0},
        "venues": [
            {"name": "a", "latency": {"dist": "constant", "ms": 1.0}, "service": slow}
            | {"capacity": 1},
            {"name": "b", "latency": {"dist": "exponential", "mean_ms": 3.0}}
            | {"last_look": {"hold_ms": 1500.0, "tolerance_bps": 0.0}},
        ],
        "strategies": [
            {"kind": "hedged", "hedge_delay_ms": 5.0, "timeout_ms": 50.0},
            {"kind": "best_price", "timeout_ms": 50.0},
        ],
    }
    same(parse(table, default_name="waiting"))
    assert cuts["none"] and not cuts["cut"]


@pytest.mark.parametrize("name", ["hedging", "overload"])
def test_the_state_carried_across_a_cut_matters(monkeypatch, cuts, name) -> None:
    """Resuming every scan from nothing learned (hedged's window, adaptive's statistics, the
    venues' load so far) changes the summary: the carrying is what keeps it exact."""
    scenario = load(name).with_overrides(requests=1500)
    whole = run(scenario, engine="fast").summary
    counting = run_module.resumed
    monkeypatch.setattr(
        run_module, "resumed", lambda d, s, **kw: counting(d, s, **(kw | {"carried": Carried()}))
    )
    forgetful = summary(scenario, engine="fast")
    assert cuts["cut"]
    assert summary_json(forgetful) != summary_json(whole)


@pytest.mark.parametrize("last_look", [False, True])
def test_adaptive_without_servers_streamed_is_the_run(cuts, last_look) -> None:
    """adaptive's statistics carried across cuts (with last look, the fill rates it learns
    from its verdicts), its keyed draws by the run's request index."""
    table = _adaptive_scenario(last_look)
    table["scenario"]["requests"] = 1500
    table["arrivals"]["rate_per_s"] = 300.0
    table["strategies"][0] |= {"fanout": 2, "explore": 0.1}
    same(parse(table, default_name="adaptive"))
    assert cuts["cut"] > 10


def kinds(count: int):
    """Rules over arrays and learning strategies together, up to three."""
    return st.tuples(rules, learning(count)).map(lambda pair: (pair[0] + pair[1])[:3])


@agreement(25)
@given(scenarios(kinds, 300))
def test_random_scenarios_streamed_are_the_run(scenario) -> None:
    """Through venue servers (with or without cancel propagation, some without servers),
    rules over arrays and learning strategies, in pieces of 16 requests."""
    assume(unsupported(scenario) is None)
    step = run_module.STEP
    run_module.STEP = 16
    try:
        same(scenario)
    finally:
        run_module.STEP = step


@given(st.lists(st.lists(st.floats(-1e300, 1e300), max_size=30), max_size=4))
def test_sums_in_pieces_add_up_to_fsum_of_all(pieces) -> None:
    """The service of the quotes acted on, summed a piece at a time, is math.fsum's sum of
    all of it (as sim.engines.queues.Queues.used sums a run decided at once)."""
    exact = sum(_exactly(np.array(p, dtype=np.float64)) for p in pieces)
    assert exact / EXACT_UNITS == math.fsum(x for p in pieces for x in p)
