"""The fast engine's scan (sim.engines.scan) against the trio engine: strategies that learn
within a run (hedged, adaptive) and closed loops decided alike, request by request (`agree`,
as for the rules over arrays: a closed loop's arrivals exactly), on randomized scenarios
(hypothesis, derandomized) and on the bundled hedging scenario, whose summaries come out byte
for byte the same."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.engines import scan
from sim.engines.fast import unsupported
from sim.engines.scan import CLOSED_LOOP_RULES
from sim.measure.run import run, summary
from sim.model.scenario import load, parse
from sim.report.atomic import summary_json
from strategies.hedged import Hedged
from tests.sim.test_fast import LATENCY_TOLERANCE_S, agree, agreement, blocks_of, latencies, venues
from tests.sim.test_fast import strategies as array_rules

ROOT = Path(__file__).resolve().parents[2]


REQUESTS = 120  # past hedged's warm-up of 20 observed latencies
LATENCY = {"dist": "constant", "ms": 1.0}


def hedged(count: int):
    names = [f"v{i}" for i in range(count)]
    return st.builds(
        lambda delay, budget, attempts, window, order, timeout: {
            "kind": "hedged",
            **delay,
            "budget": budget,
            "max_attempts": attempts,
            "window": window,
            "venues": order,
            "timeout_ms": timeout,
        },
        st.one_of(
            st.sampled_from([0.0, 0.3, 1.0, 2.5]).map(lambda d: {"hedge_delay_ms": d}),
            st.sampled_from(["p50", "p90", "p99.5"]).map(lambda p: {"hedge_delay": p}),
        ),
        st.sampled_from([0.0, 0.1, 0.5, 10.0]),
        st.integers(1, 4),
        st.sampled_from([20, 25, 1000]),
        st.one_of(st.just([]), st.permutations(names).flatmap(lambda p: st.just(p[:count]))),
        st.sampled_from([3.0, 50.0]),
    )


adaptive = st.builds(
    lambda fanout, explore, window, timeout: {
        "kind": "adaptive",
        "fanout": fanout,
        "explore": explore,
        "window": window,
        "timeout_ms": timeout,
    },
    st.integers(1, 4),
    st.sampled_from([0.0, 0.1, 1.0]),
    st.sampled_from([1, 5, 100]),
    st.sampled_from([2.0, 50.0]),
)


@st.composite
def scenarios(draw_from):
    count = draw_from(st.integers(1, 4))
    kinds = draw_from(st.lists(st.one_of(hedged(count), adaptive), min_size=1, max_size=2))
    for i, s in enumerate(kinds):
        s["name"] = f"s{i}"
    return parse(
        {
            "scenario": {"seed": draw_from(st.integers(0, 2**32)), "requests": REQUESTS},
            "arrivals": {
                "process": draw_from(st.sampled_from(["poisson", "uniform"])),
                "rate_per_s": draw_from(st.sampled_from([500.0, 2000.0, 10_000.0])),
            },
            "market": {"volatility_bps": draw_from(st.sampled_from([0.0, 200.0]))},
            "order": {"size": draw_from(st.sampled_from([1.0, 1.5]))},
            "venues": [draw_from(venues(i)) for i in range(count)],
            "strategies": kinds,
        },
        default_name="random",
    )


@agreement(25)
@given(scenarios())
def test_both_engines_decide_learning_strategies_alike(scenario) -> None:
    """Blocks of 16 requests, so that the scan's decisions are handed to the blocks in parts."""
    assert unsupported(scenario) is None
    with blocks_of(16):
        agree(scenario)


