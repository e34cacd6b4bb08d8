"""`quoterace sweep`: the grid, its rows, its plots, bad settings, failing points, and Dask.

Every row must be what running that point on its own gives (the sweep only distributes the
runs); the Dask path is checked against an in-process `distributed.LocalCluster`.
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import pytest

from sim.cli.main import main
from sim.measure.run import run
from sim.measure.sweep import METRICS, Plan, grid, parse_set, point_scenario, sweep
from sim.model.scenario import resolve
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
    path = resolve("default")
    with path.open("rb") as f:
        data = tomllib.load(f)
    for row in rows[::3]:  # a few points, each run on its own
        settings = {
            "venues[0].latency.median_ms": float(row["venues[0].latency.median_ms"]),
            "arrivals.rate_per_s": float(row["arrivals.rate_per_s"]),
            "scenario.requests": 400,
        }
        scenario = point_scenario(data, settings, path)
        summary = run(scenario).summary["strategies"][row["strategy"]]
        assert float(row["p99_ms"]) == summary["decision_ms"]["p99"]
        assert float(row["fill_rate"]) == summary["fill_rate"]
    keys = ["venues_0_.latency.median_ms", "arrivals.rate_per_s", "scenario.requests"]
    for metric in METRICS:
        for key in keys:
            assert (out / f"{metric}-vs-{key}.png").is_file(), (metric, key)


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
    argv = ["sweep", "hedging", "--set", REQUESTS, "--engine", "fast", "--out", str(out)]
    line = one_error_line(capsys, main(argv))
    assert line.startswith("--engine: the fast engine cannot run hedging: strategy one_venue")
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
    local, _ = sweep(plan, workers=2)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        on_dask, failures = sweep(plan, dask=cluster.scheduler_address)
    assert failures == []
    assert on_dask == local


def test_an_unreachable_dask_scheduler_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    pytest.importorskip("distributed")
    monkeypatch.chdir(tmp_path)  # the sweep's folder goes to results/ where it runs
    status = main(["sweep", "default", "--set", REQUESTS, "--dask", "tcp://127.0.0.1:9"])
    assert one_error_line(capsys, status).startswith("--dask: cannot connect to tcp://127.0.0.1:9")
