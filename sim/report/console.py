"""The console: a run's result tables and the paired comparison, drawn with rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from sim.report.tables import result_tables


def console_tables(summary: dict[str, Any]) -> list[Table]:
    """The run's result tables (sim.report.tables) as rich tables, numbers right-aligned."""
    tables = []
    for data in result_tables(summary):
        table = Table(
            title=data.title,
            title_justify="left",
            caption=data.note or None,
            caption_justify="left",
        )
        table.add_column(data.columns[0], no_wrap=True)
        for column in data.columns[1:]:
            table.add_column(column, justify="right")
        for row in data.rows:
            table.add_row(*row)
        tables.append(table)
    return tables


def comparison_table(comparison: dict[str, Any]) -> Table:
    """Paired differences against the baseline strategy, with 95% intervals."""
    table = Table(
        title=f"{comparison['scenario']}: paired differences against "
        f"{comparison['baseline']} ({comparison['requests']:,} requests, "
        f"{comparison.get('engine', 'trio')} engine, bootstrap of "
        f"{comparison['resamples']:,} resamples)",
        title_justify="left",
        caption="slippage over the requests both filled; a race with no quote counts as "
        "infinitely slow in the p99",
        caption_justify="left",
    )
    for column in ("strategy", "metric", "baseline", "strategy value", "difference", "95% CI"):
        table.add_column(column, justify="left" if column in ("strategy", "metric") else "right")
    table.add_column("significant")
    labels = {
        "mean_slippage_bps": ("mean slippage (bps)", "{:.3f}"),
        "fill_rate": ("fill rate", "{:.2%}"),
        "p99_decision_ms": ("p99 decision (ms)", "{:.3f}"),
    }
    for name, metrics in comparison["comparisons"].items():
        for key, m in metrics.items():
            label, form = labels[key]
            if m["difference"] is None:
                values = [
                    form.format(v) if v is not None else "-" for v in (m["baseline"], m["other"])
                ]
                table.add_row(name, label, *values, "-", "-", "undefined")
                continue
            low, high = m["ci95"]
            table.add_row(
                name,
                label,
                form.format(m["baseline"]),
                form.format(m["other"]),
                form.format(m["difference"]),
                f"[{form.format(low)}, {form.format(high)}]",
                "yes" if m["significant"] else "no",
            )
    return table


def print_tables(summary: dict[str, Any], console: Console | None = None) -> None:
    """Print the comparison tables to the console (stdout)."""
    console = console or Console()
    for table in console_tables(summary):
        console.print(table)