def test_the_bundled_hedging_scenario_agrees_and_hedges() -> None:
    """Past the warm-up hedged_p95 hedges some requests (more than one venue asked per
    decision, within its 10% budget), and both engines give the same summary bytes."""
    scenario = load("hedging").with_overrides(requests=1500)
    assert unsupported(scenario) is None
    agree(scenario)
    by_fast, by_trio = (run(scenario, engine=e).summary for e in ("fast", "trio"))
    assert (by_fast.pop("engine"), by_trio.pop("engine")) == ("fast", "trio")
    assert summary_json(by_fast) == summary_json(by_trio)
    per_decision = by_fast["strategies"]["hedged_p95"]["venue_requests_per_decision"]
    assert 1.0 < per_decision <= 1.1
    assert by_fast["strategies"]["one_venue"]["venue_requests_per_decision"] == 1.0
    streamed = summary(scenario, engine="fast")
    streamed.pop("engine")
    assert summary_json(streamed) == summary_json(by_fast)


def _adaptive_scenario(last_look: bool) -> dict:
    venues = []
    for v in range(4):
        venue = {
            "name": f"v{v}",
            "latency": {"dist": "lognormal", "median_ms": 1.0 + 0.3 * v, "sigma": 0.5},
            "spread_bps": 1.0,
            "fail_prob": 0.1 if v == 2 else 0.0,
        }
        if last_look and v % 2 == 0:
            venue["last_look"] = {"hold_ms": 0.5, "tolerance_bps": 0.2}
        venues.append(venue)
    return {
        "scenario": {"seed": 3, "requests": 600},
        "arrivals": {"process": "poisson", "rate_per_s": 3000.0},
        "market": {"volatility_bps": 300.0},
        "venues": venues,
        "strategies": [{"kind": "adaptive", "window": 10, "timeout_ms": 3.0}],
    }


@pytest.mark.parametrize("last_look", [False, True])
def test_adaptive_learns_from_last_look_verdicts_alike(last_look) -> None:
    """With last look on two venues, rejects feed adaptive's fill rates (and so its later
    picks): the verdicts judged before the scan must be the ones trio's venues give."""
    scenario = parse(_adaptive_scenario(last_look), default_name="adaptive")
    agree(scenario)
    rejected = run(scenario, engine="fast").strategies["adaptive"].records.rejects.sum()
    assert (rejected > 0) == last_look


# trio's MockClock jumps from one deadline to the next as base + (deadline - base), a rounding
# off the deadline when it is more than twice the time so far: a closed loop's client wakes an
# ulp away then, its next requests with it. The fast engine sends them at the deadlines.
ARRIVAL_TOLERANCE_S = 1e-15


def agree_closed(scenario) -> None:
    """`agree`, with a closed loop's arrivals within an ulp or so of trio's clock."""
    by_trio, by_fast = run(scenario, engine="trio"), run(scenario, engine="fast")
    for entry in scenario.strategies:
        name = entry.name
        trio, fast = by_trio.strategies[name].records, by_fast.strategies[name].records
        for field in ("venue", "outcome", "fill_price", "filled_size", "orders", "rejects"):
            a, b = getattr(trio, field), getattr(fast, field)
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), (name, field)
        assert np.array_equal(trio.venue_requests, fast.venue_requests), name
        for field in ("decision_s", "fill_s"):
            a, b = getattr(trio, field), getattr(fast, field)
            assert np.array_equal(np.isnan(a), np.isnan(b)), (name, field)
            assert np.allclose(a, b, rtol=0, atol=LATENCY_TOLERANCE_S, equal_nan=True), name
        gap = np.abs(trio.arrival_s - fast.arrival_s)
        assert gap.max(initial=0.0) <= ARRIVAL_TOLERANCE_S, name
        assert abs(trio.span_s - fast.span_s) <= LATENCY_TOLERANCE_S


