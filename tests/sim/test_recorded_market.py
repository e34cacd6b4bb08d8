"""A recorded market (`[market] file`): the mid replayed from quotes a test writes.

The mid at engine time t is that of the last row at or before t (the last of equal
timestamps); before the first row the first mid, past the last the last (or the recording
again, looping); engine time 0 is the first row's timestamp or `[scenario] start`. Both engines
give the same summary for the same file, run after run; bad files are one line naming the file
and row, exit 2; a long recording is read in memory that does not grow with it.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.cli.main import main
from sim.measure import pieces as pieces_module
from sim.measure import tally
from sim.model import recording as recording_module
from sim.model import streams
from sim.model.errors import ScenarioError
from sim.model.market import MarketSpec
from sim.model.scenario import load
from sim.report.atomic import summary_json
from tests.helpers.cli_checks import one_error_line
from tests.helpers.scenarios import write_toml

# Ticks at 14:30:00 (UTC, written three ways), two at 00.5 (the second stands), one at 02.
TICKS = """\
timestamp,bid,ask,size
2024-03-01T14:30:00Z,99.9,100.1,5
2024-03-01T16:30:00.5+02:00,100.0,100.2,5
2024-03-01 14:30:00.500,100.2,100.4,1
2024-03-01T14:30:02,101.0,101.2,3
"""
# The same mids with epoch milliseconds.
EPOCH_MS = """\
timestamp,mid
1709303400000,100.0
1709303400500,100.1
1709303400500,100.3
1709303402000,101.1
"""
INSTANTS = np.array([-1.0, 0.0, 0.4999, 0.5, 1.0, 1.9999, 2.0, 2.5, 100.0])
HOLD = [100.0, 100.0, 100.0, 100.3, 100.3, 100.3, 101.1, 101.1, 101.1]

VENUES = """
[[venues]]
name = "near"
latency = { dist = "lognormal", median_ms = 1.0, sigma = 0.5 }
spread_bps = 2.0
last_look = { hold_ms = 0.5, tolerance_bps = 0.5 }

[[venues]]
name = "far"
latency = { dist = "exponential", mean_ms = 3.0 }
spread_bps = 1.0
quote_ttl_ms = 4.0

[[strategies]]
kind = "first_wins"
max_retries = 1

[[strategies]]
kind = "best_price"

[[strategies]]
kind = "first_k"
k = 2
"""


def scenario_file(
    folder: Path, market: str, *, header: str = "", data: str = TICKS, name: str = "ticks.csv"
) -> Path:
    """A scenario replaying `data` (saved as `name` beside it) with the [market] lines given."""
    (folder / name).write_text(data, encoding="utf-8")
    text = f"""
[scenario]
seed = 5
requests = 1500
{header}
[arrivals]
rate_per_s = 500.0

