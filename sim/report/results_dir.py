"""A run's output folder: what `--out DIR` writes, and what `quoterace report DIR` rebuilds.

The data: `summary.json`, `requests.csv` (or `requests.parquet`: sim.report.requests_parquet),
one `<strategy>.hgrm` per strategy and `latency.hlog`. Made from the data: the PNG plots
(sim.report.plots) and `report.md` (sim.report.markdown). Every file is written atomically
(sim.report.atomic), data first, so an interrupted run leaves only whole files, and whatever it
leaves can be rebuilt from.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from sim.measure.histograms import write_percentiles
from sim.measure.run import RunResult
from sim.model.errors import ScenarioError
from sim.report.atomic import summary_json, write_atomic, write_atomic_bytes
from sim.report.comparison import CSV_FILE, JSON_FILE, comparison_csv, comparison_json
from sim.report.hlog import write_interval_log
from sim.report.markdown import report_md
from sim.report.plots import PLOTS, plot_names, png
from sim.report.requests_file import read_requests, write_requests
from sim.report.requests_parquet import read_requests_parquet, requests_parquet

SUMMARY = "summary.json"
REQUESTS = "requests.csv"
REQUESTS_PARQUET = "requests.parquet"
FORMATS = {"csv": REQUESTS, "parquet": REQUESTS_PARQUET}  # --format: the requests file
INTERVAL_LOG = "latency.hlog"
REPORT = "report.md"


def write_results(
    result: RunResult,
    out: Path,
    requests_format: str = "csv",
    comparison: dict[str, Any] | None = None,
) -> list[Path]:
    """Write the whole output folder of `result` into `out`; return the paths written.
    `requests_format`: "csv" for requests.csv, "parquet" for requests.parquet (needs pyarrow).
    `comparison`: its strategies' (`compare --out`), written as comparison.json and .csv and
    shown in report.md.

    summary.json goes first out and last in: until the rest is written the folder has none, so
    an interrupted run never leaves a summary beside another run's data. Histograms of
    strategies this run does not have are removed, and so is a requests file of the other
    format, and an earlier comparison when this run has none.
    """
    (out / SUMMARY).unlink(missing_ok=True)
    for stale in (JSON_FILE, CSV_FILE):
        (out / stale).unlink(missing_ok=True)
    names = set(result.strategies)
    for stale in out.glob("*.hgrm"):
        if stale.stem not in names:
            stale.unlink()
    requests = FORMATS[requests_format]
    for other in set(FORMATS.values()) - {requests}:
        (out / other).unlink(missing_ok=True)
    tables = {name: result.columns(name) for name in result.strategies}
    venues = [v.name for v in result.scenario.venues]
    as_read: dict[str, dict[str, np.ndarray]] = {}
    if requests == REQUESTS_PARQUET:  # values kept exactly: a reader gets what was written
        written = [write_atomic_bytes(out / requests, requests_parquet(tables, venues))]
        as_read = {n: {c: t[c] for c in ("decision_ms", "outcome")} for n, t in tables.items()}
    else:
        written = [
            write_atomic(
                out / requests, lambda f: as_read.update(write_requests(f, tables, venues))
            )
        ]
    for name, strategy in result.strategies.items():
        histogram = strategy.decision_histogram
        written.append(
            write_atomic(out / f"{name}.hgrm", lambda f, h=histogram: write_percentiles(h, f))
        )
    arrival_s = {n: s.records.arrival_s for n, s in result.strategies.items()}
    decision_s = {n: s.records.decision_s for n, s in result.strategies.items()}
    written.append(
        write_atomic(out / INTERVAL_LOG, lambda f: write_interval_log(f, arrival_s, decision_s))
    )
    if comparison is not None:
        text, table = comparison_json(comparison), comparison_csv(comparison)
        written.append(write_atomic(out / JSON_FILE, lambda f: f.write(text)))
        written.append(write_atomic(out / CSV_FILE, lambda f: f.write(table)))
    # Plotted from the values as the file holds them, so that `rebuild` draws the same pixels.
    written += _derived(result.summary, as_read, out, requests, comparison)
    written.append(write_atomic(out / SUMMARY, lambda f: f.write(summary_json(result.summary))))
    return written


def rebuild(out: Path) -> list[Path]:
    """Redraw the plots and report.md of the output folder `out` from its summary.json and
    requests.csv or requests.parquet; return the paths written. Bad or mismatched data is a
    ScenarioError naming the file (and the row, for requests.csv)."""
    summary, tables, path = read_results(out)
    comparison = _read_comparison(out / JSON_FILE)
    try:
        return _derived(summary, tables, out, path.name, comparison)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ScenarioError("", f"not a quoterace summary ({e!r})", str(out / SUMMARY)) from None


def read_results(out: Path) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]], Path]:
    """The summary.json and requests file (requests.csv or requests.parquet, as
    sim.report.requests_file.read_requests gives it) of the output folder `out`, checked to be
    of one run, and the requests file's path. Bad or mismatched data is a ScenarioError naming
    the file (and the row, for requests.csv)."""
    summary = _read_summary(out / SUMMARY)
    path = _requests_path(out)
    read = read_requests_parquet if path.name == REQUESTS_PARQUET else read_requests
    try:
        tables = read(path)
    except OSError as e:
        raise ScenarioError("", f"cannot read: {e.strerror or e}", str(path)) from None
    except (ValueError, UnicodeDecodeError, csv.Error, ImportError) as e:
        raise ScenarioError("", str(e), str(path)) from None
    if list(tables) != list(summary["strategies"]):
        raise ScenarioError(
            "",
            f"strategies {list(tables)} do not match summary.json's "
            f"{list(summary['strategies'])}: not the same run",
            str(path),
        )
    for name, table in tables.items():
        if table["request"].tolist() != list(range(summary["requests"])):
            raise ScenarioError(
                "",
                f"{name}: rows are not requests 0..{summary['requests'] - 1} of summary.json's run",
                str(path),
            )
    return summary, tables, path


def _requests_path(out: Path) -> Path:
    """The requests file of the folder `out`: requests.parquet where there is one, else
    requests.csv; never both (a run writes one and removes the other), nor neither."""
    if not (out / REQUESTS_PARQUET).exists():
        if not (out / REQUESTS).exists() and (out / SUMMARY).exists():
            raise ScenarioError("", f"no {REQUESTS} or {REQUESTS_PARQUET}", str(out))
        return out / REQUESTS
    if (out / REQUESTS).exists():
        raise ScenarioError(
            "",
            f"both {REQUESTS} and {REQUESTS_PARQUET}: a run writes one; remove the other",
            str(out),
        )
    return out / REQUESTS_PARQUET


def _read_summary(path: Path) -> dict[str, Any]:
    """summary.json, checked for the parts a report is made of."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ScenarioError("", f"cannot read: {e.strerror or e}", str(path)) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ScenarioError("", f"not JSON: {e}", str(path)) from None
    if not isinstance(summary, dict):
        raise ScenarioError("", "not a quoterace summary (not a JSON object)", str(path))
    for key, kind in (("scenario", str), ("requests", int), ("strategies", dict)):
        if not isinstance(summary.get(key), kind):
            raise ScenarioError(key, "missing or of the wrong type", str(path))
    for name, s in summary["strategies"].items():
        if not isinstance(s, dict) or not set(s) >= STRATEGY_KEYS:
            raise ScenarioError(f"strategies.{name}", "missing keys of a summary", str(path))
    return summary


