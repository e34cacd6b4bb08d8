"""The PNG plots of a run (matplotlib, Agg; no pyplot, so no global state or display needed).

- `percentiles.png`: decision latency by percentile, the x axis 1/(1-p) on a log scale, one
  line per strategy, as HdrHistogram's plotter draws it: the tail gets the room it deserves.
  A closed loop's strategies get a second, dashed line: the latency corrected for coordinated
  omission, as the closed-loop table reports it.
- `cdf.png`: the fraction of decisions within each latency (log latency axis, from just below
  the fastest decision to the slowest).
- `frontier.png`: p99 decision latency against mean slippage, one point per strategy, its fill
  rate in the legend: the speed/price trade-off at a glance. Only when some fill has a price
  to show (`plot_names`).
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
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter

from sim.engines.records import OUTCOMES
from sim.measure.histograms import corrected_histogram

NINES = 5  # the percentile axis runs to 99.999%, or to the last request if fewer
POINTS = 400  # per percentile curve
SIZE = (8.0, 5.0)
DPI = 100
EDGE = 10**0.05  # the CDF's latency axis reaches this factor beyond the data, either side
FEW_DECADES = 3  # a CDF's latency axis spanning fewer gets ticks at 1, 2 and 5 of each
LEGEND_CHARS = 100  # characters a legend row below the axes holds, marker space included
MARKERS = "osD^vP*X"  # frontier points: coinciding strategies stay told apart


def percentile_curve(decision_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The percentile plot's points for one strategy: x = 1/(1-p), log-spaced from 1 to the
    number of decisions (at most 10^NINES), y the decision latency at p; then the maximum, at
    the right end, as HdrHistogram's plotter ends its curve."""
    values = np.sort(_decided(decision_ms))
    if values.size == 0:
        return np.empty(0), np.empty(0)
    x = _percentile_x(values.size)
    y = np.quantile(values, 1.0 - 1.0 / x[:-1], method="inverted_cdf")
    return x, np.append(y, values[-1])


