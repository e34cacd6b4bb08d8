"""The result tables of a run and of a comparison, as data: the console (sim.report.console)
and report.md (sim.report.markdown) render the same rows.

Every cell holds one number (or a name), and the title or the column says what it is. A run's
tables are built from the summary alone, so a saved summary.json rebuilds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.measure.histograms import LATENCY_KEYS


@dataclass(frozen=True)
class TableData:
    """A titled table of text cells. Its first `keys` columns name a row (the strategy, and
    what else tells its rows apart); the rest hold its figures, in runs of `groups` columns
    that belong together (kept side by side when a narrow console splits the table), or each
    alone."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    keys: int = 1
    groups: tuple[int, ...] = ()

    def column_groups(self) -> list[list[int]]:
        """The figure columns' indices, group by group."""
        sizes = self.groups or (1,) * (len(self.columns) - self.keys)
        starts = [self.keys + sum(sizes[:i]) for i in range(len(sizes))]
        return [list(range(start, start + size)) for start, size in zip(starts, sizes, strict=True)]


def result_tables(summary: dict[str, Any]) -> list[TableData]:
    """Decision latency, orders, costs and venue wins; then venue load and queue wait, the
    closed loop's corrected latency and the wall clock's timer overshoot and schedule lag when
    the run has them."""
    strategies = summary["strategies"]
    tables = [
        _latency(summary),
        _orders(strategies),
        _costs(strategies),
        _wins(strategies),
    ]
    first = next(iter(strategies.values()), {})
    if any(w is not None for w in first.get("venue_queue_wait_ms", {}).values()):
        tables += [_load(strategies), _queue_wait(strategies)]
    if "decision_ms_corrected" in first:
        tables.append(_omission(strategies))
    if "timer_overshoot_ms" in first:
        tables.append(_overshoot(strategies))
    if "schedule_lag_ms" in first:
        tables.append(_schedule_lag(strategies))
    return tables


def _latency(summary: dict[str, Any]) -> TableData:
    clock = ", wall clock" if summary.get("clock") == "real" else ""
    return TableData(
        f"{summary['scenario']}: decision latency (ms), {summary['requests']:,} requests, "
        f"seed {summary['seed']}, {summary['engine']} engine{clock}",
        ("strategy", *LATENCY_KEYS, "no quote", "venue req/decision"),
        tuple(
            (
                name,
                *(number(s["decision_ms"][k]) for k in LATENCY_KEYS),
                f"{s['no_quote']:,}",
                number(s["venue_requests_per_decision"], 2),
            )
            for name, s in summary["strategies"].items()
        ),
        groups=(len(LATENCY_KEYS), 2),
    )


def _orders(strategies: dict[str, Any]) -> TableData:
    reasons = ["expired", "price_moved", "no_liquidity"]
    if any(s["reject_rate"].get("venue_failed") for s in strategies.values()):
        reasons.append("venue_failed")  # network mode: a connection lost with orders out
    return TableData(
        "orders: requests filled, and orders sent that were rejected",
        (
            "strategy",
            "filled",
            *(reason.replace("_", " ") for reason in reasons),
            "fill ms p50",
            "fill ms p99",
            "venue req/fill",
        ),
        tuple(
            (
                name,
                percent(s["fill_rate"]),
                *(percent(s["reject_rate"][r]) for r in reasons),
                number(s["fill_ms"]["p50"]),
                number(s["fill_ms"]["p99"]),
                number(s["venue_requests_per_fill"], 2),
            )
            for name, s in strategies.items()
        ),
        groups=(1 + len(reasons), 3),
    )


def _costs(strategies: dict[str, Any]) -> TableData:
    statistics = ("mean", "p50", "p95")
    return TableData(
        "cost of fills (bps of the arrival mid, positive is worse for the client)",
        ("strategy", *(f"{c} {k}" for c in ("slippage", "shortfall") for k in statistics)),
        tuple(
            (
                name,
                *(number(s[c][k]) for c in ("slippage_bps", "shortfall_bps") for k in statistics),
            )
            for name, s in strategies.items()
        ),
        groups=(len(statistics), len(statistics)),
    )