[market]
file = "{name}"
{market}
{VENUES}"""
    return write_toml(folder, "replay.toml", text)


def mids(path: Path, times: np.ndarray = INSTANTS) -> list[float]:
    """The mids at `times`, looked up both ways (many at once and one by one), which agree."""
    at = load(path).mid_path().at(times).tolist()
    assert [load(path).mid_path()(t) for t in times.tolist()] == at
    return [round(m, 9) for m in at]


def test_the_mid_is_the_last_row_at_or_before_each_instant(tmp_path) -> None:
    assert mids(scenario_file(tmp_path, "")) == HOLD
    assert mids(scenario_file(tmp_path, 'time_unit = "ms"', data=EPOCH_MS)) == HOLD


def test_epoch_seconds_with_fractions_and_other_units(tmp_path) -> None:
    rows = ("1709303400,100.0", "1709303400.5,100.1", "1709303400.5,100.3", "1709303402,101.1")
    data = "timestamp,mid\n" + "\n".join(rows) + "\n"
    assert mids(scenario_file(tmp_path, "", data=data)) == HOLD
    in_us = "timestamp,mid\n0,100.0\n500000,100.3\n2000000,101.1\n"
    assert mids(scenario_file(tmp_path, 'time_unit = "us"', data=in_us)) == HOLD


def test_looping_replays_the_recording_from_its_start(tmp_path) -> None:
    """The span is 2 s and the mean gap between rows 2/3 s: the last row (101.1) stands from
    2 s until pass 1 starts at 8/3 s, as a latency trace loops."""
    path = scenario_file(tmp_path, 'at_end = "loop"')
    times = np.array([1.9999, 2.0, 2.6, 2.7, 3.1, 3.2, 4.5, 4.7, 2000.5 + 1e-6])
    expected = [100.3, 101.1, 101.1, 100.0, 100.0, 100.3, 100.3, 101.1, 100.3]
    assert mids(path, times) == expected


def test_start_sets_engine_time_zero(tmp_path) -> None:
    """A second before the first row: every row one second later. Half a second after it:
    the rows before only set the mid at 0 (the last of them, at 0.5 s, stands)."""
    early = scenario_file(tmp_path, "", header='start = "2024-03-01T14:29:59Z"')
    assert load(early).start_ns() == 1709303399 * 10**9
    assert mids(early, INSTANTS + 1.0) == HOLD
    assert mids(early, np.array([0.0, 0.999])) == [100.0, 100.0]
    late = scenario_file(tmp_path, "", header='start = "2024-03-01T14:30:00.5"')
    assert mids(late, np.array([0.0, 1.4999, 1.5, 9.0])) == [100.3, 100.3, 101.1, 101.1]


def test_parquet_reads_as_the_csv_does(tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    stamps = np.array(
        [
            "2024-03-01T14:30:00",
            "2024-03-01T14:30:00.5",
            "2024-03-01T14:30:00.5",
            "2024-03-01T14:30:02",
        ],
        dtype="datetime64[ns]",
    )
    table = pa.table(
        {
            "timestamp": stamps,
            "bid": [99.9, 100.0, 100.2, 101.0],
            "ask": [100.1, 100.2, 100.4, 101.2],
        }
    )
    pq.write_table(table, tmp_path / "ticks.parquet")
    path = scenario_file(tmp_path, "", data=TICKS)
    text = path.read_text().replace('"ticks.csv"', '"ticks.parquet"')
    assert mids(write_toml(tmp_path, "pq.toml", text)) == HOLD
    mid = [100.0, 100.1, 100.3, 101.1]
    for column in (
        stamps.astype(str),
        stamps.astype(np.int64) // 10**6,
        stamps.astype(np.int64) / 1e6,
    ):
        pq.write_table(pa.table({"timestamp": column, "mid": mid}), tmp_path / "ticks.parquet")
        unit = "" if column.dtype.kind == "U" else 'time_unit = "ms"\n'
        changed = text.replace("[market]\n", f"[market]\n{unit}")
        assert mids(write_toml(tmp_path, "pq.toml", changed)) == HOLD, column.dtype


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch, capsys) -> None:
    path = scenario_file(tmp_path, "", data="not parquet", name="ticks.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    line = one_error_line(capsys, main(["run", str(path), "--quiet"]))
    assert line == (
        f"{path}: market.file: ticks.parquet: Parquet needs pyarrow: pip install 'quoterace[data]'"
    )


@pytest.mark.parametrize("at_end", ["hold", "loop"])
def test_both_engines_give_the_same_summary_run_after_run(tmp_path, at_end) -> None:
    """1500 requests at 500/s span 3 s: past the recording's end, held or looped."""
    path = scenario_file(tmp_path, f'at_end = "{at_end}"')
    fast, trio = sim.summary(path, engine="fast"), sim.summary(path, engine="trio")
    assert (fast.pop("engine"), trio.pop("engine")) == ("fast", "trio")
    assert summary_json(fast) == summary_json(trio)
    again = sim.summary(path, engine="fast")
    again.pop("engine")
    assert summary_json(again) == summary_json(fast)
    arrival_mids = sim.run(path, engine="fast").strategies["first_wins"].arrival_mid
    assert {round(m, 9) for m in arrival_mids.tolist()} <= {100.0, 100.3, 101.1}