@st.composite
def closed_loops(draw_from):
    """Closed loops of 1 to 5 clients thinking a drawn time, racing learning strategies or
    rules over arrays (no retries, no last look for adaptive: both go to trio)."""
    count = draw_from(st.integers(1, 3))
    learning = st.lists(st.one_of(hedged(count), adaptive), min_size=1, max_size=2)
    rules = array_rules.map(lambda kinds: [s for s in kinds if s["kind"] in CLOSED_LOOP_RULES])
    kinds = draw_from(st.one_of(learning, rules.filter(bool)))
    adaptive_kind = any(s["kind"] == "adaptive" for s in kinds)
    for i, s in enumerate(kinds):
        s["name"] = f"s{i}"
        s.pop("max_retries", None)
    chosen = [draw_from(venues(i)) for i in range(count)]
    if adaptive_kind:
        for venue in chosen:
            venue.pop("last_look", None)
    return parse(
        {
            "scenario": {"seed": draw_from(st.integers(0, 2**32)), "requests": REQUESTS},
            "arrivals": {
                "process": "closed",
                "clients": draw_from(st.integers(1, 5)),
                "think_ms": draw_from(latencies),
            },
            "market": {"volatility_bps": draw_from(st.sampled_from([0.0, 200.0]))},
            "venues": chosen,
            "strategies": kinds,
        },
        default_name="closed",
    )


@agreement(25)
@given(closed_loops())
def test_both_engines_run_closed_loops_alike(scenario) -> None:
    assert unsupported(scenario) is None
    with blocks_of(16):
        agree_closed(scenario)


def test_a_closed_loop_summary_is_the_same_bytes() -> None:
    """Its decision latency corrected for coordinated omission included."""
    scenario = parse(
        {
            "scenario": {"seed": 7, "requests": 400},
            "arrivals": {
                "process": "closed",
                "clients": 3,
                "think_ms": {"dist": "constant", "ms": 2.0},
            },
            "market": {"volatility_bps": 100.0},
            "venues": [
                {"name": "a", "latency": {"dist": "lognormal", "median_ms": 1.0, "sigma": 0.6}},
                {"name": "b", "latency": {"dist": "exponential", "mean_ms": 1.5}},
            ],
            "strategies": [{"kind": "hedged"}, {"kind": "adaptive"}, {"kind": "staggered"}],
        },
        default_name="closed",
    )
    by_fast, by_trio = (summary(scenario, engine=e) for e in ("fast", "trio"))
    assert (by_fast.pop("engine"), by_trio.pop("engine")) == ("fast", "trio")
    assert summary_json(by_fast) == summary_json(by_trio)
    assert "decision_ms_corrected" in by_fast["strategies"]["hedged"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"max_retries": 1}, "strategy s (retries in a closed loop"),
        ({"kind": "adaptive"}, "strategy s (adaptive: learns from last look in a closed loop"),
        ({"kind": "best_price"}, "strategy s (best_price: takes quotes by price in a closed"),
    ],
)
def test_what_a_closed_loop_still_sends_to_trio(change, reason) -> None:
    scenario = parse(
        {
            "arrivals": {"process": "closed", "clients": 2},
            "venues": [{"name": "a", "latency": LATENCY, "last_look": {"hold_ms": 1.0}}],
            "strategies": [{"kind": "first_wins", "name": "s"} | change],
        },
        default_name="closed",
    )
    assert unsupported(scenario).startswith(reason)


def test_learning_with_retries_goes_to_trio() -> None:
    scenario = load("hedging").with_overrides(requests=20)
    retrying = parse(
        {
            "venues": [{"name": "a", "latency": LATENCY}],
            "strategies": [{"kind": "hedged", "max_retries": 1}],
        },
        default_name="retries",
    )
    assert unsupported(scenario) is None
    assert unsupported(retrying).startswith("strategy hedged (hedged: keeps state")


def test_a_window_longer_than_the_run_keeps_only_what_it_sees() -> None:
    """hedged's window bounds what it remembers, not what it allocates: 1e12 latencies
    (8 TB) for a run of 300 requests is every latency it sees, as on trio."""
    scenario = load("hedging").with_overrides(requests=300)
    scenario = scenario.with_strategies([Hedged(window=10**12, hedge_delay="p50", budget=1.0)])
    agree(scenario)


