"""`RunResult.to_pandas()` and `RunResult.columns`: a run's requests as a DataFrame, one row per
request and strategy, in requests.csv's column names and units, names as categoricals, with
slippage and shortfall per request as the summary defines them; one clear error without pandas.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import sim
from sim.report.requests_file import COLUMNS
from sim.report.results_dir import write_results

VENUES = ["near", "slow", "unused"]
SCENARIO = {
    "scenario": {"name": "frames", "requests": 400, "seed": 11},
    "venues": [
        # near fails a fifth of its quotes; slow answers after best_price's timeout; unused
        # answers later still, and never wins a race
        {"name": "near", "latency": {"dist": "constant", "ms": 1}, "fail_prob": 0.2},
        {"name": "slow", "latency": {"dist": "constant", "ms": 20}, "spread_bps": 0.5},
        {"name": "unused", "latency": {"dist": "constant", "ms": 40}},
    ],
    "strategies": [{"kind": "first_wins"}, {"kind": "best_price", "timeout_ms": 5}],
}


@pytest.fixture(scope="module")
def result() -> sim.RunResult:
    return sim.run(SCENARIO)


@pytest.fixture
def pd():
    """pandas, for the tests that need it installed (the last one needs it missing)."""
    return pytest.importorskip("pandas")


def test_one_row_per_request_and_strategy_in_the_csvs_columns(result, pd) -> None:
    frame = result.to_pandas()
    assert list(frame.columns) == [*COLUMNS, "shortfall_bps"]
    assert len(frame) == 400 * 2
    assert frame["strategy"].cat.categories.tolist() == ["first_wins", "best_price"]
    assert frame["strategy"].tolist() == ["first_wins"] * 400 + ["best_price"] * 400
    assert frame["request"].tolist() == list(range(400)) * 2
    assert frame["venue"].cat.categories.tolist() == VENUES  # the unused one too
    assert frame["outcome"].cat.categories.tolist() == list(sim.OUTCOMES)
    assert frame["side"].cat.categories.tolist() == ["buy", "sell"]


def test_the_rows_are_the_records_in_ms_with_names(result, pd) -> None:
    for name in result.strategies:
        records = result.records(name)
        frame = result.to_pandas(name)
        assert frame["strategy"].unique().tolist() == [name]
        for column, field in (
            ("arrival_ms", "arrival_s"),
            ("decision_ms", "decision_s"),
            ("fill_ms", "fill_s"),
        ):
            assert np.array_equal(frame[column], records[field] * 1e3, equal_nan=True), column
        for column in ("price", "filled_size", "orders"):
            assert np.array_equal(frame[column], records[column], equal_nan=True), column
        venues = [VENUES[v] if v >= 0 else None for v in records["venue"].tolist()]
        assert frame["venue"].astype(object).where(frame["venue"].notna(), None).tolist() == (
            venues
        )
        assert frame["outcome"].astype(str).tolist() == [
            sim.OUTCOMES[o] for o in records["outcome"].tolist()
        ]
        assert frame["side"].astype(str).tolist() == [
            "buy" if s == 1 else "sell" for s in records["side"].tolist()
        ]
    best = result.to_pandas("best_price")
    no_quote = best["outcome"] == "no_quote"
    assert no_quote.sum() > 20  # near failed and slow came too late (about a fifth)
    assert (
        best.loc[no_quote, "venue"].isna().all() and best.loc[no_quote, "decision_ms"].isna().all()
    )


def test_a_strategys_frame_is_its_rows_of_the_whole(result, pd) -> None:
    whole = result.to_pandas()
    mine = whole[whole["strategy"] == "best_price"].reset_index(drop=True)
    pd.testing.assert_frame_equal(result.to_pandas("best_price"), mine)  # categories too


def test_slippage_and_shortfall_add_up_to_the_summary(result, pd) -> None:
    frame = result.to_pandas()
    for name, summary in result.summary["strategies"].items():
        mine = frame[frame["strategy"] == name]
        filled_nothing = mine["price"].isna()
        for cost in ("slippage_bps", "shortfall_bps"):
            assert mine.loc[filled_nothing, cost].isna().all()
            assert mine[cost].mean() == pytest.approx(summary[cost]["mean"], abs=1e-6), cost


def test_the_frame_agrees_with_requests_csv(result, pd, tmp_path) -> None:
    """The same column names and units as the file: read back, within its six decimals."""
    write_results(result, tmp_path)
    csv = pd.read_csv(tmp_path / "requests.csv")
    frame = result.to_pandas()
    assert list(csv.columns) == list(frame.columns[:-1])
    for column in ("strategy", "side", "venue", "outcome"):
        expected = frame[column].astype(object).where(frame[column].notna(), np.nan)
        assert csv[column].astype(object).equals(expected), column
    for column in ("request", "orders", "filled_size"):
        assert np.array_equal(csv[column], frame[column], equal_nan=True), column
    for column in ("arrival_ms", "decision_ms", "fill_ms", "slippage_bps"):
        assert np.allclose(csv[column], frame[column], rtol=0, atol=5e-7, equal_nan=True), column


def test_without_pandas_one_line_names_the_extra(result, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    with pytest.raises(ImportError) as raised:
        result.to_pandas()
    assert str(raised.value) == "to_pandas needs pandas: pip install 'quoterace[pandas]'"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_strategy_the_run_does_not_have_is_named_with_those_it_has() -> None:
    result = sim.run("default", requests=20)
    for ask in (result.records, result.columns, result.to_pandas):
        with pytest.raises(KeyError) as missing:
            ask("nope")
        assert "no strategy 'nope' in this run (its strategies: first_wins, best_price)" in str(
            missing.value
        )