def test_a_streamed_summary_is_the_runs(tmp_path, monkeypatch) -> None:
    """In chunks of 128 requests, the path behind each forgotten: the same bytes."""
    monkeypatch.setattr(streams, "BLOCK", 64)
    monkeypatch.setattr(tally, "CHUNK", 128)
    monkeypatch.setattr(pieces_module, "CHUNK", 128)
    rows = "\n".join(f"{i * 10},{100 + 0.01 * (i % 37)}" for i in range(400))
    path = scenario_file(tmp_path, 'time_unit = "ms"', data=f"timestamp,mid\n{rows}\n")
    assert summary_json(sim.summary(path)) == summary_json(sim.run(path).summary)


BAD_FILES = [
    ("empty", "", "is empty (expected a header row: timestamp,bid,ask or timestamp,mid)"),
    ("header only", "timestamp,bid,ask\n", "has no rows after its header"),
    (
        "no ask",
        "timestamp,bid\n0,1\n",
        "row 1: no column ask (expected timestamp,bid,ask or timestamp,mid; found timestamp,bid)",
    ),
    ("no timestamp", "time,mid\n0,1\n", "row 1: no column timestamp (expected"),
    ("short row", "timestamp,mid\n0,1\n1\n", "row 3: 1 fields, the header has 2"),
    (
        "backwards",
        "timestamp,mid\n0,1\n2,1\n2,1\n1,1\n",
        "row 5 column timestamp: '1' goes back in time (before row 4's)",
    ),
    ("not a number", "timestamp,mid\n0,1\n1,abc\n", "row 3 column mid: 'abc' is not a number"),
    (
        "negative",
        "timestamp,bid,ask\n0,1,2\n1,-1,2\n",
        "row 3 column bid: '-1' must be a finite price > 0",
    ),
    ("zero", "timestamp,mid\n0,1\n1,0\n", "row 3 column mid: '0' must be a finite price > 0"),
    ("crossed", "timestamp,bid,ask\n0,1,2\n1,2.5,2\n", "row 3: bid 2.5 is above ask 2"),
    (
        "bad epoch",
        "timestamp,mid\n0,1\n1x,1\n",
        "row 3 column timestamp: '1x' is not an epoch number (s)",
    ),
    (
        "bad ISO",
        "timestamp,mid\n2024-03-01T00:00:00,1\n2024-13-01T00:00:00,1\n",
        "row 3 column timestamp: '2024-13-01T00:00:00' is not an ISO-8601 time",
    ),
    (
        "ISO then epoch",
        "timestamp,mid\n2024-03-01,1\n1709303400,1\n",
        "row 3 column timestamp: '1709303400' is not an ISO-8601 time",
    ),
    (
        "bad zone",
        "timestamp,mid\n2024-03-01T00:00:00+2,1\n",
        "row 2 column timestamp: '2024-03-01T00:00:00+2' is not an ISO-8601 time",
    ),
]


