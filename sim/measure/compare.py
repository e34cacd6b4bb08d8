"""Strategies compared with bootstrap 95% intervals: paired where requests match, else unpaired.

Every strategy of a run saw the same arrivals, venue latencies and market (common random
numbers), so request i is a matched pair across strategies; two runs with the same draws
(sim.model.fingerprint) pair the same way. A paired bootstrap resamples requests, the same
resample for both sides, keeping the pairing; an unpaired one resamples each side's requests
on its own. Either way each metric's difference is recomputed per resample; the 95% interval
is the 2.5th to 97.5th percentile of those differences, and a difference is significant when
the interval excludes zero. The two-sided bootstrap p-value is 2 min(#(d <= 0) + 1,
#(d >= 0) + 1) / (B + 1), capped at 1 (Davison and Hinkley, 1997, eq. 4.11), so it is never
below 2 / (B + 1). With `holm=True` the p-values of the whole comparison (every metric of
every strategy) are Holm-adjusted, and significant means an adjusted p below 0.05.

Metrics: mean slippage (paired: over the requests both sides filled, a difference of price
and not of which requests filled; unpaired: over each side's fills), fill rate over all
requests, and p99 decision latency over all requests, a race that found no quote counting as
infinitely slow (so a strategy cannot look faster by giving up).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engines.records import FILLED
from sim.measure.run import RunResult
from sim.model.streams import Purpose, stream

RESAMPLES = 1000
ALPHA = 0.05
CONFIDENCE = 1 - ALPHA
METRICS = ("mean_slippage_bps", "fill_rate", "p99_decision_ms")
_CHUNK_ELEMENTS = 2_000_000  # resampled indices held at once, to bound memory


@dataclass(frozen=True)
class Requests:
    """One strategy's requests as compared: slippage (bps, NaN unless filled), whether each
    filled (0 or 1) and its decision latency (ms, inf for a race with no quote)."""

    slippage_bps: np.ndarray
    filled: np.ndarray
    decision_ms: np.ndarray

    @classmethod
    def of(cls, slippage_bps: np.ndarray, outcome: np.ndarray, decision_ms: np.ndarray) -> Requests:
        """From per-request columns as a run's records or requests.csv hold them: slippage,
        outcome (an index into OUTCOMES) and decision latency in ms (NaN for no quote)."""
        decision_ms = np.asarray(decision_ms, dtype=float)
        return cls(
            np.asarray(slippage_bps, dtype=float),
            (np.asarray(outcome) == FILLED).astype(float),
            np.where(np.isnan(decision_ms), np.inf, decision_ms),
        )

    @property
    def size(self) -> int:
        """How many requests."""
        return self.filled.size


def _run_requests(result: RunResult) -> dict[str, Requests]:
    """Each strategy's requests of `result`, by name, from the columns requests.csv holds."""
    found = {}
    for name in result.strategies:
        c = result.columns(name)
        found[name] = Requests.of(c["slippage_bps"], c["outcome"], c["decision_ms"])
    return found


def compare(
    result: RunResult,
    resamples: int = RESAMPLES,
    baseline: str | None = None,
    holm: bool = False,
) -> dict[str, Any]:
    """Each strategy of `result` against `baseline` (default: the scenario's first), paired,
    with bootstrap 95% intervals and p-values (Holm-adjusted too with `holm`)."""
    requests = _run_requests(result)
    baseline = next(iter(requests)) if baseline is None else baseline
    if baseline not in requests:
        raise ValueError(f"no strategy {baseline!r} (strategies: {', '.join(requests)})")
    base = requests[baseline]
    pairs = {name: (base, r) for name, r in requests.items() if name != baseline}
    scenario = result.scenario
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "requests": scenario.requests,
        "engine": result.summary["engine"],
        "baseline": baseline,
        "pairing": "paired",
        "pairing_reason": "one run: its strategies share its draws",
        **_settings(resamples, holm),
        "comparisons": _comparisons(pairs, scenario.seed, resamples, paired=True, holm=holm),
    }


