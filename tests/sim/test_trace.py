"""Latency replayed from a trace (sim.model.trace): measured round trips in time order."""

from __future__ import annotations

import bisect
import builtins
import dataclasses
import functools
from pathlib import Path

import numpy as np
import pytest

from sim.cli.main import main
from sim.model.draws import draw, draw_chunks
from sim.model.errors import ScenarioError
from sim.model.scenario import load
from sim.model.streams import BLOCK
from sim.model.trace import trace_s
from tests.helpers.cli_checks import one_error_line
from tests.helpers.scenarios import write_toml
from tests.sim.test_fast import agree

EPOCH_NS = 1_709_280_000_000_000_000  # 2024-03-01T08:00:00Z
ROWS = 400


def _measured(seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A capture: exchange timestamps (epoch ns, about 1 ms apart, some equal) and two venues'
    receive - exchange round trips in ms, slow together in bursts."""
    rng = np.random.default_rng(seed)
    gaps = rng.choice([0, 400_000, 1_000_000, 1_600_000], ROWS)
    exchange = EPOCH_NS + np.cumsum(gaps)
    burst = (np.arange(ROWS) // 40) % 5 == 3
    receive_a = exchange + rng.integers(200_000, 400_000, ROWS) + burst * 20_000_000
    receive_b = exchange + rng.integers(300_000, 600_000, ROWS) + burst * 25_000_000
    return exchange, (receive_a - exchange) / 1e6, (receive_b - exchange) / 1e6


def _iso(ns: np.ndarray) -> list[str]:
    return [f"{t}Z" for t in np.datetime_as_string(ns.astype("datetime64[ns]"), unit="ns")]


def _wide(folder: Path, name: str = "trace.csv") -> Path:
    exchange, a, b = _measured()
    rows = zip(_iso(exchange), a.tolist(), b.tolist(), strict=True)
    lines = ["timestamp,a,b"] + [f"{t},{x!r},{y!r}" for t, x, y in rows]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _scenario_text(latency_a: str, latency_b: str, requests: int = 300, extra: str = "") -> str:
    return f"""
[scenario]
seed = 3
requests = {requests}
[arrivals]
process = "poisson"
rate_per_s = 1000
{extra}
[[venues]]
name = "a"
latency = {latency_a}
[[venues]]
name = "b"
latency = {latency_b}
[[strategies]]
kind = "first_wins"
[[strategies]]
kind = "best_price"
"""


WIDE_A = '{ dist = "trace", file = "trace.csv", column = "a" }'
WIDE_B = '{ dist = "trace", file = "trace.csv", column = "b" }'


def _in_force(times_ns: np.ndarray, values: np.ndarray, t_s: float) -> float:
    """The last row at or before engine time t (time 0: the first row), one at a time."""
    row = bisect.bisect_right([(x - times_ns[0]) * 1e-9 for x in times_ns], t_s) - 1
    return values[max(row, 0)]


def test_each_request_takes_the_measurement_in_force_at_its_arrival(tmp_path) -> None:
    """Both venues read the same instant: a burst in the capture is a burst at both."""
    _wide(tmp_path)
    scenario = load(write_toml(tmp_path, "s.toml", _scenario_text(WIDE_A, WIDE_B)))
    draws = draw(scenario)
    exchange, a, b = _measured()
    for i in range(scenario.requests):
        t = draws.arrival_s[i]
        assert draws.venues[0].latency_s[0][i] == _in_force(exchange, a, t) * 1e-3
        assert draws.venues[1].latency_s[0][i] == _in_force(exchange, b, t) * 1e-3
    slow_a, slow_b = (np.asarray(v.latency_s[0]) > 0.01 for v in draws.venues)
    assert slow_a.any() and np.array_equal(slow_a, slow_b)
    # every attempt of a request takes its arrival's measurement; order latency too
    assert np.array_equal(draws.venues[0].order_latency_s[0], draws.venues[0].latency_s[0])


def test_scenario_start_is_time_0_of_a_trace_as_of_a_recorded_market(tmp_path) -> None:
    """`[scenario] start` 0.2 s after the trace's first row: request i takes the measurement in
    force 0.2 s after its arrival, counted from the first row; the market file lines up too."""
    _wide(tmp_path)
    exchange, a, _ = _measured()
    start = _iso(np.array([exchange[0] + 200_000_000]))[0]
    (tmp_path / "ticks.csv").write_text(
        f"timestamp,mid\n{_iso(exchange[:1])[0]},100\n{start},101\n"
    )
    text = _scenario_text(WIDE_A, WIDE_B).replace(
        "[scenario]\n", f'[scenario]\nstart = "{start}"\n'
    )
    text += '\n[market]\nfile = "ticks.csv"\n'
    scenario = load(write_toml(tmp_path, "s.toml", text))
    draws = draw(scenario)
    for i in range(scenario.requests):
        t = draws.arrival_s[i]
        assert draws.venues[0].latency_s[0][i] == _in_force(exchange, a, t + 0.2) * 1e-3
    assert scenario.mid_path()(0.0) == 101.0  # the market's row at start, not its first


def test_equal_timestamps_the_last_row_of_the_instant_stands(tmp_path) -> None:
    (tmp_path / "t.csv").write_text("timestamp,a\n0,1\n0.002,5\n0.002,7\n0.004,2\n")
    latency = '{ dist = "trace", file = "t.csv", column = "a" }'
    scenario = load(write_toml(tmp_path, "s.toml", _scenario_text(latency, latency)))
    trace = scenario.venues[0].latency
    t = np.array([0.0, 0.0019, 0.002, 0.0035, 0.004, 9.0])
    assert (trace_s(trace, t, 0) * 1e3).tolist() == [1.0, 1.0, 7.0, 7.0, 2.0, 2.0]
    # before the trace starts (a start earlier than its first row), its first row stands
    early = int(trace.times_ns[0]) - 5_000_000_000
    assert (trace_s(trace, np.array([0.0, 5.003]), 0, early) * 1e3).tolist() == [1.0, 7.0]


def test_past_the_end_hold_or_loop(tmp_path) -> None:
    """hold: the last row stands; loop: the trace starts over after its span (4 ms) and one
    mean gap (2 ms), a 6 ms period."""
    (tmp_path / "t.csv").write_text("timestamp,a\n10,1\n12,5\n14,2\n")
    hold = '{ dist = "trace", file = "t.csv", column = "a", time_unit = "ms", unit = "us" }'
    loop = hold.replace("}", ', at_end = "loop" }')
    scenario = load(write_toml(tmp_path, "s.toml", _scenario_text(hold, loop)))
    t = np.array([0.0, 0.003, 0.005, 0.006, 0.0085, 0.0105])
    held, looped = (trace_s(v.latency, t, 0) * 1e6 for v in scenario.venues)
    assert held.tolist() == [1.0, 5.0, 2.0, 2.0, 2.0, 2.0]
    assert looped.tolist() == [1.0, 5.0, 2.0, 1.0, 5.0, 2.0]


def test_long_rows_pick_the_venue_and_give_the_wide_files_values(tmp_path) -> None:
    _wide(tmp_path)
    exchange, a, b = _measured()
    pairs = zip(exchange.tolist(), a.tolist(), b.tolist(), strict=True)
    rows = [f"{t},{v},{x!r}" for t, x, y in pairs for v, x in (("a", x), ("b", y))]
    (tmp_path / "long.csv").write_text("timestamp,venue,rtt_us\n" + "\n".join(rows) + "\n")
    long = (
        '{{ dist = "trace", file = "long.csv", venue = "{}", column = "rtt_us", time_unit = "ns" }}'
    )
    wide = load(write_toml(tmp_path, "w.toml", _scenario_text(WIDE_A, WIDE_B)))
    by_rows = load(
        write_toml(tmp_path, "l.toml", _scenario_text(long.format("a"), long.format("b")))
    )
    assert np.array_equal(np.stack(draw(wide).latency_s), np.stack(draw(by_rows).latency_s))


def test_bootstrap_resamples_the_same_blocks_for_every_venue(tmp_path) -> None:
    """Blocks of 50 ms from a ~0.4 s capture, over a 2 s run: each request's pair of latencies
    is a row of the capture (the venues stay together), the draws are prefix-stable, and
    another seed draws other blocks."""
    _wide(tmp_path)
    boot = ', mode = "bootstrap", block_s = 0.05 }'
    text = _scenario_text(WIDE_A.replace(" }", boot), WIDE_B.replace(" }", boot), requests=2000)
    scenario = load(write_toml(tmp_path, "s.toml", text))
    latency = np.stack(draw(scenario).latency_s)
    _, a, b = _measured()
    rows = {(x, y) for x, y in zip(a * 1e-3, b * 1e-3, strict=True)}
    assert all((x, y) in rows for x, y in latency.T)
    assert len({tuple(p) for p in latency.T}) > 100  # not one row held
    shorter = np.stack(draw(dataclasses.replace(scenario, requests=700)).latency_s)
    assert np.array_equal(shorter, latency[:, :700])
    other = np.stack(draw(dataclasses.replace(scenario, seed=4)).latency_s)
    assert not np.array_equal(other, latency)


def test_both_engines_agree_on_replayed_traces(tmp_path) -> None:
    _wide(tmp_path)
    shared = '[shared_latency]\ndist = "trace"\nfile = "trace.csv"\ncolumn = "b"'
    scenario = load(write_toml(tmp_path, "s.toml", _scenario_text(WIDE_A, WIDE_B, extra="")))
    agree(scenario)
    text = _scenario_text(WIDE_A, '{ dist = "constant", ms = 0.5 }')
    text = text.replace("[arrivals]", shared + "\n[arrivals]")
    agree(load(write_toml(tmp_path, "t.toml", text)))


def test_drawn_in_chunks_as_at_once(tmp_path) -> None:
    _wide(tmp_path)
    boot = ', mode = "bootstrap", block_s = 0.05 }'
    text = _scenario_text(WIDE_A, WIDE_B.replace(" }", boot), requests=BLOCK + 50)
    scenario = load(write_toml(tmp_path, "s.toml", text))
    whole = np.stack(draw(scenario).latency_s)
    chunks = [np.stack(d.latency_s) for d in draw_chunks(scenario, BLOCK)]
    assert np.array_equal(whole, np.concatenate(chunks, axis=1))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "trace.csv is empty"),
        ("timestamp,a,b\n", "trace.csv holds no rows after its header"),
        ("time,a,b\n1,2,3\n", "trace.csv: no column 'timestamp' (columns: time, a, b)"),
        ("timestamp,x,b\n1,2,3\n", "trace.csv: no column 'a' (columns: timestamp, x, b)"),
        ("timestamp,a,b\n1,2,3\n3,2,3\n2,2,3\n", "trace.csv row 4: timestamp goes backwards"),
        ("timestamp,a,b\n1,2,3\n2,slow,3\n", "trace.csv row 3, column 'a': 'slow' is not a number"),
        ("timestamp,a,b\n1,2,3\n2,-1,3\n", "trace.csv row 3, column 'a': -1 is negative"),
        ("timestamp,a,b\n1,2,3\n2,nan,3\n", "trace.csv row 3, column 'a': nan is not a finite"),
        ("timestamp,a,b\n1,2,3\n2\n", "trace.csv row 3: 1 fields, the header has 3"),
        (
            "timestamp,a,b\n2024-03-01T00:00:00Z,2,3\n2024-03-01T25:00:00Z,2,3\n",
            "trace.csv row 3, column 'timestamp': '2024-03-01T25:00:00Z' is not an ISO-8601",
        ),
        ("timestamp,a,b\n1,2,3\nnoon,2,3\n", "trace.csv row 3, column 'timestamp': 'noon' is not"),
    ],
)
def test_bad_trace_files_are_one_line(tmp_path, capsys, content, fragment) -> None:
    (tmp_path / "trace.csv").write_text(content)
    path = write_toml(tmp_path, "s.toml", _scenario_text(WIDE_A, WIDE_B))
    line = one_error_line(capsys, main(["run", str(path), "--quiet"]))
    assert line.startswith(f"{path}: venues[0].latency.file: "), line
    assert fragment in line, line


@pytest.mark.parametrize(
    ("latency", "extra", "key", "fragment"),
    [
        ('{ dist = "trace", file = "nope.csv" }', "", "venues[0].latency.file", "No such file"),
        (
            '{ dist = "trace", file = "trace.csv", column = "a", venue = "z" }',
            "",
            "venues[0].latency.file",
            "no column 'venue'",
        ),
        (
            WIDE_A.replace(" }", ', mode = "bootstrap" }'),
            "",
            "venues[0].latency.block_s",
            "missing",
        ),
        (
            WIDE_A.replace(" }", ', mode = "bootstrap", block_s = 5 }'),
            "",
            "venues[0].latency.block_s",
            "must be shorter than trace.csv's span",
        ),
        (WIDE_A.replace(" }", ', unit = "sec" }'), "", "venues[0].latency.unit", "must be one of"),
        (
            '{ dist = "mixture", components = [{ weight = 1.0, dist = "trace", file = "t" }] }',
            "",
            "venues[0].latency.components[0].dist",
            "only for a venue's latency",
        ),
        (
            '{ dist = "constant", ms = 1 }\nservice = { dist = "trace", file = "trace.csv" }',
            "",
            "venues[0].service.dist",
            "only for a venue's latency",
        ),
        (
            WIDE_A,
            'process = "closed"\nclients = 2',
            "venues[0].latency",
            "a trace is not for a closed loop",
        ),
    ],
)
def test_bad_trace_settings_are_one_line(tmp_path, capsys, latency, extra, key, fragment) -> None:
    _wide(tmp_path)
    text = _scenario_text(latency, WIDE_B)
    if extra:
        text = text.replace('process = "poisson"\nrate_per_s = 1000', extra)
    path = write_toml(tmp_path, "s.toml", text)
    line = one_error_line(capsys, main(["run", str(path), "--quiet"]))
    assert line.startswith(f"{path}: {key}: "), line
    assert fragment in line, line


def test_a_long_file_without_the_venue_lists_those_it_has(tmp_path) -> None:
    (tmp_path / "long.csv").write_text("timestamp,venue,latency\n1,x,2\n2,y,3\n")
    latency = '{ dist = "trace", file = "long.csv", venue = "z" }'
    with pytest.raises(ScenarioError, match=r"no rows for venue 'z' \(venues: x, y\)"):
        load(write_toml(tmp_path, "s.toml", _scenario_text(latency, latency)))


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch) -> None:
    (tmp_path / "trace.parquet").write_bytes(b"PAR1")
    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    latency = '{ dist = "trace", file = "trace.parquet", column = "a" }'
    with pytest.raises(ScenarioError, match=r"pip install 'quoterace\[data\]'"):
        load(write_toml(tmp_path, "s.toml", _scenario_text(latency, latency)))


def test_parquet_gives_the_csvs_draws(tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    _wide(tmp_path)
    exchange, a, b = _measured()
    stamps = pa.array(exchange, type=pa.int64()).cast(pa.timestamp("ns"))
    pq.write_table(pa.table({"timestamp": stamps, "a": a, "b": b}), tmp_path / "trace.parquet")
    parquet = functools.partial(str.replace, WIDE_A, "trace.csv", "trace.parquet")
    csv = load(write_toml(tmp_path, "c.toml", _scenario_text(WIDE_A, WIDE_B)))
    text = _scenario_text(parquet(), WIDE_B.replace("trace.csv", "trace.parquet"))
    from_parquet = load(write_toml(tmp_path, "p.toml", text))
    assert np.array_equal(np.stack(draw(csv).latency_s), np.stack(draw(from_parquet).latency_s))


def test_a_start_after_a_file_replayed_once_is_one_line(tmp_path) -> None:
    """A start past the last row of a trace or a recording that holds its last value would hold
    it all run (a mistyped date): refused, naming the file; looping, it is fine."""
    _wide(tmp_path)
    exchange, _, _ = _measured()
    late = _iso(np.array([exchange[-1] + 1]))[0]
    text = _scenario_text(WIDE_A, WIDE_B).replace("[scenario]\n", f'[scenario]\nstart = "{late}"\n')
    with pytest.raises(
        ScenarioError, match=r"scenario.start: .* is after the last row of trace.csv"
    ):
        load(write_toml(tmp_path, "s.toml", text))
    looping = text.replace('column = "a" }', 'column = "a", at_end = "loop" }').replace(
        'column = "b" }', 'column = "b", at_end = "loop" }'
    )
    assert load(write_toml(tmp_path, "loop.toml", looping)).start == late
    (tmp_path / "ticks.csv").write_text(f"timestamp,mid\n{_iso(exchange[:1])[0]},100\n")
    market = looping + '\n[market]\nfile = "ticks.csv"\n'
    with pytest.raises(ScenarioError, match=r"is after the last row of ticks.csv"):
        load(write_toml(tmp_path, "m.toml", market))
