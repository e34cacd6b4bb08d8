"""`quoterace run --out DIR --format parquet`: requests.parquet holds requests.csv's rows, typed
and compressed, as independent readers (pyarrow's and pandas') read it; `quoterace report`
rebuilds a folder from it; without pyarrow, one line and status 2."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.cli.main import main
from sim.report.requests_file import COLUMNS
from sim.report.results_dir import write_results
from tests.helpers.cli_checks import one_error_line

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")

ARGS = ["run", "default", "--requests", "300", "--seed", "4", "--json", "--quiet"]
NAMES = ("strategy", "side", "venue", "outcome")
# Races with no quote (near fails a fifth of the time, slow answers after the timeout): empty
# cells in the CSV, nulls in Parquet; a venue that never wins (unused, slower than slow).
SCENARIO = """
[scenario]
name = "formats"
requests = 300
seed = 4

[[venues]]
name = "near"
latency = { dist = "lognormal", median_ms = 1, sigma = 0.5 }
fail_prob = 0.2

[[venues]]
name = "slow"
latency = { dist = "constant", ms = 20 }

[[venues]]
name = "unused"
latency = { dist = "constant", ms = 40 }

[[strategies]]
kind = "first_wins"

[[strategies]]
kind = "best_price"
timeout_ms = 5
"""


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One run written as requests.csv and as requests.parquet."""
    base = tmp_path_factory.mktemp("formats")
    scenario = base / "formats.toml"
    scenario.write_text(SCENARIO)
    for fmt in ("csv", "parquet"):
        argv = ["run", str(scenario), "--json", "--quiet", "--out", str(base / fmt)]
        assert main([*argv, "--format", fmt]) == 0
    return base / "csv", base / "parquet"


def test_parquet_replaces_the_csv_and_nothing_else(folders) -> None:
    csv, parquet = folders
    assert {p.name for p in parquet.iterdir()} == {
        p.name.replace("requests.csv", "requests.parquet") for p in csv.iterdir()
    }
    assert (parquet / "summary.json").read_bytes() == (csv / "summary.json").read_bytes()
    assert "requests.parquet" in (parquet / "report.md").read_text()
    assert "requests.csv" not in (parquet / "report.md").read_text()


def test_columns_are_typed_dictionary_encoded_and_compressed(folders) -> None:
    _, parquet = folders
    path = parquet / "requests.parquet"
    schema = pq.read_schema(path)
    assert schema.names == list(COLUMNS)
    for name in NAMES:
        assert schema.field(name).type == pa.dictionary(pa.int32(), pa.string()), name
    assert schema.field("request").type == pa.int64()
    assert schema.field("orders").type == pa.int32()
    for name in ("arrival_ms", "decision_ms", "fill_ms", "price", "filled_size"):
        assert schema.field(name).type == pa.float64(), name
    metadata = pq.ParquetFile(path).metadata
    assert metadata.num_rows == 600
    group = metadata.row_group(0)
    assert {group.column(i).compression for i in range(group.num_columns)} == {"ZSTD"}


def test_the_rows_are_requests_csvs(folders) -> None:
    """Read by pandas from each file: the same rows, names and empty cells, numbers within the
    CSV's six decimals."""
    csv, parquet = folders
    from_csv = pd.read_csv(csv / "requests.csv")
    from_parquet = pd.read_parquet(parquet / "requests.parquet")
    assert list(from_parquet.columns) == list(from_csv.columns)
    assert len(from_parquet) == len(from_csv) == 600
    for name in NAMES:
        names = from_parquet[name].astype(object).where(from_parquet[name].notna(), np.nan)
        assert names.equals(from_csv[name].astype(object)), name
    assert from_parquet["venue"].isna().sum() == from_csv["venue"].isna().sum() > 0
    for name in ("request", "orders"):
        assert from_parquet[name].tolist() == from_csv[name].tolist(), name
    for name in ("arrival_ms", "decision_ms", "fill_ms", "slippage_bps"):
        a, b = from_parquet[name], from_csv[name]
        assert np.allclose(a, b, rtol=0, atol=5e-7, equal_nan=True), name
    for name in ("price", "filled_size"):
        a, b = from_parquet[name], from_csv[name]
        assert np.allclose(a, b, rtol=1e-11, atol=0, equal_nan=True), name


def test_pyarrow_reads_the_values_exactly(tmp_path) -> None:
    """pyarrow's own reader: the records to the bit, nulls where the CSV has empty cells, and
    every name of the run in the dictionaries (the venue no race chose too)."""
    result = sim.run(SCENARIO)
    write_results(result, tmp_path, "parquet")
    table = pq.read_table(tmp_path / "requests.parquet")
    for name in result.strategies:
        records = result.records(name)
        mine = table.filter(pa.compute.equal(table["strategy"], name))
        decision = mine["decision_ms"].to_numpy()
        assert np.array_equal(decision, records["decision_s"] * 1e3, equal_nan=True)
        assert mine["decision_ms"].null_count == np.isnan(records["decision_s"]).sum()
        assert np.array_equal(mine["price"].to_numpy(), records["price"], equal_nan=True)
        assert mine["request"].to_pylist() == list(range(300))
    assert table["decision_ms"].null_count > 0  # best_price's races with no quote
    assert "unused" not in table["venue"].to_pylist()
    venues = table["venue"].combine_chunks().dictionary.to_pylist()
    assert venues == ["near", "slow", "unused"]
    assert table["outcome"].combine_chunks().dictionary.to_pylist() == list(sim.OUTCOMES)