@dataclass(frozen=True)
class SavedRun:
    """A run as its results folder holds it: the folder as named, its summary, each
    strategy's requests and the requests' sides (+1 buy, -1 sell)."""

    folder: str
    summary: dict[str, Any]
    requests: dict[str, Requests]
    side: np.ndarray


def compare_saved(
    a: SavedRun, b: SavedRun, resamples: int = RESAMPLES, holm: bool = False
) -> dict[str, Any]:
    """Each strategy of `b` against the one of the same name in `a`: paired when the two runs
    had the same draws (`pairing`), unpaired otherwise; the bootstrap keyed by a's seed."""
    paired, reason = pairing(a, b)
    pairs = {name: (r, b.requests[name]) for name, r in a.requests.items() if name in b.requests}
    return {
        "folders": {"a": _about(a, b), "b": _about(b, a)},
        "pairing": "paired" if paired else "unpaired",
        "pairing_reason": reason,
        **_settings(resamples, holm),
        "comparisons": _comparisons(pairs, a.summary["seed"], resamples, paired=paired, holm=holm),
    }


def pairing(a: SavedRun, b: SavedRun) -> tuple[bool, str]:
    """Whether request i of `a` and of `b` saw the same draws, and why: their summaries name
    the same draws (`draws`, sim.model.fingerprint), and the requests' sides agree."""
    for run in (a, b):
        if not isinstance(run.summary.get("draws"), str):
            return False, f"{run.folder}'s summary.json does not name its draws (an older run)"
    if a.summary["draws"] != b.summary["draws"]:
        return False, "different draws (" + _different(a.summary, b.summary) + ")"
    if not np.array_equal(a.side, b.side):
        return False, "the summaries name the same draws, but the requests' sides differ"
    return True, (
        f"the same draws ({a.summary['draws']}): request i saw the same arrivals, latencies and "
        "market in both"
    )


def _different(a: dict[str, Any], b: dict[str, Any]) -> str:
    """What differs between two runs' draws, as far as their summaries tell."""
    found = [
        f"{what} {a.get(key)} and {b.get(key)}"
        for key, what in (("seed", "seeds"), ("requests", "requests"))
        if a.get(key) != b.get(key)
    ]
    return ", ".join(found) or "the scenarios' arrivals, venues, market or order differ"


def _about(run: SavedRun, other: SavedRun) -> dict[str, Any]:
    """Which run `run` was, and its strategies that `other` lacks."""
    s = run.summary
    return {
        "folder": run.folder,
        **{key: s.get(key) for key in ("scenario", "seed", "requests", "engine", "draws")},
        "only_here": [name for name in run.requests if name not in other.requests],
    }


def _settings(resamples: int, holm: bool) -> dict[str, Any]:
    """The keys every comparison has that say how it was made."""
    correction = "holm" if holm else None
    return {"resamples": resamples, "confidence": CONFIDENCE, "correction": correction}


def _comparisons(
    pairs: dict[str, tuple[Requests, Requests]],
    seed: int,
    resamples: int,
    *,
    paired: bool,
    holm: bool = False,
) -> dict[str, dict[str, dict[str, Any]]]:
    """For each labelled pair (a, b), every metric of b against a: both values, the
    difference b - a, its interval, p-value and whether it is significant. `paired`: a and b
    are the same requests (the same count, request i of each saw the same draws). The
    bootstrap's resamples come from streams keyed by `seed`."""
    found = {}
    for label, (a, b) in pairs.items():
        metrics = _metrics(a, b, paired)
        differences = _bootstrap(metrics, (a.size, b.size), seed, resamples, paired)
        found[label] = {
            metric: _summarize(x, y, statistic, differences[metric])
            for metric, (x, y, statistic) in metrics.items()
        }
    if holm:
        _adjust(found)
    return found


Pair = tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]


def _metrics(a: Requests, b: Requests, paired: bool) -> dict[str, Pair]:
    """Each metric's values of a and b, and the statistic that makes it of a row of them."""
    if paired:
        both = ~np.isnan(a.slippage_bps) & ~np.isnan(b.slippage_bps)
        slippage = np.where(both, a.slippage_bps, np.nan), np.where(both, b.slippage_bps, np.nan)
    else:
        slippage = a.slippage_bps, b.slippage_bps
    return {
        "mean_slippage_bps": (*slippage, _nanmean),
        "fill_rate": (a.filled, b.filled, _nanmean),
        "p99_decision_ms": (a.decision_ms, b.decision_ms, _p99),
    }


