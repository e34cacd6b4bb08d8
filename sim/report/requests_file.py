"""`requests.csv`: one row per request and strategy, the raw material of every plot.

Columns (times in ms since the run began or since the request arrived; empty where a value
does not exist):

- `strategy`, `request` (its index), `arrival_ms`, `side` (buy or sell);
- `decision_ms` (the first race's decision, empty for no quote), `venue` (the one it chose);
- `outcome` (filled, expired, price_moved, no_liquidity, no_quote), `fill_ms` (arrival to fill
  report, empty unless all of it filled), `price` (VWAP of what filled), `filled_size`,
  `orders` (sent, retries included), `slippage_bps` (against the arrival mid, positive worse).

These are RunResult.columns (sim.measure.requests_table) but `shortfall_bps`, which
`RunResult.to_pandas()` has and the file does not (a column more would change every committed
requests.csv). requests.parquet holds the same columns (sim.report.requests_parquet).

Written in chunks of rows (about 90 bytes a row); reading holds the whole file as text, so
`quoterace report` on millions of rows needs about 1 GB per million.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO

import numpy as np

from sim.engines.records import OUTCOMES
from sim.measure.requests_table import SIDES, column
from sim.measure.run import RECORD_FIELDS
from sim.model.streams import BLOCK

COLUMNS = ("strategy", "request", *map(column, RECORD_FIELDS.names), "slippage_bps")
NUMERIC = ("arrival_ms", "decision_ms", "fill_ms", "price", "filled_size", "slippage_bps")
_SIDES = np.array([SIDES[1], "", SIDES[0]], dtype=object)  # index side + 1: sell, -, buy
_OUTCOMES = np.array(OUTCOMES, dtype=object)


def write_requests(
    out: IO[str], tables: dict[str, dict[str, np.ndarray]], venues: list[str]
) -> dict[str, dict[str, np.ndarray]]:
    """Write every strategy's per-request `tables` (columns as in COLUMNS, numeric ones as
    floats with NaN for none; `side` +1/-1, `venue` an index or -1, `outcome` an index into
    OUTCOMES) as CSV. Returns each strategy's `decision_ms` and `outcome` as a reader of the
    file gets them (the plots are drawn from these, so that redrawing from the file matches)."""
    out.write(",".join(COLUMNS) + "\n")
    venue_names = np.array([*venues, ""], dtype=object)  # index -1 is no venue
    as_read = {}
    for name, table in tables.items():
        n = table["arrival_ms"].size
        decision_parts = []
        for start in range(0, n, BLOCK):  # rows formatted a block at a time
            part = slice(start, min(n, start + BLOCK))
            cells = {c: _cells(c, table[c][part], venue_names) for c in COLUMNS[2:]}
            decision_parts.append(_floats(cells["decision_ms"].astype(str)))
            columns = [
                np.full(part.stop - part.start, name, dtype=object),
                np.arange(part.start, part.stop).astype(str).astype(object),
                *cells.values(),
            ]
            out.writelines(",".join(row) + "\n" for row in zip(*columns, strict=True))
        as_read[name] = {
            "decision_ms": np.concatenate(decision_parts) if decision_parts else np.empty(0),
            "outcome": np.asarray(table["outcome"]),
        }
    return as_read


def _cells(column: str, values: np.ndarray, venue_names: np.ndarray) -> np.ndarray:
    """One column's values as the text of its cells."""
    if column == "side":
        return _SIDES[values + 1]
    if column == "venue":
        return venue_names[values]
    if column == "outcome":
        return _OUTCOMES[values]
    if column == "orders":
        return values.astype(str).astype(object)
    if column in ("price", "filled_size"):
        return _general(values)
    return _fixed(values, 6)  # times in ms and slippage in bps


def read_requests(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """requests.csv read back into per-strategy columns, in the file's order of strategies:
    numeric ones as floats (NaN for empty), `outcome` as an index into OUTCOMES, `venue` as
    names, `side` as +1/-1. Raises ValueError naming the row and column of anything wrong."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if header != COLUMNS:
            raise ValueError(f"row 1: expected the columns {','.join(COLUMNS)}")
        rows = list(reader)
    for n, row in enumerate(rows, start=2):
        if len(row) != len(COLUMNS):
            raise ValueError(f"row {n}: {len(row)} fields, expected {len(COLUMNS)}")
    if not rows:
        return {}
    by_column = zip(*rows, strict=True)
    text = {c: np.array(v, dtype=str) for c, v in zip(COLUMNS, by_column, strict=True)}
    parsed: dict[str, np.ndarray] = {c: _checked(text[c], c, _floats) for c in NUMERIC}
    parsed["request"] = _checked(text["request"], "request", lambda t: t.astype(np.int64))
    parsed["orders"] = _checked(text["orders"], "orders", lambda t: t.astype(np.int64))
    parsed.update(side_and_outcome(text))
    parsed["venue"] = text["venue"].astype(object)
    return by_strategy(text["strategy"], parsed)


def by_strategy(
    strategy: np.ndarray, columns: dict[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """Whole-file `columns` split by each row's `strategy`, strategies in order of first row."""
    names, first = np.unique(strategy, return_index=True)
    tables = {}
    for name in names[np.argsort(first)].tolist():
        mine = strategy == name
        tables[name] = {c: values[mine] for c, values in columns.items()}
    return tables


def _checked(text: np.ndarray, column: str, convert) -> np.ndarray:
    """`convert(text)`, or a ValueError naming the first row that does not convert."""
    try:
        return convert(text)
    except ValueError:
        for n, value in enumerate(text.tolist(), start=2):
            try:
                convert(np.array([value]))
            except ValueError:
                raise ValueError(f"row {n}: {column}: not a number ({value!r})") from None
        raise


def side_and_outcome(text: dict[str, np.ndarray], first_row: int = 2) -> dict[str, np.ndarray]:
    """The `side` (+1 buy, -1 sell) and `outcome` (an index into OUTCOMES) columns from their
    names in `text`; a ValueError naming the first row (counted from `first_row`) with an
    unknown one."""
    sides = {name: 1 - 2 * code for code, name in enumerate(SIDES)}  # buy +1, sell -1
    outcomes = {o: i for i, o in enumerate(OUTCOMES)}
    return {
        "side": coded(text["side"], "side", sides, first_row).astype(np.int8),
        "outcome": coded(text["outcome"], "outcome", outcomes, first_row).astype(np.int8),
    }


def coded(text: np.ndarray, column: str, codes: dict[str, int], first_row: int = 2) -> np.ndarray:
    """Each value's code, or a ValueError naming the first row with an unknown value (rows
    counted from `first_row`: 2 in a CSV file, below its header)."""
    known = np.isin(text, list(codes))
    if not known.all():
        n = int(np.argmin(known))
        expected = ", ".join(codes)
        row = n + first_row
        raise ValueError(f"row {row}: {column}: unknown {str(text[n])!r} (expected {expected})")
    values, inverse = np.unique(text, return_inverse=True)
    return np.array([codes[v] for v in values.tolist()], dtype=np.int64)[inverse]


def _fixed(values: np.ndarray, decimals: int) -> np.ndarray:
    text = np.char.mod(f"%.{decimals}f", values).astype(object)
    text[np.isnan(values)] = ""
    return text


def _general(values: np.ndarray) -> np.ndarray:
    text = np.char.mod("%.12g", values).astype(object)
    text[np.isnan(values)] = ""
    return text


def _floats(text: np.ndarray) -> np.ndarray:
    """Decimal text as floats, empty as NaN (numpy's parse, the same writing and reading)."""
    return np.where(text == "", "nan", text).astype(float)
