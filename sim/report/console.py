"""The console: a run's result tables and a comparison's, drawn with rich to fit the terminal.

A table the terminal holds is drawn whole. One it does not is split over several tables, each
repeating the columns that name a row, at the ends of its groups of columns (sim.report.tables)
where it can: no cell is wrapped or cut.
"""

from __future__ import annotations

import textwrap
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from sim.report.comparison import comparison_data
from sim.report.tables import TableData, result_tables


def print_tables(summary: dict[str, Any], console: Console | None = None) -> None:
    """Print a run's result tables (sim.report.tables) to `console` (stdout by default)."""
    console = console or Console()
    for n, data in enumerate(result_tables(summary)):
        if n:
            console.print()  # a line between tables, none between the pieces of one
        console.print(*fitted(data, console))


def print_comparison(comparison: dict[str, Any], console: Console | None = None) -> None:
    """Print a comparison (`quoterace compare`) to `console` (stdout by default)."""
    console = console or Console()
    console.print(*fitted(comparison_data(comparison), console))


def fitted(data: TableData, console: Console) -> list[RenderableType]:
    """`data` drawn no wider than `console`: its title, one table or as few as its columns
    need, and its note."""
    keys = list(range(data.keys))
    drawn: list[RenderableType] = [_text(data.title, "table.title", console)]
    drawn += [_table(data, [*keys, *piece]) for piece in _pieces(data, console)]
    if data.note:
        drawn.append(_text(data.note, "table.caption", console))
    return drawn


def _pieces(data: TableData, console: Console) -> list[list[int]]:
    """The figure columns in runs that fit with the key columns, as words in lines of text: a
    run ends before a group that does not fit in it, and a group wider than the console is
    broken where it must be."""
    keys = list(range(data.keys))
    pieces: list[list[int]] = [[]]
    for group in data.column_groups():
        for column in group:
            while (
                pieces[-1] and _width(data, [*keys, *pieces[-1], column], console) > console.width
            ):
                started = [c for c in pieces[-1] if c in group]
                if started and len(started) < len(pieces[-1]):  # carry them to a new run
                    pieces[-1] = pieces[-1][: -len(started)]
                    pieces.append(started)
                else:
                    pieces.append([])
            pieces[-1].append(column)
    return pieces


def _table(data: TableData, columns: list[int]) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for column in columns:
        key = column < data.keys
        table.add_column(data.columns[column], justify="left" if key else "right", overflow="fold")
    for row in data.rows:
        table.add_row(*(row[c] for c in columns))
    return table


def _width(data: TableData, columns: list[int], console: Console) -> int:
    """How wide the table of `columns` is drawn on one line per row."""
    table = _table(data, columns)
    return console.measure(table, options=console.options.update_width(1_000_000)).maximum


def _text(text: str, style: str, console: Console) -> Text:
    """`text` wrapped to the console's width (at spaces, with no space left at a line's end)."""
    return Text("\n".join(textwrap.wrap(text, console.width)), style=style)
