"""`sim.summary` on the fast engine where races interact (learning strategies, venue servers):
decided a piece at a time, cut at idle instants, with what the scan learned and the venues'
load carried across (sim.measure.pieces._Resumed), it is the summary of the run decided at once,
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

import sim.measure.pieces as pieces_module
import sim.measure.tally as tally_module
from sim.engines.exact_sum import EXACT_UNITS, exactly
from sim.engines.fast import unsupported
from sim.engines.scan import Carried
from sim.measure.exact_percentiles import ExactPercentiles
from sim.measure.histograms import Corrected, corrected_latency_ms
from sim.measure.pieces import _median
from sim.measure.run import run, summary
from sim.model import streams
from sim.model.errors import ScenarioError
from sim.model.scenario import load, parse
from sim.model.streams import BLOCK
from sim.report.atomic import summary_json
from tests.sim.test_fast import agreement
from tests.sim.test_fast_queues import scenarios
from tests.sim.test_fast_queues import strategies as rules
from tests.sim.test_fast_scan import _adaptive_scenario, hedged
from tests.sim.test_fast_served import learning


@pytest.fixture
def cuts(monkeypatch) -> collections.Counter:
    """Pieces of 100 requests; counts the scans by outcome: "cut" (stopped at an idle
    instant before the end), "none" (no idle instant: the piece waits), "end" (the last),
    and the requests scanned ("scanned"); checks that each decided every request before its
    cut."""
    counted: collections.Counter = collections.Counter()
    scanned = pieces_module.resumed

    def counting(draws, strategy, **kw):
        s = scanned(draws, strategy, **kw)
        n = s.arrival_s.size
        counted["end" if not kw["pause"] else "cut" if n else "none"] += 1
        counted["scanned"] += draws.requests
        assert np.isfinite(s.arrival_s).all()  # a prefix of the requests: each one started
        return s

    monkeypatch.setattr(pieces_module, "STEP", 100)
    monkeypatch.setattr(pieces_module, "resumed", counting)
    return counted


def same(scenario, engine: str = "fast") -> dict:
    """The streamed summary is `engine`'s run's, byte for byte (but for the engine's name)."""
    streamed, whole = summary(scenario, engine="fast"), run(scenario, engine=engine).summary
    streamed.pop("engine"), whole.pop("engine")
    assert summary_json(streamed) == summary_json(whole)
    return streamed


@pytest.mark.parametrize(
    ("name", "requests"),
    [("overload", 1500), ("hedging", 1500), ("tied-requests", 1500)],
)
def test_bundled_scenarios_streamed_are_the_run(cuts, name, requests) -> None:
    """Overload (every strategy, rules over arrays on one queue scan), hedging and
    tied-requests (whose first_k moves the queues it decides on by its cancels: each
    strategy its own scan through the servers) cut many times."""
    same(load(name).with_overrides(requests=requests))
    assert cuts["cut"] > 10


def test_a_closed_loop_streamed_is_the_run(cuts) -> None:
    """Coordinated omission's closed loop through its server cuts many times, at idle
    instants where every request before the cut has started (the `cuts` fixture checks)
    and ended, its clients' next starts carried; its correction for coordinated omission
    (the median interval, the corrected histogram and mean) is the run's."""
    same(load("coordinated-omission").with_overrides(requests=1500))
    assert cuts["cut"] > 10


def test_a_closed_loop_streamed_is_the_trio_engines(cuts) -> None:
    same(load("coordinated-omission").with_overrides(requests=400), engine="trio")
    assert cuts["cut"]


def test_the_carried_client_starts_matter(monkeypatch, cuts) -> None:
    """Resuming each closed-loop scan with its clients starting afresh (after their think
    times from 0) instead of at the starts carried changes the summary."""
    scenario = load("coordinated-omission").with_overrides(requests=1500)
    whole = run(scenario, engine="fast").summary
    counting = pieces_module.resumed

    def forgetful(d, s, **kw):
        return counting(d, s, **(kw | {"carried": dataclasses.replace(kw["carried"], starts=None)}))

    monkeypatch.setattr(pieces_module, "resumed", forgetful)
    assert summary_json(summary(scenario, engine="fast")) != summary_json(whole)
    assert cuts["cut"]


def test_an_expected_interval_given_streamed_is_the_run(cuts) -> None:
    scenario = load("coordinated-omission").with_overrides(requests=1500)
    arrivals = dataclasses.replace(scenario.arrivals, expected_interval_ms=3.0)
    same(dataclasses.replace(scenario, arrivals=arrivals))
    assert cuts["cut"]


@pytest.mark.parametrize(
    ("servers", "kind"), [(True, "adaptive"), (False, "hedged"), (False, "adaptive")]
)
def test_closed_loops_the_scan_cannot_cut_are_decided_at_once(cuts, servers, kind) -> None:
    """adaptive through servers (its verdicts read the market path from time 0 on) and
    learning strategies without servers (their scans resume in open loops only): a closed
    loop decided whole."""
    scenario = load("coordinated-omission").with_overrides(requests=300)
    if not servers:
        scenario = _without_servers(scenario)
    same(scenario.with_strategies([kind]))
    assert not cuts


def test_services_that_end_as_they_start_leave_their_venues_idle(cuts) -> None:
    """Zero service times: each job is done in the instant it starts (never a completion
    event), and counted off the venue's open jobs then, so that the scan still finds idle
    instants to cut at."""
    zero = {"dist": "constant", "ms": 0.0}
    scenario = parse(
        {
            "scenario": {"seed": 4, "requests": 600},
            "arrivals": {"process": "poisson", "rate_per_s": 500.0},
            "venues": [
                {"name": name, "latency": {"dist": "constant", "ms": ms}}
                | {"service": zero, "capacity": 1}
                for name, ms in [("a", 0.5), ("b", 0.2)]
            ],
            "strategies": [{"kind": "hedged", "hedge_delay_ms": 0.3, "budget": 10.0}],
        },
        default_name="instant",
    )
    same(scenario)
    assert cuts["cut"] > 3


def _without_servers(scenario):
    venues = tuple(dataclasses.replace(v, service=None, capacity=None) for v in scenario.venues)
    return dataclasses.replace(scenario, venues=venues)


@pytest.fixture
def blocks(monkeypatch):
    """Chunks of one block of requests (the least the draws are keyed by), in the summary
    and in the run's tally alike."""
    monkeypatch.setattr(pieces_module, "CHUNK", BLOCK)
    monkeypatch.setattr(tally_module, "CHUNK", BLOCK)


def _chained_loop():
    """Coordinated omission without its server, rules over arrays, three chunks."""
    scenario = load("coordinated-omission").with_overrides(requests=2 * BLOCK + 1000)
    return _without_servers(scenario).with_strategies(["first_wins", "staggered"])


def test_a_closed_loop_of_rules_chained_chunk_to_chunk_is_the_run(blocks) -> None:
    """Without servers, each chunk's clients start after the last requests of the chunk
    before ended (`closed_loop_starts` given their ends)."""
    same(_chained_loop())


def test_the_ends_carried_from_chunk_to_chunk_matter(blocks, monkeypatch) -> None:
    scenario = _chained_loop()
    whole = run(scenario, engine="fast").summary
    chained = pieces_module.chained
    monkeypatch.setattr(
        pieces_module, "chained", lambda d, s, **kw: chained(d, s, **(kw | {"before": None}))
    )
    assert summary_json(summary(scenario, engine="fast")) != summary_json(whole)


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
    monkeypatch.setattr(tally_module, "CHUNK", 128)
    monkeypatch.setattr(pieces_module, "CHUNK", 128)
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
    counting = pieces_module.resumed
    monkeypatch.setattr(
        pieces_module, "resumed", lambda d, s, **kw: counting(d, s, **(kw | {"carried": Carried()}))
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
    in_pieces_of_16(scenario)


def in_pieces_of_16(scenario) -> None:
    """`same`, with pieces of 16 requests (a hypothesis test cannot take the `cuts`
    fixture)."""
    step = pieces_module.STEP
    pieces_module.STEP = 16
    try:
        same(scenario)
    finally:
        pieces_module.STEP = step


def closed_kinds(count: int):
    """first_wins and hedged, which a closed loop through servers resumes."""
    first_wins = st.builds(
        lambda t: {"kind": "first_wins", "timeout_ms": t}, st.sampled_from([2.0, 50.0])
    )
    return st.lists(st.one_of(first_wins, hedged(count)), min_size=1, max_size=2)


@agreement(25)
@given(scenarios(closed_kinds, 300, closed=True), st.integers(1, 8))
def test_random_closed_loops_streamed_are_the_run(scenario, clients) -> None:
    """Closed loops of 1 to 8 clients through venue servers, in pieces of 16 requests."""
    arrivals = dataclasses.replace(scenario.arrivals, clients=clients)
    scenario = dataclasses.replace(scenario, arrivals=arrivals)
    assume(unsupported(scenario) is None)
    in_pieces_of_16(scenario)


@given(
    st.lists(st.lists(st.floats(0.0, 2.0) | st.just(math.nan), max_size=40), max_size=4),
    st.sampled_from([1e-3, 0.05, 0.3]),
)
def test_the_correction_a_chunk_at_a_time_is_the_whole(pieces, interval_s) -> None:
    """`Corrected` fed in pieces gives `corrected_latency_ms` of all the latencies at once."""
    corrected = Corrected(interval_s)
    for p in pieces:
        corrected.record(np.array(p, dtype=np.float64))
    whole = np.array([x for p in pieces for x in p], dtype=np.float64)
    assert corrected.ms() == corrected_latency_ms(whole, interval_s)


@given(st.lists(st.floats(-1e6, 1e6), max_size=60), st.integers(1, 8))
def test_the_median_interval_is_numpys(values, in_memory) -> None:
    """The expected interval of a closed loop summed up in pieces (spilled to disk past
    `in_memory` values) is np.median's, bit for bit."""
    kept = ExactPercentiles(in_memory)
    for a in range(0, len(values), 7):
        kept.add(np.array(values[a : a + 7], dtype=np.float64))
    assert _median(kept) == (float(np.median(values)) if values else 0.0)


@given(st.lists(st.lists(st.floats(-1e300, 1e300), max_size=30), max_size=4))
def test_sums_in_pieces_add_up_to_fsum_of_all(pieces) -> None:
    """The service of the quotes acted on, summed a piece at a time, is math.fsum's sum of
    all of it (as sim.engines.queues.Queues.used sums a run decided at once)."""
    exact = sum(exactly(np.array(p, dtype=np.float64)) for p in pieces)
    assert exact / EXACT_UNITS == math.fsum(x for p in pieces for x in p)


@pytest.mark.parametrize("servers", [True, False])
def test_a_closed_loop_past_engine_times_resolution_stops_in_pieces_too(monkeypatch, servers):
    """The span limit holds chunk by chunk as for the run decided at once."""
    from sim.engines import fast

    monkeypatch.setattr(fast, "MAX_SPAN_S", 1.0)
    scenario = load("coordinated-omission").with_overrides(requests=400)  # ~1.1 s
    scenario = scenario if servers else _without_servers(scenario)
    with pytest.raises(ScenarioError, match=r"arrivals: the closed loop ran past 1 s"):
        summary(scenario, engine="fast")
