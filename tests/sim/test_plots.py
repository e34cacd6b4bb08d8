"""The run's plots as a reader meets them: which plots a run gets (no speed-against-price plot
where no fill has a price, and no link to one), the corrected curve beside the measured one for a
closed loop, a CDF axis that spans the data, and legends that cover no data.

Figures are inspected through the functions that build them (lines, labels, limits), not pixels.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from sim.measure.run import run
from sim.report.plots import (
    PLOTS,
    cdf_figure,
    corrected_curve,
    frontier_figure,
    outcomes_figure,
    percentiles_figure,
    plot_names,
)
from sim.report.results_dir import write_results

CLOSED_NOTE = "corrected for coordinated omission"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object]]:
    """Small runs written to folders: default (its venues' quotes have a price), hedging (every
    venue quotes the mid: every fill's slippage is 0), coordinated-omission (a closed loop)."""
    folders = {}
    for name, requests in (("default", 300), ("hedging", 300), ("coordinated-omission", 300)):
        out = tmp_path_factory.mktemp(name)
        result = run(name, requests=requests, seed=1)
        write_results(result, out)
        folders[name] = (out, result)
    return folders


def image_links(report: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)


def test_no_frontier_where_no_fill_has_a_price(runs) -> None:
    out, result = runs["hedging"]
    slippage = [s["slippage_bps"] for s in result.summary["strategies"].values()]
    assert all(v in (0, None) for s in slippage for v in s.values())  # the premise
    assert plot_names(result.summary) == ["percentiles.png", "cdf.png", "outcomes.png"]
    assert not (out / "frontier.png").exists()
    links = image_links((out / "report.md").read_text())
    assert links == ["percentiles.png", "cdf.png", "outcomes.png"]


def test_a_run_with_prices_gets_the_frontier(runs) -> None:
    out, result = runs["default"]
    assert plot_names(result.summary) == list(PLOTS)
    assert (out / "frontier.png").is_file()
    assert "frontier.png" in image_links((out / "report.md").read_text())


@pytest.mark.parametrize("name", ["default", "hedging", "coordinated-omission"])
def test_every_image_the_report_links_is_in_the_folder(runs, name) -> None:
    out, _ = runs[name]
    links = image_links((out / "report.md").read_text())
    assert links and all((out / link).is_file() for link in links)
    assert {p.name for p in out.glob("*.png")} == set(links)


def test_a_rerun_without_prices_removes_the_earlier_frontier(runs, tmp_path) -> None:
    _, result = runs["hedging"]
    (tmp_path / "frontier.png").write_bytes(b"an earlier run's")
    written = write_results(result, tmp_path)
    assert not (tmp_path / "frontier.png").exists()
    assert tmp_path / "frontier.png" not in written


def test_one_priced_strategy_is_enough_for_a_frontier() -> None:
    def strategy(mean):
        return {"decision_ms": {"p99": 1.0}, "slippage_bps": {"mean": mean}, "fill_rate": 1.0}

    unpriced = {"scenario": "t", "strategies": {"a": strategy(0.0), "b": strategy(None)}}
    assert "frontier.png" not in plot_names(unpriced)
    priced = {"scenario": "t", "strategies": {"a": strategy(0.0), "b": strategy(-0.5)}}
    assert "frontier.png" in plot_names(priced)


def test_a_closed_loop_plots_the_corrected_curve_beside_the_measured(runs) -> None:
    _, result = runs["coordinated-omission"]
    tables = _tables(result)
    axes = percentiles_figure(result.summary, tables).axes[0]
    labels = [line.get_label() for line in axes.get_lines()]
    interval = result.summary["strategies"]["first_wins"]["expected_interval_ms"]
    assert labels == [
        "first_wins, measured",
        f"first_wins, {CLOSED_NOTE} (a request every {interval:.3g} ms)",
    ]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == labels
    measured, corrected = axes.get_lines()
    assert measured.get_color() == corrected.get_color()
    assert measured.get_linestyle() != corrected.get_linestyle()


def test_an_open_loop_plots_one_curve_per_strategy(runs) -> None:
    _, result = runs["default"]
    axes = percentiles_figure(result.summary, _tables(result)).axes[0]
    assert [line.get_label() for line in axes.get_lines()] == list(result.strategies)


def test_the_corrected_curve_is_the_corrected_order_statistics() -> None:
    """1000 decisions of 1 ms and one of 1000 ms, a request expected every 10 ms: the slow one
    also counts 990, 980, ..., 10 ms (HdrHistogram's rule), written out here by hand."""
    decisions = np.append(np.ones(1000), 1000.0)
    expanded = np.sort(np.concatenate((decisions, np.arange(990.0, 9.0, -10.0))))
    assert expanded.size == 1100
    x, y = corrected_curve(np.append(decisions, np.nan), 10.0)
    assert x[-1] == x[-2] == 1100.0 and y[-1] == 1000.0  # ends at the maximum
    # HdrHistogram's percentile p is the value of rank p n rounded to the nearest whole count,
    # to 3 significant digits: within 0.1% of that order statistic
    rank = np.maximum(np.floor((1.0 - 1.0 / x[:-1]) * expanded.size + 0.5), 1).astype(int)
    exact = expanded[rank - 1]
    assert np.allclose(y[:-1], exact, rtol=1e-3, atol=0)
    assert y[np.searchsorted(x, 100.0)] > 100.0  # its p99 is in the added values, not 1 ms


@pytest.mark.parametrize(
    "decisions",
    [
        np.array([0.5, 0.7, 2.0, 40.0, np.nan]),
        np.array([0.0, 3e-4, 0.02, 5.0]),  # a decision in no time sits at the left edge
        np.geomspace(1.0, 1.2, 50),  # less than a decade
    ],
)
def test_the_cdf_axis_spans_the_data(decisions) -> None:
    tables = {"s": {"decision_ms": decisions}, "t": {"decision_ms": decisions * 1.1}}
    axes = cdf_figure({"scenario": "t"}, tables).axes[0]
    every = np.concatenate([decisions, decisions * 1.1])
    every = every[~np.isnan(every)]
    smallest, largest = every[every > 0].min(), every.max()
    low, high = axes.get_xlim()
    assert smallest / 1.2 < low < smallest
    assert largest < high < largest * 1.2
    labels = [t.get_text() for t in axes.get_xticklabels() if low <= t.get_position()[0] <= high]
    assert labels and not any("e" in label for label in labels)  # plain numbers


def test_the_frontier_names_its_points_in_a_legend_with_their_fill_rates() -> None:
    """Three strategies at one spot, where labels beside the points would overlap."""
    same = {"decision_ms": {"p99": 2.0}, "slippage_bps": {"mean": 0.5}}
    strategies = {n: {**same, "fill_rate": f} for n, f in (("a", 1.0), ("b", 0.5), ("c", 0.25))}
    figure = frontier_figure({"scenario": "t", "strategies": strategies}, {})
    axes = figure.axes[0]
    assert not axes.texts  # nothing written over the data
    names = [t.get_text() for t in axes.get_legend().get_texts()]
    assert names == ["a (fill 100.0%)", "b (fill 50.0%)", "c (fill 25.0%)"]
    markers = {c.get_paths()[0].vertices.tobytes() for c in axes.collections}
    assert len(markers) == 3  # one marker shape each: coinciding points stay told apart


def test_no_legend_covers_the_data(runs) -> None:
    _, result = runs["coordinated-omission"]
    tables = _tables(result)
    _, priced = runs["default"]
    figures = [
        percentiles_figure(result.summary, tables),
        cdf_figure(result.summary, tables),
        outcomes_figure(result.summary, tables),
        frontier_figure(priced.summary, _tables(priced)),
    ]
    for figure in figures:
        FigureCanvasAgg(figure).draw()
        axes = figure.axes[0]
        legend = axes.get_legend().get_window_extent()
        inside = axes.get_window_extent()
        assert legend.y1 < inside.y0, axes.get_title()  # wholly below the axes
        assert legend.y0 >= 0, axes.get_title()  # and on the figure


def _tables(result):
    """Each strategy's per-request columns, as requests.csv holds them."""
    return {name: result.columns(name) for name in result.strategies}
