"""`report.md`: one page that ties a run's tables, plots and files together; and the page of a
comparison (`quoterace compare --out`).

A run's page is made from the summary alone (its tables are sim.report.tables'), so `quoterace
report DIR` rebuilds it from summary.json.
"""

from __future__ import annotations

from typing import Any

from sim.report.comparison import CSV_FILE, JSON_FILE, comparison_data
from sim.report.plots import PLOTS, plot_names
from sim.report.tables import TableData, result_tables

FILES = {
    "summary.json": "the summary (keys documented in the README)",
    "requests.csv": "one row per request and strategy (columns documented in the README)",
    "latency.hlog": "HdrHistogram interval log of decision latency, one tag per strategy",
    "<strategy>.hgrm": "HdrHistogram percentile distribution of each strategy's decisions",
}


def report_md(
    summary: dict[str, Any],
    requests: str = "requests.csv",
    comparison: dict[str, Any] | None = None,
) -> str:
    """The report page for `summary`, linking the plots and files of its folder (its requests
    file: `requests`, requests.csv or requests.parquet); with the `comparison` of its
    strategies (`compare --out`) first, and its files."""
    tables = result_tables(summary)
    clock = summary.get("clock", "virtual")
    lines = [f"# {summary['scenario']}", ""]
    if summary.get("description"):
        lines += [summary["description"], ""]
    lines += [
        f"{summary['requests']:,} requests, seed {summary['seed']}, {summary['engine']} "
        f"engine, {clock} clock. `quoterace report DIR` rebuilds this page and the plots from "
        f"summary.json and {requests}.",
        "",
        *(_compared(comparison) if comparison is not None else ()),
        *markdown_table(tables[0]),  # latency, then its plots
        *_images(summary, "percentiles.png", "cdf.png"),
        *(line for table in tables[1:3] for line in markdown_table(table)),  # fills and costs
        *_images(summary, "frontier.png", "outcomes.png"),
        *(line for table in tables[3:] for line in markdown_table(table)),
        *warnings_md(summary),
        "## Files",
        "",
        *(
            f"- `{requests if name == 'requests.csv' else name}`: {what}"
            for name, what in FILES.items()
        ),
        *(_comparison_files() if comparison is not None else ()),
        "",
    ]
    return "\n".join(lines)


def comparison_md(comparison: dict[str, Any]) -> str:
    """The page of a comparison of two results folders (sim.measure.compare), linking the
    files that hold its data."""
    runs = [
        f"- {side.upper()}: `{r['folder']}`: {r['scenario']}, seed {r['seed']}, "
        f"{r['requests']:,} requests, {r['engine']} engine"
        for side, r in comparison["folders"].items()
    ]
    heading = "# Comparison of two results folders"
    files = ["## Files", "", *_comparison_files(), ""]
    return "\n".join([heading, "", *runs, "", *_compared(comparison), *files])


def _compared(comparison: dict[str, Any]) -> list[str]:
    """A comparison's method, in a line, and its table."""
    how = (
        f"{comparison['pairing'].capitalize()} bootstrap of {comparison['resamples']:,} "
        "resamples: 95% percentile intervals and two-sided p-values"
        + (", Holm-adjusted over every row." if comparison["correction"] == "holm" else ".")
    )
    return [how, "", *markdown_table(comparison_data(comparison))]


def _comparison_files() -> list[str]:
    return [
        f"- `{JSON_FILE}`: the comparison as JSON (values to 6 decimals)",
        f"- `{CSV_FILE}`: the comparison's table, a row per strategy and metric",
    ]


def markdown_table(table: TableData, heading: bool = True) -> list[str]:
    """A table as Markdown lines: its title as a heading (or plain), the table, its note."""
    title = f"## {table.title}" if heading else f"{table.title}:"
    align = ("---",) * table.keys + ("---:",) * (len(table.columns) - table.keys)
    lines = [title, "", _row(table.columns), _row(align)]
    lines += [_row(row) for row in table.rows]
    lines.append("")
    if table.note:
        lines += [table.note[0].upper() + table.note[1:] + ".", ""]
    return lines


def warnings_md(summary: dict[str, Any], heading: bool = True) -> list[str]:
    """The run's warnings (a wall-clock run's: sim.measure.caveats) as a list, under a heading
    (or a plain title); nothing when it has none."""
    found = summary.get("warnings")
    if not found:
        return []
    title = "## Warnings" if heading else "Warnings:"
    return [title, "", *(f"- {w['message']}" for w in found), ""]


def _images(summary: dict[str, Any], *names: str) -> list[str]:
    """Links to those of the plots `names` that the run has (sim.report.plots.plot_names)."""
    drawn = plot_names(summary)
    return [f"![{PLOTS[name][1]}]({name})\n" for name in names if name in drawn]


def _row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(cells) + " |"
