"""Run a scenario: draw once, race every strategy on the same draws, summarize.

`run` is also the Python API (`sim.run`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from hdrh.histogram import HdrHistogram

from sim.engines.exact_sum import EXACT_UNITS, exactly
from sim.engines.fast import (
    Prepared,
    chained,
    resumed,
    resumes,
    run_fast,
    run_fast_legs,
    unsupported,
)
from sim.engines.queues import Served, venue_load
from sim.engines.records import ORDER_REJECTS, Records
from sim.engines.scan import Carried, needs_scan
from sim.engines.trio import Remote, run_trio
from sim.measure.caveats import caveats
from sim.measure.exact_percentiles import ExactPercentiles
from sim.measure.frames import requests_frame
from sim.measure.histograms import Corrected, corrected_latency_ms, latency_histogram, latency_ms
from sim.measure.lag import schedule_lag_summary
from sim.measure.quality import arrival_touches, oracle_prices
from sim.measure.requests_table import request_columns
from sim.measure.tally import CHUNK, Tally
from sim.model.draws import Draws, draw, draw_chunks
from sim.model.errors import ScenarioError
from sim.model.fingerprint import draws_fingerprint
from sim.model.market import MidPath
from sim.model.scenario import NamedStrategy, Scenario, load, loads, parse
from strategies.first_wins import FirstWins
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

    On the fast engine the requests are drawn, decided and added up CHUNK at a time
    (sim.measure.tally), and the market path behind them is forgotten, so that memory stays flat
    however many requests there are (the README's "Memory" says how much). Races that
    interact (a learning strategy, venue servers) are decided STEP requests at a time up to
    the last idle instant of each piece, what was learned and the venues' load carried across
    and the requests after that instant decided with the next (`_Resumed`). Where they cannot
    be (learning the scan cannot resume, rules over arrays through servers that propagate
    cancels, a closed loop but through servers) and on the trio engine this is
    `run(...).summary`. A closed loop's cuts carry its clients' next starts; its correction
    for coordinated omission is made once its expected interval is known (`_Loop`). Arguments
    as for `run`.
    """
    scenario = _scenario(scenario, strategies, seed, requests)
    if choose_engine(engine, scenario) != "fast":
        return run(scenario, progress=progress, engine=engine).summary
    groups = _resuming(scenario)
    if groups is None:
        return run(scenario, progress=progress, engine=engine).summary
    served = any(v.service is not None for v in scenario.venues)
    mid = scenario.mid_path()
    tallies = {entry.name: Tally(len(scenario.venues)) for entry in scenario.strategies}
    totals: dict[str, Records] = {}
    resumed = [_Resumed(scenario, entries, by, mid, tallies) for entries, by in groups]
    by_name = {e.name: r for r in resumed for e in r.entries}
    decided = 0
    closed = scenario.arrivals.closed
    # a closed loop of rules without servers: each strategy's clients chained chunk to chunk
    chains = {
        e.name: _Chain(scenario, e, mid)
        for e in scenario.strategies
        if closed and e.name not in by_name
    }
    for draws in _drawn_ahead(scenario, mid, CHUNK):
        earliest = [r.earliest() for r in resumed] + [c.earliest() for c in chains.values()]
        if not closed:
            earliest.append(float(draws.arrival_s.min()))
        mid.forget_before(min(earliest))  # no lookup goes back
        if closed:  # arrivals known once decided
            mids = oracle = prepared = None
        else:
            prepared = Prepared(draws, mid, scenario.venues)
            mids = mid.at(draws.arrival_s)
            touches = arrival_touches(mid, draws.arrival_s, draws.side)
            oracle = oracle_prices(draws, scenario.venues, mids, scenario.order.size, touches)
        decided += draws.requests
        for r in resumed:
            for name, records in r.decide(draws, mids, oracle, decided).items():
                totals[name] = _run_totals(totals.get(name), records)
        for entry in scenario.strategies:
            if entry.name in chains:
                records = chains[entry.name].decide(draws, tallies[entry.name])
                totals[entry.name] = _run_totals(totals.get(entry.name), records)
            elif entry.name not in by_name:
                records = fast_records(scenario, entry, draws, mid, prepared)
                tallies[entry.name].add(records, draws.side, mids, oracle)
                totals[entry.name] = _run_totals(totals.get(entry.name), records)
            if progress is not None:
                progress(f"{scenario.name}: {entry.name}", draws.requests)
    if served:
        totals = {n: by_name[n].load(n, r) if n in by_name else r for n, r in totals.items()}
    loops = None
    if closed:
        loops = {n: (chains[n] if n in chains else by_name[n].loops[n]).summary() for n in tallies}
    return summarize(scenario, {n: (tallies[n], totals[n]) for n in tallies}, "fast", loops=loops)


