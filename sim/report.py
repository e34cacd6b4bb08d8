"""The console comparison table, and the files a run leaves in an output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sim.metrics import LATENCY_KEYS, write_percentiles
from sim.output import summary_json, write_atomic
from sim.runner import RunResult


def comparison_tables(summary: dict[str, Any]) -> list[Table]:
    """Decision latency per strategy, fill quality, then each venue's share of the wins."""
    strategies = summary["strategies"]
    latency = Table(
        title=f"{summary['scenario']}: decision latency (ms), {summary['requests']:,} requests, "
        f"seed {summary['seed']}, {summary['engine']} engine"
        + (", wall clock" if summary.get("clock") == "real" else ""),
        title_justify="left",
    )
    latency.add_column("strategy", no_wrap=True)
    for key in LATENCY_KEYS:
        latency.add_column(key, justify="right")
    latency.add_column("no quote", justify="right")
    latency.add_column("venue req/decision", justify="right")
    for name, s in strategies.items():
        cells = [_number(s["decision_ms"][key]) for key in LATENCY_KEYS]
        per_decision = s["venue_requests_per_decision"]
        latency.add_row(
            name,
            *cells,
            f"{s['no_quote']:,}",
            "-" if per_decision is None else f"{per_decision:.2f}",
        )

    wins = Table(title="share of wins by venue", title_justify="left")
    wins.add_column("strategy", no_wrap=True)
    venues = list(next(iter(strategies.values()))["venue_wins"]) if strategies else []
    for venue in venues:
        wins.add_column(venue, justify="right")
    for name, s in strategies.items():
        decided = sum(s["venue_wins"].values())
        shares = [_share(s["venue_wins"][v], decided) for v in venues]
        wins.add_row(name, *shares)
    tables = [latency, _fill_table(strategies), _cost_table(strategies), wins]
    first = next(iter(strategies.values()), {})
    if any(w is not None for w in first.get("venue_queue_wait_ms", {}).values()):
        tables.append(_load_table(strategies))
    if "decision_ms_corrected" in first:
        tables.append(_omission_table(strategies))
    if "timer_overshoot_ms" in first:
        tables.append(_overshoot_table(strategies))
    return tables


def _load_table(strategies: dict[str, Any]) -> Table:
    """What scattering did to the venues: utilization, queue wait and wasted work."""
    table = Table(
        title="venue load: utilization and mean queue wait (ms) per venue; share of service "
        "time wasted on answers nobody used",
        title_justify="left",
    )
    table.add_column("strategy", no_wrap=True)
    table.add_column("requests/s", justify="right")
    table.add_column("work wasted", justify="right")
    venues = list(next(iter(strategies.values()))["venue_queue_wait_ms"])
    for venue in venues:
        table.add_column(venue, justify="right")
    for name, s in strategies.items():
        cells = []
        for venue in venues:
            utilization, wait = s["venue_utilization"][venue], s["venue_queue_wait_ms"][venue]
            load = "" if utilization is None else f"{_percent(utilization)} "
            cells.append("-" if wait is None else f"{load}{wait:.3f}")
        wasted = s["venue_work_wasted"]
        table.add_row(
            name,
            f"{s['requests_per_s']:,.1f}",
            "-" if wasted is None else _percent(wasted),
            *cells,
        )
    return table


def _omission_table(strategies: dict[str, Any]) -> Table:
    """A closed loop's decision latency as measured and corrected for coordinated omission."""
    table = Table(
        title="closed loop: decision latency (ms) as measured, and corrected for coordinated "
        "omission",
        title_justify="left",
    )
    table.add_column("strategy", no_wrap=True)
    table.add_column("interval ms", justify="right")
    keys = ("p50", "p99", "p99.9", "mean")
    for key in keys:
        table.add_column(f"{key} measured", justify="right")
        table.add_column(f"{key} corrected", justify="right")
    for name, s in strategies.items():
        raw, corrected = s["decision_ms"], s["decision_ms_corrected"]
        cells = [_number(d[k]) for k in keys for d in (raw, corrected)]
        table.add_row(name, _number(s["expected_interval_ms"]), *cells)
    return table


def _overshoot_table(strategies: dict[str, Any]) -> Table:
    """On the wall clock: how late timers woke."""
    table = Table(
        title="real clock: timer overshoot (ms, actual minus intended sleep)", title_justify="left"
    )
    table.add_column("strategy", no_wrap=True)
    for key in LATENCY_KEYS:
        table.add_column(key, justify="right")
    for name, s in strategies.items():
        table.add_row(name, *(_number(s["timer_overshoot_ms"][k]) for k in LATENCY_KEYS))
    return table


