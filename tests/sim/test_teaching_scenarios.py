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
