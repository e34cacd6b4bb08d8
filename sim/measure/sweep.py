"""`quoterace sweep` and `sim.sweep`: run a scenario over a grid of settings, on a process
pool or on Dask.

    quoterace sweep default --set 'venues[0].latency.median_ms=0.5,1,2' \\
                            --set 'arrivals.rate_per_s=100,1000'

Each `--set KEY=V1,V2,...` names a key of the scenario file (the path its error messages use,
`[*]` for every entry of an array: sim.model.settings) and its values; the grid is the product
of the sets. Every point is the scenario file with those keys set, checked as a file would be,
so a bad key or value is one line before anything runs. Points run on a local process pool
(`--workers`, default: every core; 1: in this process) or, with `--dask tcp://HOST:PORT`, on a
Dask cluster (the `quoterace[dask]` extra). A point that fails while running is reported, and
the rest of the sweep completes. Results: one row per point and strategy (`sweep.csv`, or a
pandas DataFrame from `sim.sweep`), and a plot of each metric against each swept parameter.
"""

from __future__ import annotations

import itertools
import operator
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from sim.measure.run import summary
from sim.measure.strategy_runs import choose_engine
from sim.model.errors import ScenarioError
from sim.model.scenario import NamedStrategy
from sim.model.settings import OPTION, Source, read_source, steps
from strategies.registry import Strategy

Metric = Callable[[dict[str, Any]], Any]  # a strategy's summary -> a row's value


def _at(*path: str) -> Metric:
    return lambda s: reduce(operator.getitem, path, s)


def _utilization(combine: Callable[[list[float]], float]) -> Metric:
    """Utilization combined over the venues with servers (`service` and `capacity`: the
    summary gives the others None); None when none has."""

    def metric(s: dict[str, Any]) -> float | None:
        served = [u for u in s["venue_utilization"].values() if u is not None]
        return round(combine(served), 6) if served else None

    return metric


# What each row reports of a strategy's summary (docs/summary.md), in sweep.csv's order.
METRICS: dict[str, Metric] = {
    "p50_ms": _at("decision_ms", "p50"),
    "p99_ms": _at("decision_ms", "p99"),
    "p99.9_ms": _at("decision_ms", "p99.9"),
    "fill_rate": _at("fill_rate"),
    "slippage_bps": _at("slippage_bps", "mean"),
    "shortfall_bps": _at("shortfall_bps", "mean"),
    "venue_requests_per_decision": _at("venue_requests_per_decision"),
    "no_quote": _at("no_quote"),
    "fill_p50_ms": _at("fill_ms", "p50"),
    "fill_p99_ms": _at("fill_ms", "p99"),
    "requests_per_s": _at("requests_per_s"),
    "utilization_max": _utilization(max),
    "utilization_mean": _utilization(lambda u: sum(u) / len(u)),
    "venue_work_wasted": _at("venue_work_wasted"),
}


def grid(sets: Sequence[tuple[str, Iterable[Any]]]) -> list[dict[str, Any]]:
    """Every combination of the sets' values, the first set varying slowest (numpy numbers
    as Python's, as a TOML file would give them)."""
    keys, lists = [], []
    for key, values in sets:
        steps(key)  # a key path, or one line saying it is not
        if key in keys:
            raise ScenarioError(OPTION, f"{key!r} is set twice")
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
            raise ScenarioError(OPTION, f"{key!r}: give a list of values (got {values!r})")
        listed = [v.item() if isinstance(v, np.generic) else v for v in values]
        if not listed:
            raise ScenarioError(OPTION, f"{key!r}: give at least one value")
        keys.append(key)
        lists.append(listed)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*lists)]


Strategies = Sequence[Strategy | NamedStrategy | str | type] | None


def run_point(
    source: Source,
    settings: dict[str, Any],
    engine: str,
    overrides: tuple[Strategies, int | None, int | None],
) -> dict[str, Any]:
    """One point's summary (runs in a worker process or on a Dask worker): `overrides` are
    `sim.summary`'s strategies, seed and requests."""
    strategies, seed, requests = overrides
    scenario = source.scenario(settings)
    return summary(scenario, strategies, seed=seed, requests=requests, engine=engine)


class Plan:
    """A checked sweep: the scenario's tables, every point of the grid, and what each point
    runs with (`engine`; strategies, seed and requests as `sim.summary` takes them). Making
    one raises ScenarioError for a bad key, value or engine at any point: one line before
    anything runs."""

    def __init__(
        self,
        scenario: str | Path | dict[str, Any],
        sets: Sequence[tuple[str, Iterable[Any]]],
        engine: str = "auto",
        strategies: Strategies = None,
        seed: int | None = None,
        requests: int | None = None,
    ) -> None:
        self.source = read_source(scenario)
        self.keys = [key for key, _ in sets]
        self.points = grid(sets)
        self.engine = engine
        self.overrides = (strategies, seed, requests)
        for settings in self.points:
            point = self.source.scenario(settings).with_overrides(seed=seed, requests=requests)
            if strategies is not None:
                point = point.with_strategies(strategies)
            choose_engine(engine, point)
        self.name = self.source.scenario(self.points[0]).name  # names its folder and plots