def _fill_table(strategies: dict[str, Any]) -> Table:
    """How often each strategy filled, why it did not, and how long fills took."""
    table = Table(
        title="orders: requests filled, and orders sent that were rejected", title_justify="left"
    )
    table.add_column("strategy", no_wrap=True)
    for column in (
        "filled",
        "expired",
        "price moved",
        "no liquidity",
        "fill ms p50",
        "fill ms p99",
    ):
        table.add_column(column, justify="right")
    table.add_column("venue req/fill", justify="right")
    for name, s in strategies.items():
        rejects = [
            _percent(s["reject_rate"][r]) for r in ("expired", "price_moved", "no_liquidity")
        ]
        per_fill = s["venue_requests_per_fill"]
        table.add_row(
            name,
            _percent(s["fill_rate"]),
            *rejects,
            _number(s["fill_ms"]["p50"]),
            _number(s["fill_ms"]["p99"]),
            "-" if per_fill is None else f"{per_fill:.2f}",
        )
    return table


def _cost_table(strategies: dict[str, Any]) -> Table:
    """What fills cost: slippage against the arrival mid, shortfall against the oracle."""
    table = Table(
        title="cost of fills (bps of the arrival mid, positive is worse for the client)",
        title_justify="left",
    )
    table.add_column("strategy", no_wrap=True)
    for cost in ("slippage", "shortfall"):
        for statistic in ("mean", "p50", "p95"):
            table.add_column(f"{cost} {statistic}", justify="right")
    for name, s in strategies.items():
        costs = (s["slippage_bps"], s["shortfall_bps"])
        table.add_row(name, *(_number(cost[k]) for cost in costs for k in ("mean", "p50", "p95")))
    return table


def comparison_table(comparison: dict[str, Any]) -> Table:
    """Paired differences against the baseline strategy, with 95% intervals."""
    table = Table(
        title=f"{comparison['scenario']}: paired differences against "
        f"{comparison['baseline']} ({comparison['requests']:,} requests, bootstrap of "
        f"{comparison['resamples']:,} resamples)",
        title_justify="left",
        caption="slippage over the requests both filled; a race with no quote counts as "
        "infinitely slow in the p99",
        caption_justify="left",
    )
    for column in ("strategy", "metric", "baseline", "strategy value", "difference", "95% CI"):
        table.add_column(column, justify="left" if column in ("strategy", "metric") else "right")
    table.add_column("significant")
    labels = {
        "mean_slippage_bps": ("mean slippage (bps)", "{:.3f}"),
        "fill_rate": ("fill rate", "{:.2%}"),
        "p99_decision_ms": ("p99 decision (ms)", "{:.3f}"),
    }
    for name, metrics in comparison["comparisons"].items():
        for key, m in metrics.items():
            label, form = labels[key]
            if m["difference"] is None:
                values = [
                    form.format(v) if v is not None else "-" for v in (m["baseline"], m["other"])
                ]
                table.add_row(name, label, *values, "-", "-", "undefined")
                continue
            low, high = m["ci95"]
            table.add_row(
                name,
                label,
                form.format(m["baseline"]),
                form.format(m["other"]),
                form.format(m["difference"]),
                f"[{form.format(low)}, {form.format(high)}]",
                "yes" if m["significant"] else "no",
            )
    return table


def print_tables(summary: dict[str, Any], console: Console | None = None) -> None:
    """Print the comparison tables to the console (stdout)."""
    console = console or Console()
    for table in comparison_tables(summary):
        console.print(table)


def write_outputs(result: RunResult, out: Path) -> list[Path]:
    """Write summary.json and one `<strategy>.hgrm` per strategy into `out`; return the paths."""
    written = []
    for name, strategy in result.strategies.items():
        path = out / f"{name}.hgrm"
        write_atomic(path, lambda f, h=strategy.decision_histogram: write_percentiles(h, f))
        written.append(path)
    summary_path = out / "summary.json"
    write_atomic(summary_path, lambda f: f.write(summary_json(result.summary)))
    written.append(summary_path)
    return written


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _percent(rate: float) -> str:
    return f"{100 * rate:.1f}%"


def _share(count: int, total: int) -> str:
    return "-" if total == 0 else f"{100 * count / total:.1f}%"