def test_pandas_reads_the_run_as_to_pandas_gives_it(tmp_path) -> None:
    result = sim.run(SCENARIO)
    write_results(result, tmp_path, "parquet")
    expected = result.to_pandas().drop(columns="shortfall_bps")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "requests.parquet"), expected)


def test_the_same_run_writes_the_same_bytes(folders, tmp_path) -> None:
    _, parquet = folders
    argv = ["run", str(parquet.parent / "formats.toml"), "--json", "--quiet", "--out"]
    assert main([*argv, str(tmp_path), "--format", "parquet"]) == 0
    for name in ("requests.parquet", *(p.name for p in parquet.glob("*.png"))):
        assert (tmp_path / name).read_bytes() == (parquet / name).read_bytes(), name


def test_report_rebuilds_from_requests_parquet_byte_for_byte(folders, tmp_path, capsys) -> None:
    _, parquet = folders
    for name in ("summary.json", "requests.parquet"):  # the data alone
        (tmp_path / name).write_bytes((parquet / name).read_bytes())
    assert main(["report", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path}: rebuilt ")
    drawn = sorted(p.name for p in parquet.glob("*.png"))
    assert drawn == sorted(p.name for p in tmp_path.glob("*.png"))
    assert {"percentiles.png", "cdf.png", "outcomes.png"} <= set(drawn)
    for name in (*drawn, "report.md"):
        assert (tmp_path / name).read_bytes() == (parquet / name).read_bytes(), name


def test_a_rerun_in_the_other_format_removes_the_other_file(tmp_path, capsys) -> None:
    assert main([*ARGS, "--out", str(tmp_path)]) == 0
    assert main([*ARGS, "--out", str(tmp_path), "--format", "parquet"]) == 0
    assert not (tmp_path / "requests.csv").exists()
    assert main([*ARGS, "--out", str(tmp_path), "--format", "csv"]) == 0
    assert not (tmp_path / "requests.parquet").exists()
    capsys.readouterr()


def copy_data(folder: Path, into: Path, *names: str) -> Path:
    into.mkdir()
    for name in names:
        (into / name).write_bytes((folder / name).read_bytes())
    return into


def test_report_refuses_a_folder_with_both_files(folders, tmp_path, capsys) -> None:
    csv, parquet = folders
    both = copy_data(csv, tmp_path / "both", "summary.json", "requests.csv")
    (both / "requests.parquet").write_bytes((parquet / "requests.parquet").read_bytes())
    line = one_error_line(capsys, main(["report", str(both)]))
    assert line == (
        f"{both}: both requests.csv and requests.parquet: a run writes one; remove the other"
    )


def test_report_on_a_bad_parquet_file_is_one_line(folders, tmp_path, capsys) -> None:
    _, parquet = folders
    bad = copy_data(parquet, tmp_path / "bad", "summary.json")
    (bad / "requests.parquet").write_bytes(b"PAR1 not really")
    line = one_error_line(capsys, main(["report", str(bad)]))
    assert line.startswith(f"{bad / 'requests.parquet'}: not a Parquet file ("), line


def test_report_on_a_parquet_file_of_other_columns_is_one_line(folders, tmp_path, capsys):
    _, parquet = folders
    other = copy_data(parquet, tmp_path / "other", "summary.json")
    table = pq.read_table(parquet / "requests.parquet").drop_columns(["orders"])
    pq.write_table(table, other / "requests.parquet")
    line = one_error_line(capsys, main(["report", str(other)]))
    assert line == f"{other / 'requests.parquet'}: expected the columns {','.join(COLUMNS)}"


def test_report_on_an_unknown_outcome_names_the_row(folders, tmp_path, capsys) -> None:
    _, parquet = folders
    other = copy_data(parquet, tmp_path / "other", "summary.json")
    table = pq.read_table(parquet / "requests.parquet")
    outcomes = table["outcome"].to_pylist()
    outcomes[2] = "fillled"
    index = table.column_names.index("outcome")
    pq.write_table(
        table.set_column(index, "outcome", pa.array(outcomes)), other / "requests.parquet"
    )
    line = one_error_line(capsys, main(["report", str(other)]))
    assert line.endswith(
        "requests.parquet: row 3: outcome: unknown 'fillled' (expected "
        + (", ".join(sim.OUTCOMES) + ")")
    )


def test_format_parquet_without_pyarrow_is_one_line_before_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    out = tmp_path / "r"
    line = one_error_line(capsys, main([*ARGS, "--out", str(out), "--format", "parquet"]))
    assert line == "--format: parquet needs pyarrow: pip install 'quoterace[data]'"
    assert not out.exists()


def test_report_of_parquet_without_pyarrow_is_one_line(folders, tmp_path, monkeypatch, capsys):
    _, parquet = folders
    copy = copy_data(parquet, tmp_path / "copy", "summary.json", "requests.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    line = one_error_line(capsys, main(["report", str(copy)]))
    assert line == (
        f"{copy / 'requests.parquet'}: reading Parquet needs pyarrow: pip install 'quoterace[data]'"
    )


def test_format_without_out_is_one_line(capsys) -> None:
    line = one_error_line(capsys, main([*ARGS, "--format", "parquet"]))
    assert line == "--format: picks the requests file of --out: give --out too"


def test_the_gallery_of_a_parquet_run_names_requests_parquet(tmp_path, capsys) -> None:
    # --all --out DIR --format parquet: the gallery says what its folders hold.
    argv = ["run", "--all", "--requests", "50", "--out", str(tmp_path), "--quiet"]
    assert main([*argv, "--format", "parquet"]) == 0
    gallery = (tmp_path / "README.md").read_text()
    assert "requests.parquet" in gallery and "requests.csv" not in gallery
