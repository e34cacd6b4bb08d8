"""Paired comparison of strategies run on the same draws (common random numbers).

Every strategy of a run saw the same arrivals, venue latencies and market, so request i is a
matched pair across strategies. The bootstrap resamples requests (the same resample for both
strategies, keeping the pairing) and recomputes each metric's difference; the 95% interval is
the 2.5th to 97.5th percentile of those differences, and a difference is significant when the
interval excludes zero. Metrics: mean slippage over each strategy's fills, fill rate, and p99
decision latency.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from sim.engine import FILLED
from sim.quality import cost_bps
from sim.run import RunResult
from sim.streams import Purpose, stream

RESAMPLES = 1000
_CHUNK = 100  # resamples drawn and evaluated at a time, to bound memory


def compare(result: RunResult, resamples: int = RESAMPLES) -> dict[str, Any]:
    """Each strategy against the scenario's first, with bootstrap 95% intervals."""
    scenario, draws = result.scenario, result.draws
    mids = result.arrival_mid
    side = draws.side.astype(float)
    per_request = {
        name: {
            "slippage": cost_bps(side, r.records.fill_price, mids, mids),
            "filled": (r.records.outcome == FILLED).astype(float),
            "decision_ms": r.records.decision_s * 1e3,
        }
        for name, r in result.strategies.items()
    }
    names = list(per_request)
    baseline = names[0]
    indices = _resample_indices(scenario.seed, draws.requests, resamples)
    comparisons = {}
    for other in names[1:]:
        a, b = per_request[baseline], per_request[other]
        comparisons[other] = {
            "mean_slippage_bps": _paired(a["slippage"], b["slippage"], _nanmean, indices),
            "fill_rate": _paired(a["filled"], b["filled"], _nanmean, indices),
            "p99_decision_ms": _paired(a["decision_ms"], b["decision_ms"], _nanp99, indices),
        }
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "requests": scenario.requests,
        "baseline": baseline,
        "resamples": resamples,
        "confidence": 0.95,
        "comparisons": comparisons,
    }


def _resample_indices(seed: int, n: int, resamples: int) -> list[np.ndarray]:
    rng = stream(seed, Purpose.BOOTSTRAP)
    return [
        rng.integers(0, n, (min(_CHUNK, resamples - start), n))
        for start in range(0, resamples, _CHUNK)
    ]


def _paired(
    a: np.ndarray,
    b: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    indices: list[np.ndarray],
) -> dict[str, Any]:
    """The difference b - a of `statistic`, with its bootstrap interval."""
    value_a = float(statistic(a[np.newaxis, :])[0])
    value_b = float(statistic(b[np.newaxis, :])[0])
    differences = np.concatenate([statistic(b[idx]) - statistic(a[idx]) for idx in indices])
    differences = differences[~np.isnan(differences)]
    if differences.size == 0 or np.isnan(value_a) or np.isnan(value_b):
        return dict.fromkeys(("baseline", "other", "difference", "ci95"), None) | {
            "significant": False
        }
    low, high = np.percentile(differences, [2.5, 97.5])
    return {
        "baseline": round(value_a, 6),
        "other": round(value_b, 6),
        "difference": round(value_b - value_a, 6),
        "ci95": [round(float(low), 6), round(float(high), 6)],
        "significant": bool(low > 0 or high < 0),
    }


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN (NaN for a row with nothing in it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice"
        return np.nanmean(values, axis=1)


def _nanp99(values: np.ndarray) -> np.ndarray:
    """Row 99th percentiles ignoring NaN (NaN for a row with nothing in it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice encountered"
        return np.nanpercentile(values, 99, axis=1)
