"""The results folder (`run --out`, `compare --out`, `run --all`), `quoterace report`, the
progress bar, and the committed reference results.

The files must agree with the run that wrote them: requests.csv holds the records, latency.hlog
reads back (hdrh's own HistogramLogReader) to the histograms the summary came from, the plots
are PNGs that `quoterace report` redraws byte for byte from the saved data alone. Writes are
atomic: an interrupted write leaves the earlier files whole and no temporary file.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
from rich.console import Console

from sim.cli.main import main
from sim.measure.run import run
from sim.model.scenario import bundled, load
from sim.report import progress as progress_module
from sim.report.atomic import summary_json
from sim.report.hlog import interval_s
from sim.report.plots import PLOTS, percentile_curve, percentiles_figure
from sim.report.progress import RunProgress
from sim.report.requests_file import COLUMNS, read_requests
from sim.report.results_dir import write_results
from tests.helpers.cli_checks import one_error_line

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REQUESTS = 400


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """One run of the default scenario at 100 requests/s (four seconds: four intervals of the
    interval log) written to a folder, and the run itself."""
    out = tmp_path_factory.mktemp("out")
    default = load("default")
    slow = dataclasses.replace(default.arrivals, rate_per_s=100.0)
    result = run(dataclasses.replace(default, arrivals=slow), requests=REQUESTS, seed=3)
    write_results(result, out)
    return out, result


def read_interval_log(path: Path) -> dict[str, list]:
    """Each tag's interval histograms, read by hdrh's own reader."""
    reader = HistogramLogReader(str(path), HdrHistogram(1, 10**15, 3))
    intervals: dict[str, list] = {}
    while (interval := reader.get_next_interval_histogram()) is not None:
        intervals.setdefault(interval.get_tag(), []).append(interval)
    reader.close()
    return intervals


def test_the_folder_holds_every_file(folder) -> None:
    out, result = folder
    names = {p.name for p in out.iterdir()}
    expected = {"summary.json", "requests.csv", "latency.hlog", "report.md", *PLOTS}
    expected |= {f"{name}.hgrm" for name in result.strategies}
    assert names == expected
    assert json.loads((out / "summary.json").read_text()) == result.summary
    for png in PLOTS:
        data = (out / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, png


def test_requests_csv_holds_the_records(folder) -> None:
    out, result = folder
    text = (out / "requests.csv").read_text()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    tables = read_requests(out / "requests.csv")
    assert list(tables) == list(result.strategies)
    venues = [v.name for v in result.scenario.venues]
    for name in result.strategies:
        records, table = result.records(name), tables[name]
        assert table["request"].tolist() == list(range(REQUESTS))
        # six decimals of ms: within half a nanosecond
        for column, field in (
            ("arrival_ms", "arrival_s"),
            ("decision_ms", "decision_s"),
            ("fill_ms", "fill_s"),
        ):
            assert np.allclose(
                table[column], records[field] * 1e3, rtol=0, atol=5e-7, equal_nan=True
            ), column
        assert np.allclose(table["price"], records["price"], rtol=1e-11, equal_nan=True)
        assert table["outcome"].tolist() == records["outcome"].tolist()
        assert table["side"].tolist() == records["side"].tolist()
        assert table["orders"].tolist() == records["orders"].tolist()
        chosen = [venues[v] if v >= 0 else "" for v in records["venue"].tolist()]
        assert table["venue"].tolist() == chosen
        assert np.isnan(table["slippage_bps"][np.isnan(records["price"])]).all()
        mean = result.summary["strategies"][name]["slippage_bps"]["mean"]
        assert np.nanmean(table["slippage_bps"]) == pytest.approx(mean, abs=1e-6)


def test_the_interval_log_reads_back_to_the_summary_histograms(folder) -> None:
    """Per tag, one interval per second of arrivals holding exactly that second's decisions;
    together, the very counts of the histogram the summary came from."""
    out, result = folder
    intervals = read_interval_log(out / "latency.hlog")
    assert list(intervals) == list(result.strategies)
    for name, strategy in result.strategies.items():
        records = strategy.records
        seconds = np.floor(records.arrival_s[~np.isnan(records.decision_s)]).astype(int)
        assert [i.get_start_time_stamp() for i in intervals[name]] == [
            1000.0 * k for k in np.unique(seconds).tolist()
        ]
        assert len(intervals[name]) == 4
        for k, interval in zip(np.unique(seconds).tolist(), intervals[name], strict=True):
            assert interval.get_total_count() == int((seconds == k).sum())
        total = HdrHistogram(1, 10**15, 3)
        for interval in intervals[name]:
            total.add(interval)
        assert list(total.counts) == list(strategy.decision_histogram.counts), name
    # Interval_Max in ms, not truncated to whole ms (hdrh's writer would print 0.000 here)
    line = next(x for x in (out / "latency.hlog").read_text().splitlines() if x.startswith("Tag="))
    assert 0.0 < float(line.split(",")[3]) < 1.0


@pytest.mark.parametrize(
    ("span_s", "step_s"), [(0.0, 1.0), (999.0, 1.0), (5000.0, 5.0), (1e6, 1000.0)]
)
def test_long_runs_get_longer_intervals(span_s, step_s) -> None:
    assert interval_s(span_s) == step_s


def test_the_percentile_curve_runs_from_the_median_to_the_maximum() -> None:
    values = np.arange(1.0, 1001.0)  # 1000 decisions, 1..1000 ms
    x, y = percentile_curve(np.append(values, np.nan))
    assert x[0] == 1.0 and x[-2] == x[-1] == 1000.0  # 1/(1-p) up to n, then the max
    assert y[0] == 1.0 and y[-1] == 1000.0
    assert y[-2] == 999.0  # p = 1 - 1/n is the second largest
    assert np.all(np.diff(np.log(x[:-1])) > 0)
    figure = percentiles_figure({"scenario": "t"}, {"s": {"decision_ms": values}})
    axes = figure.axes[0]
    assert axes.get_xscale() == "log"
    assert [t.get_text() for t in axes.get_xticklabels()] == ["0%", "90%", "99%", "99.9%"]


def test_report_md_ties_the_tables_and_plots_together(folder) -> None:
    out, result = folder
    report = (out / "report.md").read_text()
    assert report.startswith("# default\n")
    for png in PLOTS:
        assert f"]({png})" in report
    p99 = result.summary["strategies"]["first_wins"]["decision_ms"]["p99"]
    assert "| first_wins | " in report and f"{p99:.3f}" in report


def test_report_rebuilds_the_plots_byte_for_byte_from_the_saved_data(folder, tmp_path) -> None:
    out, _ = folder
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("summary.json", "requests.csv"):  # the data alone
        (copy / name).write_bytes((out / name).read_bytes())
    assert main(["report", str(copy)]) == 0
    for name in (*PLOTS, "report.md"):
        assert (copy / name).read_bytes() == (out / name).read_bytes(), name


def test_report_of_a_folder_without_results_is_one_line(tmp_path, capsys) -> None:
    line = one_error_line(capsys, main(["report", str(tmp_path)]))
    assert line == f"{tmp_path}: summary.json: missing: not a folder written by quoterace run --out"


def test_bare_out_writes_results_of_the_scenario(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "stale-quotes", "--requests", "60", "--out", "--json"]) == 0
    capsys.readouterr()
    assert (tmp_path / "results" / "stale-quotes" / "summary.json").is_file()


def test_compare_out_adds_the_comparison(tmp_path, capsys) -> None:
    out = tmp_path / "c"
    assert (
        main(
            [
                "compare",
                "default",
                "--requests",
                "100",
                "--resamples",
                "100",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert json.loads((out / "comparison.json").read_text()) == printed
    assert (out / "summary.json").is_file() and (out / "percentiles.png").is_file()


def test_run_all_writes_every_bundled_scenario_and_a_gallery(tmp_path, capsys) -> None:
    assert main(["run", "--all", "--requests", "30", "--out", str(tmp_path), "--json"]) == 0
    said = [line.split(" (")[0] for line in capsys.readouterr().err.splitlines()]
    assert said == [f"quoterace: wrote {p}" for p in (*(tmp_path / n for n in bundled()), tmp_path)]
    for name in bundled():
        assert (tmp_path / name / "report.md").is_file(), name
    gallery = (tmp_path / "README.md").read_text()
    assert all(f"## [{name}]({name}/report.md)" in gallery for name in bundled())


def test_run_all_refuses_a_scenario_too(capsys) -> None:
    line = one_error_line(capsys, main(["run", "stale-quotes", "--all"]))
    assert line.startswith("--all: runs every bundled scenario")


def test_an_interrupted_write_keeps_what_was_complete(tmp_path, monkeypatch, capsys) -> None:
    """Ctrl-C while requests.csv is being written, over the folder of an earlier run: no file
    is half-written or temporary, and the earlier summary is gone (summary.json comes last), so
    what is left cannot pass for a complete run; the earlier run's other files are whole."""
    from sim.report import results_dir

    out = tmp_path / "r"
    assert main(["run", "default", "--requests", "50", "--out", str(out), "--quiet"]) == 0
    before = (out / "requests.csv").read_bytes()

    def interrupted(out, tables, venues):
        out.write("strategy,request\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(results_dir, "write_requests", interrupted)
    capsys.readouterr()
    assert main(["run", "default", "--requests", "60", "--out", str(out), "--quiet"]) == 130
    assert capsys.readouterr().err == "quoterace: interrupted\n"
    assert not (out / "summary.json").exists()
    assert (out / "requests.csv").read_bytes() == before
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    line = one_error_line(capsys, main(["report", str(out)]))
    assert line.endswith("summary.json: missing: not a folder written by quoterace run --out")


def test_a_rerun_into_a_folder_removes_histograms_of_strategies_it_lacks(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "hedging", "--requests", "50", "--out", str(out), "--quiet"]) == 0
    assert main(["run", "default", "--requests", "50", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.glob("*.hgrm")) == ["best_price.hgrm", "first_wins.hgrm"]


def corrupt(folder: Path, tmp_path: Path, name: str, edit) -> Path:
    copy = tmp_path / name
    copy.mkdir()
    for file in ("summary.json", "requests.csv"):
        (copy / file).write_bytes((folder / file).read_bytes())
    edit(copy)
    return copy


@pytest.mark.parametrize(
    ("case", "edit", "message"),
    [
        (
            "not-a-summary",
            lambda d: (d / "summary.json").write_text("[]"),
            "summary.json: not a quoterace summary (not a JSON object)",
        ),
        (
            "no-csv",
            lambda d: (d / "requests.csv").unlink(),
            ": no requests.csv or requests.parquet",
        ),
        (
            "bad-outcome",
            lambda d: _replace(d, ",filled,", ",fillled,", 1),
            "requests.csv: row 2: outcome: unknown 'fillled'",
        ),
        (
            "short-row",
            lambda d: _replace(d, ",buy,", ",", 1),
            "requests.csv: row 2: 11 fields, expected 12",
        ),
        ("bad-number", lambda d: _replace(d, ",1,", ",one,", 1), "requests.csv: row 2: "),
        (
            "other-run",
            lambda d: _replace(d, "best_price", "patient", None),
            "requests.csv: strategies ['first_wins', 'patient'] do not match",
        ),
    ],
)
def test_report_on_bad_data_is_one_line(folder, tmp_path, capsys, case, edit, message) -> None:
    out, _ = folder
    copy = corrupt(out, tmp_path, case, edit)
    line = one_error_line(capsys, main(["report", str(copy)]))
    assert message in line and line.startswith(str(copy)), line


def _replace(folder: Path, old: str, new: str, count: int | None) -> None:
    path = folder / "requests.csv"
    text = path.read_text()
    path.write_text(text.replace(old, new) if count is None else text.replace(old, new, count))


def test_out_that_cannot_be_a_folder_is_one_line(tmp_path, capsys) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    line = one_error_line(capsys, main(["run", "--requests", "20", "--out", str(a_file / "d")]))
    assert line.startswith("--out: cannot write")


def test_out_with_a_bundled_name_but_no_scenario_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    line = one_error_line(capsys, main(["run", "--out", "hedging"]))
    assert "'hedging' is a bundled scenario: to run it, name it first" in line
    assert not (tmp_path / "hedging").exists()


def test_run_all_never_overwrites_a_readme_of_something_else(tmp_path, capsys) -> None:
    (tmp_path / "README.md").write_text("# my project\n")
    line = one_error_line(capsys, main(["run", "--all", "--out", str(tmp_path)]))
    assert line == f"--out: {tmp_path / 'README.md'} exists and is not a quoterace gallery"
    assert (tmp_path / "README.md").read_text() == "# my project\n"


def test_a_scenario_name_that_is_no_folder_name_is_refused(tmp_path, capsys) -> None:
    path = tmp_path / "esc.toml"
    text = (ROOT / "sim" / "scenarios" / "default.toml").read_text()
    path.write_text(text.replace('name = "default"', 'name = "../../escaped"'))
    line = one_error_line(capsys, main(["run", str(path), "--out"]))
    assert line.startswith(f"{path}: scenario.name: '../../escaped': use letters")


# --- the progress bar -----------------------------------------------------------------------


def terminal() -> tuple[Console, io.StringIO]:
    text = io.StringIO()
    return Console(file=text, force_terminal=True, width=100), text


def test_the_progress_bar_shows_on_a_terminal_for_long_runs(monkeypatch) -> None:
    monkeypatch.setattr(progress_module, "SHOW_AFTER_S", 0.0)
    console, text = terminal()
    with RunProgress(1000, enabled=True, console=console) as bar:
        for _ in range(4):
            bar.advance("default: first_wins", 250)
    assert "default: first_wins" in text.getvalue()


def test_quiet_turns_the_bar_off(monkeypatch, capsys) -> None:
    from sim.cli import run as cli

    seen = []

    class Spy(RunProgress):
        def __init__(self, total, enabled, console=None):
            seen.append(enabled)
            super().__init__(total, enabled, console)

    monkeypatch.setattr(cli, "RunProgress", Spy)
    assert main(["run", "--requests", "20", "--json", "--quiet"]) == 0
    assert main(["run", "--requests", "20", "--json"]) == 0
    capsys.readouterr()
    assert seen == [False, True]


@pytest.mark.parametrize("case", ["quiet", "short", "not a terminal"])
def test_the_progress_bar_stays_away(monkeypatch, case) -> None:
    if case != "short":
        monkeypatch.setattr(progress_module, "SHOW_AFTER_S", 0.0)
    console, text = terminal()
    if case == "not a terminal":
        console = Console(file=text, force_terminal=False)
    with RunProgress(1000, enabled=case != "quiet", console=console) as bar:
        bar.advance("x", 1000)
    assert text.getvalue() == ""


def test_the_engine_reports_every_request_once() -> None:
    heard: dict[str, int] = {}

    def progress(label: str, n: int) -> None:
        heard[label] = heard.get(label, 0) + n

    run("default", requests=700, progress=progress)
    assert heard == {"default: first_wins": 700, "default: best_price": 700}


# --- reference results ----------------------------------------------------------------------


def test_the_committed_default_results_are_reproduced_exactly() -> None:
    committed = (ROOT / "results" / "default" / "summary.json").read_text()
    assert summary_json(run("default").summary) == committed


def test_every_bundled_scenario_has_committed_results() -> None:
    gallery = (ROOT / "results" / "README.md").read_text()
    for name in bundled():
        assert (ROOT / "results" / name / "report.md").is_file(), name
        assert f"({name}/report.md)" in gallery