def _read_comparison(path: Path) -> dict[str, Any] | None:
    """The comparison a folder holds (`compare --out`), None if none; bad JSON is a
    ScenarioError naming the file."""
    try:
        comparison = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ScenarioError("", f"cannot read: {e}", str(path)) from None
    if not isinstance(comparison, dict) or "comparisons" not in comparison:
        raise ScenarioError("", "not a quoterace comparison", str(path))
    return comparison


def _derived(
    summary: dict[str, Any],
    tables: dict[str, dict[str, np.ndarray]],
    out: Path,
    requests: str,
    comparison: dict[str, Any] | None = None,
) -> list[Path]:
    """The plots and report.md (which names the `requests` file and shows the `comparison`, if
    any), from the summary and the per-request tables."""
    drawn = plot_names(summary)
    for name in PLOTS:
        if name not in drawn:  # an earlier run's plot this run does not have
            (out / name).unlink(missing_ok=True)
    written = [write_atomic_bytes(out / name, png(name, summary, tables)) for name in drawn]
    page = report_md(summary, requests, comparison)
    written.append(write_atomic(out / REPORT, lambda f: f.write(page)))
    return written


# What every strategy's entry in a summary has (sim.measure.run), and a report shows.
STRATEGY_KEYS = {
    "decision_ms",
    "no_quote",
    "venue_wins",
    "venue_requests_per_decision",
    "fill_rate",
    "reject_rate",
    "slippage_bps",
    "shortfall_bps",
    "fill_ms",
    "venue_requests_per_fill",
}
