"""`quoterace sweep`: run a scenario over a grid of settings, on a process pool or on Dask.

    quoterace sweep default --set 'venues[0].latency.median_ms=0.5,1,2' \\
                            --set 'arrivals.rate_per_s=100,1000'

Each `--set KEY=V1,V2,...` names a key of the scenario file (the path its error messages use)
and its values; the grid is the product of the sets. Every point is the scenario file with
those keys set, checked as a file would be, so a bad key or value is one line before anything
runs. Points run on a local process pool (`--workers`, default: every core) or, with
`--dask tcp://HOST:PORT`, on a Dask cluster (the `quoterace[dask]` extra). A point that fails
while running is reported, and the rest of the sweep completes. Results: `sweep.csv`, one row
per point and strategy, and a plot of each metric against each swept parameter.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from sim.measure.run import choose_engine, summary
from sim.model.errors import ScenarioError
from sim.model.scenario import Scenario, bundled_dir, parse, resolve

# What each row reports of a strategy's summary: column -> path in the summary
METRICS = {
    "p50_ms": ("decision_ms", "p50"),
    "p99_ms": ("decision_ms", "p99"),
    "p99.9_ms": ("decision_ms", "p99.9"),
    "fill_rate": ("fill_rate",),
    "slippage_bps": ("slippage_bps", "mean"),
    "shortfall_bps": ("shortfall_bps", "mean"),
    "venue_requests_per_decision": ("venue_requests_per_decision",),
}
_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")


def parse_set(text: str) -> tuple[str, list[Any]]:
    """`KEY=V1,V2,...` as (key, values); numbers become numbers, true/false booleans."""
    key, sep, values = text.partition("=")
    if not sep or not key or not values:
        raise ScenarioError("--set", f"{text!r}: expected KEY=VALUE[,VALUE...]")
    return key.strip(), [_value(v.strip()) for v in values.split(",")]


def _value(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def grid(sets: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """Every combination of the sets' values, the first set varying slowest."""
    keys = [k for k, _ in sets]
    if len(set(keys)) != len(keys):
        raise ScenarioError("--set", "a key is set twice")
    return [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in sets))
    ]


def point_scenario(data: dict[str, Any], settings: dict[str, Any], source: Path) -> Scenario:
    """The scenario file's `data` with `settings` applied, checked as a file would be."""
    changed = copy.deepcopy(data)
    for key, value in settings.items():
        _assign(changed, key, value)
    shown = source.name if source.parent == bundled_dir() else str(source)
    try:
        return parse(changed, default_name=source.stem, base_dir=source.parent, file=shown)
    except ScenarioError as e:
        raise e.in_file(shown) from None


def _assign(data: dict[str, Any], key: str, value: Any) -> None:
    """Set `key` (e.g. `venues[0].latency.median_ms`) in the parsed TOML `data`."""
    node: Any = data
    segments = key.split(".")
    for depth, segment in enumerate(segments):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise ScenarioError("--set", f"{key!r}: not a key path like venues[0].latency.ms")
        name, indexes = match.group(1), [int(i) for i in re.findall(r"\d+", match.group(2))]
        last = depth == len(segments) - 1 and not indexes
        if not isinstance(node, dict):
            raise ScenarioError("--set", f"{key!r}: {segment} is inside a value, not a table")
        if last:
            node[name] = value
            return
        node = node.setdefault(name, {} if not indexes else [])
        for n, index in enumerate(indexes):
            if not isinstance(node, list) or index >= len(node):
                raise ScenarioError("--set", f"{key!r}: there is no {name}[{index}]")
            if depth == len(segments) - 1 and n == len(indexes) - 1:
                node[index] = value
                return
            node = node[index]


def run_point(data: dict[str, Any], settings: dict[str, Any], source: str, engine: str):
    """One point's summary (runs in a worker process or on a Dask worker)."""
    return summary(point_scenario(data, settings, Path(source)), engine=engine)


class Plan:
    """A checked sweep: the scenario file's data and every point of the grid. Making one
    raises ScenarioError for a bad key, value or engine at any point: one line before anything
    runs."""

    def __init__(self, source: str, sets: list[tuple[str, list[Any]]], engine: str) -> None:
        self.path = resolve(source)
        try:
            with self.path.open("rb") as f:
                self.data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ScenarioError("", f"cannot read: {e}", str(source)) from None
        self.points = grid(sets)
        self.engine = engine
        for settings in self.points:
            choose_engine(engine, point_scenario(self.data, settings, self.path))


def sweep(
    plan: Plan,
    *,
    workers: int | None = None,
    dask: str | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """Run every point of `plan`; return (rows, failures): one row per point and strategy,
    and (settings, error) for each point that failed while running."""
    data, path, points, engine = plan.data, plan.path, plan.points, plan.engine
    rows: list[dict[str, Any]] = []
    failures: list[tuple[dict[str, Any], str]] = []
    for settings, outcome in _run_all(points, data, str(path), engine, workers, dask):
        if isinstance(outcome, BaseException):
            failures.append((settings, f"{type(outcome).__name__}: {outcome}"))
        else:
            rows += _rows(settings, outcome)
        if progress is not None:
            progress(f"sweep {path.stem}", 1)
    place = {_identity(s): i for i, s in enumerate(points)}  # rows in grid order
    rows.sort(key=lambda r: place[_identity({k: r[k] for k in points[0]})])
    return rows, failures


def _identity(settings: dict[str, Any]) -> str:
    return repr(sorted(settings.items()))


def _run_all(points, data, source, engine, workers, dask) -> Iterator[tuple[dict, Any]]:
    """(settings, summary or the exception it raised) for every point, as they complete."""
    if dask is not None:
        try:
            from distributed import Client
            from distributed import as_completed as dask_completed
        except ImportError:
            raise ScenarioError(
                "--dask", "needs the dask extra: pip install 'quoterace[dask]'"
            ) from None
        try:
            client = Client(dask, timeout="5s")
        except (OSError, ValueError, TimeoutError) as e:
            raise ScenarioError("--dask", f"cannot connect to {dask}: {e}") from None
        with client:
            futures = {
                client.submit(run_point, data, s, source, engine, pure=False): s for s in points
            }
            for future in dask_completed(futures):
                yield futures[future], (future.exception() or future.result())
        return
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        futures = {pool.submit(run_point, data, s, source, engine): s for s in points}
        for future in as_completed(futures):
            yield futures[future], (future.exception() or future.result())


def _rows(settings: dict[str, Any], summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, s in summary["strategies"].items():
        row = {**settings, "strategy": name, "engine": summary["engine"]}
        for column, path in METRICS.items():
            value: Any = s
            for part in path:
                value = value[part]
            row[column] = value
        rows.append(row)
    return rows
