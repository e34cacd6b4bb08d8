"""Recorded quotes: a file of timestamped mids (or bids and asks), read and checked in chunks.

A CSV has a header row naming its columns: `timestamp,bid,ask` (the mid is their average) or
`timestamp,mid`, in any order, other columns ignored. A Parquet file (with pyarrow, the `data`
extra) has the same columns. Timestamps are ISO-8601 (a zone-less one is UTC; `Z` or an offset
such as `+02:00` is honoured) or epoch numbers in `time_unit`; ISO or epoch is decided by the
first row. Rows come ROWS at a time as (nanoseconds since the epoch, mid, touch) arrays, the
touch being (bid, ask) or None for a file of mids, so a recording of any length is read in the
same memory. Every rule a row breaks is a ScenarioError naming the
file and the row (1-based, the header being row 1) or the column.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.model.errors import ScenarioError
from sim.model.timestamps import UNIT_NS, epoch_ns, iso_ns

ROWS = 8192  # rows parsed at a time: bounds the memory a recording of any length takes
EXPECTED = "timestamp,bid,ask or timestamp,mid"
Touch = tuple[np.ndarray, np.ndarray]  # a chunk's bids and asks


@dataclass(frozen=True)
class Recording:
    """A checked recording: where it is, how to read it, and what the scan found.

    `origin_ns` is engine time 0 (the first row's timestamp, or the scenario's `start`);
    `first_ns`/`last_ns` the first and last timestamps; `rows` how many rows there are;
    `quoted` whether it records bids and asks (not only mids); `digest` is of the rows'
    values as read (times and prices), so that two files of the same span but other prices
    draw as different markets (sim.model.fingerprint).
    """

    path: Path
    shown: str  # the file as the scenario names it, for messages
    key: str  # the scenario key that names it, for messages
    time_unit: str
    epoch: bool  # epoch numbers rather than ISO-8601 times
    origin_ns: int
    first_ns: int
    last_ns: int
    rows: int
    quoted: bool = False
    digest: str = ""

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray, Touch | None]]:
        """(timestamps in ns since the epoch, mids, (bids, asks) or None) ROWS at a time, in
        file order, checked."""
        return _checked(self.path, self.shown, self.key, self.time_unit, self.epoch)


def open_recording(
    file: str, base_dir: Path | None, time_unit: str, key: str, start_ns: int | None = None
) -> Recording:
    """The recording in `file` (relative to `base_dir`), every row read and checked once (in
    chunks) so that a bad file fails before a run starts."""
    path = Path(file) if base_dir is None else base_dir / file
    try:
        if not path.is_file():  # a FIFO or a device could block or never end
            reason = "not a regular file" if path.exists() else "No such file or directory"
            raise ScenarioError(key, f"cannot read {file!r}: {reason}")
    except OSError as e:
        raise ScenarioError(key, f"cannot read {file!r}: {e.strerror or e}") from None
    epoch = _first_is_epoch(path, file, key)
    first = last = None
    rows, quoted = 0, False
    values = hashlib.blake2b(digest_size=8)
    for ns, mid, touch in _checked(path, file, key, time_unit, epoch):
        first = int(ns[0]) if first is None else first
        last, rows, quoted = int(ns[-1]), rows + ns.size, touch is not None
        for array in (ns, mid, *(touch or ())):
            values.update(array.tobytes())
    if first is None:
        raise ScenarioError(key, f"{file} has no rows after its header (expected {EXPECTED})")
    origin = first if start_ns is None else start_ns
    return Recording(
        path, file, key, time_unit, epoch, origin, first, last, rows, quoted, values.hexdigest()
    )


def _first_is_epoch(path: Path, file: str, key: str) -> bool:
    """Whether the first row's timestamp is an epoch number (else ISO-8601)."""
    for _, columns in _raw(path, file, key):
        try:
            float(columns["timestamp"][0])
        except ValueError:
            return False
        return True
    return False  # no rows: the scan says so


def _checked(
    path: Path, file: str, key: str, time_unit: str, epoch: bool
) -> Iterator[tuple[np.ndarray, np.ndarray, Touch | None]]:
    """(ns, mid, (bid, ask) or None) arrays a chunk of rows at a time; a ScenarioError at the
    first bad row."""
    previous: tuple[int, int] | None = None  # (ns, row) of the last row of the chunk before
    for rows, columns in _raw(path, file, key):
        where = f"{file} row"
        stamps = columns["timestamp"]
        ns = epoch_ns(stamps, UNIT_NS[time_unit]) if epoch else iso_ns(stamps)
        if ns is None:  # some row's timestamp would not parse: find it for the message
            ns = np.array([_one_ns(s, epoch, time_unit) for s in stamps.tolist()], np.int64)
            bad = int(np.argmax(ns == _BAD))
            kind = f"an epoch number ({time_unit})" if epoch else "an ISO-8601 time"
            what = f"is not {kind}"
            if epoch and math.isfinite(_float(str(stamps[bad]))):
                what = f"is past the year 2262 in time_unit = {time_unit!r} (ms, us or ns?)"
            raise ScenarioError(
                key, f"{where} {rows[bad]} column timestamp: {str(stamps[bad])!r} {what}"
            )
        touch = None
        if "mid" in columns:
            mid = _prices(columns["mid"], "mid", rows, file, key)
        else:
            bid = _prices(columns["bid"], "bid", rows, file, key)
            ask = _prices(columns["ask"], "ask", rows, file, key)
            crossed = np.flatnonzero(bid > ask)
            if crossed.size:
                i = crossed[0]
                raise ScenarioError(
                    key, f"{where} {rows[i]}: bid {bid[i]:g} is above ask {ask[i]:g}"
                )
            mid, touch = 0.5 * (bid + ask), (bid, ask)
        before = np.concatenate(([previous[0]], ns[:-1])) if previous else ns[:-1]
        after = ns if previous else ns[1:]
        back = np.flatnonzero(after < before)
        if back.size:
            i = back[0] + (0 if previous else 1)
            prior = rows[i - 1] if i else previous[1]
            raise ScenarioError(
                key,
                f"{where} {rows[i]} column timestamp: {str(stamps[i])!r} goes back in time "
                f"(before row {prior}'s)",
            )
        previous = int(ns[-1]), int(rows[-1])
        yield ns, mid, touch


