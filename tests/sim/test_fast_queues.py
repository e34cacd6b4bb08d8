"""Venue servers on the fast engine (sim.engines.queues) against the trio engine's
(venues.servers): the same decisions, and the same venue load to the bit.

Randomized scenarios (hypothesis, derandomized) put requests through one to three venues
with servers (capacity 1 to 3, or unlimited; constant service times for exact ties in time,
exponential and lognormal for long queues), with and without cancel propagation, under every
strategy with an array rule that asks all venues at once; the bundled overload and
tied-requests run both engines to byte-identical summaries.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.engines import queues
from sim.engines.fast import unsupported
from sim.measure.run import run, summary
from sim.model.scenario import NamedStrategy, load, parse
from sim.report.atomic import summary_json
from strategies.first_wins import FirstWins
from tests.sim.test_fast import agree, agreement, blocks_of

LOAD = ("venue_busy_s", "venue_wasted_s", "venue_wait_s", "venue_utilization")


def agree_with_load(scenario) -> None:
    """`agree`, and the venues' load and the summaries exactly alike."""
    agree(scenario)
    same_load_and_summary(scenario)


def same_load_and_summary(scenario) -> None:
    """The venues' load to the bit and the summaries byte for byte."""
    by_trio, by_fast = run(scenario, engine="trio"), run(scenario, engine="fast")
    for entry in scenario.strategies:
        trio = by_trio.strategies[entry.name].records
        quick = by_fast.strategies[entry.name].records
        for field in LOAD:
            a, b = getattr(trio, field), getattr(quick, field)
            assert np.array_equal(a, b, equal_nan=True), (entry.name, field, a, b)
    trio_summary, fast_summary = by_trio.summary, by_fast.summary
    assert (trio_summary.pop("engine"), fast_summary.pop("engine")) == ("trio", "fast")
    assert summary_json(trio_summary) == summary_json(fast_summary)


ms = st.sampled_from([0.1, 0.2, 0.5, 1.0])
latencies = st.one_of(
    st.builds(lambda m: {"dist": "constant", "ms": m}, ms),
    st.builds(lambda m: {"dist": "exponential", "mean_ms": m}, ms),
)
services = st.one_of(
    st.builds(lambda m: {"dist": "constant", "ms": m}, st.sampled_from([0.5, 1.0, 2.0])),
    st.builds(lambda m: {"dist": "exponential", "mean_ms": m}, st.sampled_from([0.5, 1.5])),
    st.builds(
        lambda m: {"dist": "lognormal", "median_ms": m, "sigma": 1.0},
        st.sampled_from([0.5, 1.0]),
    ),
)


@st.composite
def served_venues(draw_from, index: int) -> dict:
    venue = {
        "name": f"v{index}",
        "latency": draw_from(latencies),
        "fail_prob": draw_from(st.sampled_from([0.0, 0.0, 0.2])),
        "spread_bps": draw_from(st.sampled_from([0.5, 1.0, 2.0])),
        "noise_bps": draw_from(st.sampled_from([0.0, 0.3])),
    }
    if draw_from(st.booleans()):
        venue["quote_ttl_ms"] = draw_from(st.sampled_from([1.0, 3.0]))
    if draw_from(st.booleans()):
        venue["last_look"] = {"hold_ms": 0.2, "tolerance_bps": 0.2}
    if draw_from(st.sampled_from([True, True, False])):  # mostly with servers
        venue["service"] = draw_from(services)
        capacity = draw_from(st.sampled_from([1, 1, 2, 3, None]))  # None: unlimited
        if capacity is not None:
            venue["capacity"] = capacity
        venue["cancel_propagation"] = draw_from(st.booleans())
    return venue


strategies = st.lists(
    st.one_of(
        st.builds(lambda t: {"kind": "first_wins", "timeout_ms": t}, st.sampled_from([2.0, 50.0])),
        st.builds(lambda t: {"kind": "best_price", "timeout_ms": t}, st.sampled_from([3.0, 50.0])),
        st.builds(
            lambda k, t: {"kind": "first_k", "k": k, "timeout_ms": t},
            st.integers(1, 3),
            st.sampled_from([3.0, 50.0]),
        ),
        st.builds(
            lambda d, t: {"kind": "deadline", "deadline_ms": d, "timeout_ms": t},
            st.sampled_from([0.5, 2.0]),
            st.sampled_from([4.0, 50.0]),
        ),
        st.builds(
            lambda c: {"kind": "threshold", "max_cost_bps": c, "timeout_ms": 10.0},
            st.sampled_from([0.0, 1.0]),
        ),
        st.builds(lambda t: {"kind": "split", "timeout_ms": t}, st.sampled_from([3.0, 50.0])),
    ),
    min_size=1,
    max_size=2,
)


