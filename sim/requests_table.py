"""`requests.csv`: one row per request and strategy, the raw material of every plot.

Columns (times in ms since the run began or since the request arrived; empty where a value
does not exist):

- `strategy`, `request` (its index), `arrival_ms`, `side` (buy or sell);
- `decision_ms` (the first race's decision, empty for no quote), `venue` (the one it chose);
- `outcome` (filled, expired, price_moved, no_liquidity, no_quote), `fill_ms` (arrival to fill
  report, empty unless all of it filled), `price` (VWAP of what filled), `filled_size`,
  `orders` (sent, retries included), `slippage_bps` (against the arrival mid, positive worse).

Written in chunks of rows, so writing adds little memory to what the run holds; about 90 bytes
a row.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO

import numpy as np

from sim.engine import OUTCOMES

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
) -> None:
    """Write every strategy's per-request `tables` (columns as in COLUMNS, numeric ones as
    floats with NaN for none; `side` +1/-1, `venue` an index or -1, `outcome` an index into
    OUTCOMES) as CSV."""
    out.write(",".join(COLUMNS) + "\n")
    venue_names = np.array([*venues, ""], dtype=object)  # index -1 is no venue
    sides = {1: "buy", -1: "sell"}
    for name, table in tables.items():
        n = table["arrival_ms"].size
        for start in range(0, n, CHUNK):
            part = slice(start, min(n, start + CHUNK))
            columns = [
                np.full(part.stop - part.start, name, dtype=object),
                np.arange(part.start, part.stop).astype(str).astype(object),
                _fixed(table["arrival_ms"][part], 6),
                np.array([sides[s] for s in table["side"][part].tolist()], dtype=object),
                _fixed(table["decision_ms"][part], 6),
                venue_names[table["venue"][part]],
                np.array(OUTCOMES, dtype=object)[table["outcome"][part]],
                _fixed(table["fill_ms"][part], 6),
                _general(table["price"][part]),
                _general(table["filled_size"][part]),
                table["orders"][part].astype(str).astype(object),
                _fixed(table["slippage_bps"][part], 6),
            ]
            out.writelines(",".join(row) + "\n" for row in zip(*columns, strict=True))


def read_requests(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """requests.csv read back into per-strategy columns: numeric ones as floats (NaN for
    empty), `outcome` as an index into OUTCOMES, `venue` as names, `side` as +1/-1."""
    columns: dict[str, dict[str, list]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"expected the columns {', '.join(COLUMNS)}")
        for row in reader:
            table = columns.setdefault(row["strategy"], {c: [] for c in COLUMNS[1:]})
            for column in COLUMNS[1:]:
                table[column].append(row[column])
    outcome_index = {name: i for i, name in enumerate(OUTCOMES)}
    tables = {}
    for name, table in columns.items():
        tables[name] = {
            **{c: _floats(table[c]) for c in NUMERIC},
            "request": np.array(table["request"], dtype=np.int64),
            "side": np.array([1 if s == "buy" else -1 for s in table["side"]], dtype=np.int8),
            "venue": np.array(table["venue"], dtype=object),
            "outcome": np.array([outcome_index[o] for o in table["outcome"]], dtype=np.int8),
            "orders": np.array(table["orders"], dtype=np.int64),
        }
    return tables


def _fixed(values: np.ndarray, decimals: int) -> np.ndarray:
    text = np.char.mod(f"%.{decimals}f", values).astype(object)
    text[np.isnan(values)] = ""
    return text


def _general(values: np.ndarray) -> np.ndarray:
    text = np.char.mod("%.12g", values).astype(object)
    text[np.isnan(values)] = ""
    return text


def _floats(text: list[str]) -> np.ndarray:
    return np.array([float(t) if t else np.nan for t in text])
