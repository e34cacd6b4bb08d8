"""One strategy's summary figures, added up a chunk of requests at a time.

Floats summed in another order differ in their last bits, and a summary must be the same bytes
whichever engine made the records and whether they were kept or not. So every summary adds up
per-request results CHUNK requests at a time, in request order: `sim.run` slices the records it
keeps so, and `sim.summary`, which keeps none, draws, decides and adds each chunk in turn.
Latencies go into HdrHistograms with their exact max and mean
(sim.measure.histograms.Latencies); fill costs into exact percentiles, which spill to disk past
a million values (sim.measure.exact_percentiles).
"""

from __future__ import annotations

import math

import numpy as np

from sim.engines.records import FILLED, Records
from sim.measure.exact_percentiles import ExactPercentiles
from sim.measure.histograms import Latencies
from sim.model.streams import BLOCK
from strategies.ranking import relative_cost_bps

CHUNK = 4 * BLOCK  # requests added up at a time (drawn at a time, when not kept)


class Costs:
    """A fill cost's mean and exact p50 and p95, a chunk at a time."""

    def __init__(self) -> None:
        self._values = ExactPercentiles()
        self._sums: list[float] = []

    def add(self, values: np.ndarray) -> None:
        """Add `values` (NaN, for requests that filled nothing, skipped)."""
        values = values[~np.isnan(values)]
        self._values.add(values)
        self._sums.append(float(values.sum()))

    def distribution(self) -> dict[str, float | None]:
        """{mean, p50, p95}, or None each when there are no values."""
        count = self._values.count
        if not count:
            return {"mean": None, "p50": None, "p95": None}
        p50, p95 = self._values.percentiles([50, 95])
        return {
            "mean": round(math.fsum(self._sums) / count, 6),
            "p50": round(p50, 6),
            "p95": round(p95, 6),
        }


class Tally:
    """One strategy's per-request results over `venues` venues, added chunk by chunk."""

    def __init__(self, venues: int) -> None:
        self.decision = Latencies()
        self.fill = Latencies()
        self.wins = np.zeros(venues, dtype=np.int64)  # first races decided per venue
        self.filled = 0
        self.orders = 0
        self.slippage = Costs()
        self.shortfall = Costs()

    def add(
        self,
        records: Records,
        side: np.ndarray,
        mids: np.ndarray,
        oracle: np.ndarray,
        rows: slice = slice(None),
    ) -> None:
        """Add the requests `rows` of `records` (all of them by default): `side`, `mids` and
        `oracle` are those requests' sides, and mids and oracle prices at their arrivals."""
        self.decision.record(records.decision_s[rows])
        self.fill.record(records.fill_s[rows])
        venue = records.venue[rows]
        self.wins += np.bincount(venue[venue >= 0], minlength=self.wins.size)
        self.filled += int((records.outcome[rows] == FILLED).sum())
        self.orders += int(records.orders[rows].sum())
        side, price = side.astype(float), records.fill_price[rows]
        self.slippage.add(relative_cost_bps(side, price, mids, mids))
        self.shortfall.add(relative_cost_bps(side, price, oracle, mids))

    def add_in_chunks(
        self, records: Records, side: np.ndarray, mids: np.ndarray, oracle: np.ndarray
    ) -> None:
        """Add a whole run's records, CHUNK requests at a time."""
        for a in range(0, side.size, CHUNK):
            rows = slice(a, a + CHUNK)
            self.add(records, side[rows], mids[rows], oracle[rows], rows)
