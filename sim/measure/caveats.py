"""Warnings: when a wall-clock run's numbers measure little but the run itself.

In virtual time the numbers are what the scenario's venues and strategies make them. On the
wall clock (`clock = "real"`, and network mode) the client's own event loop, the machine's
load and the venues' connections take part, and a run can finish with numbers that mean
nothing: requests started so late that their races timed out for the client's sake, races
that (nearly) all ended with no quote, venues that failed. Such a run says so: the summary's
`warnings` list, one entry per finding, each printed on stderr by `quoterace run`.

The thresholds, and why:

- Schedule lag (open loop): an open loop's race counts its timeout from the scheduled arrival
  (sim.measure.lag), so a request that starts `lag` late keeps only `timeout - lag` of its
  window. When the p99 lag is over LAG_SHARE of the strategy's timeout, one race in a hundred
  lost more than a tenth of its window, and the tail the summary reports (the p99 decision,
  the no-quote count) is as much the client's loop as the venues'. Also when the starts held
  under HELD_SHARE of the scheduled rate: the loop fell behind for good (this also covers a
  strategy without a `timeout_ms`). A closed loop's races count from the send: its lag slows
  its clients, which its `requests_per_s` shows, and is not warned of.
- No quote: NO_QUOTE_SHARE of the races or more ended with no quote; latencies then describe a
  survivor tenth of the requests at most.
- A failed venue (network mode): each one, with the reason its connection gave.
"""

from __future__ import annotations

from typing import Any

from sim.model.scenario import Scenario

LAG_SHARE = 0.1  # of a strategy's timeout, at the p99 of the schedule lag
HELD_SHARE = 0.9  # of the scheduled rate, for the rate of starts
NO_QUOTE_SHARE = 0.9  # of the requests: "nearly every race"


def caveats(scenario: Scenario, strategies: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """The warnings of a wall-clock run, from its strategies' summaries (`strategies`, by
    name, in the scenario's order): each a dict of `strategy`, `kind` (`schedule_lag`,
    `no_quote` or `venue_failed`) and `message`, one line naming the strategy."""
    found = []
    for entry in scenario.strategies:
        s = strategies[entry.name]
        timeout_ms = getattr(entry.strategy, "timeout_ms", None)
        lag = _lag(s, timeout_ms)
        if lag is not None:
            found.append(_warning(entry.name, "schedule_lag", lag))
        if s["no_quote"] >= NO_QUOTE_SHARE * scenario.requests:
            found.append(
                _warning(
                    entry.name,
                    "no_quote",
                    f"{s['no_quote']:,} of {scenario.requests:,} races ended with no quote",
                )
            )
        for venue, reason in (s.get("venue_failures") or {}).items():
            if reason is not None:
                found.append(
                    _warning(entry.name, "venue_failed", f"venue {venue} failed: {reason}")
                )
    return found


def _lag(s: dict[str, Any], timeout_ms: float | None) -> str | None:
    """What to say of a strategy's schedule lag, or None when it kept its schedule."""
    lag, scheduled, held = (
        s.get(k) for k in ("schedule_lag_ms", "scheduled_rate_per_s", "started_rate_per_s")
    )
    if lag is None or scheduled is None or lag["p99"] is None:
        return None  # virtual time, or a closed loop
    late = timeout_ms is not None and lag["p99"] > LAG_SHARE * timeout_ms
    behind = held is not None and held < HELD_SHARE * scheduled
    if not (late or behind):
        return None
    if timeout_ms is None:
        against = "no timeout"
    else:
        against = f"{'over' if late else 'under'} {LAG_SHARE:.0%} of its {timeout_ms:g} ms timeout"
    return (
        f"started requests late: schedule lag p99 {_ms(lag['p99'])} ms ({against}); held "
        f"{_per_s(held)} requests/s of the {_per_s(scheduled)} scheduled"
    )


def _ms(value: float) -> str:
    """Three significant digits, without an exponent."""
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def _per_s(rate: float | None) -> str:
    return "?" if rate is None else f"{rate:,.0f}"


def _warning(strategy: str, kind: str, what: str) -> dict[str, str]:
    return {"strategy": strategy, "kind": kind, "message": f"{strategy}: {what}"}
