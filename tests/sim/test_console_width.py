"""The console's tables fit the terminal: no line wider than it, no figure cut or lost, each
cell one figure under a header that names it; a wide terminal shows each table whole, a narrow
one splits it where its columns part; the docs show what the console prints.

The summaries are the bundled scenarios' reference results (results/<scenario>/summary.json),
from which the tables are made (sim.report.tables); the comparison is a small run's.
"""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import sim
from sim.cli.main import main
from sim.measure.compare import compare
from sim.model.scenario import bundled
from sim.report.comparison import comparison_data
from sim.report.console import fitted, print_comparison, print_tables
from sim.report.tables import TableData, result_tables

ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (60, 80, 120)
FIGURE = re.compile(r"-?[\d,]+(\.\d+)?%?|-|yes|no|undefined")  # one number, or a verdict


def reference(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "results" / name / "summary.json").read_text())


def wall_clock(summary: dict[str, Any]) -> dict[str, Any]:
    """`summary` with the wall clock's tables added (their figures borrowed from decisions)."""
    summary = copy.deepcopy(summary)
    summary["clock"] = "real"
    for s in summary["strategies"].values():
        s["timer_overshoot_ms"] = s["schedule_lag_ms"] = s["decision_ms"]
        s["scheduled_rate_per_s"], s["started_rate_per_s"] = 2000.0, 1873.4
    return summary


def drawn(data: TableData, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(*fitted(data, console))
    return console.file.getvalue()


def pieces(text: str) -> list[list[str]]:
    """The header of each table drawn, as its column names."""
    return [[h.strip() for h in line.split("┃")] for line in text.splitlines() if "┃" in line]


def cells(text: str, keys: int) -> dict[tuple[str, ...], str]:
    """Every figure drawn, by its row's key cells and its column's header."""
    found: dict[tuple[str, ...], str] = {}
    header: list[str] = []
    for line in text.splitlines():
        if "┃" in line:
            header = [h.strip() for h in line.split("┃")]
        elif "│" in line:
            row = [c.strip() for c in line.split("│")]
            for name, cell in zip(header[keys:], row[keys:], strict=True):
                found[(*row[:keys], name)] = cell
    return found


def assert_fits(data: TableData, width: int) -> None:
    text = drawn(data, width)
    assert max(len(line) for line in text.splitlines()) <= width, text
    assert "…" not in text
    found = cells(text, data.keys)
    for row in data.rows:
        for column, cell in zip(data.columns[data.keys :], row[data.keys :], strict=True):
            assert found[(*row[: data.keys], column)] == cell, (data.title, row, column)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", bundled())
def test_every_table_of_every_bundled_scenario_fits(name: str, width: int) -> None:
    tables = result_tables(reference(name))
    assert len(tables) >= 4
    for data in tables:
        assert_fits(data, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_wall_clocks_tables_fit(width: int) -> None:
    tables = result_tables(wall_clock(reference("overload")))
    assert {t.title.split(":")[0] for t in tables} >= {"real clock"}
    for data in tables:
        assert_fits(data, width)


@pytest.fixture(scope="module")
def comparison() -> dict[str, Any]:
    return compare(sim.run("overload", requests=300), resamples=200)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_comparison_fits(comparison, width: int) -> None:
    assert_fits(comparison_data(comparison), width)


@pytest.mark.parametrize("name", bundled())
def test_each_cell_holds_one_figure(name: str, comparison) -> None:
    for data in [*result_tables(wall_clock(reference(name))), comparison_data(comparison)]:
        for row in data.rows:
            for cell in row[data.keys :]:
                assert FIGURE.fullmatch(cell), (data.title, row, cell)


def test_a_wide_console_draws_each_table_whole() -> None:
    for data in result_tables(reference("overload")):
        assert pieces(drawn(data, 200)) == [list(data.columns)]


def test_a_narrow_console_splits_a_table_where_its_columns_part() -> None:
    latency, orders, costs = result_tables(reference("default"))[:3]
    heads = [piece[1:] for piece in pieces(drawn(latency, 80))]
    assert heads == [
        ["p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"],
        list(latency.columns[8:]),
    ]
    heads = [piece[1:] for piece in pieces(drawn(costs, 80))]
    assert heads == [list(costs.columns[1:4]), list(costs.columns[4:])]
    heads = [piece[1:] for piece in pieces(drawn(orders, 80))]
    assert heads == [list(orders.columns[1:5]), list(orders.columns[5:])]


def test_a_hundred_venues_are_all_shown() -> None:
    wins = result_tables(reference("tail-at-scale"))[3]
    assert len(wins.columns) == 101
    assert len(pieces(drawn(wins, 80))) > 1
    assert_fits(wins, 80)


@pytest.mark.parametrize("width", [80, 120])
def test_quoterace_run_prints_to_the_terminals_width(monkeypatch, capsys, width: int) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["run", "overload", "--requests", "300"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= width
    assert "…" not in out
    latency = pieces(out)[0]
    assert ("venue req/decision" in latency) == (width == 120)  # whole only when it fits


def printed(what: str) -> str:
    console = Console(file=io.StringIO(), width=80, color_system=None)
    if what == "run":
        print_tables(sim.run("default").summary, console)
    else:
        print_comparison(compare(sim.run("default")), console)
    return console.file.getvalue()


def code_blocks(page: str) -> list[str]:
    """The page's plain code blocks (those with no language)."""
    blocks, block, fence = [], [], None
    for line in (ROOT / page).read_text().splitlines(keepends=True):
        if line.startswith("```"):
            if fence == "```\n":
                blocks.append("".join(block))
            fence, block = (line if fence is None else None), []
        elif fence:
            block.append(line)
    return blocks


@pytest.mark.parametrize(
    ("page", "what"),
    [
        ("README.md", "run"),
        ("docs/getting-started.md", "run"),
        ("docs/getting-started.md", "compare"),
    ],
)
def test_the_docs_show_what_the_console_prints(page: str, what: str) -> None:
    # `quoterace run` and `quoterace compare` on an 80-column terminal, as the pages say
    assert printed(what) in code_blocks(page)
