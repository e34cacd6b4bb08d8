"""Run a scenario: draw once, race every strategy on the same draws, summarize."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from sim.draws import Draws, draw
from sim.engine import FILLED, Records, run_trio
from sim.market import MidPath
from sim.metrics import latency_histogram, latency_ms
from sim.quality import arrival_mids, cost_bps, distribution, oracle_prices
from sim.scenario import Scenario
from venues.last_look import REJECT_REASONS


@dataclass(frozen=True)
class StrategyResult:
    """One strategy's run: per-request records and its decision and fill latency histograms."""

    name: str
    records: Records
    decision_histogram: HdrHistogram
    fill_histogram: HdrHistogram


@dataclass(frozen=True)
class RunResult:
    """A whole run: the scenario, its draws, the mid at each arrival, every strategy's result
    and the summary dict."""

    scenario: Scenario
    draws: Draws
    arrival_mid: np.ndarray
    strategies: dict[str, StrategyResult]
    summary: dict[str, Any]


def run(scenario: Scenario) -> RunResult:
    """Run every strategy of `scenario` on one set of draws and one market path (common random
    numbers)."""
    draws = draw(scenario)
    mid = MidPath(scenario.market, scenario.seed)
    results = {}
    for entry in scenario.strategies:
        records = run_trio(
            draws,
            entry.strategy,
            venues=scenario.venues,
            mid=mid,
            order_size=scenario.order.size,
            max_retries=entry.max_retries,
        )
        results[entry.name] = StrategyResult(
            entry.name,
            records,
            latency_histogram(records.decision_s),
            latency_histogram(records.fill_s),
        )
    mids = arrival_mids(draws, mid)
    oracle = oracle_prices(draws, scenario.venues, mids, scenario.order.size)
    summary = summarize(scenario, draws, results, mids, oracle)
    return RunResult(scenario, draws, mids, results, summary)


def summarize(
    scenario: Scenario,
    draws: Draws,
    results: dict[str, StrategyResult],
    mids: np.ndarray,
    oracle: np.ndarray,
) -> dict[str, Any]:
    """The summary: a contract whose keys later versions only add to."""
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "requests": scenario.requests,
        "engine": "trio",
        "strategies": {
            name: _strategy_summary(scenario, draws, r, mids, oracle) for name, r in results.items()
        },
    }


def _strategy_summary(
    scenario: Scenario,
    draws: Draws,
    result: StrategyResult,
    mids: np.ndarray,
    oracle: np.ndarray,
) -> dict[str, Any]:
    records = result.records
    n = scenario.requests
    decided = int((records.venue >= 0).sum())
    filled = int((records.outcome == FILLED).sum())
    orders = int(records.orders.sum())
    wins = [int((records.venue == v).sum()) for v in range(len(scenario.venues))]
    asked = int(records.venue_requests.sum())
    side = draws.side.astype(float)
    return {
        "decision_ms": latency_ms(result.decision_histogram, records.decision_s),
        "no_quote": n - decided,
        "venue_wins": {spec.name: w for spec, w in zip(scenario.venues, wins, strict=True)},
        "venue_requests_per_decision": _ratio(asked, decided),
        "fill_rate": round(filled / n, 6),
        "reject_rate": {
            reason: _ratio(int(count), orders) or 0.0
            for reason, count in zip(REJECT_REASONS, records.rejects, strict=True)
        },
        "slippage_bps": distribution(cost_bps(side, records.fill_price, mids, mids)),
        "shortfall_bps": distribution(cost_bps(side, records.fill_price, oracle, mids)),
        "fill_ms": latency_ms(result.fill_histogram, records.fill_s),
        "venue_requests_per_fill": _ratio(asked, filled),
    }


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None