THINK = [{"dist": "constant", "ms": 0.5}, {"dist": "constant", "ms": 2.0}]
THINK.append({"dist": "exponential", "mean_ms": 1.0})


@st.composite
def scenarios(draw_from, kinds=lambda count: strategies, requests=60, closed=False):
    """Scenarios of one to three venues, some with servers, racing `kinds(count)` (default:
    rules over arrays) in an open loop, or in a closed loop of one to five clients. adaptive
    through servers learns fills that must not depend on when quotes come (no last look, no
    expiry); in a closed loop, nor on when requests start (no last look)."""
    count = draw_from(st.integers(1, 3))
    venues = [draw_from(served_venues(i)) for i in range(count)]
    if not any("service" in v for v in venues):
        venues[0] |= {"service": {"dist": "constant", "ms": 1.0}, "capacity": 1}
    chosen = draw_from(kinds(count))
    for i, s in enumerate(chosen):
        s["name"] = f"s{i}"
    for venue in venues:
        if closed or any(s["kind"] == "adaptive" for s in chosen):
            venue.pop("last_look", None)
        if any(s["kind"] == "adaptive" for s in chosen):
            venue.pop("quote_ttl_ms", None)
    seed = draw_from(st.integers(0, 2**32))
    if closed:
        clients, think = draw_from(st.integers(1, 5)), draw_from(st.sampled_from(THINK))
        arrivals = {"process": "closed", "clients": clients, "think_ms": think}
    else:
        arrivals = {
            "process": draw_from(st.sampled_from(["poisson", "uniform"])),
            "rate_per_s": draw_from(st.sampled_from([500.0, 1000.0, 3000.0])),
        }
    return parse(
        {
            "scenario": {"seed": seed, "requests": requests},
            "arrivals": arrivals,
            "market": {"volatility_bps": draw_from(st.sampled_from([0.0, 50.0]))},
            "order": {"size": draw_from(st.sampled_from([1.0, 1.0, 3.0]))},
            "venues": venues,
            "strategies": chosen,
        },
        default_name="served",
    )


@agreement(25)
@given(scenarios())
def test_both_engines_serve_random_scenarios_alike(scenario) -> None:
    """Blocks of 16 requests, so that the 60 run as four blocks in threads."""
    assert unsupported(scenario) is None
    with blocks_of(16):
        agree_with_load(scenario)


@pytest.mark.parametrize(
    ("name", "kinds", "requests"),
    [
        ("overload", ["first_wins", "best_price", "first_k"], 600),
        ("tied-requests", ["first_wins", "first_k"], 800),
    ],
)
def test_bundled_scenarios_with_servers_agree(name, kinds, requests) -> None:
    """Overload queues deep (90% busy), tied-requests drops cancelled requests; the streamed
    summary (one chunk with servers) is the run's, byte for byte."""
    scenario = load(name).with_overrides(requests=requests).with_strategies(kinds)
    assert unsupported(scenario) is None
    agree_with_load(scenario)
    streamed, whole = summary(scenario, engine="fast"), run(scenario, engine="fast").summary
    assert summary_json(streamed) == summary_json(whole)


SERVICE_1MS = {"dist": "constant", "ms": 1.0}
INSTANT = {"dist": "constant", "ms": 0.0}


@pytest.mark.parametrize(
    ("case", "venues", "kinds"),
    [
        (
            "a venue that never answers queues nothing",
            [
                {"name": "a", "latency": {"dist": "constant", "ms": 0.2}, "fail_prob": 1.0}
                | {"service": SERVICE_1MS, "capacity": 1},
                {"name": "b", "latency": {"dist": "constant", "ms": 0.3}},
            ],
            [{"kind": "first_wins"}, {"kind": "best_price", "timeout_ms": 5.0}],
        ),
        (
            "zero latency: requests and cancels reach the venue in their own instant",
            [
                {"name": "a", "latency": INSTANT, "service": SERVICE_1MS, "capacity": 1},
                {"name": "b", "latency": INSTANT, "service": {"dist": "constant", "ms": 0.5}}
                | {"capacity": 1},
            ],
            [{"kind": "first_wins"}, {"kind": "first_k", "k": 2}],
        ),
        (
            "unlimited servers, every quote tied",
            [
                {"name": "a", "latency": {"dist": "constant", "ms": 0.2}, "service": SERVICE_1MS},
                {"name": "b", "latency": {"dist": "constant", "ms": 0.2}, "service": SERVICE_1MS},
            ],
            [{"kind": "first_wins"}, {"kind": "deadline", "deadline_ms": 1.2}],
        ),
    ],
)
@pytest.mark.parametrize("propagate", [True, False])
def test_edge_cases_agree(case, venues, kinds, propagate) -> None:
    """Uniform arrivals every 0.5 ms, constant times: events tie exactly."""
    served = [v | {"cancel_propagation": propagate} if "service" in v else v for v in venues]
    scenario = parse(
        {
            "arrivals": {"process": "uniform", "rate_per_s": 2000.0},
            "venues": served,
            "strategies": kinds,
        },
        default_name="edge",
    ).with_overrides(requests=40)
    agree_with_load(scenario)


