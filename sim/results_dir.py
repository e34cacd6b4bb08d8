"""A run's output folder: what `--out DIR` writes, and what `quoterace report DIR` rebuilds.

The data: `summary.json`, `requests.csv`, one `<strategy>.hgrm` per strategy and
`latency.hlog`. Made from the data: the PNG plots (sim.plots) and `report.md`
(sim.markdown_report). Every file is written atomically (sim.output), data first, so an
interrupted run leaves only whole files, and whatever it leaves can be rebuilt from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sim.hlog import write_interval_log
from sim.markdown_report import report_md
from sim.metrics import write_percentiles
from sim.output import summary_json, write_atomic, write_atomic_bytes
from sim.plots import PLOTS
from sim.quality import cost_bps
from sim.requests_table import read_requests, write_requests
from sim.runner import RunResult

SUMMARY = "summary.json"
REQUESTS = "requests.csv"
INTERVAL_LOG = "latency.hlog"
REPORT = "report.md"


def request_tables(result: RunResult) -> dict[str, dict[str, np.ndarray]]:
    """Each strategy's per-request columns, as requests.csv holds them (sim.requests_table)."""
    side = result.draws.side
    tables = {}
    for name, strategy in result.strategies.items():
        r = strategy.records
        mids = strategy.arrival_mid
        tables[name] = {
            "arrival_ms": r.arrival_s * 1e3,
            "side": side,
            "decision_ms": r.decision_s * 1e3,
            "venue": r.venue,
            "outcome": r.outcome,
            "fill_ms": r.fill_s * 1e3,
            "price": r.fill_price,
            "filled_size": r.filled_size,
            "orders": r.orders,
            "slippage_bps": cost_bps(side.astype(float), r.fill_price, mids, mids),
        }
    return tables


def write_results(result: RunResult, out: Path) -> list[Path]:
    """Write the whole output folder of `result` into `out`; return the paths written."""
    tables = request_tables(result)
    venues = [v.name for v in result.scenario.venues]
    written = [
        write_atomic(out / SUMMARY, lambda f: f.write(summary_json(result.summary))),
        write_atomic(out / REQUESTS, lambda f: write_requests(f, tables, venues)),
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
    # Plotted from the file as written, so that `rebuild` draws the same pixels.
    return written + _derived(result.summary, read_requests(out / REQUESTS), out)


def rebuild(out: Path) -> list[Path]:
    """Redraw the plots and report.md of the output folder `out` from its summary.json and
    requests.csv; return the paths written."""
    summary: dict[str, Any] = json.loads((out / SUMMARY).read_text(encoding="utf-8"))
    return _derived(summary, read_requests(out / REQUESTS), out)


def _derived(
    summary: dict[str, Any], tables: dict[str, dict[str, np.ndarray]], out: Path
) -> list[Path]:
    """The plots and report.md, from the summary and the per-request tables."""
    written = [write_atomic_bytes(out / png, plot(summary, tables)) for png, plot in PLOTS.items()]
    written.append(write_atomic(out / REPORT, lambda f: f.write(report_md(summary))))
    return written
