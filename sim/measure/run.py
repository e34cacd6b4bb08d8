"""Run a scenario: draw once, race every strategy on the same draws, summarize.

`run` is also the Python API (`sim.run`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from hdrh.histogram import HdrHistogram

from sim.engines.fast import Prepared
from sim.engines.records import ORDER_REJECTS, Records
from sim.measure.caveats import caveats
from sim.measure.frames import requests_frame
from sim.measure.histograms import corrected_latency_ms, latency_histogram, latency_ms
from sim.measure.lag import schedule_lag_summary
from sim.measure.pieces import in_pieces, resuming
from sim.measure.quality import arrival_touches, oracle_prices
from sim.measure.requests_table import request_columns
from sim.measure.strategy_runs import choose_engine, fast_records, trio_records
from sim.measure.tally import Tally
from sim.model.draws import Draws, draw
from sim.model.errors import ScenarioError
from sim.model.fingerprint import draws_fingerprint
from sim.model.scenario import NamedStrategy, Scenario, load, loads, parse
from strategies.registry import Strategy

if TYPE_CHECKING:
    import pandas as pd

# A run's per-request records, one field a column (RunResult.records): requests.csv has the
# same columns in this order, in milliseconds where these are in seconds
# (sim.measure.requests_table, sim.report.requests_file).
RECORD_FIELDS = np.dtype(
    [
        ("arrival_s", "f8"),
        ("side", "i1"),
        ("decision_s", "f8"),
        ("venue", "i4"),
        ("outcome", "i1"),
        ("fill_s", "f8"),
        ("price", "f8"),
        ("filled_size", "f8"),
        ("orders", "i4"),
    ]
)


class NetworkMode(Protocol):
    """Venues that a run races somewhere other than this process (sim.Network: FIX servers
    over TCP), and the run that races them: `run`'s `network` argument."""

    def run(
        self,
        scenario: Scenario,
        source: str | Path | None,
        progress: Callable[[str, int], None] | None,
        engine: str,
    ) -> RunResult:
        """`sim.run(scenario, ...)` against these venues (`source`: the file or bundled name
        `scenario` was loaded from, if any)."""


@dataclass(frozen=True)
class StrategyResult:
    """One strategy's run: per-request records, its decision and fill latency histograms, and
    the mid and oracle price at each request's arrival (a closed loop's arrivals differ by
    strategy)."""

    name: str
    records: Records
    decision_histogram: HdrHistogram
    fill_histogram: HdrHistogram
    arrival_mid: np.ndarray
    oracle: np.ndarray


@dataclass(frozen=True)
class RunResult:
    """A whole run: the scenario, its draws, every strategy's result and the summary dict."""

    scenario: Scenario
    draws: Draws
    strategies: dict[str, StrategyResult]
    summary: dict[str, Any]

    def records(self, strategy: str) -> np.ndarray:
        """Strategy `strategy`'s per-request records as one numpy structured array.

        Fields: `arrival_s` (engine time), `side` (+1 buy, -1 sell), `decision_s` (first race:
        decision time minus arrival; NaN for no quote), `venue` (the index that race chose,
        -1 for none), `outcome` (an index into sim.OUTCOMES: filled, expired, price_moved,
        no_liquidity, venue_failed, no_quote), `fill_s` (fill report minus arrival; NaN unless
        all of it filled), `price` (the VWAP of what filled; NaN if nothing did),
        `filled_size` (all of the order, or what part of a split filled) and `orders`.
        """
        r = self._strategy(strategy).records
        elsewhere = {"side": self.draws.side, "price": r.fill_price}  # not Records' own names
        table = np.empty(self.draws.requests, dtype=RECORD_FIELDS)
        for field in RECORD_FIELDS.names:
            table[field] = elsewhere[field] if field in elsewhere else getattr(r, field)
        return table

    def columns(self, strategy: str) -> dict[str, np.ndarray]:
        """Strategy `strategy`'s per-request columns as requests.csv names them: the records'
        fields in milliseconds where they are in seconds (`arrival_ms`, `decision_ms`,
        `fill_ms`), then `slippage_bps` and `shortfall_bps` (against the arrival mid and the
        oracle price, positive worse, NaN where nothing filled; the summary's definitions).
        `side`, `venue` and `outcome` stay codes as in `records`."""
        mine = self._strategy(strategy)
        return request_columns(self.records(strategy), mine.arrival_mid, mine.oracle)

    def _strategy(self, name: str) -> StrategyResult:
        """The result of the strategy `name`; a KeyError naming the run's if it has none."""
        try:
            return self.strategies[name]
        except KeyError:
            known = ", ".join(self.strategies)
            raise KeyError(f"no strategy {name!r} in this run (its strategies: {known})") from None

    def to_pandas(self, strategy: str | None = None) -> pd.DataFrame:
        """The requests of every strategy (or of `strategy` alone) as a pandas DataFrame, one
        row per request and strategy: `strategy`, `request`, then `columns`, with `strategy`,
        `side`, `venue` (NaN for none) and `outcome` as categoricals of all their names (the
        run's strategies and venues, buy and sell, OUTCOMES). Needs pandas (`pip install
        'quoterace[pandas]'`): ImportError saying so without it."""
        names = list(self.strategies) if strategy is None else [strategy]
        venues = [v.name for v in self.scenario.venues]
        return requests_frame({n: self.columns(n) for n in names}, list(self.strategies), venues)


