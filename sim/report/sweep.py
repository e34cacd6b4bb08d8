"""A sweep's files: `sweep.csv` and a plot of each metric against each swept parameter."""

from __future__ import annotations

import csv
import io
import math
import re
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.measure.sweep import METRICS, columns

# Each metric in words, and its unit (None: a count or share, no unit shown)
WORDS: dict[str, tuple[str, str | None]] = {
    "p50_ms": ("median decision latency", "ms"),
    "p99_ms": ("p99 decision latency", "ms"),
    "p99.9_ms": ("p99.9 decision latency", "ms"),
    "fill_rate": ("fill rate (share of requests filled)", None),
    "slippage_bps": ("mean slippage", "bps"),
    "shortfall_bps": ("mean shortfall against the oracle", "bps"),
    "venue_requests_per_decision": ("venue requests per decision", None),
    "no_quote": ("requests with no quote", None),
    "fill_p50_ms": ("median arrival-to-fill latency", "ms"),
    "fill_p99_ms": ("p99 arrival-to-fill latency", "ms"),
    "requests_per_s": ("throughput", "requests/s"),
    "utilization_max": ("busiest venue's utilization (share of time busy)", None),
    "utilization_mean": ("mean venue utilization (share of time busy)", None),
    "venue_work_wasted": ("venue work wasted (share of service time)", None),
}
# Swept keys that have words; any other is shown as written
KEY_WORDS: dict[str, tuple[str, str | None]] = {
    "arrivals.rate_per_s": ("arrival rate", "requests/s"),
    "arrivals.clients": ("closed-loop clients", None),
    "scenario.requests": ("requests", None),
    "scenario.seed": ("seed", None),
}
_UNITS = {"_ms": "ms", "_per_s": "per s", "_bps": "bps"}
UTILIZATION = ("utilization_max", "utilization_mean")
# Line styles that keep coinciding lines apart: hollow markers of several shapes and sizes,
# the first lines' largest, drawn under the later ones, and dashes the earlier lines show through
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
_DASHES = ("-", "--", "-.", ":")


def sweep_csv(rows: list[dict[str, Any]], keys: list[str]) -> str:
    """The rows as CSV text: the swept keys, strategy, engine, then METRICS."""
    out = io.StringIO()
    writer = csv.DictWriter(out, columns(keys), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def sweep_plots(rows: list[dict[str, Any]], keys: list[str], scenario: str) -> dict[str, bytes]:
    """A PNG per (metric, swept key): the metric against the key, a line per strategy and
    combination of the other keys' values. Keys set to one value, and metrics the same in
    every row (utilization without venue servers: None) get no plot."""
    plots = {}
    swept = [k for k in keys if len(_distinct(rows, k)) > 1]
    for key in swept:
        for metric in METRICS:
            if len(_distinct(rows, metric)) < 2:
                continue
            figure = _plot(rows, swept, key, metric, scenario)
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", metadata={"Software": None})
            plots[f"{metric}-vs-{_file_safe(key)}.png"] = buffer.getvalue()
    return plots


def _plot(rows: list[dict[str, Any]], keys: list[str], key: str, metric: str, scenario: str):
    others = [k for k in keys if k != key]
    lines: dict[str, list[tuple[Any, float]]] = {}
    for row in rows:
        label = ", ".join([row["strategy"], *(f"{k}={row[k]}" for k in others)])
        value = row[metric]
        lines.setdefault(label, []).append((row[key], math.nan if value is None else value))
    numeric = all(_is_number(x) for points in lines.values() for x, _ in points)
    figure = Figure(figsize=(9.0, 5.0), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    for n, (label, points) in enumerate(lines.items()):
        if numeric:
            points = sorted(points, key=lambda p: p[0])
        xs = [x if numeric else _category(x) for x, _ in points]
        axes.plot(
            xs,
            [y for _, y in points],
            label=label,
            marker=_MARKERS[n % len(_MARKERS)],
            linestyle=_DASHES[n % len(_DASHES)],
            markersize=max(12 - 1.5 * n, 4),
            markerfacecolor="none",
            markeredgewidth=1.5,
            zorder=2 + n,
        )
    if metric in UTILIZATION:
        axes.axhline(1.0, color="grey", linestyle=":", linewidth=1, label="saturated (always busy)")
        axes.set_ylim(bottom=0)
    xs = [x for points in lines.values() for x, _ in points]
    if numeric and min(xs) > 0 and max(xs) >= 20 * min(xs):
        axes.set_xscale("log")
    elif numeric and all(isinstance(x, int) for x in xs):  # no tick at 1.5 servers
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    what, unit = WORDS[metric]
    by, by_unit = _key_words(key)
    axes.set_title(f"{scenario}: {_short(what)} against {by}")
    axes.set_xlabel(by if by_unit is None else f"{by} ({by_unit})")
    axes.set_ylabel(what if unit is None else f"{what} ({unit})")
    axes.grid(True, alpha=0.3)
    title = None if others else "strategy"
    figure.legend(loc="outside right upper", fontsize="small", title=title)
    return figure


def _distinct(rows: list[dict[str, Any]], column: str) -> set[str]:
    return {repr(row[column]) for row in rows}


def _key_words(key: str) -> tuple[str, str | None]:
    """A swept key in words where it has some, else as written, with the unit its name ends in."""
    if key in KEY_WORDS:
        return KEY_WORDS[key]
    for suffix, unit in _UNITS.items():
        if key.endswith(suffix):
            return key, unit
    return key, None


def _short(words: str) -> str:
    """A metric's words without the parenthesis that explains them (for a title)."""
    return words.split(" (")[0]


def _category(x: Any) -> str:
    """A value of a key that is not a number, as the TOML it was set with (true, not True)."""
    return str(x).lower() if isinstance(x, bool) else str(x)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _file_safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_")
