"""The results folder (`run --out`, `compare --out`, `run --all`), `quoterace report`, the
progress bar, and the committed reference results.

The files must agree with the run that wrote them: requests.csv holds the records, latency.hlog
reads back (hdrh's own HistogramLogReader) to the histograms the summary came from, the plots
are PNGs that `quoterace report` redraws byte for byte from the saved data alone. Writes are
atomic: an interrupted write leaves the earlier files whole and no temporary file.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from cli_checks import one_error_line
from rich.console import Console

from sim import progress as progress_module
from sim.cli import main
from sim.engine import OUTCOMES
from sim.hlog import read_interval_log
from sim.output import summary_json
from sim.plots import PLOTS
from sim.progress import RunProgress
from sim.requests_table import COLUMNS, read_requests
from sim.results_dir import write_results
from sim.runner import run
from sim.scenario import bundled

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REQUESTS = 400


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """One run of the default scenario written to a folder, and the run itself."""
    out = tmp_path_factory.mktemp("out")
    result = run("default", requests=REQUESTS, seed=3)
    write_results(result, out)
    return out, result


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
        filled = records["outcome"] == OUTCOMES.index("filled")
        assert np.isnan(table["slippage_bps"][~filled & np.isnan(records["price"])]).all()


def test_the_interval_log_reads_back_to_the_summary_histograms(folder) -> None:
    out, result = folder
    totals = read_interval_log(str(out / "latency.hlog"))
    assert set(totals) == set(result.strategies)
    for name, strategy in result.strategies.items():
        expected = strategy.decision_histogram
        assert totals[name].get_total_count() == expected.get_total_count()
        assert list(totals[name].counts) == list(expected.counts), name


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
    capsys.readouterr()
    for name in bundled():
        assert (tmp_path / name / "report.md").is_file(), name
    gallery = (tmp_path / "README.md").read_text()
    assert all(f"## [{name}]({name}/report.md)" in gallery for name in bundled())


def test_run_all_refuses_a_scenario_too(capsys) -> None:
    line = one_error_line(capsys, main(["run", "stale-quotes", "--all"]))
    assert line.startswith("--all: runs every bundled scenario")


def test_an_interrupted_write_keeps_what_was_complete(tmp_path, monkeypatch, capsys) -> None:
    """Ctrl-C while requests.csv is being written: summary.json (written before) is whole,
    requests.csv does not exist, and no temporary file is left."""
    from sim import results_dir

    def interrupted(out, tables, venues):
        out.write("strategy,request\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(results_dir, "write_requests", interrupted)
    out = tmp_path / "r"
    assert main(["run", "default", "--requests", "50", "--out", str(out), "--quiet"]) == 130
    assert capsys.readouterr().err == "quoterace: interrupted\n"
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    json.loads((out / "summary.json").read_text())


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