def run(
    scenario: Scenario | dict | str | Path,
    strategies: Sequence[Strategy | NamedStrategy | str | type] | None = None,
    *,
    seed: int | None = None,
    requests: int | None = None,
    progress: Callable[[str, int], None] | None = None,
    engine: str = "auto",
    network: NetworkMode | None = None,
) -> RunResult:
    """Run `scenario` (a Scenario, a path, a bundled name, a dict as parsed TOML or TOML text:
    `read_scenario`) and summarize it.

    Every strategy runs on one set of draws and one market path (common random numbers).
    `strategies` replaces the scenario's: strategy objects (reported by their `name=`, else
    their kind), kinds by name or class (the scenario's own strategy of that kind, with its
    parameters, when it has one; else the defaults), or NamedStrategy; `seed` and `requests`
    override the scenario's. `progress(label, n)`, if given, hears of requests as they start (label:
    "<scenario>: <strategy>"). `engine`: "trio" races every request as trio tasks; "fast"
    decides them with numpy (sim.engines.fast), for scenarios whose requests do not interact; "auto"
    (the default) takes the fast engine when it can. Both give the same per-request results.
    `network`: race the venues as FIX servers over TCP instead (sim.network), on the trio
    engine and the wall clock; local servers need `scenario` as a path or bundled name.
    Bad input raises ScenarioError, as a bad scenario file would.
    """
    source = scenario if isinstance(scenario, str | Path) and not _toml_text(scenario) else None
    scenario = _scenario(scenario, strategies, seed, requests)
    if network is not None:
        return network.run(scenario, source, progress, engine)
    engine = choose_engine(engine, scenario)
    draws = draw(scenario)
    mid = scenario.mid_path()
    closed = scenario.arrivals.clients if scenario.arrivals.closed else None
    results, tallies = {}, {}
    prepared = Prepared(draws, mid, scenario.venues) if engine == "fast" and not closed else None
    scheduled = None  # an open loop's mids and oracle, the same for every strategy
    for entry in scenario.strategies:
        if engine == "fast":
            records = fast_records(scenario, entry, draws, mid, prepared)
            if progress is not None:
                progress(f"{scenario.name}: {entry.name}", scenario.requests)
        else:
            records = trio_records(scenario, entry, draws, mid, closed, progress)
        if scheduled is None or closed:
            mids = mid.at(records.arrival_s)
            touches = arrival_touches(mid, records.arrival_s, draws.side)
            oracle = oracle_prices(draws, scenario.venues, mids, scenario.order.size, touches)
            scheduled = mids, oracle
        results[entry.name], tally = strategy_result(
            scenario, draws, entry.name, records, *scheduled
        )
        tallies[entry.name] = tally, records
    return RunResult(scenario, draws, results, summarize(scenario, tallies, engine))