def _prices(text: np.ndarray, name: str, rows: np.ndarray, file: str, key: str) -> np.ndarray:
    """Column `name` as prices: finite numbers > 0, or a ScenarioError naming the row."""
    try:
        values = text.astype(np.float64)
    except ValueError:
        values = np.array([_float(s) for s in text.tolist()])
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if bad.size:
        i = bad[0]
        what = "is not a number" if math.isnan(values[i]) else "must be a finite price > 0"
        raise ScenarioError(key, f"{file} row {rows[i]} column {name}: {str(text[i])!r} {what}")
    return values


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


_BAD = np.iinfo(np.int64).min


def _one_ns(text: str, epoch: bool, time_unit: str) -> int:
    """One timestamp in ns, or _BAD: the slow path that finds a bad row."""
    one = np.array([text])
    ns = epoch_ns(one, UNIT_NS[time_unit]) if epoch else iso_ns(one)
    return _BAD if ns is None else int(ns[0])


def _raw(path: Path, file: str, key: str) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """(row numbers, {column: values}) ROWS at a time: text columns of a CSV, or a Parquet
    file's columns (timestamps as text, or as ns for a timestamp column)."""
    if path.suffix.lower() == ".parquet":
        yield from _raw_parquet(path, file, key)
        return
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: a BOM (Excel)
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise ScenarioError(key, f"{file} is empty (expected a header row: {EXPECTED})")
            index = _columns([h.strip().lower() for h in header], file, key)
            width, number = len(header), 2
            while rows := list(itertools.islice(reader, ROWS)):
                numbers = np.arange(number, number + len(rows))
                number += len(rows)
                if any(len(r) != width for r in rows):
                    blank = [len(r) == 0 for r in rows]
                    i = next(j for j, r in enumerate(rows) if len(r) != width)
                    if all(blank[i:]):  # blank lines at the end: no rows
                        rows, numbers = rows[:i], numbers[:i]
                        if not rows:
                            continue
                    else:
                        raise ScenarioError(
                            key,
                            f"{file} row {numbers[i]}: {len(rows[i])} fields, "
                            f"the header has {width}",
                        )
                yield numbers, {c: np.array([r[j] for r in rows]) for c, j in index.items()}
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ScenarioError(key, f"cannot read {file!r}: {reason}") from None


def _columns(names: list[str], file: str, key: str) -> dict[str, int]:
    """{column we read: its index} from a header, or a ScenarioError saying what is missing."""
    wanted = ["timestamp", "mid"] if "mid" in names else ["timestamp", "bid", "ask"]
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ScenarioError(
            key,
            f"{file} row 1: no column {', '.join(missing)} (expected {EXPECTED}; "
            f"found {','.join(names)})",
        )
    return {c: names.index(c) for c in wanted}


def _raw_parquet(
    path: Path, file: str, key: str
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ScenarioError(
            key, f"{file}: Parquet needs pyarrow: pip install 'quoterace[data]'"
        ) from None
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise ScenarioError(key, f"cannot read {file!r}: {e}") from None
    index = _columns([n.strip().lower() for n in parquet.schema_arrow.names], file, key)
    names = {c: parquet.schema_arrow.names[j] for c, j in index.items()}
    number = 2
    for batch in parquet.iter_batches(batch_size=ROWS, columns=list(names.values())):
        columns = {}
        for c, name in names.items():
            column = batch.column(name)
            if pa.types.is_timestamp(column.type):  # zone-less: UTC; zoned: stored as UTC
                ns = column.cast(pa.timestamp("ns", column.type.tz)).cast(pa.int64()).to_numpy()
                columns[c] = ns.astype("datetime64[ns]").astype(str)
            elif c == "timestamp" and pa.types.is_floating(column.type):  # not 1.7e+12
                columns[c] = np.char.mod("%.9f", column.to_numpy(zero_copy_only=False))
            else:
                columns[c] = np.array(column.cast(pa.string()).to_pylist(), dtype=str)
        numbers = np.arange(number, number + batch.num_rows)
        number += batch.num_rows
        yield numbers, columns
