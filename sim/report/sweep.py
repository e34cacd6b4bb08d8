"""A sweep's files: `sweep.csv` and a plot of each metric against each swept parameter."""

from __future__ import annotations

import csv
import io
import math
import re
from typing import Any

from matplotlib.figure import Figure

from sim.measure.sweep import METRICS


def sweep_csv(rows: list[dict[str, Any]], keys: list[str]) -> str:
    """The rows as CSV text: the swept keys, strategy, engine, then METRICS."""
    out = io.StringIO()
    writer = csv.DictWriter(out, [*keys, "strategy", "engine", *METRICS], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def sweep_plots(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, bytes]:
    """A PNG per (metric, swept key): the metric against the key, a line per strategy and
    combination of the other keys' values."""
    plots = {}
    for key in keys:
        others = [k for k in keys if k != key]
        for metric in METRICS:
            figure = Figure(figsize=(8.0, 5.0), dpi=100, layout="constrained")
            axes = figure.add_subplot()
            lines: dict[str, list[tuple[Any, float]]] = {}
            for row in rows:
                label = ", ".join([row["strategy"], *(f"{k}={row[k]}" for k in others)])
                value = row[metric]
                lines.setdefault(label, []).append((row[key], math.nan if value is None else value))
            for label, points in lines.items():
                xs, ys = zip(*sorted(points, key=lambda p: p[0]), strict=True)
                axes.plot(xs, ys, marker="o", label=label)
            axes.set_xlabel(key)
            axes.set_ylabel(metric)
            axes.grid(True, alpha=0.3)
            axes.legend(fontsize="small")
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", metadata={"Software": None})
            plots[f"{metric}-vs-{_file_safe(key)}.png"] = buffer.getvalue()
    return plots


def _file_safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_")