@pytest.mark.parametrize(
    ("data", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_a_bad_file_is_one_line_naming_file_and_row(tmp_path, capsys, data, message) -> None:
    path = scenario_file(tmp_path, "", data=data)
    line = one_error_line(capsys, main(["run", str(path), "--quiet"]))
    assert line.startswith(f"{path}: market.file: ticks.csv "), line
    assert message in line, line


def test_a_bad_row_deep_in_a_long_file_is_named(tmp_path, monkeypatch) -> None:
    """Rows checked in chunks still number from the file's start."""
    monkeypatch.setattr(recording_module, "ROWS", 7)
    rows = [f"{i},100" for i in range(50)]
    rows[40] = "39,100"  # row 42 (the header is row 1) repeats row 41: allowed
    rows[43] = "1,100"
    path = scenario_file(tmp_path, "", data="timestamp,mid\n" + "\n".join(rows) + "\n")
    with pytest.raises(
        ScenarioError, match=r"row 45 column timestamp: '1' goes back in time \(before row 44's\)"
    ):
        load(path)


@pytest.mark.parametrize(
    ("market", "header", "key", "message"),
    [
        (
            "volatility_bps = 5.0",
            "",
            "market.volatility_bps",
            "a recorded market (file) takes no synthetic keys",
        ),
        (
            "jumps = { rate_per_s = 1.0, size_bps = 2.0 }",
            "",
            "market.jumps",
            "takes no synthetic keys",
        ),
        ('time_unit = "minutes"', "", "market.time_unit", "must be one of 's', 'ms', 'us', 'ns'"),
        ('at_end = "stop"', "", "market.at_end", "must be one of 'hold', 'loop'"),
        ("", 'start = "yesterday"', "scenario.start", "'yesterday' is not an ISO-8601 time"),
    ],
)
def test_bad_market_keys_are_one_line(tmp_path, capsys, market, header, key, message) -> None:
    path = scenario_file(tmp_path, market, header=header)
    line = one_error_line(capsys, main(["run", str(path), "--quiet"]))
    assert line.startswith(f"{path}: {key}: ") and message in line, line


def test_recording_keys_need_a_file_and_a_loop_two_instants(tmp_path, capsys) -> None:
    text = '[market]\ntime_unit = "ms"\n' + VENUES
    path = write_toml(tmp_path, "synthetic.toml", text)
    line = one_error_line(capsys, main(["run", str(path), "--quiet"]))
    assert line == f"{path}: market.time_unit: only for a recorded market (give file)"
    path = scenario_file(tmp_path, 'at_end = "loop"', data="timestamp,mid\n5,1\n5,2\n")
    line = one_error_line(capsys, main(["run", str(path), "--quiet"]))
    assert line == f"{path}: market.at_end: ticks.csv: a loop needs rows at two instants"
    path = scenario_file(tmp_path, "", name="absent.csv")
    (tmp_path / "absent.csv").unlink()
    line = one_error_line(capsys, main(["run", str(path), "--quiet"]))
    assert line == f"{path}: market.file: cannot read 'absent.csv': No such file or directory"


LONG_ROWS = 2_000_000
MEMORY_SCRIPT = """
import resource, sys
import numpy as np
from sim.model.scenario import load

def walk(path):
    # as sim.summary reads the path: ahead a chunk at a time, forgetting what is behind
    scenario = load(path)
    mid = scenario.mid_path()
    span = (scenario.recording.last_ns - scenario.recording.origin_ns) / 1e9
    for t in np.arange(0.0, span + 5.0, 5.0):
        mid.at(np.array([t, t + 4.99]))
        mid.forget_before(t)
    return scenario.recording.rows

walk(sys.argv[1])  # a short recording: every buffer the long one needs, made once
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rows = walk(sys.argv[2])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(rows, (after - before) * 1024)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_a_long_recording_is_read_in_flat_memory(tmp_path) -> None:
    """Two million rows (a millisecond apart, 33 MB of CSV) checked at load and replayed: the
    peak resident memory grows by less than 16 MB over that of a 20,000-row recording. Loaded
    whole, the times and mids alone would take 32 MB as float64 arrays (and the path's lists
    of Python floats some 100 MB): half of the least any whole-file reading needs, with room
    for the allocator's noise above the few MB a chunk takes."""
    stamps = np.arange(LONG_ROWS, dtype=np.int64) + 1_709_303_400_000
    prices = 100.0 + (np.arange(LONG_ROWS) % 1000) * 0.01
    for name, rows in (("short.csv", 20_000), ("long.csv", LONG_ROWS)):
        with open(tmp_path / name, "w") as f:
            f.write("timestamp,mid\n")
            np.savetxt(
                f,
                np.column_stack((stamps[:rows], prices[:rows])),
                fmt=("%d", "%.2f"),
                delimiter=",",
            )
        write_toml(
            tmp_path, f"{name}.toml", f'[market]\nfile = "{name}"\ntime_unit = "ms"\n{VENUES}'
        )
    script = textwrap.dedent(MEMORY_SCRIPT)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(tmp_path / "short.csv.toml"),
            str(tmp_path / "long.csv.toml"),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    ).stdout.split()
    rows, grown = int(out[0]), int(out[1])
    assert rows == LONG_ROWS
    assert grown < 16 * 2**20, f"{grown / 2**20:.1f} MB"


def test_a_scenario_changed_in_python_reads_the_file_its_market_names(
    tmp_path, monkeypatch
) -> None:
    """dataclasses.replace keeps no stale recording: another file, unit or start is read anew
    (relative to the working folder, as a path given in Python is)."""
    scenario = load(scenario_file(tmp_path, ""))
    (tmp_path / "ms.csv").write_text(EPOCH_MS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    other = dataclasses.replace(scenario, market=MarketSpec(file="ms.csv", time_unit="ms"))
    assert [round(m, 9) for m in other.mid_path().at(INSTANTS).tolist()] == HOLD
    later = dataclasses.replace(scenario, start="2024-03-01T14:30:01Z")
    assert later.recording.origin_ns == scenario.recording.origin_ns + 10**9
    assert dataclasses.replace(scenario, market=MarketSpec()).recording is None
    assert scenario.with_overrides(seed=9).recording is scenario.recording


@pytest.mark.parametrize(
    "written",
    [
        "2024-03-01T14:30:00.5Z",
        "2024-03-01T16:30:00.5+02:00",
        "2024-03-01T14:30:00.5",  # a local date-time: UTC, as a zone-less string is
    ],
)
def test_start_may_be_a_toml_date_time(tmp_path, written) -> None:
    """`start = 2024-03-01T14:30:00.5Z` (unquoted, a TOML date-time) is the quoted string's
    instant."""
    quoted = load(scenario_file(tmp_path, "", header='start = "2024-03-01T14:30:00.5Z"'))
    bare = load(scenario_file(tmp_path, "", header=f"start = {written}"))
    assert bare.start_ns() == quoted.start_ns() == 1_709_303_400_500_000_000
    assert bare.mid_path()(0.0) == quoted.mid_path()(0.0)


def test_rows_crowded_together_or_far_apart_give_the_same_mids_both_ways(tmp_path) -> None:
    """Bursts of rows at one timestamp and within microseconds of each other, between long
    gaps: many at once (a grid of cells, stepped through and bisected where crowded) as one
    by one."""
    rng = np.random.default_rng(3)
    burst = np.repeat(1709303400000000, 40)  # microseconds: 40 rows at one instant
    cluster = 1709303401000000 + rng.integers(0, 30, 200)
    spread = 1709303400000000 + rng.integers(0, 60_000_000, 300)
    stamps = np.sort(np.concatenate([burst, cluster, spread]), kind="stable")
    rows = "".join(f"{s},{100 + i * 0.01:.2f}\n" for i, s in enumerate(stamps.tolist()))
    path = scenario_file(tmp_path, 'time_unit = "us"', data="timestamp,mid\n" + rows)
    offsets = (np.unique(stamps) - stamps[0]) * 1e-6
    times = np.concatenate(
        [rng.uniform(-1.0, 70.0, 2000), offsets, np.nextafter(offsets, -np.inf), [np.nan]]
    )
    got, one_by_one = load(path).mid_path().at(times), load(path).mid_path()
    assert np.isnan(got[-1])
    assert got[:-1].tolist() == [one_by_one(t) for t in times[:-1].tolist()]
