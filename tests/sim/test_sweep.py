"""`quoterace sweep` and `sim.sweep`: the grid, its rows, its plots, bad settings, failing
points, and Dask.

Every row must be what running that point on its own gives (the sweep only distributes the
runs); the Dask path is checked against an in-process `distributed.LocalCluster`.
"""

from __future__ import annotations

import csv
import multiprocessing
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.cli.main import main
from sim.measure.run import run
from sim.measure.sweep import METRICS, Plan, columns, grid, run_plan
from sim.model.errors import ScenarioError
from sim.model.settings import parse_set, read_source
from sim.report.sweep import WORDS, _plot, sweep_plots
from tests.helpers.cli_checks import one_error_line

SETS = ["venues[0].latency.median_ms=0.5,2", "arrivals.rate_per_s=500,1000"]
REQUESTS = "scenario.requests=400"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_the_grid_is_the_product_of_the_sets() -> None:
    sets = [parse_set(s) for s in SETS]
    assert sets[0] == ("venues[0].latency.median_ms", [0.5, 2])
    assert grid(sets) == [
        {"venues[0].latency.median_ms": a, "arrivals.rate_per_s": b}
        for a in (0.5, 2)
        for b in (500, 1000)
    ]


def test_a_sweep_writes_a_row_per_point_and_strategy_as_a_run_gives(tmp_path, capsys) -> None:
    out = tmp_path / "s"
    argv = ["sweep", "default", *(f"--set={s}" for s in (*SETS, REQUESTS))]
    assert main([*argv, "--workers", "2", "--out", str(out), "--quiet"]) == 0
    assert "4 of 4 points, 8 rows" in capsys.readouterr().out
    rows = read_csv(out / "sweep.csv")
    assert len(rows) == 8
    assert list(rows[0]) == columns([s.split("=")[0] for s in (*SETS, REQUESTS)])
    source = read_source("default")
    for row in rows[::3]:  # a few points, each run on its own
        settings = {
            "venues[0].latency.median_ms": float(row["venues[0].latency.median_ms"]),
            "arrivals.rate_per_s": float(row["arrivals.rate_per_s"]),
            "scenario.requests": 400,
        }
        summary = run(source.scenario(settings)).summary["strategies"][row["strategy"]]
        assert float(row["p99_ms"]) == summary["decision_ms"]["p99"]
        assert float(row["fill_rate"]) == summary["fill_rate"]
        assert int(row["no_quote"]) == summary["no_quote"]
        assert float(row["fill_p99_ms"]) == summary["fill_ms"]["p99"]
        assert float(row["requests_per_s"]) == summary["requests_per_s"]
        # default's venues have no servers: no utilization to report
        assert row["utilization_max"] == row["utilization_mean"] == ""
    # plots against the two keys swept; scenario.requests, set to one value, is not swept
    for metric in ("p50_ms", "p99_ms", "fill_rate", "requests_per_s"):
        for key in ("venues_0_.latency.median_ms", "arrivals.rate_per_s"):
            assert (out / f"{metric}-vs-{key}.png").is_file(), (metric, key)
    assert not list(out.glob("*-vs-scenario.requests.png"))
    assert not list(out.glob("utilization*"))


def test_utilization_is_the_busiest_and_the_mean_of_the_venues_with_servers() -> None:
    """overload's four venues each have one server: the columns are the max and the mean of
    the summary's venue_utilization; hedged loads venue a far more than the others."""
    plan = Plan("overload", [("scenario.requests", [300])], strategies=["first_wins", "hedged"])
    rows, failures = run_plan(plan, workers=1)
    assert failures == []
    summary = sim.summary("overload", ["first_wins", "hedged"], requests=300)["strategies"]
    for row in rows:
        utilization = list(summary[row["strategy"]]["venue_utilization"].values())
        assert row["utilization_max"] == round(max(utilization), 6)
        assert row["utilization_mean"] == round(sum(utilization) / 4, 6)
        assert row["venue_work_wasted"] == summary[row["strategy"]]["venue_work_wasted"]
    hedged = next(row for row in rows if row["strategy"] == "hedged")
    assert hedged["utilization_max"] > 2 * hedged["utilization_mean"]