def _bootstrap(
    metrics: dict[str, Pair], sizes: tuple[int, int], seed: int, resamples: int, paired: bool
) -> dict[str, np.ndarray]:
    """Resampled differences b - a of every metric, one chunk of resamples at a time (chunk c
    from its own keyed streams), so memory stays bounded. Paired: one resample of the requests
    for both; unpaired: each side's own, from streams of their own."""
    n_a, n_b = sizes
    if paired and n_a != n_b:
        raise ValueError(f"paired samples differ in size ({n_a} and {n_b})")
    rows = max(1, _CHUNK_ELEMENTS // max(n_a, n_b, 1))
    found: dict[str, list[np.ndarray]] = {metric: [] for metric in metrics}
    for c, start in enumerate(range(0, resamples, rows)):
        shape = min(rows, resamples - start)
        if paired:
            idx_a = idx_b = stream(seed, Purpose.BOOTSTRAP, c).integers(0, n_a, (shape, n_a))
        else:
            idx_a = stream(seed, Purpose.BOOTSTRAP, c, 0).integers(0, n_a, (shape, n_a))
            idx_b = stream(seed, Purpose.BOOTSTRAP, c, 1).integers(0, n_b, (shape, n_b))
        for metric, (a, b, statistic) in metrics.items():
            found[metric].append(_difference(statistic(b[idx_b]), statistic(a[idx_a])))
    return {metric: np.concatenate(parts) for metric, parts in found.items()}


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
    """Both values, their difference, its interval and p-value (None where undefined: no
    data, or an infinite p99)."""
    value_a = float(statistic(a[np.newaxis, :])[0])
    value_b = float(statistic(b[np.newaxis, :])[0])
    usable = differences[np.isfinite(differences)]
    if usable.size == 0 or not (np.isfinite(value_a) and np.isfinite(value_b)):
        return {
            "baseline": _finite_or_none(value_a),
            "other": _finite_or_none(value_b),
            "difference": None,
            "ci95": None,
            "p_value": None,
            "significant": False,
            "resamples_used": int(usable.size),
        }
    low, high = np.percentile(usable, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return {
        "baseline": round(value_a, 6),
        "other": round(value_b, 6),
        "difference": round(value_b - value_a, 6),
        "ci95": [round(float(low), 6), round(float(high), 6)],
        "p_value": round(bootstrap_p_value(usable), 6),
        "significant": bool(low > 0 or high < 0),
        "resamples_used": int(usable.size),
    }


def bootstrap_p_value(differences: np.ndarray) -> float:
    """The two-sided p-value of "no difference" from resampled differences:
    2 min(#(d <= 0) + 1, #(d >= 0) + 1) / (B + 1), at most 1."""
    below = int(np.count_nonzero(differences <= 0))
    above = int(np.count_nonzero(differences >= 0))
    return min(1.0, 2 * (min(below, above) + 1) / (differences.size + 1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (Holm, 1979), in the order given: the i-th smallest of m
    p-values becomes max over j <= i of (m - j + 1) p_(j), capped at 1. Rejecting where the
    adjusted p is below alpha keeps the chance of any false rejection at most alpha."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def holm_resamples(tests: int) -> int:
    """The fewest resamples with which Holm over `tests` p-values can reject anything: the
    smallest adjusted p is tests * 2 / (B + 1), which must be below ALPHA."""
    return math.floor(2 * tests / ALPHA)


def _adjust(found: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Add every defined p-value's Holm adjustment over all of them (`p_holm`), and make
    `significant` mean an adjusted p below ALPHA."""
    tested = [m for metrics in found.values() for m in metrics.values()]
    defined = [m for m in tested if m["p_value"] is not None]
    for m, adjusted in zip(defined, holm([m["p_value"] for m in defined]), strict=True):
        m["p_holm"] = round(adjusted, 6)
        m["significant"] = adjusted < ALPHA
    for m in tested:
        m.setdefault("p_holm", None)


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
