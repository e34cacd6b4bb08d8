"""Measurement files as common tools export them read as the plain CSV does.

Excel's "CSV UTF-8" starts the file with a byte-order mark; R's write.csv and many loggers quote
every field, the header's names too. A quant brings such files as they come: the recorded
market, a latency trace and a file of values must give what the plain file gives.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from hdrh.histogram import HdrHistogram

from sim.cli.main import main
from sim.model.draws import draw
from sim.model.latency_files import read_histogram, read_values
from sim.model.scenario import load
from tests.helpers.cli_checks import one_error_line
from tests.helpers.scenarios import write_toml
from tests.sim.test_latency_files import JAVA_HEADER
from tests.sim.test_recorded_market import TICKS, mids, scenario_file
from tests.sim.test_trace import WIDE_A, WIDE_B, _scenario_text, _wide

BOM = "\ufeff"


def _quoted(text: str) -> str:
    """`text` (a CSV) with every field quoted, as R's write.csv writes it."""
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(
        csv.reader(io.StringIO(text))
    )
    return out.getvalue()


def _trace_latencies(folder: Path) -> list[np.ndarray]:
    scenario = load(write_toml(folder, "s.toml", _scenario_text(WIDE_A, WIDE_B)))
    return [np.asarray(v.latency_s[0]) for v in draw(scenario).venues]


def test_a_recorded_market_with_a_byte_order_mark_reads_as_without(tmp_path) -> None:
    plain = mids(scenario_file(tmp_path, ""))
    assert mids(scenario_file(tmp_path, "", data=BOM + TICKS)) == plain


def test_a_trace_with_a_byte_order_mark_reads_as_without(tmp_path) -> None:
    trace = _wide(tmp_path)
    plain = _trace_latencies(tmp_path)
    trace.write_text(BOM + trace.read_text(encoding="utf-8"), encoding="utf-8")
    for got, expected in zip(_trace_latencies(tmp_path), plain, strict=True):
        assert np.array_equal(got, expected)


def test_a_trace_with_quoted_fields_reads_as_unquoted(tmp_path) -> None:
    trace = _wide(tmp_path)
    plain = _trace_latencies(tmp_path)
    trace.write_text(_quoted(trace.read_text(encoding="utf-8")), encoding="utf-8")
    for got, expected in zip(_trace_latencies(tmp_path), plain, strict=True):
        assert np.array_equal(got, expected)


def test_values_with_a_byte_order_mark_read_as_without(tmp_path) -> None:
    lines = tmp_path / "rtt.txt"
    lines.write_text(BOM + "0.5\n1.25\n", encoding="utf-8")
    assert read_values(lines, "rtt.txt").tolist() == [0.5, 1.25]
    column = tmp_path / "rtt.csv"
    column.write_text(BOM + "rtt,venue\n0.5,a\n1.25,b\n", encoding="utf-8")
    assert read_values(column, "rtt.csv", "rtt").tolist() == [0.5, 1.25]


# Epoch milliseconds (the commonest export) read with the default time_unit = "s" would be the
# year 56,000: past what int64 nanoseconds hold. They must not wrap around into a recording
# stretched a thousand times, but fail on the first row, naming time_unit.
EPOCH_MS = "1709303400123,99.9,100.1,1.5\n1709303400456,100.0,100.2,2.5\n"


def test_a_recorded_markets_epoch_numbers_too_large_for_their_unit_are_one_line(
    tmp_path, capsys
) -> None:
    path = scenario_file(tmp_path, "", data="timestamp,bid,ask,x\n" + EPOCH_MS)
    line = one_error_line(capsys, main(["run", str(path), "--quiet"]))
    assert "ticks.csv row 2 column timestamp: '1709303400123'" in line, line
    assert "time_unit" in line, line


def test_a_traces_epoch_numbers_too_large_for_their_unit_are_one_line(tmp_path, capsys) -> None:
    (tmp_path / "trace.csv").write_text("timestamp,x,y,a\n" + EPOCH_MS, encoding="utf-8")
    path = write_toml(tmp_path, "s.toml", _scenario_text(WIDE_A, WIDE_A))
    line = one_error_line(capsys, main(["run", str(path), "--quiet"]))
    assert "trace.csv row 2, column 'timestamp': '1709303400123'" in line, line
    assert "time_unit" in line, line


def test_a_traces_timestamp_column_is_named_in_any_case_as_a_recordings_is(tmp_path) -> None:
    trace = _wide(tmp_path)
    plain = _trace_latencies(tmp_path)
    text = trace.read_text(encoding="utf-8")
    trace.write_text(text.replace("timestamp", "Timestamp", 1), encoding="utf-8")
    for got, expected in zip(_trace_latencies(tmp_path), plain, strict=True):
        assert np.array_equal(got, expected)


def _buckets_of(histogram: HdrHistogram) -> set[tuple[float, float, int]]:
    """(lowest, highest equivalent value, count) of each recorded bucket, by hdrh's iterator."""
    return {
        (
            float(histogram.get_lowest_equivalent_value(it.value_iterated_to)),
            float(it.value_iterated_to),
            it.count_at_value_iterated_to,
        )
        for it in histogram.get_recorded_iterator()
    }


def test_a_log_mixing_precisions_and_an_empty_interval_reads_bucket_for_bucket(tmp_path) -> None:
    """Java's writer logs each interval as its histogram was made: 2 or 3 significant digits,
    a lowest discernible value of 1 us, or nothing recorded at all. Each keeps its buckets."""
    rng = np.random.default_rng(9)
    made = [(1, 3), (1, 2), (1000, 3), (1, 3)]  # (lowest discernible ns, digits)
    histograms, lines = [], [JAVA_HEADER]
    for k, (lowest, digits) in enumerate(made):
        histogram = HdrHistogram(lowest, 3_600_000_000_000, digits)
        if k < 3:  # the last interval is empty
            for value in rng.lognormal(np.log(2e5 * (k + 1)), 0.5, 2000).astype(np.int64):
                histogram.record_value(int(value))
        histograms.append(histogram)
        lines.append(f"{k:.3f},1.000,0.0,{histogram.encode().decode('ascii')}\n")
    (tmp_path / "mixed.hlog").write_text("".join(lines), encoding="utf-8")
    got = read_histogram(tmp_path / "mixed.hlog", "mixed.hlog")
    want: dict[tuple[float, float], int] = {}
    for histogram in histograms:
        for low, high, count in _buckets_of(histogram):
            want[low, high] = want.get((low, high), 0) + count
    rows = zip(got.low.tolist(), got.high.tolist(), got.counts.tolist(), strict=True)
    assert {(low, high): count for low, high, count in rows} == want
    assert got.counts.sum() == 6000
