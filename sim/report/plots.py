"""The PNG plots of a run (matplotlib, Agg; no pyplot, so no global state or display needed).

- `percentiles.png`: decision latency by percentile, the x axis 1/(1-p) on a log scale, one
  line per strategy, as HdrHistogram's plotter draws it: the tail gets the room it deserves.
- `cdf.png`: the fraction of decisions within each latency (log latency axis).
- `frontier.png`: p99 decision latency against mean slippage, one point per strategy, its fill
  rate in the label: the speed/price trade-off at a glance.
- `outcomes.png`: each strategy's requests by outcome (filled, rejected by reason, no quote).

Every plot is a function of the summary and the per-request tables (sim.report.requests_file), so
`quoterace report DIR` redraws them from saved data exactly as the run drew them.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sim.engines.records import OUTCOMES

NINES = 5  # the percentile axis runs to 99.999%, or to the last request if fewer
SIZE = (8.0, 5.0)
DPI = 100


def percentile_curve(decision_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The percentile plot's points for one strategy: x = 1/(1-p), log-spaced from 1 to the
    number of decisions (at most 10^NINES), y the decision latency at p; then the maximum, at
    the right end, as HdrHistogram's plotter ends its curve."""
    values = np.sort(_decided(decision_ms))
    if values.size == 0:
        return np.empty(0), np.empty(0)
    top = min(10.0**NINES, float(values.size))
    x = np.geomspace(1.0, top, 400)
    y = np.quantile(values, 1.0 - 1.0 / x, method="inverted_cdf")
    return np.append(x, top), np.append(y, values[-1])


def percentiles_figure(summary: dict[str, Any], tables: dict[str, dict[str, np.ndarray]]):
    figure, axes = _figure()
    nines = 1
    for name, table in tables.items():
        x, y = percentile_curve(table["decision_ms"])
        if x.size:
            nines = max(nines, math.ceil(math.log10(x[-1])))
            axes.plot(x, y, label=name)
    axes.set_xscale("log")
    labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
    axes.set_xticks([10.0**k for k in range(nines + 1)], labels[: nines + 1])
    axes.set_xlabel("percentile")
    axes.set_ylabel("decision latency (ms)")
    axes.set_title(f"{summary['scenario']}: decision latency by percentile")
    return figure


def cdf_figure(summary: dict[str, Any], tables: dict[str, dict[str, np.ndarray]]):
    figure, axes = _figure()
    for name, table in tables.items():
        values = np.sort(_decided(table["decision_ms"]))
        if values.size:
            # a race with no quote never decides: the curve tops out at the share that did
            share = np.arange(1, values.size + 1) / table["decision_ms"].size
            axes.step(np.maximum(values, 1e-6), share, where="post", label=name)
    axes.set_xscale("log")
    axes.set_ylim(0.0, 1.0)
    axes.set_xlabel("decision latency (ms)")
    axes.set_ylabel("share of requests decided within")
    axes.set_title(f"{summary['scenario']}: cumulative distribution of decision latency")
    return figure


def frontier_figure(summary: dict[str, Any], tables: dict[str, dict[str, np.ndarray]]):
    figure, axes = _figure()
    for name, s in summary["strategies"].items():
        p99, slippage = s["decision_ms"]["p99"], s["slippage_bps"]["mean"]
        if p99 is None or slippage is None:
            continue  # no decision or no fill: nowhere to put it
        axes.scatter([p99], [slippage], s=40 + 200 * s["fill_rate"], label=name)
        axes.annotate(
            f"{name} (fill {100 * s['fill_rate']:.1f}%)",
            (p99, slippage),
            textcoords="offset points",
            xytext=(6, 6),
        )
    axes.margins(0.2)  # room for the labels
    axes.set_xlabel("p99 decision latency (ms)")
    axes.set_ylabel("mean slippage (bps, positive is worse)")
    axes.set_title(f"{summary['scenario']}: speed against price (marker area: fill rate)")
    return figure


def outcomes_figure(summary: dict[str, Any], tables: dict[str, dict[str, np.ndarray]]):
    figure, axes = _figure()
    names = list(tables)
    shares = np.array(
        [
            np.bincount(tables[n]["outcome"], minlength=len(OUTCOMES)) / tables[n]["outcome"].size
            for n in names
        ]
    ).reshape(len(names), len(OUTCOMES))
    left = np.zeros(len(names))
    for k, outcome in enumerate(OUTCOMES):
        if shares[:, k].any():  # an outcome no request had stays out of the legend
            axes.barh(names, shares[:, k], left=left, label=outcome, color=f"C{k}")
            left += shares[:, k]
    axes.set_xlim(0.0, 1.0)
    axes.invert_yaxis()  # the first strategy on top, as in the tables
    axes.set_xlabel("share of requests")
    axes.set_title(f"{summary['scenario']}: how requests ended")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(OUTCOMES) - 1)
    return figure


# file name: (how to draw it, what it shows)
PLOTS = {
    "percentiles.png": (percentiles_figure, "decision latency by percentile"),
    "cdf.png": (cdf_figure, "cumulative distribution of decision latency"),
    "frontier.png": (frontier_figure, "speed against price: p99 decision and mean slippage"),
    "outcomes.png": (outcomes_figure, "how requests ended"),
}


def png(name: str, summary: dict[str, Any], tables: dict[str, dict[str, np.ndarray]]) -> bytes:
    """Plot `name` (a key of PLOTS) as PNG bytes."""
    return _png(PLOTS[name][0](summary, tables))


def _figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.grid(True, which="major", alpha=0.3)
    return figure, axes


def _png(figure: Figure) -> bytes:
    """The figure as PNG bytes, with no metadata that varies between machines or versions."""
    axes = figure.axes[0]
    if axes.get_legend() is None and axes.get_legend_handles_labels()[0]:
        axes.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _decided(decision_ms: np.ndarray) -> np.ndarray:
    return decision_ms[~np.isnan(decision_ms)]
