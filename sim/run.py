"""Run a scenario: draw once, race every strategy on the same draws, summarize."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from sim.draws import Draws, draw
from sim.engine import Records, run_trio
from sim.metrics import latency_histogram, latency_ms
from sim.scenario import Scenario


@dataclass(frozen=True)
class StrategyResult:
    """One strategy's run: per-request records and its decision-latency histogram."""

    name: str
    records: Records
    decision_histogram: HdrHistogram


@dataclass(frozen=True)
class RunResult:
    """A whole run: the scenario, its draws, every strategy's result and the summary dict."""

    scenario: Scenario
    draws: Draws
    strategies: dict[str, StrategyResult]
    summary: dict[str, Any]


def run(scenario: Scenario) -> RunResult:
    """Run every strategy of `scenario` on one set of draws (common random numbers)."""
    draws = draw(scenario)
    results = {}
    for entry in scenario.strategies:
        records = run_trio(draws, entry.strategy)
        results[entry.name] = StrategyResult(
            entry.name, records, latency_histogram(records.decision_s)
        )
    return RunResult(scenario, draws, results, summarize(scenario, results))


def summarize(scenario: Scenario, results: dict[str, StrategyResult]) -> dict[str, Any]:
    """The summary: a contract whose keys later versions only add to."""
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "requests": scenario.requests,
        "engine": "trio",
        "strategies": {name: _strategy_summary(scenario, r) for name, r in results.items()},
    }


def _strategy_summary(scenario: Scenario, result: StrategyResult) -> dict[str, Any]:
    records = result.records
    decided = int((records.venue >= 0).sum())
    wins = [int((records.venue == v).sum()) for v in range(len(scenario.venues))]
    asked = int(records.venue_requests.sum())
    return {
        "decision_ms": latency_ms(result.decision_histogram, records.decision_s),
        "no_quote": scenario.requests - decided,
        "venue_wins": {spec.name: w for spec, w in zip(scenario.venues, wins, strict=True)},
        "venue_requests_per_decision": round(asked / decided, 6) if decided else None,
    }
