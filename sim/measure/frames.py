"""A run's requests as a pandas DataFrame (`RunResult.to_pandas`), for scripts and notebooks.

pandas is an optional extra (`pip install 'quoterace[pandas]'`), imported only here and only
when a frame is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.engines.records import OUTCOMES
from sim.measure.requests_table import SIDES, side_codes

if TYPE_CHECKING:
    import pandas as pd

NO_PANDAS = "to_pandas needs pandas: pip install 'quoterace[pandas]'"


def requests_frame(
    tables: dict[str, dict[str, np.ndarray]], strategies: list[str], venues: list[str]
) -> pd.DataFrame:
    """One row per request and strategy, strategies in the order of `tables` (each strategy's
    request_columns): `strategy`, `request`, then its columns, with `strategy`, `side`,
    `venue` (NaN for none) and `outcome` as categoricals of every name they may take (the
    run's `strategies` and `venues`), so that frames of one run concatenate as categoricals."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(NO_PANDAS) from None
    sizes = [t["arrival_ms"].size for t in tables.values()]
    columns = next(iter(tables.values()))  # a run has at least one strategy
    joined = {c: np.concatenate([t[c] for t in tables.values()]) for c in columns}
    coded = {
        "side": (side_codes(joined["side"]), SIDES),
        "venue": (joined["venue"], venues),  # -1, no venue, is a missing value
        "outcome": (joined["outcome"], OUTCOMES),
    }
    data = {
        "strategy": pd.Categorical.from_codes(
            np.repeat([strategies.index(n) for n in tables], sizes), strategies
        ),
        "request": np.concatenate([np.arange(n, dtype=np.int64) for n in sizes]),
    }
    for c, values in joined.items():
        if c in coded:
            codes, categories = coded[c]
            values = pd.Categorical.from_codes(codes, categories=list(categories))
        data[c] = values
    return pd.DataFrame(data)
