"""The figures the teaching scenarios exist to show (their descriptions quote them)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sim.measure.run import run
from sim.model.scenario import load

SLOW_S = 0.010  # fast answers take ~1 ms (at most ~3 ms); slow ones 50-150 ms


def test_tail_at_scale_waiting_for_all_100_is_slow_63_percent_of_the_time():
    """With 100 venues each slow 1% of the time, independently, a request that waits for all
    of them is slow with probability 1 - 0.99^100 = 63.4%. Exactly: it is slow when any of its
    draws is. Statistically: 2000 requests give a binomial SE of 1.1 points; 4 SE is 4.3."""
    scenario = load("tail-at-scale")
    wait_for_all = dataclasses.replace(
        scenario, strategies=tuple(s for s in scenario.strategies if s.name == "wait_for_all")
    )
    result = run(wait_for_all)
    decision = result.records("wait_for_all")["decision_s"]
    slow = decision > SLOW_S
    any_slow_draw = (np.stack(result.draws.latency_s) > SLOW_S).any(axis=0)
    assert np.array_equal(slow, any_slow_draw)
    expected = 1 - 0.99**100
    standard_error = math.sqrt(expected * (1 - expected) / slow.size)
    assert abs(slow.mean() - expected) < 4 * standard_error, slow.mean()
    assert result.summary["strategies"]["wait_for_all"]["decision_ms"]["p50"] > SLOW_S * 1e3


def test_tail_at_scale_the_first_95_answers_are_rarely_slow():
    """Slow only when more than 5 of 100 venues are: P = 0.06%, so the p99 stays fast."""
    scenario = load("tail-at-scale").with_overrides(requests=1000)
    first_95 = dataclasses.replace(
        scenario, strategies=tuple(s for s in scenario.strategies if s.name == "first_95")
    )
    summary = run(first_95).summary["strategies"]["first_95"]
    assert summary["decision_ms"]["p99"] < SLOW_S * 1e3


def test_hedging_after_the_p95_cuts_the_p99_9_for_a_few_percent_more_requests():
    """One venue: p99.9 39 ms at 1.00 venue requests per decision. Hedged at the observed
    p95: 3.0 ms at 1.05 (a 2% slow tail needs ~2% hedges plus the 5% the p95 sends; the budget
    of 10% caps it)."""
    scenario = load("hedging")
    two = tuple(s for s in scenario.strategies if s.name in ("one_venue", "hedged_p95"))
    summary = run(dataclasses.replace(scenario, strategies=two)).summary["strategies"]
    one, hedged = summary["one_venue"], summary["hedged_p95"]
    assert one["venue_requests_per_decision"] == 1.0
    assert hedged["decision_ms"]["p99.9"] < one["decision_ms"]["p99.9"] / 5
    assert 1.0 < hedged["venue_requests_per_decision"] < 1.1


def _correlated_tails(shared: bool) -> dict:
    """correlated-tails' summary per strategy, its regime shared or one chain per venue: the
    hedged strategies on the trio engine, the others on the fast one (the same results)."""
    scenario = load("correlated-tails")
    scenario = dataclasses.replace(
        scenario, regime=dataclasses.replace(scenario.regime, shared=shared)
    )
    summary = {}
    for engine, names in (("trio", ("one_venue", "hedged_p95")), ("fast", ("first_2", "ask_all"))):
        chosen = tuple(s for s in scenario.strategies if s.name in names)
        result = run(dataclasses.replace(scenario, strategies=chosen), engine=engine)
        summary |= result.summary["strategies"]
    return {name: s["decision_ms"] | s for name, s in summary.items()}


# The p99s (ms) correlated-tails's description quotes, slow together and slow independently.
CORRELATED_P99_MS = {
    True: {"one_venue": 25.6, "hedged_p95": 23.2, "first_2": 25.3, "ask_all": 21.1},
    False: {"one_venue": 24.6, "hedged_p95": 2.4, "first_2": 1.4, "ask_all": 1.2},
}


def _quoted(summary: dict, shared: bool) -> None:
    """The description's figures are the run's, and it quotes each of them."""
    description = load("correlated-tails").description
    for name, p99 in CORRELATED_P99_MS[shared].items():
        assert round(summary[name]["p99"], 1) == p99, name
        assert f"{p99} ms" in description, name


def test_correlated_tails_shared_slowness_leaves_hedging_and_first_k_little_to_buy() -> None:
    """Slow together (one chain, stressed 2% of the time at 25x): one venue p99 25.6 ms;
    hedged 23.2 ms, first_2 25.3 ms, ask_all 21.1 ms: none below 20 ms (a stressed venue's
    fastest draws are ~20 ms), for up to three times the load."""
    s = _correlated_tails(shared=True)
    _quoted(s, shared=True)
    assert s["one_venue"]["p99"] > 20
    for name in ("hedged_p95", "first_2", "ask_all"):
        assert 20 < s[name]["p99"] <= s["one_venue"]["p99"], name
    assert 1.0 < s["hedged_p95"]["venue_requests_per_decision"] < 1.1
    assert s["ask_all"]["venue_requests_per_decision"] == 3.0


def test_correlated_tails_independent_slowness_is_what_hedging_and_first_k_cut() -> None:
    """The same venues, each on its own chain: one venue still p99 24.6 ms, but hedged 2.4 ms,
    first_2 1.4 ms (two of three stressed at once: 3 x 0.02^2 = 0.1% of requests), ask_all
    1.2 ms: all three under 3 ms, well under a stressed venue's ~20 ms."""
    s = _correlated_tails(shared=False)
    _quoted(s, shared=False)
    assert s["one_venue"]["p99"] > 20
    for name in ("hedged_p95", "first_2", "ask_all"):
        assert s[name]["p99"] < 3, name
    assert s["ask_all"]["p99"] < s["first_2"]["p99"] < s["hedged_p95"]["p99"]
    assert 1.0 < s["hedged_p95"]["venue_requests_per_decision"] < 1.1
