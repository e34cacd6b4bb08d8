"""Measured round trips replayed in time order: `latency = { dist = "trace", file = ... }`.

A trace is a CSV file (or Parquet, where pyarrow is installed) with a header row: a
`timestamp` column and, wide, one latency column per venue (`column` names the venue's), or
long, rows of (timestamp, venue, latency) of which `venue = "NAME"` picks the venue's.
Timestamps are ISO-8601 (UTC unless they carry an offset) or epoch numbers in `time_unit`;
latencies are in `unit` (default ms). A column of round trips measured as receive minus send
times is computed before it is written: the trace holds the round trip itself.

Request i, arriving at engine time t, takes the measurement in force at t: the last row at or
before it (equal timestamps: the last row of the instant stands). Engine time 0 is the first
row's timestamp (or `origin_ns`, a start common to every file a scenario replays). Before the
first row the first row's measurement stands; past the last, `at_end = "hold"` (default) keeps
the last one, `"loop"` starts the trace over (after its span and one mean gap between rows).
Every venue replaying the same file reads the same instants, so venues slow together stay
slow together. Every attempt of a request (re-races after rejects) takes the measurement in
force at its arrival: the draws are made before the run, when later times are not known.

`mode = "bootstrap"` resamples the trace instead (a moving-block bootstrap): engine time is cut
into blocks of `block_s`, and block j replays the trace from an offset drawn uniformly over
its span, from a stream keyed by the file's contents: every venue replaying the file takes the
same blocks, so their correlation survives, and the run may be longer than the trace.
"""

from __future__ import annotations

import csv
import hashlib
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from sim.model.errors import ScenarioError
from sim.model.streams import Purpose, blocked
from sim.model.timestamps import UNIT_NS, iso_ns

TIMESTAMP = "timestamp"
MAX_ISO_CHARS = 40


@dataclass(frozen=True)
class Trace:
    """A trace's key (`file`, `column`, `venue`, units, `mode`, `block_s`, `at_end`,
    `shift_ms`) and, once read (`read_trace`), its rows: times in epoch ns, latencies in ms."""

    kind: ClassVar[str] = "trace"
    file: str
    column: str = "latency"
    venue: str | None = None
    unit: str = field(default="ms", metadata={"choices": tuple(UNIT_NS)})
    time_unit: str = field(default="s", metadata={"choices": tuple(UNIT_NS)})
    mode: str = field(default="replay", metadata={"choices": ("replay", "bootstrap")})
    block_s: float | None = field(default=None, metadata={"gt": 0.0})
    at_end: str = field(default="hold", metadata={"choices": ("hold", "loop")})
    shift_ms: float = field(default=0.0, metadata={"ge": 0.0})
    times_ns: np.ndarray = field(init=False, repr=False, compare=False)
    latency_ms: np.ndarray = field(init=False, repr=False, compare=False)
    digest: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode == "bootstrap" and self.block_s is None:
            raise ValueError("block_s: missing (mode = 'bootstrap' resamples blocks this long)")
        if self.mode == "replay" and self.block_s is not None:
            raise ValueError("block_s: only for mode = 'bootstrap'")

    @property
    def span_s(self) -> float:
        """From the first row to the last, in seconds."""
        return float(self.times_ns[-1] - self.times_ns[0]) * 1e-9


def read_trace(trace: Trace, key: str, base_dir: Path | None) -> Trace:
    """`trace` with its rows read from its file (relative to `base_dir`), every row checked:
    a bad file is one ScenarioError naming `key`, the file, and the row or column."""
    path = Path(trace.file) if base_dir is None else base_dir / trace.file
    file = trace.file
    try:
        if not path.is_file():  # a FIFO or a device could block or never end
            why = "is not a regular file" if path.exists() else "No such file or directory"
            raise ScenarioError(key, f"cannot read {file!r}: {why}")
        digest = _digest(path)
        if path.suffix.lower() in (".parquet", ".pq"):
            columns = _parquet_columns(path, trace, key)
        else:
            columns = _csv_columns(path, trace, key)
    except OSError as e:
        raise ScenarioError(key, f"cannot read {file!r}: {e.strerror or e}") from None
    times_ns, latency = _rows(columns, trace, key)
    latency_ms = latency * (UNIT_NS[trace.unit] / UNIT_NS["ms"])
    if trace.mode == "bootstrap" and not trace.block_s < (times_ns[-1] - times_ns[0]) * 1e-9:
        span = (times_ns[-1] - times_ns[0]) * 1e-9
        message = f"must be shorter than {file}'s span ({span:g} s from its first row to its last)"
        raise ScenarioError(key.rsplit(".", 1)[0] + ".block_s", message)
    for name, value in (("times_ns", times_ns), ("latency_ms", latency_ms), ("digest", digest)):
        object.__setattr__(trace, name, value)
    return trace


