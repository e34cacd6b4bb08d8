"""The console: a run's result tables, drawn with rich (a comparison's: sim.report.comparison)."""

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


def print_tables(summary: dict[str, Any], console: Console | None = None) -> None:
    """Print the comparison tables to the console (stdout)."""
    console = console or Console()
    for table in console_tables(summary):
        console.print(table)