def test_bad_settings_are_one_line_before_anything_runs(tmp_path, capsys) -> None:
    line = one_error_line(capsys, main(["sweep", "default", "--set", "venues[9].latency.ms=1"]))
    assert line == "--set: 'venues[9].latency.ms': there is no venues[9]"
    status = main(["sweep", "default", "--set", "arrivals.rate_per_s=100,-5"])
    assert one_error_line(capsys, status) == (
        "default.toml: arrivals.rate_per_s: must be >= 0 (got -5)"
    )
    assert one_error_line(capsys, main(["sweep", "default", "--set", "nonsense"])).startswith(
        "--set: 'nonsense': expected KEY=VALUE"
    )


def test_an_engine_the_scenario_cannot_use_is_one_line_and_no_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the --dask case writes results/ where it runs
    out = tmp_path / "never"
    expiring = "venues[0].quote_ttl_ms=5"  # adaptive learning from expiry through servers
    argv = ["sweep", "overload", "--set", REQUESTS, "--set", expiring, "--engine", "fast"]
    line = one_error_line(capsys, main([*argv, "--out", str(out)]))
    assert line.startswith("--engine: the fast engine cannot run overload: strategy adaptive (")
    assert not out.exists()
    line = one_error_line(capsys, main(["sweep", "default", "--set", REQUESTS, "--dask", "x"]))
    assert line.startswith("--dask: cannot connect to x")


