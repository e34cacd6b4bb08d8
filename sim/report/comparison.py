"""A comparison (sim.measure.compare) as a table: for the console, report.md and CSV.

One table whatever was compared: a run's strategies against its baseline, or two results
folders' strategies of the same name (DIR_B's against DIR_A's). Its title says which, and
whether the comparison is paired; its note, why, and which strategies only one folder has.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sim.report.tables import TableData

_LABELS = {
    "mean_slippage_bps": ("mean slippage (bps)", "{:.3f}"),
    "fill_rate": ("fill rate", "{:.2%}"),
    "p99_decision_ms": ("p99 decision (ms)", "{:.3f}"),
}
JSON_FILE, CSV_FILE = "comparison.json", "comparison.csv"  # what `compare --out` writes
CSV_COLUMNS = (
    "strategy",
    "metric",
    "baseline",
    "other",
    "difference",
    "ci95_low",
    "ci95_high",
    "p_value",
    "p_holm",
    "significant",
    "resamples_used",
)


def comparison_data(comparison: dict[str, Any]) -> TableData:
    """The comparison's rows, one per strategy and metric, with its title and note."""
    holm = comparison.get("correction") == "holm"
    folders = "folders" in comparison
    sides = ("A", "B", "B - A") if folders else ("baseline", "value", "diff.")
    columns = ("strategy", "metric", *sides, "95% CI low", "95% CI high", "p")
    columns += ("p Holm",) * holm
    rows = []
    for name, metrics in comparison["comparisons"].items():
        for key, m in metrics.items():
            label, form = _LABELS[key]
            values = [form.format(v) if v is not None else "-" for v in (m["baseline"], m["other"])]
            if m["difference"] is None:
                blank = ("-",) * (5 if holm else 4)
                rows.append((name, label, *values, *blank, "undefined"))
                continue
            low, high = m["ci95"]
            rows.append(
                (
                    name,
                    label,
                    *values,
                    form.format(m["difference"]),
                    form.format(low),
                    form.format(high),
                    _p(m["p_value"]),
                    *((_p(m["p_holm"]),) if holm else ()),
                    "yes" if m["significant"] else "no",
                )
            )
    return TableData(
        _title(comparison),
        (*columns, "significant"),
        tuple(rows),
        _note(comparison),
        keys=2,
        groups=(3, 2, 2 + holm),  # the values, the interval, the test
    )


def comparison_json(comparison: dict[str, Any]) -> str:
    """The comparison as JSON text (no NaN: an undefined value is null)."""
    return json.dumps(comparison, indent=2, allow_nan=False) + "\n"


def comparison_csv(comparison: dict[str, Any]) -> str:
    """The comparison as CSV, a row per strategy and metric (CSV_COLUMNS; None as an empty
    cell, booleans as true or false)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for name, metrics in comparison["comparisons"].items():
        for key, m in metrics.items():
            low, high = m["ci95"] or (None, None)
            cells = {**m, "strategy": name, "metric": key, "ci95_low": low, "ci95_high": high}
            writer.writerow([_cell(cells.get(c)) for c in CSV_COLUMNS])
    return out.getvalue()


def _title(comparison: dict[str, Any]) -> str:
    how = f"bootstrap of {comparison['resamples']:,} resamples"
    if "folders" in comparison:
        a, b = comparison["folders"]["a"], comparison["folders"]["b"]
        return (
            f"{b['folder']} (B) against {a['folder']} (A), strategy by strategy: "
            f"{comparison['pairing']} differences ({how})"
        )
    return (
        f"{comparison['scenario']}: paired differences against {comparison['baseline']} "
        f"({comparison['requests']:,} requests, {comparison['engine']} engine, {how})"
    )


def _note(comparison: dict[str, Any]) -> str:
    parts = []
    if "folders" in comparison:
        parts.append(f"{comparison['pairing']}: {comparison['pairing_reason']}")
        for side in ("a", "b"):
            only = comparison["folders"][side]["only_here"]
            if only:
                parts.append(f"only in {side.upper()}: {', '.join(only)}")
    if comparison["pairing"] == "paired":
        parts.append("slippage over the requests both filled")
    else:
        parts.append("slippage over each side's fills")
    parts.append("a race with no quote counts as infinitely slow in the p99")
    if comparison.get("correction") == "holm":
        parts.append("significant: Holm-adjusted p below 0.05, over every row")
    else:
        parts.append("significant: the 95% CI excludes 0 (no correction for several rows)")
    return "; ".join(parts)


def _cell(value: Any) -> str:
    """A CSV cell: empty for None, true or false for a bool."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
