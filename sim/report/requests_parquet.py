"""`requests.parquet`: requests.csv's rows and columns as typed, compressed Parquet
(`quoterace run --out DIR --format parquet`), for runs of millions of requests.

Written with pyarrow (the `data` extra, imported only here): floats as doubles with null
where requests.csv has an empty cell, `request` int64 and `orders` int32, and `strategy`,
`side`, `venue` and `outcome` dictionary-encoded over every name they may take (the run's
strategies, buy and sell, its venues, OUTCOMES), so pandas reads them as categoricals of the
same categories as `RunResult.to_pandas()`. Values are kept exactly (no rounding to six
decimals as in the CSV), zstd-compressed; each strategy's rows in row groups of their own
(pyarrow's default length, about a million rows, at most). A million rows take about a third
of their requests.csv (docs/results.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sim.engines.records import OUTCOMES
from sim.measure.requests_table import SIDES, side_codes
from sim.model.errors import ScenarioError
from sim.report.requests_file import COLUMNS, NUMERIC, by_strategy, side_and_outcome

INSTALL = "pip install 'quoterace[data]'"
_COUNTS = ("request", "orders")
_NAMES = ("strategy", "side", "venue", "outcome")
# Dictionaries for names and the few values of sizes and counts; the byte planes of the other
# floats (zstd compresses those better than whole doubles); deltas of the request index.
_ENCODINGS = {
    "use_dictionary": [*_NAMES, "filled_size", "orders"],
    "column_encoding": {
        "request": "DELTA_BINARY_PACKED",
        **{c: "BYTE_STREAM_SPLIT" for c in NUMERIC if c != "filled_size"},
    },
}


def require_pyarrow() -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet for writing; without them the one-line error for
    `--format parquet` (asked before a run, not after it)."""
    return _pyarrow(ScenarioError("--format", f"parquet needs pyarrow: {INSTALL}"))


def requests_parquet(tables: dict[str, dict[str, np.ndarray]], venues: list[str]) -> bytes:
    """The Parquet file of every strategy's per-request `tables` (as for write_requests:
    numeric columns floats with NaN for none, `side` +1/-1, `venue` an index or -1, `outcome`
    an index into OUTCOMES)."""
    pa, pq = require_pyarrow()
    strategies = list(tables)
    schema = pa.schema(
        [(c, _type(pa, c)) for c in COLUMNS],
        metadata={"quoterace": "requests: one row per request and strategy (docs/results.md)"},
    )
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, schema, compression="zstd", **_ENCODINGS) as writer:
        for index, table in enumerate(tables.values()):
            n = table["arrival_ms"].size
            names = {
                "strategy": (np.full(n, index), strategies),
                "side": (side_codes(table["side"]), SIDES),
                "venue": (table["venue"], venues),
                "outcome": (table["outcome"], OUTCOMES),
            }
            arrays = []
            for c in COLUMNS:
                if c in names:
                    arrays.append(_dictionary(pa, *names[c]))
                elif c == "request":
                    arrays.append(pa.array(np.arange(n), pa.int64()))
                else:
                    arrays.append(pa.array(table[c], _type(pa, c), from_pandas=True))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    return sink.getvalue().to_pybytes()


def read_requests_parquet(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """requests.parquet read back as read_requests reads requests.csv: per-strategy columns
    in the file's order of strategies, numeric ones as floats (NaN for null), `outcome` an
    index into OUTCOMES, `venue` names ("" for none), `side` +1/-1. Raises ValueError naming
    what is wrong (the row, counting from 1, for an unknown name); ImportError without
    pyarrow."""
    pa, pq = _pyarrow(ImportError(f"reading Parquet needs pyarrow: {INSTALL}"))
    try:
        table = pq.read_table(path)
    except pa.ArrowException as e:
        raise ValueError(f"not a Parquet file ({str(e).splitlines()[0]})") from None
    if tuple(table.column_names) != COLUMNS:
        raise ValueError(f"expected the columns {','.join(COLUMNS)}")
    parsed: dict[str, np.ndarray] = {}
    try:
        for c in NUMERIC:
            parsed[c] = table.column(c).cast(pa.float64()).to_numpy()
        for c in _COUNTS:
            if table.column(c).null_count:
                raise ValueError(f"{c}: empty values")
            parsed[c] = table.column(c).cast(pa.int64()).to_numpy()
    except pa.ArrowException as e:
        raise ValueError(f"{c}: not numbers ({str(e).splitlines()[0]})") from None
    text = {c: _names(pa, table.column(c)) for c in _NAMES}
    parsed.update(side_and_outcome(text, first_row=1))
    parsed["venue"] = text["venue"]
    return by_strategy(text["strategy"], parsed)


def _pyarrow(missing: Exception) -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet, or `missing` raised."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise missing from None
    return pa, pq


def _type(pa: Any, column: str) -> Any:
    """The Arrow type of a column."""
    if column in _NAMES:
        return pa.dictionary(pa.int32(), pa.string())
    return {"request": pa.int64(), "orders": pa.int32()}.get(column, pa.float64())


def _dictionary(pa: Any, codes: np.ndarray, names: list[str] | tuple[str, ...]) -> Any:
    """Names by `codes` (an index into `names`; -1 null) as a dictionary array of all `names`."""
    codes = np.asarray(codes)
    none = codes < 0
    indices = pa.array(np.where(none, 0, codes).astype(np.int32), mask=none)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(names), pa.string()))


def _names(pa: Any, column: Any) -> np.ndarray:
    """A column of names as an object array, "" for null (dictionary-encoded or not)."""
    array = column.combine_chunks()
    if not pa.types.is_dictionary(array.type):
        array = array.dictionary_encode()
    dictionary = np.array([*map(str, array.dictionary.to_pylist()), ""], dtype=object)
    return dictionary[array.indices.fill_null(-1).to_numpy(zero_copy_only=False)]