def strategy_result(
    scenario: Scenario,
    draws: Draws,
    name: str,
    records: Records,
    mids: np.ndarray,
    oracle: np.ndarray,
) -> tuple[StrategyResult, Tally]:
    """Strategy `name`'s result from its records, and the mid and oracle price at each
    arrival; with its tally, for the summary."""
    tally = Tally(len(scenario.venues))
    tally.add_in_chunks(records, draws.side, mids, oracle)
    histograms = tally.decision.histogram, tally.fill.histogram
    return StrategyResult(name, records, *histograms, mids, oracle), tally


def summary(
    scenario: Scenario | dict | str | Path,
    strategies: Sequence[Strategy | NamedStrategy | str | type] | None = None,
    *,
    seed: int | None = None,
    requests: int | None = None,
    progress: Callable[[str, int], None] | None = None,
    engine: str = "auto",
) -> dict[str, Any]:
    """`run(...).summary`, byte for byte, without keeping per-request records or draws.

    On the fast engine the requests are decided in pieces, a chunk at a time, so that memory
    stays flat however many requests there are (sim.measure.pieces; the README's "Memory"
    says how much). Where they cannot be (learning the scan cannot resume, rules over arrays
    the scan does not serve (deadline, threshold) through servers that propagate cancels, a
    closed loop but through servers) and on the trio engine this is `run(...).summary`.
    Arguments as for `run`.
    """
    scenario = _scenario(scenario, strategies, seed, requests)
    return scenario_summary(scenario, progress=progress, engine=engine)