def test_a_subclass_of_a_learning_strategy_goes_to_trio() -> None:
    """The scan knows hedged and adaptive as they are: a subclass keeping the kind "hedged"
    may decide otherwise (this one never takes a quote)."""

    @dataclass(frozen=True)
    class Never(Hedged):
        async def decide(self, request, venues):
            return None

    scenario = load("hedging").with_overrides(requests=30).with_strategies([Never(name="n")])
    assert unsupported(scenario).startswith("strategy n (hedged: keeps state from race to race")
    result = run(scenario)
    assert result.summary["engine"] == "trio"
    assert (result.strategies["n"].records.venue == -1).all()


def test_a_run_without_interactions_never_imports_numba() -> None:
    """numba is loaded by the scan alone (a second or more of start-up)."""
    script = (
        "import sys, sim; sim.summary('default', requests=500, engine='fast'); "
        "assert 'numba' not in sys.modules; "
        "sim.summary('hedging', requests=50, engine='fast'); "
        "assert 'numba' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)


@pytest.mark.parametrize(
    "strategy",
    [
        {"kind": "hedged", "hedge_delay_ms": 0.25, "max_attempts": 3, "budget": 10.0},
        {"kind": "staggered", "stagger_ms": 0.25},
    ],
)
def test_a_quote_due_exactly_at_the_next_ask_counts_on_both_engines(strategy) -> None:
    """v1, asked at 0.25 ms, answers 0.25 ms later: exactly when v2 would be asked (0.5 ms
    after the request), so it counts and v2 is never asked, though (t0 + 0.25 ms) + 0.25 ms
    is an ulp past t0 + 0.5 ms for some arrivals (the venue wakes at t0 + its arrival after
    the request, as the gatherer's deadlines are counted)."""
    scenario = parse(
        {
            "scenario": {"requests": 60},
            "arrivals": {"process": "uniform", "rate_per_s": 4000.0},
            "venues": [
                {"name": f"v{v}", "latency": {"dist": "constant", "ms": ms}}
                for v, ms in enumerate([1.0, 0.25, 1.0])
            ],
            "strategies": [strategy],
        },
        default_name="tie",
    )
    agree(scenario)
    records = run(scenario, engine="trio").strategies[strategy["kind"]].records
    assert records.venue_requests.tolist() == [60, 60, 0]


@pytest.mark.parametrize(("count", "fanout"), [(1, 1), (2, 2), (4, 1), (4, 3), (21, 3), (25, 2)])
@pytest.mark.parametrize("explore", [0.0, 0.3, 1.0])
def test_adaptive_draws_are_its_own(count, fanout, explore) -> None:
    """The scan's draws for adaptive are the ones random.Random makes for it: randrange, and
    sample's pair (its pool for small populations, its set for larger ones)."""
    seed, n = 7, 300
    expected = np.empty((n, fanout, 2), dtype=np.int64)
    for i in range(n):
        rng = random.Random(f"{seed}:{i}:0")
        for k in range(fanout):
            left = count - k
            if left == 1 or rng.random() < explore:
                expected[i, k] = rng.randrange(left), -1
            else:
                expected[i, k] = rng.sample(range(left), 2)
    assert np.array_equal(scan._adaptive_draws(seed, n, count, fanout, explore), expected)


def test_compiled_functions_call_only_their_own_module() -> None:
    """numba checks a function's disk cache against its own file only: one compiled in a
    module that calls another module's would keep an old copy of it once that changed."""
    compiled = [p for p in (ROOT / "sim").rglob("*.py") if "from numba import" in p.read_text()]
    assert len(compiled) >= 2  # sim.engines.scan_kernels, sim.engines.queue_scan
    own = ("__future__", "heapq", "math", "numpy", "numba")
    for path in compiled:
        lines = path.read_text().splitlines()
        imported = [line for line in lines if line.startswith(("from ", "import "))]
        assert all(line.split()[1] in own for line in imported), (path.name, imported)