def test_a_cancel_cuts_service_short() -> None:
    """One server, 10 ms service, a request every 1 ms, first_wins against a venue without
    servers that answers in 0.5 ms: with propagation each request, in service from 0.1 ms
    after it, is dropped when its cancel comes (0.5 + 0.1 ms after it), its server free for
    the next; without, every one is served in full, each behind the one before."""

    def scenario(propagate: bool):
        return parse(
            {
                "arrivals": {"process": "uniform", "rate_per_s": 1000.0},
                "venues": [
                    {
                        "name": "served",
                        "latency": {"dist": "constant", "ms": 0.2},
                        "service": {"dist": "constant", "ms": 10.0},
                        "capacity": 1,
                        "cancel_propagation": propagate,
                    },
                    {"name": "quick", "latency": {"dist": "constant", "ms": 0.5}},
                ],
                "strategies": [{"kind": "first_wins"}],
            },
            default_name="cancel",
        ).with_overrides(requests=20)

    for propagate in (True, False):
        agree_with_load(scenario(propagate))
    dropped = run(scenario(True), engine="fast").strategies["first_wins"].records
    kept = run(scenario(False), engine="fast").strategies["first_wins"].records
    assert dropped.venue_busy_s[0] == pytest.approx(20 * 0.5e-3)
    assert dropped.venue_wait_s[0] == 0.0
    assert kept.venue_busy_s[0] == pytest.approx(20 * 10e-3)
    assert kept.venue_wait_s[0] == pytest.approx(np.mean(9e-3 * np.arange(20)))


def test_retries_and_staggered_asks_through_servers_go_to_trio() -> None:
    scenario = load("overload").with_strategies(["first_wins"])
    retried = scenario.with_strategies([NamedStrategy("first_wins", FirstWins(), max_retries=1)])
    assert "retries" in unsupported(retried)
    assert "staggered" in unsupported(scenario.with_strategies(["staggered"]))


def test_runs_without_servers_never_load_numba() -> None:
    code = (
        "import sys, sim; sim.summary('default', requests=500, engine='fast');"
        "print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_long_chain_of_cancels_settles() -> None:
    """Three venues of one server each near their capacity, cancels propagated: a cancel frees
    a server for the next race, whose decision moves its own cancels, in chains that take
    hundreds of rounds to settle (more than 500 here, where a fixed cap once refused the run).
    The first requests are trio's: request i depends only on those before it. A deadline
    of 0 takes the first quote after it, what first_wins takes, which the scan through
    servers decides in one pass (sim.engines.scan_kernels.served): the two agree on every
    request."""
    venue = {
        "latency": {"dist": "exponential", "mean_ms": 0.3},
        "service": {"dist": "exponential", "mean_ms": 1.0},
        "capacity": 1,
        "cancel_propagation": True,
    }
    scenario = parse(
        {
            "scenario": {"seed": 1, "requests": 6000},
            "arrivals": {"process": "poisson", "rate_per_s": 2100.0},
            "venues": [venue | {"name": name} for name in "abc"],
            "strategies": [
                {"kind": "deadline", "deadline_ms": 0.0, "timeout_ms": 20.0},
                {"kind": "first_wins", "timeout_ms": 20.0},
            ],
        },
        default_name="chains",
    )
    rounds = []
    round_of = queues.Queues._round

    def counted(self, *args):
        rounds.append(1)
        return round_of(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(queues.Queues, "_round", counted)
        by_fast = run(scenario, engine="fast")
    assert len(rounds) > 500
    whole, scanned = (by_fast.strategies[s].records for s in ("deadline", "first_wins"))
    for field in ("venue", "decision_s", "fill_price", "venue_busy_s", "venue_wait_s"):
        a, b = getattr(whole, field), getattr(scanned, field)
        assert np.array_equal(a, b, equal_nan=True), field
    first = run(scenario.with_overrides(requests=300), engine="trio")
    trio = first.strategies["deadline"].records
    assert np.array_equal(whole.venue[:300], trio.venue)
    assert np.array_equal(whole.fill_price[:300], trio.fill_price, equal_nan=True)
    assert np.allclose(whole.decision_s[:300], trio.decision_s, rtol=0, atol=1e-9, equal_nan=True)