def scenario_summary(
    scenario: Scenario,
    *,
    progress: Callable[[str, int], None] | None = None,
    engine: str = "auto",
    while_drawing: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """`summary` of a Scenario as given; `while_drawing()`, if given, is called once before
    any request is decided, while the first are drawn where they are drawn in pieces (the
    CLI loads numba meanwhile): not part of `sim.summary`, which takes `run`'s arguments."""
    groups = resuming(scenario) if choose_engine(engine, scenario) == "fast" else None
    if groups is None:
        if while_drawing is not None:
            while_drawing()
        return run(scenario, progress=progress, engine=engine).summary
    decided, loops = in_pieces(scenario, groups, progress, while_drawing)
    return summarize(scenario, decided, "fast", loops=loops)


def read_scenario(source: Scenario | dict | str | Path) -> Scenario:
    """`source` as a Scenario: a dict as parsed TOML (`sim.model.scenario.parse`), a str with a
    newline as TOML text (a path or a bundled name never holds one), else a path or a bundled
    name."""
    if isinstance(source, Scenario):
        return source
    if isinstance(source, dict):
        return parse(source, default_name="scenario")
    return loads(source) if _toml_text(source) else load(source)


def _toml_text(source: str | Path) -> bool:
    return isinstance(source, str) and "\n" in source


def _scenario(scenario, strategies, seed: int | None, requests: int | None) -> Scenario:
    """The scenario to run: read, with the overrides and strategies of `run`'s arguments."""
    scenario = read_scenario(scenario)
    scenario = scenario.with_overrides(seed=seed, requests=requests)
    return scenario if strategies is None else scenario.with_strategies(strategies)


def summarize(
    scenario: Scenario,
    strategies: dict[str, tuple[Tally, Records]],
    engine: str = "trio",
    network: dict[str, Any] | None = None,
    failures: dict[str, dict[str, str | None]] | None = None,
    loops: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The summary, from each strategy's tally of its requests and its run-level records: a
    contract whose keys later versions only add to. A network run adds where its venues were
    (`network`) and, per strategy, why any of them failed (`failures`); a wall-clock run adds
    `warnings`, what makes its numbers mean little (sim.measure.caveats); a closed loop
    summed up a piece at a time gives each strategy's corrected figures (`loops`:
    sim.measure.pieces). `draws` names the run's draws (sim.model.fingerprint), so that two
    runs' results are known to pair."""
    summary = {
        "scenario": scenario.name,
        "description": scenario.description,
        "seed": scenario.seed,
        "requests": scenario.requests,
        "draws": draws_fingerprint(scenario),
        "engine": engine,
        "clock": scenario.clock,
        "transport": "in-process" if network is None else "fix-tcp",
        **({} if network is None else {"network": network}),
        "strategies": {
            name: _strategy_summary(
                scenario, tally, records, None if loops is None else loops[name]
            )
            | ({} if failures is None else {"venue_failures": failures[name]})
            for name, (tally, records) in strategies.items()
        },
    }
    if scenario.clock == "real":
        summary["warnings"] = caveats(scenario, summary["strategies"])
    return summary


def _strategy_summary(
    scenario: Scenario, tally: Tally, records: Records, loop: dict[str, Any] | None
) -> dict[str, Any]:
    n = scenario.requests
    decided = int(tally.wins.sum())
    asked = int(records.venue_requests.sum())
    names = [v.name for v in scenario.venues]
    return {
        "decision_ms": tally.decision.ms(),
        "no_quote": n - decided,
        "venue_wins": {name: int(w) for name, w in zip(names, tally.wins, strict=True)},
        "venue_requests_per_decision": _ratio(asked, decided),
        "fill_rate": round(tally.filled / n, 6),
        "reject_rate": {
            reason: _ratio(int(count), tally.orders) or 0.0
            for reason, count in zip(ORDER_REJECTS, records.rejects, strict=True)
        },
        "slippage_bps": tally.slippage.distribution(),
        "shortfall_bps": tally.shortfall.distribution(),
        "fill_ms": tally.fill.ms(),
        "venue_requests_per_fill": _ratio(asked, tally.filled),
        **_load_summary(scenario, records),
        **(_closed_loop_summary(scenario, records) if loop is None else loop),
        **_real_clock_summary(scenario, records),
    }


def _load_summary(scenario: Scenario, records: Records) -> dict[str, Any]:
    """Throughput and what the venues' servers did (docs/design.md section 7)."""
    names = [v.name for v in scenario.venues]
    served = [v.service is not None for v in scenario.venues]
    busy = float(records.venue_busy_s.sum())
    return {
        "requests_per_s": _ratio(scenario.requests, records.span_s),
        "venue_utilization": {
            name: None if np.isnan(u) else round(float(u), 6)
            for name, u in zip(names, records.venue_utilization, strict=True)
        },
        "venue_queue_wait_ms": {
            name: round(float(w) * 1e3, 6) if s else None
            for name, w, s in zip(names, records.venue_wait_s, served, strict=True)
        },
        "venue_work_wasted": _ratio(float(records.venue_wasted_s.sum()), busy),
    }


def _closed_loop_summary(scenario: Scenario, records: Records) -> dict[str, Any]:
    """For a closed loop, decision latency corrected for coordinated omission (docs/design.md
    section 8), with the expected interval it assumed."""
    arrivals = scenario.arrivals
    if not arrivals.closed:
        return {}
    if arrivals.expected_interval_ms is not None:
        interval_s = arrivals.expected_interval_ms * 1e-3
    else:
        interval_s = _median_interval(records.arrival_s, arrivals.clients)
    try:
        corrected = corrected_latency_ms(records.decision_s, interval_s)
    except ValueError as e:
        raise ScenarioError("arrivals.expected_interval_ms", str(e), scenario.file) from None
    return {"expected_interval_ms": round(interval_s * 1e3, 6), "decision_ms_corrected": corrected}


def _median_interval(arrival_s: np.ndarray, clients: int) -> float:
    """The median time between one client's consecutive requests (0 if none sent two)."""
    gaps = [np.diff(arrival_s[c::clients]) for c in range(min(clients, arrival_s.size))]
    gaps = np.concatenate(gaps) if gaps else np.empty(0)
    return float(np.median(gaps)) if gaps.size else 0.0


def _real_clock_summary(scenario: Scenario, records: Records) -> dict[str, Any]:
    """On the wall clock, how late timers woke (actual minus intended sleep), how late requests
    started against their schedule, and the rate of starts that held (sim.measure.lag)."""
    overshoot = records.timer_overshoot_s
    if overshoot.size == 0:
        return {}
    return {
        "timer_overshoot_ms": latency_ms(latency_histogram(overshoot), overshoot),
        **schedule_lag_summary(records, scenario.arrivals.closed),
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 6) if denominator else None