def trace_s(trace: Trace, arrival_s: np.ndarray, seed: int, origin_ns: int | None = None):
    """The latency (seconds, shift included) in force at each engine time of `arrival_s`;
    engine time 0 is `origin_ns` (epoch ns), by default the trace's first row."""
    origin = int(trace.times_ns[0]) if origin_ns is None else origin_ns
    rows_s = (trace.times_ns - origin).astype(np.float64) * 1e-9
    t = np.asarray(arrival_s, dtype=np.float64)
    if trace.mode == "bootstrap":
        t = _resampled(trace, t, seed, float(rows_s[0]))
    elif trace.at_end == "loop" and trace.times_ns.size > 1:
        first, span = float(rows_s[0]), float(rows_s[-1] - rows_s[0])
        period = span + span / (trace.times_ns.size - 1)
        t = np.where(t > first, first + np.mod(t - first, period), t)
    row = np.maximum(np.searchsorted(rows_s, t, side="right") - 1, 0)  # before: the first row
    return (trace.latency_ms[row] + trace.shift_ms) * 1e-3


def _resampled(trace: Trace, t: np.ndarray, seed: int, first_s: float) -> np.ndarray:
    """Engine times mapped into the trace: block j = floor(t / block_s) replays it from an
    offset drawn uniformly in [0, span - block_s] (offsets keyed by the file's digest and j)."""
    if t.size == 0:
        return t
    block = np.floor(t / trace.block_s)
    blocks = int(block.max()) + 1
    room = trace.span_s - trace.block_s

    def offsets(rng: np.random.Generator, k: int) -> np.ndarray:
        return rng.random(k) * room

    offset = blocked(seed, Purpose.TRACE_BLOCK, (trace.digest,), blocks, offsets)
    return first_s + offset[block.astype(np.int64)] + (t - block * trace.block_s)


def _digest(path: Path) -> int:
    """A 63-bit key from the file's contents: the same bytes, the same bootstrap blocks."""
    h = hashlib.blake2b(digest_size=8)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return int.from_bytes(h.digest(), "big") >> 1


def _wanted(trace: Trace) -> list[str]:
    return [TIMESTAMP, *(["venue"] if trace.venue is not None else []), trace.column]


def _missing(header: list[str], trace: Trace, file: str, key: str) -> None:
    for name in _wanted(trace):
        if name not in header:
            present = ", ".join(header) or "none"
            raise ScenarioError(key, f"{file}: no column {name!r} (columns: {present})")


def _csv_columns(path: Path, trace: Trace, key: str) -> dict[str, np.ndarray]:
    """The columns `trace` needs, read by numpy's C parser in one pass: timestamps as text or
    numbers (decided by the first row), the venue as text, latencies as floats."""
    file = trace.file
    with path.open(encoding="utf-8-sig", newline="") as f:  # -sig: a BOM (Excel)
        try:
            header_line, first_line = f.readline(), f.readline()
        except UnicodeDecodeError as e:
            raise ScenarioError(key, f"{file}: not UTF-8 text ({e.reason})") from None
    header = [_name(name) for name in _fields(header_line)]
    if not header_line.strip():
        raise ScenarioError(key, f"{file} is empty (expected a header row: timestamp, ...)")
    _missing(header, trace, file, key)
    if not first_line.strip():
        raise ScenarioError(key, f"{file} holds no rows after its header")
    wanted = _wanted(trace)
    kinds = {TIMESTAMP: f"S{MAX_ISO_CHARS}", "venue": "S256"}
    dtype = [(name, kinds.get(name, np.float64)) for name in wanted]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            rows = np.loadtxt(
                path,
                delimiter=",",
                skiprows=1,
                comments=None,
                ndmin=1,
                usecols=[header.index(name) for name in wanted],
                dtype=dtype,
                encoding="utf-8",
                quotechar='"',  # R's write.csv and many loggers quote every field
            )
    except (ValueError, UnicodeDecodeError) as e:
        raise ScenarioError(key, _first_bad_row(path, header, trace, e)) from None
    columns = {name: rows[name] for name in wanted}
    numeric = _is_number(_fields(first_line)[header.index(TIMESTAMP)])
    columns[TIMESTAMP] = _epoch_ns(columns[TIMESTAMP], numeric, trace, key)
    return columns


