"""Paired comparison of strategies run on the same draws (common random numbers).

Every strategy of a run saw the same arrivals, venue latencies and market, so request i is a
matched pair across strategies. The bootstrap resamples requests (the same resample for both
strategies, keeping the pairing) and recomputes each metric's difference; the 95% interval is
the 2.5th to 97.5th percentile of those differences, and a difference is significant when the
interval excludes zero (no correction is made for comparing several metrics at once).

Metrics: mean slippage over the requests both strategies filled (a paired difference of price,
not of which requests filled), fill rate over all requests, and p99 decision latency over all
requests, a race that found no quote counting as infinitely slow (so a strategy cannot look
faster by giving up).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from sim.engines.records import FILLED
from sim.measure.run import RunResult
from sim.model.streams import Purpose, stream
from strategies.ranking import relative_cost_bps

RESAMPLES = 1000
_CHUNK_ELEMENTS = 2_000_000  # resampled indices held at once, to bound memory


def compare(result: RunResult, resamples: int = RESAMPLES) -> dict[str, Any]:
    """Each strategy against the scenario's first, with bootstrap 95% intervals."""
    scenario, draws = result.scenario, result.draws
    side = draws.side.astype(float)
    per_request = {}
    for name, r in result.strategies.items():
        mids = r.arrival_mid
        decision_ms = r.records.decision_s * 1e3
        per_request[name] = {
            "slippage": relative_cost_bps(side, r.records.fill_price, mids, mids),
            "filled": (r.records.outcome == FILLED).astype(float),
            "decision_ms": np.where(np.isnan(decision_ms), np.inf, decision_ms),
        }
    names = list(per_request)
    baseline = names[0]
    pairs = {}
    for other in names[1:]:
        a, b = per_request[baseline], per_request[other]
        both = ~np.isnan(a["slippage"]) & ~np.isnan(b["slippage"])
        pairs[other] = {
            "mean_slippage_bps": (
                np.where(both, a["slippage"], np.nan),
                np.where(both, b["slippage"], np.nan),
                _nanmean,
            ),
            "fill_rate": (a["filled"], b["filled"], _nanmean),
            "p99_decision_ms": (a["decision_ms"], b["decision_ms"], _p99),
        }
    differences = _bootstrap(pairs, scenario.seed, draws.requests, resamples)
    comparisons = {
        other: {
            metric: _summarize(a, b, statistic, differences[other][metric])
            for metric, (a, b, statistic) in metrics.items()
        }
        for other, metrics in pairs.items()
    }
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "requests": scenario.requests,
        "engine": result.summary["engine"],
        "baseline": baseline,
        "resamples": resamples,
        "confidence": 0.95,
        "comparisons": comparisons,
    }


Pair = tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]


def _bootstrap(
    pairs: dict[str, dict[str, Pair]], seed: int, n: int, resamples: int
) -> dict[str, dict[str, np.ndarray]]:
    """Resampled differences b - a for every pair and metric, one chunk of resamples at a
    time (chunk c from its own keyed stream), so memory stays bounded."""
    rows = max(1, _CHUNK_ELEMENTS // max(n, 1))
    found: dict[str, dict[str, list[np.ndarray]]] = {
        other: {metric: [] for metric in metrics} for other, metrics in pairs.items()
    }
    for c, start in enumerate(range(0, resamples, rows)):
        idx = stream(seed, Purpose.BOOTSTRAP, c).integers(0, n, (min(rows, resamples - start), n))
        for other, metrics in pairs.items():
            for metric, (a, b, statistic) in metrics.items():
                found[other][metric].append(_difference(statistic(b[idx]), statistic(a[idx])))
    return {
        other: {metric: np.concatenate(parts) for metric, parts in metrics.items()}
        for other, metrics in found.items()
    }


def _difference(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """b - a where both are finite, else NaN: a resample in which either p99 is infinite (over
    1% of its races found no quote) has no difference, rather than inf - inf."""
    return np.subtract(b, a, out=np.full_like(b, np.nan), where=np.isfinite(a) & np.isfinite(b))


def _summarize(
    a: np.ndarray,
    b: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    differences: np.ndarray,
) -> dict[str, Any]:
    """Both values, their difference and its interval (None where undefined: no data, or an
    infinite p99)."""
    value_a = float(statistic(a[np.newaxis, :])[0])
    value_b = float(statistic(b[np.newaxis, :])[0])
    usable = differences[np.isfinite(differences)]
    if usable.size == 0 or not (np.isfinite(value_a) and np.isfinite(value_b)):
        return {
            "baseline": _finite_or_none(value_a),
            "other": _finite_or_none(value_b),
            "difference": None,
            "ci95": None,
            "significant": False,
            "resamples_used": int(usable.size),
        }
    low, high = np.percentile(usable, [2.5, 97.5])
    return {
        "baseline": round(value_a, 6),
        "other": round(value_b, 6),
        "difference": round(value_b - value_a, 6),
        "ci95": [round(float(low), 6), round(float(high), 6)],
        "significant": bool(low > 0 or high < 0),
        "resamples_used": int(usable.size),
    }


def _finite_or_none(value: float) -> float | None:
    return round(value, 6) if np.isfinite(value) else None


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN (NaN for a row with nothing in it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice"
        return np.nanmean(values, axis=1)


def _p99(values: np.ndarray) -> np.ndarray:
    """Row 99th percentiles (inf when more than 1% of a row is inf: races with no quote)."""
    return np.percentile(values, 99, axis=1, method="higher")