def corrected_curve(decision_ms: np.ndarray, interval_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """`percentile_curve` of decision latency corrected for coordinated omission with the
    expected interval `interval_ms` (sim.measure.histograms.corrected_histogram, whose
    percentiles the closed-loop table reports): x up to the number of values the correction
    makes, y from its histogram (within 0.1%), none above the exact maximum."""
    decided = _decided(decision_ms)
    if decided.size == 0:
        return np.empty(0), np.empty(0)
    histogram = corrected_histogram(decided * 1e-3, interval_ms * 1e-3)
    x = _percentile_x(histogram.get_total_count())
    percentiles = (100.0 * (1.0 - 1.0 / x[:-1])).tolist()
    at = histogram.get_percentile_to_value_dict(percentiles)
    top = float(decided.max())
    y = np.minimum([at[p] / 1e6 for p in percentiles], top)
    return x, np.append(y, top)


def percentiles_figure(summary: dict[str, Any], tables: dict[str, dict[str, np.ndarray]]):
    figure, axes = _figure()
    strategies = summary.get("strategies", {})
    nines = 1
    for k, (name, table) in enumerate(tables.items()):
        closed = "decision_ms_corrected" in strategies.get(name, {})
        x, y = percentile_curve(table["decision_ms"])
        if x.size:
            nines = max(nines, math.ceil(math.log10(x[-1])))
            axes.plot(x, y, color=f"C{k}", label=f"{name}, measured" if closed else name)
        if closed:
            interval = strategies[name]["expected_interval_ms"]
            x, y = corrected_curve(table["decision_ms"], interval)
            if x.size:
                nines = max(nines, math.ceil(math.log10(x[-1])))
                label = f"{name}, corrected for coordinated omission"
                label += f" (a request every {interval:.3g} ms)"
                axes.plot(x, y, color=f"C{k}", linestyle="--", label=label)
    axes.set_xscale("log")
    labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
    axes.set_xticks([10.0**k for k in range(nines + 1)], labels[: nines + 1])
    axes.set_xlabel("percentile")
    axes.set_ylabel("decision latency (ms)")
    axes.set_title(f"{summary['scenario']}: decision latency by percentile")
    _legend(axes)
    return figure


def cdf_figure(summary: dict[str, Any], tables: dict[str, dict[str, np.ndarray]]):
    figure, axes = _figure()
    decided = {name: np.sort(_decided(table["decision_ms"])) for name, table in tables.items()}
    every = np.concatenate(list(decided.values()))
    positive = every[every > 0]
    # from just below the fastest decision to just above the slowest; a decision that took
    # no time at all (none on a log axis) is drawn at the left edge
    low = (float(positive.min()) if positive.size else 1e-6) / EDGE
    for name, values in decided.items():
        if values.size:
            # a race with no quote never decides: the curve tops out at the share that did
            share = np.arange(1, values.size + 1) / tables[name]["decision_ms"].size
            axes.step(np.maximum(values, low), share, where="post", label=name)
    axes.set_xscale("log")
    high = max(float(every.max(initial=0.0)), low) * EDGE
    axes.set_xlim(low, high)
    # plain numbers (0.001, not 1e-03); 1, 2, 5 in each decade when there are few decades
    subs = (1.0, 2.0, 5.0) if math.log10(high / low) < FEW_DECADES else (1.0,)
    axes.xaxis.set_major_locator(LogLocator(subs=subs))
    axes.xaxis.set_major_formatter(FuncFormatter(_plain))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_ylim(0.0, 1.0)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_xlabel("decision latency (ms, log scale)")
    axes.set_ylabel("share of requests decided within")
    axes.set_title(f"{summary['scenario']}: cumulative distribution of decision latency")
    _legend(axes)
    return figure


def has_price(summary: dict[str, Any]) -> bool:
    """Whether some strategy's fills cost or saved anything against the arrival mid: when none
    did (venues quoting the mid, or no fill at all) speed against price is a row of points on
    zero, and there is no frontier to draw."""
    return any(
        value  # neither None (no fill) nor 0
        for s in summary["strategies"].values()
        for value in s["slippage_bps"].values()
    )


def frontier_figure(summary: dict[str, Any], tables: dict[str, dict[str, np.ndarray]]):
    figure, axes = _figure()
    for k, (name, s) in enumerate(summary["strategies"].items()):
        p99, slippage = s["decision_ms"]["p99"], s["slippage_bps"]["mean"]
        if p99 is None or slippage is None:
            continue  # no decision or no fill: nowhere to put it
        label = f"{name} (fill {100 * s['fill_rate']:.1f}%)"
        marker = MARKERS[k % len(MARKERS)]
        axes.scatter([p99], [slippage], s=80, marker=marker, color=f"C{k}", label=label)
    axes.margins(0.1)
    axes.set_xlabel("p99 decision latency (ms)")
    axes.set_ylabel("mean slippage (bps, positive is worse)")
    axes.set_title(f"{summary['scenario']}: speed against price, one point per strategy")
    _legend(axes)  # the names below the axes, never over a point or each other
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
            label = outcome.replace("_", " ")
            axes.barh(names, shares[:, k], left=left, label=label, color=f"C{k}")
            left += shares[:, k]
    axes.set_xlim(0.0, 1.0)
    axes.xaxis.set_major_formatter(PercentFormatter(1.0))
    axes.invert_yaxis()  # the first strategy on top, as in the tables
    axes.set_xlabel("share of requests")
    axes.set_title(f"{summary['scenario']}: how requests ended")
    _legend(axes)
    return figure


# file name: (how to draw it, what it shows)
PLOTS = {
    "percentiles.png": (percentiles_figure, "decision latency by percentile"),
    "cdf.png": (cdf_figure, "cumulative distribution of decision latency"),
    "frontier.png": (frontier_figure, "speed against price: p99 decision and mean slippage"),
    "outcomes.png": (outcomes_figure, "how requests ended"),
}


def plot_names(summary: dict[str, Any]) -> list[str]:
    """The plots (keys of PLOTS) a run with `summary` gets: all but frontier.png when no fill
    has a price (has_price)."""
    return [name for name in PLOTS if name != "frontier.png" or has_price(summary)]


def png(name: str, summary: dict[str, Any], tables: dict[str, dict[str, np.ndarray]]) -> bytes:
    """Plot `name` (a key of PLOTS) as PNG bytes."""
    return _png(PLOTS[name][0](summary, tables))


def _figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.grid(True, which="major", alpha=0.3)
    return figure, axes


def _legend(axes: Any) -> None:
    """The legend below the axes, where it covers no data, in as many columns as a row holds
    (LEGEND_CHARS); none when the axes have nothing to name."""
    labels = axes.get_legend_handles_labels()[1]
    if labels:
        columns = max(1, min(len(labels), LEGEND_CHARS // (max(map(len, labels)) + 6)))
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=columns)


def _png(figure: Figure) -> bytes:
    """The figure as PNG bytes, with no metadata that varies between machines or versions."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _percentile_x(count: int) -> np.ndarray:
    """1/(1-p) for POINTS log-spaced p from 0 to 1 - 1/count (count at most 10^NINES), then
    that last x again, where a curve ends at its maximum."""
    top = min(10.0**NINES, float(count))
    return np.append(np.geomspace(1.0, top, POINTS), top)


def _plain(value: float, _position: int | None = None) -> str:
    """A tick label as a plain decimal, as short as it is exact."""
    return np.format_float_positional(value, precision=6, trim="-")


def _decided(decision_ms: np.ndarray) -> np.ndarray:
    return decision_ms[~np.isnan(decision_ms)]