def _name(header: str) -> str:
    """A column's name as we look it up: `timestamp` and `venue` in any case (as a recorded
    market's columns), a latency column as written."""
    name = header.strip()
    return name.lower() if name.lower() in (TIMESTAMP, "venue") else name


def _fields(line: str) -> list[str]:
    """The fields of one CSV line, quotes removed."""
    return next(csv.reader([line]), [])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_bad_row(path: Path, header: list[str], trace: Trace, error: Exception) -> str:
    """What numpy's parser tripped on, found again row by row (the error path only)."""
    file, wanted = trace.file, _wanted(trace)
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        for number, line in enumerate(f, 1):
            if number == 1 or not line.strip():
                continue
            fields = _fields(line)
            if len(fields) != len(header):
                return f"{file} row {number}: {len(fields)} fields, the header has {len(header)}"
            for name in wanted:
                text = fields[header.index(name)].strip()
                if name == trace.column and not _is_number(text):
                    return f"{file} row {number}, column {name!r}: {text!r} is not a number"
                if name == TIMESTAMP and not (_is_number(text) or _is_iso(text)):
                    return f"{file} row {number}, column {name!r}: {text!r} is not a timestamp"
    return f"{file}: cannot parse ({error})"


def _is_iso(text: str) -> bool:
    if len(text) > MAX_ISO_CHARS:
        return False
    try:
        _iso_ns(np.array([text.encode()]))
    except ValueError:
        return False
    return True


def _iso_ns(text: np.ndarray) -> np.ndarray:
    """ISO-8601 byte strings as epoch ns (sim.model.timestamps); ValueError if one is not."""
    ns = iso_ns(np.char.decode(text, errors="replace"))
    if ns is None:
        raise ValueError("not ISO-8601")
    return ns