def test_a_failing_point_is_reported_and_the_rest_complete(tmp_path, capsys) -> None:
    """sigma = 1000 passes the file's checks, but its draws overflow when the point runs."""
    out = tmp_path / "f"
    argv = ["sweep", "default", "--set", "venues[0].latency.sigma=0.5,1000", "--set", REQUESTS]
    assert main([*argv, "--out", str(out), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "1 of 2 points" in captured.out
    assert "sweep point venues[0].latency.sigma=1000, scenario.requests=400 failed" in captured.err
    assert "parameters too extreme" in captured.err
    rows = read_csv(out / "sweep.csv")
    assert {row["venues[0].latency.sigma"] for row in rows} == {"0.5"}


def test_a_sweep_on_dask_gives_the_same_rows() -> None:
    distributed = pytest.importorskip("distributed")
    sets = [parse_set(s) for s in (*SETS, REQUESTS)]
    plan = Plan("default", sets, "auto")
    local, _ = run_plan(plan, workers=2)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        on_dask, failures = run_plan(plan, dask=cluster.scheduler_address)
    assert failures == []
    assert on_dask == local
    in_process, _ = run_plan(plan, workers=1)
    assert in_process == local


def test_an_unreachable_dask_scheduler_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    pytest.importorskip("distributed")
    monkeypatch.chdir(tmp_path)  # the sweep's folder goes to results/ where it runs
    status = main(["sweep", "default", "--set", REQUESTS, "--dask", "tcp://127.0.0.1:9"])
    assert one_error_line(capsys, status).startswith("--dask: cannot connect to tcp://127.0.0.1:9")


# --- sim.sweep --------------------------------------------------------------------------------


def test_sim_sweep_is_a_dataframe_of_the_rows_quoterace_sweep_writes(tmp_path) -> None:
    """The same grid from Python and from the command line: the same rows, in grid order."""
    pytest.importorskip("pandas")
    sets = {"venues[0].latency.median_ms": [0.5, 2], "arrivals.rate_per_s": np.array([500, 1e3])}
    frame = sim.sweep("default", sets, requests=400, workers=1)
    assert list(frame.columns) == columns(list(sets))
    assert len(frame) == 4 * 2  # points x strategies
    argv = ["sweep", "default", "--set", "venues[0].latency.median_ms=0.5,2"]
    argv += ["--set", "arrivals.rate_per_s=500,1000.0", "--set", REQUESTS]
    assert main([*argv, "--out", str(tmp_path), "--quiet", "--workers", "2"]) == 0
    written = read_csv(tmp_path / "sweep.csv")
    assert len(written) == len(frame)
    for row, (_, line) in zip(written, frame.iterrows(), strict=True):
        assert row["strategy"] == line["strategy"]
        assert float(row["arrivals.rate_per_s"]) == line["arrivals.rate_per_s"]
        for metric in ("p99_ms", "fill_rate", "requests_per_s"):
            assert float(row[metric]) == line[metric], metric


def test_sim_sweep_metrics_are_numbers_nan_where_the_summary_has_none() -> None:
    """A metric the summary leaves out (utilization without servers) is NaN in a float
    column, so that the frame's arithmetic and plots work on it."""
    pytest.importorskip("pandas")
    frame = sim.sweep("default", {"arrivals.rate_per_s": [500, 1000]}, requests=200, workers=1)
    for metric in ("utilization_max", "utilization_mean", "venue_work_wasted", "p99_ms"):
        assert frame[metric].dtype == np.float64, metric
    assert frame["utilization_max"].isna().all()
    assert frame["no_quote"].dtype == np.int64


def test_sim_sweep_takes_strategies_seed_and_requests_as_sim_summary_does() -> None:
    pytest.importorskip("pandas")
    frame = sim.sweep(
        "overload",
        {"venues[*].capacity": [1, 2]},
        strategies=["adaptive"],
        seed=3,
        requests=300,
        workers=1,
    )
    assert list(frame["strategy"]) == ["adaptive", "adaptive"]
    source = read_source("overload")
    for capacity, (_, row) in zip((1, 2), frame.iterrows(), strict=True):
        point = source.scenario({"venues[*].capacity": capacity})
        expected = sim.summary(point, ["adaptive"], seed=3, requests=300)["strategies"]
        assert row["p99_ms"] == expected["adaptive"]["decision_ms"]["p99"]
    # twice the servers, the same work: the busiest venue about half as busy
    assert frame["utilization_max"][1] < 0.7 * frame["utilization_max"][0]


def test_sim_sweep_bad_input_raises_before_anything_runs(monkeypatch) -> None:
    pytest.importorskip("pandas")
    with pytest.raises(ScenarioError, match=r"'arrivals.rate_per_s': give a list of values"):
        sim.sweep("default", {"arrivals.rate_per_s": 100})
    with pytest.raises(ScenarioError, match="3: a key is a string"):
        sim.sweep("default", {3: [1]})
    with pytest.raises(ScenarioError, match=r"there is no venues\[9\]"):
        sim.sweep("default", {"venues[9].latency.ms": [1]})
    with pytest.raises(ScenarioError, match="not Scenario"):
        sim.sweep(sim.load("default"), {"arrivals.rate_per_s": [100]})
    with pytest.raises(ScenarioError) as failed:
        sim.sweep("default", {"venues[0].latency.sigma": [1000], "scenario.requests": [50]})
    assert "point venues[0].latency.sigma=1000, scenario.requests=50 failed" in str(failed.value)
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed
    with pytest.raises(ImportError) as missing:
        sim.sweep("default", {"arrivals.rate_per_s": [100]})
    assert str(missing.value) == "sim.sweep needs pandas: pip install 'quoterace[pandas]'"


def test_sim_sweep_takes_a_dict_or_toml_text() -> None:
    pytest.importorskip("pandas")
    text = '[[venues]]\nname = "only"\nlatency = { dist = "constant", ms = 1 }\n'
    text += '[[strategies]]\nkind = "first_wins"\n'
    frame = sim.sweep(text, {"venues[0].latency.ms": [1, 3]}, requests=50, workers=1)
    assert list(frame["p50_ms"].round(3)) == [1.0, 3.0]
    with pytest.raises(ScenarioError, match=r"^<text>: venues\[0\]\.latency\.ms: must be"):
        sim.sweep(text, {"venues[0].latency.ms": [-1]})


# --- wildcards ----------------------------------------------------------------------------------


def test_a_wildcard_sweeps_every_venue(tmp_path, capsys) -> None:
    """tied-requests with and without cancel propagation on every venue: without it, every
    venue serves every request in full, so each is busier."""
    out = tmp_path / "tied"
    argv = ["sweep", "tied-requests", "--set", "venues[*].cancel_propagation=true,false"]
    argv += ["--set", "scenario.requests=400", "--out", str(out), "--quiet", "--workers", "2"]
    assert main(argv) == 0
    rows = [r for r in read_csv(out / "sweep.csv") if r["strategy"] == "first_wins"]
    assert [r["venues[*].cancel_propagation"] for r in rows] == ["True", "False"]
    on, off = (float(r["utilization_max"]) for r in rows)
    assert on < 0.3 < 0.4 < off  # ~20% against ~50% (tests/sim/test_load_scenarios.py)
    assert (out / "utilization_mean-vs-venues_.cancel_propagation.png").is_file()


# --- plots ------------------------------------------------------------------------------------


def test_every_metric_has_words_and_a_unit_where_it_has_one() -> None:
    assert set(WORDS) == set(METRICS)
    for metric, (_words, unit) in WORDS.items():
        assert (unit == "ms") == metric.endswith("_ms"), metric


def _rows(values: dict[str, list[float]], rates=(100, 200, 400)) -> list[dict]:
    """Rows of a sweep over arrivals.rate_per_s: each strategy's values of every metric."""
    return [
        {"arrivals.rate_per_s": rate, "strategy": name, "engine": "fast"}
        | dict.fromkeys(METRICS, None)
        | {"p99_ms": ys[i], "utilization_max": ys[i] / 10}
        for i, rate in enumerate(rates)
        for name, ys in values.items()
    ]


def test_plots_say_what_they_show_in_words_and_lines_that_coincide_stay_apart() -> None:
    same = [1.0, 2.0, 4.0]
    rows = _rows({"first_wins": same, "first_k": same, "best_price": [2.0, 3.0, 5.0]})
    figure = _plot(rows, ["arrivals.rate_per_s"], "arrivals.rate_per_s", "p99_ms", "overload")
    axes = figure.axes[0]
    assert axes.get_title() == "overload: p99 decision latency against arrival rate"
    assert axes.get_xlabel() == "arrival rate (requests/s)"
    assert axes.get_ylabel() == "p99 decision latency (ms)"
    lines = axes.get_lines()
    assert [line.get_label() for line in lines] == ["first_wins", "first_k", "best_price"]
    styles = {(line.get_marker(), line.get_linestyle(), line.get_markersize()) for line in lines}
    assert len(styles) == 3  # the two identical lines are drawn differently
    # rows with no value of a metric (no venue servers), and keys set to one value: no plot
    names = set(sweep_plots(rows, ["arrivals.rate_per_s"], "overload"))
    assert names == {
        "p99_ms-vs-arrivals.rate_per_s.png",
        "utilization_max-vs-arrivals.rate_per_s.png",
    }


def test_utilization_against_the_arrival_rate_shows_saturation() -> None:
    rows = _rows({"first_wins": [2.0, 5.0, 9.0]})
    figure = _plot(
        rows, ["arrivals.rate_per_s"], "arrivals.rate_per_s", "utilization_max", "overload"
    )
    axes = figure.axes[0]
    assert axes.get_title() == "overload: busiest venue's utilization against arrival rate"
    assert axes.get_ylabel() == "busiest venue's utilization (share of time busy)"
    labels = [line.get_label() for line in axes.get_lines()]
    assert labels == ["first_wins", "saturated (always busy)"]
    assert list(axes.get_lines()[1].get_ydata()) == [1.0, 1.0]


def test_a_key_that_is_not_a_number_is_a_category_written_as_set() -> None:
    rows = _rows({"first_wins": [1.0, 3.0]}, rates=(True, False))
    figure = _plot(rows, ["arrivals.rate_per_s"], "arrivals.rate_per_s", "p99_ms", "tied")
    axes = figure.axes[0]
    figure.canvas.draw()
    assert [t.get_text() for t in axes.get_xticklabels()] == ["true", "false"]


def test_a_key_of_whole_numbers_gets_ticks_at_whole_numbers_only() -> None:
    # venues[*].capacity = 1, 2: no tick at 1.2 servers
    rows = _rows({"first_wins": [3.0, 2.0]}, rates=(1, 2))
    figure = _plot(rows, ["arrivals.rate_per_s"], "arrivals.rate_per_s", "p99_ms", "overload")
    axes = figure.axes[0]
    figure.canvas.draw()
    low, high = axes.get_xlim()
    ticks = [t for t in axes.get_xticks() if low <= t <= high]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def _tied_summary(requests: int) -> dict:
    return sim.summary("tied-requests", engine="fast", requests=requests)


def test_a_forked_worker_runs_the_fast_engine_after_its_parent_has() -> None:
    """A sweep's workers are forked (Linux) from a process whose fast engine may already have
    started its thread pools: a child has none of those threads, so it must start its own
    rather than wait forever on work given to threads that do not exist."""
    expected = _tied_summary(300)  # the parent's pools started (blocks, venues' queues)
    with multiprocessing.get_context("fork").Pool(1) as pool:  # terminated on leaving
        got = pool.apply_async(_tied_summary, (300,)).get(timeout=120)
    assert got == expected
