"""A strategy's requests as named columns: what requests.csv, requests.parquet and
`RunResult.to_pandas()` hold, one definition for all three.

Times in milliseconds (the records keep seconds); slippage and shortfall per request as the
summary adds them up (sim.measure.quality, sim.measure.tally): NaN where nothing filled.
"""

from __future__ import annotations

import numpy as np

from strategies.ranking import relative_cost_bps

SIDES = ("buy", "sell")  # the names of side +1 and -1, in the order of their codes


def column(field: str) -> str:
    """The column of a record field (RunResult.records): `_ms` where the field has `_s`."""
    return f"{field[:-2]}_ms" if field.endswith("_s") else field


def in_ms(field: str, values: np.ndarray) -> np.ndarray:
    """A record field's values as its column holds them."""
    return values * 1e3 if field.endswith("_s") else values


def side_codes(side: np.ndarray) -> np.ndarray:
    """Side +1/-1 as an index into SIDES."""
    return ((1 - side) // 2).astype(np.int8)


def request_columns(
    records: np.ndarray, mids: np.ndarray, oracle: np.ndarray
) -> dict[str, np.ndarray]:
    """One strategy's per-request columns from its `records` (RunResult.records) and the mid
    and oracle price at each arrival: every record field under its column name, then
    `slippage_bps` and `shortfall_bps`. `side` stays +1/-1, `venue` an index (-1 for none),
    `outcome` an index into OUTCOMES."""
    table = {column(f): in_ms(f, records[f]) for f in records.dtype.names}
    side = records["side"].astype(float)
    table["slippage_bps"] = relative_cost_bps(side, records["price"], mids, mids)
    table["shortfall_bps"] = relative_cost_bps(side, records["price"], oracle, mids)
    return table