def _resuming(scenario: Scenario) -> list[tuple[list[NamedStrategy], object]] | None:
    """The strategies of an open loop on the fast engine whose races interact, in groups
    that `_Resumed` decides a chunk at a time, each with the strategy it scans; None when
    some cannot be (a learning strategy the scan cannot resume, rules over arrays that the
    scan does not serve, as deadline, through servers that propagate cancels: their races
    move the queues). In a closed loop, every strategy alone, when all resume there (through
    servers); without servers, none (rules over arrays are chained, `_Chain`), unless some
    learn."""
    served = any(v.service is not None for v in scenario.venues)
    if scenario.arrivals.closed:
        if scenario.arrivals.clients > CHUNK:  # a chunk's clients all wait on the one before
            return None
        if not served:  # rules over arrays, chained chunk to chunk (`_Chain`)
            return None if any(needs_scan(e.strategy) for e in scenario.strategies) else []
        # each strategy its own closed loop; adaptive's verdicts are read at time 0 on
        # (sim.engines.fast.resumed), where the forgetful market path no longer reaches
        if all(
            resumes(e.strategy, scenario.venues, closed=True) and e.strategy.kind != "adaptive"
            for e in scenario.strategies
        ):
            return [([entry], entry.strategy) for entry in scenario.strategies]
        return None
    groups: list[tuple[list[NamedStrategy], object]] = []
    rules = []
    for entry in scenario.strategies:
        if resumes(entry.strategy, scenario.venues):
            groups.append(([entry], entry.strategy))
        elif needs_scan(entry.strategy):
            return None
        elif served:
            rules.append(entry)
    if rules:
        if any(v.cancel_propagation for v in scenario.venues if v.service is not None):
            return None
        timeout = max(e.strategy.timeout_ms for e in rules)
        groups.append((rules, FirstWins(timeout_ms=timeout)))
    return groups


STEP = CHUNK  # requests a resumed scan decides at a time (its last idle instant ends each)