def _wins(strategies: dict[str, Any]) -> TableData:
    venues = list(next(iter(strategies.values()))["venue_wins"]) if strategies else []
    rows = []
    for name, s in strategies.items():
        decided = sum(s["venue_wins"].values())
        rows.append((name, *(share(s["venue_wins"][v], decided) for v in venues)))
    return TableData("share of wins by venue", ("strategy", *venues), tuple(rows))


def _load(strategies: dict[str, Any]) -> TableData:
    venues = list(next(iter(strategies.values()))["venue_utilization"])
    rows = []
    for name, s in strategies.items():
        busy = s["venue_utilization"]
        wasted = s["venue_work_wasted"]
        rows.append(
            (
                name,
                f"{s['requests_per_s']:,.1f}",
                "-" if wasted is None else percent(wasted),
                *("-" if busy[v] is None else percent(busy[v]) for v in venues),
            )
        )
    return TableData(
        "venue load: requests/s, work wasted, and venue utilization (share of time busy)",
        ("strategy", "requests/s", "work wasted", *venues),
        tuple(rows),
        "work wasted: the share of service time spent on requests whose quote no decision used",
        groups=(2, *(1 for _ in venues)),
    )


def _queue_wait(strategies: dict[str, Any]) -> TableData:
    venues = list(next(iter(strategies.values()))["venue_queue_wait_ms"])
    return TableData(
        "venue queue wait: mean ms a request waited for a server, per venue",
        ("strategy", *venues),
        tuple(
            (name, *(number(s["venue_queue_wait_ms"][v]) for v in venues))
            for name, s in strategies.items()
        ),
    )


def _omission(strategies: dict[str, Any]) -> TableData:
    keys = ("p50", "p99", "p99.9", "max", "mean")
    return TableData(
        "closed loop: decision latency (ms) as measured, and corrected for coordinated omission",
        ("strategy", "latency", *keys, "interval ms"),
        tuple(
            (
                name,
                label,
                *(number(s[field][k]) for k in keys),
                number(s["expected_interval_ms"]),
            )
            for name, s in strategies.items()
            for label, field in (
                ("measured", "decision_ms"),
                ("corrected", "decision_ms_corrected"),
            )
        ),
        "interval ms: the interval the closed loop's clients expected between requests",
        keys=2,
        groups=(len(keys), 1),
    )


def _overshoot(strategies: dict[str, Any]) -> TableData:
    return TableData(
        "real clock: timer overshoot (ms, actual minus intended sleep)",
        ("strategy", *LATENCY_KEYS),
        tuple(
            (name, *(number(s["timer_overshoot_ms"][k]) for k in LATENCY_KEYS))
            for name, s in strategies.items()
        ),
        groups=(len(LATENCY_KEYS),),
    )


def _schedule_lag(strategies: dict[str, Any]) -> TableData:
    return TableData(
        "real clock: schedule lag (ms, how late requests started), and the rate held",
        ("strategy", *LATENCY_KEYS, "scheduled/s", "started/s"),
        tuple(
            (
                name,
                *(number(s["schedule_lag_ms"][k]) for k in LATENCY_KEYS),
                number(s["scheduled_rate_per_s"], 0),
                number(s["started_rate_per_s"], 0),
            )
            for name, s in strategies.items()
        ),
        ""
        if all(s["scheduled_rate_per_s"] is not None for s in strategies.values())
        else "a closed loop's schedule is its clients' own: it has no scheduled rate",
        groups=(len(LATENCY_KEYS), 2),
    )


def number(value: float | None, decimals: int = 3) -> str:
    """`value` with `decimals` decimals, or "-" for none."""
    return "-" if value is None else f"{value:.{decimals}f}"


def percent(rate: float) -> str:
    """A fraction as a percentage with one decimal."""
    return f"{100 * rate:.1f}%"


def share(count: int, total: int) -> str:
    """count / total as a percentage, or "-" when there is no total."""
    return "-" if total == 0 else f"{100 * count / total:.1f}%"