def _parquet_columns(path: Path, trace: Trace, key: str) -> dict[str, np.ndarray]:
    """The columns `trace` needs from a Parquet file: pyarrow's timestamps as epoch ns."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        message = f"{trace.file}: reading Parquet needs pyarrow: pip install 'quoterace[data]'"
        raise ScenarioError(key, message) from None
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise ScenarioError(key, f"{trace.file}: not a Parquet file ({e})") from None
    table = table.rename_columns([_name(name) for name in table.column_names])
    _missing(table.column_names, trace, trace.file, key)
    if table.num_rows == 0:
        raise ScenarioError(key, f"{trace.file} holds no rows")
    columns = {}
    for name in _wanted(trace):
        column = table.column(name)
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise ScenarioError(key, f"{trace.file} row {row + 2}, column {name!r}: empty")
        if name == TIMESTAMP and pa.types.is_timestamp(column.type):
            columns[name] = column.cast(pa.timestamp("ns")).cast(pa.int64()).to_numpy()
            continue
        values = column.to_numpy(zero_copy_only=False)
        if values.dtype == object:  # text
            values = values.astype(bytes)
        if name == trace.column and values.dtype.kind not in "iuf":
            message = f"{trace.file}: column {name!r} holds {column.type}, not numbers"
            raise ScenarioError(key, message)
        columns[name] = values
    times = columns[TIMESTAMP]
    if pa.types.is_timestamp(table.column(TIMESTAMP).type):
        return columns
    if times.dtype.kind in "iu":
        columns[TIMESTAMP] = _whole_ns(times.astype(np.int64), trace, key)
    elif times.dtype.kind == "f":
        columns[TIMESTAMP] = _scaled_ns(times, trace, key)
    else:
        numeric = _is_number(times[0].decode(errors="replace"))
        columns[TIMESTAMP] = _epoch_ns(times.astype(bytes), numeric, trace, key)
    return columns


def _epoch_ns(times: np.ndarray, numeric: bool, trace: Trace, key: str) -> np.ndarray:
    """Timestamps read as text, as epoch ns: ISO-8601, or (`numeric`, as the first row is)
    numbers in `time_unit`, whole ones exactly."""
    try:
        if not numeric:
            return _iso_ns(times)
        try:
            whole = times.astype(np.int64)
        except (ValueError, OverflowError):  # fractions
            return _scaled_ns(times.astype(np.float64), trace, key)
        return _whole_ns(whole, trace, key)
    except ValueError:
        parse = _is_number if numeric else _is_iso
        bad = next(i for i, t in enumerate(times) if not parse(t.decode(errors="replace").strip()))
        text = times[bad].decode(errors="replace")
        what = "a number" if numeric else "an ISO-8601 timestamp"
        message = f"{trace.file} row {bad + 2}, column 'timestamp': {text!r} is not {what}"
        raise ScenarioError(key, message) from None


def _whole_ns(whole: np.ndarray, trace: Trace, key: str) -> np.ndarray:
    """Whole epoch numbers in `time_unit` as ns; past what int64 ns hold (epoch ms read as
    seconds) they would wrap around: a ScenarioError names the first such row."""
    unit = UNIT_NS[trace.time_unit]
    past = np.flatnonzero(np.abs(whole) >= np.iinfo(np.int64).max // unit)
    if past.size:
        text = str(int(whole[past[0]]))
        message = f"{trace.file} row {past[0] + 2}, column 'timestamp': {text!r}"
        raise ScenarioError(key, f"{message} {_past(trace.time_unit)}")
    return whole * unit


def _past(time_unit: str) -> str:
    """What is wrong with an epoch number past int64 ns (the year 2262) in `time_unit`."""
    return f"is past the year 2262 in time_unit = {time_unit!r} (ms, us or ns?)"


def _scaled_ns(times: np.ndarray, trace: Trace, key: str) -> np.ndarray:
    """Epoch numbers (floats) in `time_unit` as whole ns."""
    scaled = times * float(UNIT_NS[trace.time_unit])
    finite = np.isfinite(scaled) & (np.abs(scaled) < 2.0**63)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        what = _past(trace.time_unit) if np.isfinite(times[bad]) else "is not a finite number"
        message = f"{trace.file} row {bad + 2}, column 'timestamp': {times[bad]:g} {what}"
        raise ScenarioError(key, message)
    return np.rint(scaled).astype(np.int64)


def _rows(columns: dict[str, np.ndarray], trace: Trace, key: str) -> tuple[np.ndarray, np.ndarray]:
    """The venue's rows (all of a wide file's, a long file's for `venue`), checked: times in
    order (equal ones are fine), latencies finite and >= 0."""
    file = trace.file
    times_ns = columns[TIMESTAMP]
    backwards = np.flatnonzero(np.diff(times_ns) < 0)
    if backwards.size:
        row = int(backwards[0]) + 3  # the later of the two, 1-based, after the header
        raise ScenarioError(
            key, f"{file} row {row}: timestamp goes backwards (before row {row - 1}'s)"
        )
    index = np.arange(times_ns.size)
    if trace.venue is not None:
        venues = np.char.strip(columns["venue"].astype(bytes))
        index = np.flatnonzero(venues == trace.venue.encode())
        if index.size == 0:
            names = ", ".join(sorted(v.decode(errors="replace") for v in np.unique(venues)[:20]))
            raise ScenarioError(key, f"{file}: no rows for venue {trace.venue!r} (venues: {names})")
    latency = np.asarray(columns[trace.column], dtype=np.float64)[index]
    bad = np.flatnonzero(~(np.isfinite(latency) & (latency >= 0)))
    if bad.size:
        row, value = int(index[bad[0]]) + 2, latency[bad[0]]
        what = "negative" if value < 0 else "not a finite number"
        message = f"{file} row {row}, column {trace.column!r}: {value:g} is {what}"
        raise ScenarioError(key, message)
    if not math.isfinite(float(latency.max()) * UNIT_NS[trace.unit]):
        raise ScenarioError(key, f"{file}, column {trace.column!r}: latencies too large")
    return times_ns[index], latency