class _Resumed:
    """Strategies' run in a `summary`, decided STEP requests at a time by a scan that resumes
    from what the one before learned and stops at its last idle instant
    (sim.engines.fast.resumed); the requests after it wait for the next. `scan_as`: the
    strategy scanned, each of `entries` itself (one that learns, or first_wins through
    servers), or first_wins for rules over arrays whose races do not move the venues'
    queues (no cancel propagation): its scan serves the queues, and each rule decides on
    the quotes they gave."""

    def __init__(
        self,
        scenario: Scenario,
        entries: list[NamedStrategy],
        scan_as: object,
        mid: MidPath,
        tallies: dict[str, Tally],
    ) -> None:
        self.scenario, self.entries, self.scan_as, self.mid = scenario, entries, scan_as, mid
        self.carried = Carried()
        self.waiting: Draws | None = None  # drawn, not yet decided
        self.patience = 0  # waiting requests to scan at once (doubled while no idle instant)
        self.served: tuple[Served | None, ...] = ()  # the venues' load so far, through servers
        self.kept = {e.name: _Kept(tallies[e.name], len(scenario.venues)) for e in entries}
        self.clients = scenario.arrivals.clients if scenario.arrivals.closed else None
        self.loops = {e.name: _Loop(scenario) for e in entries} if self.clients else {}

    def earliest(self) -> float:
        """The first arrival not yet decided (infinity: none); in a closed loop, the first of
        the starts carried (0 before any)."""
        if self.clients:  # the requests not yet drawn start after those carried
            starts = self.carried.starts
            return 0.0 if starts is None else float(starts.min())
        waiting = self.waiting
        return float(waiting.arrival_s[0]) if waiting and waiting.requests else math.inf

    def decide(
        self, draws: Draws, mids: np.ndarray, oracle: np.ndarray, drawn: int
    ) -> dict[str, Records]:
        """Decide what `draws` (a chunk, with the mids and oracle prices at its arrivals)
        lets decide, and add up each chunk whose requests are all decided: per strategy the
        run-level records of the requests decided (none: no strategy). `drawn`: requests
        drawn so far."""
        for kept in self.kept.values():
            kept.chunks.append((draws.side, mids, oracle))
        last = drawn == self.scenario.requests
        decided: dict[str, Records] = {}
        for a in range(0, draws.requests, STEP):
            piece = draws.rows(slice(a, a + STEP))
            self.waiting = piece if self.waiting is None else self.waiting.then(piece)
            end = last and a + STEP >= draws.requests
            if not end and self.waiting.requests < self.patience:
                continue  # scanned already without an idle instant: wait for twice as many
            for name, records in self._scan(pause=not end):
                decided[name] = _run_totals(decided.get(name), records)
        for kept in self.kept.values():
            kept.add_up()
        return decided

    def _scan(self, pause: bool) -> Iterator[tuple[str, Records]]:
        """The waiting requests decided up to the last idle instant (all, unless `pause`).
        A scan that finds none decides nothing, and the next waits for twice as many, so that
        a queue that never empties is scanned a bounded number of times over (each scan
        starts from the first waiting request)."""
        s, waiting = self.scenario, self.waiting
        scanned = resumed(
            waiting,
            self.scan_as,
            venues=s.venues,
            mid=self.mid,
            order_size=s.order.size,
            seed=s.seed,
            carried=self.carried,
            pause=pause,
            clients=self.clients,
        )
        cut = scanned.arrival_s.size
        self.patience = 0 if cut else 2 * waiting.requests
        if cut == 0:
            return
        if pause:
            self.carried = scanned.carried
        head, self.waiting = waiting.rows(slice(0, cut)), waiting.rows(slice(cut, None))
        if scanned.queued is not None:
            self.served = scanned.queued.servers
        for entry in self.entries:
            itself = entry.strategy is self.scan_as
            records, legs = run_fast_legs(
                head,
                entry.strategy,
                venues=s.venues,
                mid=self.mid,
                order_size=s.order.size,
                max_retries=entry.max_retries,
                seed=s.seed,
                scanned=scanned if itself else None,
                queued=None if itself else scanned.queued,
            )
            at = None
            if self.clients:  # the mids and oracle prices at its arrivals, known now
                mids = self.mid.at(records.arrival_s)
                touches = arrival_touches(self.mid, records.arrival_s, head.side)
                at = mids, oracle_prices(head, s.venues, mids, s.order.size, touches)
                self.loops[entry.name].decided(records)
            self.kept[entry.name].decided(records, legs, head, at)
            yield entry.name, records

    def load(self, name: str, records: Records) -> Records:
        """`records` (strategy `name`'s, added up) with the venues' load over the whole run,
        as `venue_load` gives it for a run decided at once."""
        if not self.served:
            return records
        capacity = [v.capacity for v in self.scenario.venues]
        used = np.array([u / EXACT_UNITS for u in self.kept[name].used])
        load = venue_load(self.served, capacity, used, records.span_s)
        return dataclasses.replace(records, **load)


class _Chain:
    """One strategy's closed loop of a rule over arrays without venue servers in a
    `summary`, decided a chunk at a time: each request starts once its client's request
    before it ended (`clients` requests back), so each chunk's first requests start after
    the ends of the last ones of the chunk before (sim.engines.fast.chained)."""

    def __init__(self, scenario: Scenario, entry: NamedStrategy, mid: MidPath) -> None:
        self.scenario, self.entry, self.mid = scenario, entry, mid
        self.before: np.ndarray | None = None  # the ends of the last requests decided
        self.loop = _Loop(scenario)

    def earliest(self) -> float:
        """The earliest the requests not yet decided can start."""
        return 0.0 if self.before is None else float(self.before.min())

    def decide(self, draws: Draws, tally: Tally) -> Records:
        """Decide the chunk `draws` and add it to `tally`: its Records."""
        s, mid = self.scenario, self.mid
        clients = s.arrivals.clients
        try:
            timed, ends = chained(
                draws,
                self.entry.strategy,
                venues=s.venues,
                mid=mid,
                order_size=s.order.size,
                clients=clients,
                before=self.before,
            )
            self.before = ends[-clients:]
            records = run_fast(
                timed, self.entry.strategy, venues=s.venues, mid=mid, order_size=s.order.size
            )  # an open loop's, on the starts chained
        except ScenarioError as e:  # a limit met only during the run (a closed loop's span)
            raise e.in_file(s.file) from None
        mids = mid.at(records.arrival_s)
        touches = arrival_touches(mid, records.arrival_s, draws.side)
        tally.add(
            records, draws.side, mids, oracle_prices(draws, s.venues, mids, s.order.size, touches)
        )
        self.loop.decided(records)
        return records

    def summary(self) -> dict[str, Any]:
        return self.loop.summary()


