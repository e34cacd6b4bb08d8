"""The fast engine's scan (sim.engines.scan) against the trio engine: strategies that learn
within a run (hedged, adaptive) decided alike, request by request (`agree`, as for the rules
over arrays), on randomized scenarios (hypothesis, derandomized) and on the bundled hedging
scenario, whose summaries come out byte for byte the same."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.engines.fast import unsupported
from sim.measure.run import run, summary
from sim.model.scenario import load, parse
from sim.report.atomic import summary_json
from tests.sim.test_fast import agree, venues

REQUESTS = 120  # past hedged's warm-up of 20 observed latencies


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
        st.one_of(st.just([]), st.permutations(names).flatmap(lambda p: st.just(p[: count]))),
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


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios())
def test_both_engines_decide_learning_strategies_alike(scenario) -> None:
    assert unsupported(scenario) is None
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