def columns(keys: Sequence[str]) -> list[str]:
    """A sweep's columns: the swept keys, strategy, engine, then METRICS."""
    return [*keys, "strategy", "engine", *METRICS]


def run_plan(
    plan: Plan,
    *,
    workers: int | None = None,
    dask: str | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """Run every point of `plan`; return (rows, failures): one row per point and strategy, in
    grid order, and (settings, error) for each point that failed while running."""
    done: dict[int, list[dict[str, Any]]] = {}
    failures: list[tuple[int, str]] = []
    for index, outcome in _run_all(plan, workers, dask):
        if isinstance(outcome, BaseException):
            failures.append((index, f"{type(outcome).__name__}: {outcome}"))
        else:
            done[index] = _rows(plan.points[index], outcome)
        if progress is not None:
            progress(f"sweep {plan.name}", 1)
    rows = [row for index in sorted(done) for row in done[index]]
    return rows, [(plan.points[index], error) for index, error in sorted(failures)]


def sweep(
    scenario: str | Path | dict[str, Any],
    sets: Mapping[str, Iterable[Any]],
    *,
    strategies: Strategies = None,
    seed: int | None = None,
    requests: int | None = None,
    engine: str = "auto",
    workers: int | None = None,
    dask: str | None = None,
) -> Any:
    """`quoterace sweep` from Python: run `scenario` (a path, a bundled name, a dict of its
    tables or TOML text) at every combination of `sets` (key -> values, the keys as
    `--set` takes them) and return a pandas DataFrame, one row per point and strategy, with
    sweep.csv's columns. `strategies`, `seed`, `requests` and `engine` as for `sim.summary`;
    `workers` processes (default: every core; 1 runs here), or a Dask scheduler's address.
    Bad input raises ScenarioError before anything runs; so does a point that fails."""
    try:
        import pandas
    except ImportError:  # as RunResult.to_pandas says it
        raise ImportError("sim.sweep needs pandas: pip install 'quoterace[pandas]'") from None
    if not isinstance(sets, Mapping) or not sets:
        raise ScenarioError("sim.sweep", f"sets: give {{key: [values, ...]}} (got {sets!r})")
    plan = Plan(scenario, list(sets.items()), engine, strategies, seed, requests)
    rows, failures = run_plan(plan, workers=workers, dask=dask)
    if failures:
        settings, error = failures[0]
        point = ", ".join(f"{k}={v}" for k, v in settings.items())
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise ScenarioError("sim.sweep", f"point {point} failed: {error}{more}")
    frame = pandas.DataFrame(rows, columns=columns(plan.keys))
    # None (a metric the summary leaves out, as utilization without servers) as NaN in a
    # float column, not an object column that arithmetic and plots refuse
    return frame.astype({metric: "float64" for metric in METRICS if metric != "no_quote"})


def _run_all(plan: Plan, workers: int | None, dask: str | None) -> Iterator[tuple[int, Any]]:
    """(index of the point, its summary or the exception it raised) for every point of
    `plan`, as they complete."""
    calls = [(plan.source, settings, plan.engine, plan.overrides) for settings in plan.points]
    if dask is not None:
        yield from _on_dask(dask, calls)
    elif workers == 1:
        for index, call in enumerate(calls):
            try:
                yield index, run_point(*call)
            except Exception as e:  # reported with the point, as from a worker
                yield index, e
    else:
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
            futures = {pool.submit(run_point, *call): i for i, call in enumerate(calls)}
            for future in as_completed(futures):
                yield futures[future], (future.exception() or future.result())


def _on_dask(address: str, calls: list[tuple]) -> Iterator[tuple[int, Any]]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ScenarioError(
            "--dask", "needs the dask extra: pip install 'quoterace[dask]'"
        ) from None
    try:
        client = Client(address, timeout="5s")
    except (OSError, ValueError, TimeoutError) as e:
        raise ScenarioError("--dask", f"cannot connect to {address}: {e}") from None
    with client:
        futures = {client.submit(run_point, *call, pure=False): i for i, call in enumerate(calls)}
        for future in dask_completed(futures):
            yield futures[future], (future.exception() or future.result())


def _rows(settings: dict[str, Any], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """A row per strategy of a point's summary."""
    return [
        {
            **settings,
            "strategy": name,
            "engine": summary["engine"],
            **{column: metric(s) for column, metric in METRICS.items()},
        }
        for name, s in summary["strategies"].items()
    ]