class _Loop:
    """One strategy's closed loop in a `summary`, a piece of requests at a time, for what
    `_closed_loop_summary` makes of all of them: the gaps between each client's consecutive
    starts (their exact median is the expected interval, unless the scenario gives it) and
    the decision latencies, kept on disk until that interval is known, then corrected."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        given = scenario.arrivals.expected_interval_ms is not None
        self.gaps = None if given else ExactPercentiles()
        self.last = np.empty(0)  # the arrivals of the last `clients` requests so far
        self.latency = tempfile.TemporaryFile()  # noqa: SIM115 (closed once read back)
        self.latencies = 0

    def decided(self, records: Records) -> None:
        """The next requests decided, in order: their `records`."""
        if self.gaps is not None:  # request i + clients is its client's next after i
            k = self.scenario.arrivals.clients
            arrivals = np.concatenate([self.last, records.arrival_s])
            if arrivals.size > k:
                self.gaps.add(arrivals[k:] - arrivals[:-k])
            self.last = arrivals[-k:].copy()  # not a view holding the whole piece
        decision_s = records.decision_s[~np.isnan(records.decision_s)]
        decision_s.tofile(self.latency)
        self.latencies += decision_s.size

    def summary(self) -> dict[str, Any]:
        """`_closed_loop_summary` of every request decided."""
        arrivals = self.scenario.arrivals
        if self.gaps is None:
            interval_s = arrivals.expected_interval_ms * 1e-3
        else:
            interval_s = _median(self.gaps)
        corrected = Corrected(interval_s)
        with self.latency as latency:
            latency.seek(0)
            for _ in range(0, self.latencies, CHUNK):
                corrected.record(np.fromfile(latency, dtype=np.float64, count=CHUNK))
        try:
            ms = corrected.ms()
        except ValueError as e:
            file = self.scenario.file
            raise ScenarioError("arrivals.expected_interval_ms", str(e), file) from None
        return {"expected_interval_ms": round(interval_s * 1e3, 6), "decision_ms_corrected": ms}


def _median(values: ExactPercentiles) -> float:
    """np.median of `values` (0 if none), as `_median_interval` takes it."""
    n = values.count
    if not n:
        return 0.0
    ranks = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
    found = values.ranked(ranks)
    return found[n // 2] if n % 2 else (found[n // 2 - 1] + found[n // 2]) / 2


class _Kept:
    """One strategy's requests decided in pieces (`_Resumed`), added to its tally a chunk of
    requests at a time, in order, as `Tally.add_in_chunks` adds a whole run's; and the
    service time of the quotes it acted on, summed exactly."""

    def __init__(self, tally: Tally, venues: int) -> None:
        self.tally = tally
        # to add up: sides, and an open loop's mids and oracle prices
        self.chunks: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]] = []
        self.pieces: list[Records] = []  # decided, not yet added up
        self.at: list[tuple[np.ndarray, np.ndarray]] = []  # a closed loop's: theirs
        self.used = [0] * venues  # in EXACT_UNITs

    def decided(
        self,
        records: Records,
        legs: np.ndarray,
        draws: Draws,
        at: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """The next requests decided: their `records`, and the first attempt's `legs`
        (leg x request, the venue of each order) on `draws`; a closed loop's mids and oracle
        prices at their arrivals (`at`)."""
        self.pieces.append(records)
        if at is not None:
            self.at.append(at)
        for v, d in enumerate(draws.venues):
            if d.service_s is not None:
                service = np.broadcast_to(np.asarray(d.service_s[0]), legs.shape)[legs == v]
                self.used[v] += exactly(service)

    def add_up(self) -> None:
        """Add to the tally every chunk whose requests are all decided."""
        have = sum(p.decision_s.size for p in self.pieces)
        while self.chunks and have >= self.chunks[0][0].size:
            side, mids, oracle = self.chunks.pop(0)
            joined = _joined(self.pieces)
            k = side.size
            if mids is None:
                mids, oracle = (np.concatenate(x) for x in zip(*self.at, strict=True))
                self.at = [(mids[k:], oracle[k:])]
            self.tally.add(joined, side, mids[:k], oracle[:k], slice(0, k))
            self.pieces = [_rows(joined, slice(k, None))]
            have -= k


# Records' per-request fields (the others are the run's)
PER_REQUEST = ("arrival_s", "decision_s", "venue", "outcome", "fill_price", "fill_s")
PER_REQUEST += ("filled_size", "orders")


def _joined(pieces: list[Records]) -> Records:
    """Records of consecutive requests as one: their per-request fields joined (the run-level
    ones are the last piece's)."""
    fields = {n: np.concatenate([getattr(p, n) for p in pieces]) for n in PER_REQUEST}
    return dataclasses.replace(pieces[-1], **fields)


def _rows(records: Records, rows: slice) -> Records:
    """The per-request fields of `records` for `rows` alone."""
    fields = {n: getattr(records, n)[rows] for n in PER_REQUEST}
    return dataclasses.replace(records, **fields)


def _drawn_ahead(scenario: Scenario, mid: MidPath, size: int) -> Iterator[Draws]:
    """`draw_chunks(scenario, size)`, each chunk drawn in a background thread while the one
    before is decided, and its market path made in another, as far as its quotes reach (the
    strategies' longest timeout after its last arrival; lookups beyond make the rest): the
    work a fast run leaves to one core, spread over both. Draws are keyed, so nothing moves."""
    reach = max(entry.strategy.timeout_ms for entry in scenario.strategies) * 1e-3
    chunks = draw_chunks(scenario, size)

    def next_chunk() -> Draws | None:
        draws = next(chunks, None)
        if draws is not None and draws.requests and draws.arrival_s is not None:
            mid.prefetch(float(draws.arrival_s[-1]) + reach)
        return draws

    with ThreadPoolExecutor(1, thread_name_prefix="draws") as pool:
        ahead = pool.submit(next_chunk)
        while (draws := ahead.result()) is not None:
            ahead = pool.submit(next_chunk)
            yield draws


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


def _run_totals(before: Records | None, chunk: Records) -> Records:
    """`chunk`'s Records with the run-level counts of every chunk so far added up (the fast
    engine has no timers, and the venues' load through servers `_Resumed.load` makes for the
    whole run: the other run-level fields are the same in each)."""
    if before is None:
        return chunk
    return dataclasses.replace(
        chunk,
        rejects=before.rejects + chunk.rejects,
        venue_requests=before.venue_requests + chunk.venue_requests,
        span_s=max(before.span_s, chunk.span_s),
    )


def fast_records(
    scenario: Scenario,
    entry: NamedStrategy,
    draws: Draws,
    mid: MidPath,
    prepared: Prepared | None,
) -> Records:
    """One strategy's run on the fast engine (an open loop's strategies share `prepared`)."""
    try:
        return run_fast(
            draws,
            entry.strategy,
            venues=scenario.venues,
            mid=mid,
            order_size=scenario.order.size,
            prepared=prepared,
            max_retries=entry.max_retries,
            seed=scenario.seed,
            clients=scenario.arrivals.clients if scenario.arrivals.closed else None,
        )
    except ScenarioError as e:  # a limit met only during the run (a closed loop's span)
        raise e.in_file(scenario.file) from None


def trio_records(
    scenario: Scenario,
    entry: NamedStrategy,
    draws: Draws,
    mid: Callable[[float], float],
    clients: int | None,
    progress: Callable[[str, int], None] | None,
    remote: Remote | None = None,
) -> Records:
    """One strategy's run on the trio engine; `remote`: its venues in network mode
    (sim.network.run)."""
    try:
        return run_trio(
            draws,
            entry.strategy,
            venues=scenario.venues,
            mid=mid,
            order_size=scenario.order.size,
            max_retries=entry.max_retries,
            seed=scenario.seed,
            clients=clients,
            clock=scenario.clock,
            on_progress=None
            if progress is None
            else functools.partial(progress, f"{scenario.name}: {entry.name}"),
            remote=remote,
        )
    except ScenarioError as e:  # a limit met only during the run (a closed loop's span)
        raise e.in_file(scenario.file) from None


ENGINES = ("auto", "trio", "fast")


def choose_engine(engine: str, scenario: Scenario) -> str:
    """The engine that will run `scenario`: "auto" is the fast one where it can."""
    if engine not in ENGINES:
        raise ScenarioError("--engine", f"must be one of {', '.join(ENGINES)} (got {engine!r})")
    why = unsupported(scenario)
    if engine == "fast" and why is not None:
        raise ScenarioError("--engine", f"the fast engine cannot run {scenario.name}: {why}")
    return "trio" if engine == "trio" or why is not None else "fast"


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
    summed up a piece at a time gives each strategy's corrected figures (`loops`, `_Loop`).
    `draws` names the run's draws (sim.model.fingerprint), so that two runs' results are
    known to pair."""
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
