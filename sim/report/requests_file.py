"""`requests.csv`: one row per request and strategy, the raw material of every plot.

Columns (times in ms since the run began or since the request arrived; empty where a value
does not exist):

- `strategy`, `request` (its index), `arrival_ms`, `side` (buy or sell);
- `decision_ms` (the first race's decision, empty for no quote), `venue` (the one it chose);
- `outcome` (filled, expired, price_moved, no_liquidity, no_quote), `fill_ms` (arrival to fill
  report, empty unless all of it filled), `price` (VWAP of what filled), `filled_size`,
  `orders` (sent, retries included), `slippage_bps` (against the arrival mid, positive worse).

Written in chunks of rows (about 90 bytes a row); reading holds the whole file as text, so
`quoterace report` on millions of rows needs about 1 GB per million.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO

import numpy as np

from sim.engines.records import OUTCOMES

COLUMNS = (
    "strategy",
    "request",
    "arrival_ms",
    "side",
    "decision_ms",
    "venue",
    "outcome",
    "fill_ms",
    "price",
    "filled_size",
    "orders",
    "slippage_bps",
)
NUMERIC = ("arrival_ms", "decision_ms", "fill_ms", "price", "filled_size", "slippage_bps")
CHUNK = 65536


def write_requests(
    out: IO[str], tables: dict[str, dict[str, np.ndarray]], venues: list[str]
) -> dict[str, dict[str, np.ndarray]]:
    """Write every strategy's per-request `tables` (columns as in COLUMNS, numeric ones as
    floats with NaN for none; `side` +1/-1, `venue` an index or -1, `outcome` an index into
    OUTCOMES) as CSV. Returns each strategy's `decision_ms` and `outcome` as a reader of the
    file gets them (the plots are drawn from these, so that redrawing from the file matches)."""
    out.write(",".join(COLUMNS) + "\n")
    venue_names = np.array([*venues, ""], dtype=object)  # index -1 is no venue
    side_names = np.array(["sell", "", "buy"], dtype=object)  # index side + 1
    as_read = {}
    for name, table in tables.items():
        n = table["arrival_ms"].size
        decision_parts = []
        for start in range(0, n, CHUNK):
            part = slice(start, min(n, start + CHUNK))
            decision = _fixed(table["decision_ms"][part], 6)
            decision_parts.append(_floats(decision.astype(str)))
            columns = [
                np.full(part.stop - part.start, name, dtype=object),
                np.arange(part.start, part.stop).astype(str).astype(object),
                _fixed(table["arrival_ms"][part], 6),
                side_names[table["side"][part] + 1],
                decision,
                venue_names[table["venue"][part]],
                np.array(OUTCOMES, dtype=object)[table["outcome"][part]],
                _fixed(table["fill_ms"][part], 6),
                _general(table["price"][part]),
                _general(table["filled_size"][part]),
                table["orders"][part].astype(str).astype(object),
                _fixed(table["slippage_bps"][part], 6),
            ]
            out.writelines(",".join(row) + "\n" for row in zip(*columns, strict=True))
        as_read[name] = {
            "decision_ms": np.concatenate(decision_parts) if decision_parts else np.empty(0),
            "outcome": np.asarray(table["outcome"]),
        }
    return as_read


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
    parsed["side"] = _coded(text["side"], "side", {"buy": 1, "sell": -1}).astype(np.int8)
    parsed["outcome"] = _coded(
        text["outcome"], "outcome", {o: i for i, o in enumerate(OUTCOMES)}
    ).astype(np.int8)
    parsed["venue"] = text["venue"].astype(object)
    names, first = np.unique(text["strategy"], return_index=True)
    tables = {}
    for name in names[np.argsort(first)].tolist():
        mine = text["strategy"] == name
        tables[name] = {c: values[mine] for c, values in parsed.items()}
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


def _coded(text: np.ndarray, column: str, codes: dict[str, int]) -> np.ndarray:
    """Each value's code, or a ValueError naming the first row with an unknown value."""
    known = np.isin(text, list(codes))
    if not known.all():
        n = int(np.argmin(known))
        expected = ", ".join(codes)
        raise ValueError(f"row {n + 2}: {column}: unknown {str(text[n])!r} (expected {expected})")
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
