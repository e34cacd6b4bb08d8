"""`quoterace bench`'s network figures: network mode against the in-process run of the same
draws, a bare trio TCP ping-pong over loopback as the floor, and the highest rate network mode
holds.

The default scenario's five venues, at RATE_PER_S, race in process and over TCP with servers
started on 127.0.0.1 that apply the drawn latencies: what the network mode adds is the
difference, per strategy, at p50 and p99 of decision latency. The ping-pong is the least any
round trip can cost here: one trio process echoing 64 bytes to another, no FIX, no timers.
Back to back, both processes stay awake; a run's round trips come one every few milliseconds
and each wakes an idle process, which costs more: the ping-pong at RATE_PER_S's spacing is
reported beside it, but the floor `holds` uses is the back-to-back one.

Then the rate steps up through RATES_PER_S, racing in process on the wall clock (the same
timers, the same lateness) and over TCP at each, until a rate no longer holds (see `holds`):
`max_rate_per_s` is the highest that did, None if not even the first.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trio

from sim.measure.caveats import HELD_SHARE, NO_QUOTE_SHARE
from sim.measure.run import run
from sim.model.arrivals import Arrivals
from sim.model.scenario import Scenario, bundled_dir, load
from sim.network.run import Network
from venues.wall_clock import precise_timers

RATE_PER_S = 200.0
RATES_PER_S = (200, 500, 1000, 2000, 4000)
PINGS = 2000
SPACED_PINGS = 400  # at RATE_PER_S's spacing, beside the back-to-back ones (not in `holds`)
NO_QUOTE_POINTS = 1.0  # how many more requests in 100 may go without a quote over TCP
P50_SLACK_MS = 1.0  # how much later than in process + the ping-pong first_wins may decide

_ECHO = """
import sys, trio
async def echo(stream):
    async for data in stream:
        await stream.send_all(data)
async def main():
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, echo, 0)
        print(listeners[0].socket.getsockname()[1], flush=True)
        await trio.sleep_forever()
trio.run(main)
"""


def network_figures(requests: int, rates: tuple[float, ...] = RATES_PER_S) -> dict[str, Any]:
    """Decision latency p50 and p99 (ms) in process and over TCP, per strategy: with the
    default timers (precise where that costs nothing), with epoll's, and with servers applying
    only the venue's own time (the network being loopback alone); the ping-pong's round trip
    (us); and each of `rates` in turn, in process on the wall clock against over TCP, up to
    the first that does not hold."""
    source = bundled_dir() / "default.toml"
    ping = _ping_pong(PINGS)
    steps = _steps(source, requests, rates, ping["p50"] * 1e-6)
    scenario = _at_rate(source, requests, RATE_PER_S)
    virtual = run(scenario).summary["strategies"]
    modes = {
        "default": Network(source=source),
        "epoll": Network(source=source, timers="epoll"),
        "latency_real": Network(source=source, latency="real"),
    }
    over_tcp = {mode: run(scenario, network=n).summary["strategies"] for mode, n in modes.items()}
    strategies = {}
    for name, here in virtual.items():
        there = {mode: summary[name] for mode, summary in over_tcp.items()}
        strategies[name] = {
            "in_process_ms": _p50_p99(here),
            **{f"over_tcp_{mode}_ms": _p50_p99(s) for mode, s in there.items()},
            "added_p50_ms": _added(
                there["default"]["decision_ms"]["p50"], here["decision_ms"]["p50"]
            ),
            "fill_rate": {
                "in_process": here["fill_rate"],
                "over_tcp": there["default"]["fill_rate"],
            },
            "venue_failures": sum(
                f is not None for s in there.values() for f in s["venue_failures"].values()
            ),
        }
    return {
        "what": f"default scenario's venues at {RATE_PER_S:g} requests/s, in process and over "
        f"TCP (servers on 127.0.0.1 applying the drawn latencies with the default timers "
        f"({precise_timers()} here) or epoll's, or only the venue's own time), and a bare trio "
        "TCP ping-pong; then rising rates, in process on the wall clock against over TCP, up "
        "to the first that does not hold: no "
        f"quote within {NO_QUOTE_POINTS:g} point of in process for each strategy, first_wins "
        f"p50 within {P50_SLACK_MS:g} ms of in process plus the ping-pong",
        "requests": requests,
        "rate_per_s": RATE_PER_S,
        "strategies": strategies,
        "ping_pong_us": ping,
        "ping_pong_spaced_us": _ping_pong(SPACED_PINGS, 1.0 / RATE_PER_S),
        "rates": steps,
        "max_rate_per_s": max(
            (step["rate_per_s"] for step in steps if step["fails"] is None), default=None
        ),
    }


def holds(
    in_process: dict[str, Any], over_tcp: dict[str, Any], requests: int, ping_s: float
) -> str | None:
    """Why network mode does not hold against in process at one rate, or None if it does:
    every strategy within NO_QUOTE_POINTS of in process's share of the `requests` without a
    quote, and first_wins' p50 within P50_SLACK_MS of in process's plus the ping-pong's
    `ping_s`. Each figure is {strategy: {"p50_ms": ..., "no_quote": ..., "behind": ...}}, as
    a step records them; a run that decided nothing does not hold, nor one that fell behind its
    schedule (in process too: two runs that both collapse would agree, and mean nothing)."""
    for where, figures in (("in process", in_process), ("over TCP", over_tcp)):
        for name, figure in figures.items():
            if figure.get("behind"):
                return f"{name}: {where} fell behind (its starts, or nearly every race no quote)"
    for name, local in in_process.items():
        points = 100.0 * (over_tcp[name]["no_quote"] - local["no_quote"]) / requests
        if points > NO_QUOTE_POINTS:
            return f"{name}: {points:.1f} points more requests without a quote"
    if "first_wins" not in in_process:
        return None
    local, remote = in_process["first_wins"]["p50_ms"], over_tcp["first_wins"]["p50_ms"]
    if local is None or remote is None:
        return "first_wins: no race decided"
    bound = local + ping_s * 1e3 + P50_SLACK_MS
    if remote > bound:
        return f"first_wins: p50 {remote:.2f} ms, more than {bound:.2f} ms"
    return None


def _steps(
    source: Path, requests: int, rates: tuple[float, ...], ping_s: float
) -> list[dict[str, Any]]:
    """Each of `rates` in turn (see `_step`), up to the first that does not hold."""
    steps = []
    for rate in rates:
        steps.append(_step(source, requests, rate, ping_s))
        if steps[-1]["fails"] is not None:
            break
    return steps


def _step(source: Path, requests: int, rate: float, ping_s: float) -> dict[str, Any]:
    """One rate: in process on the wall clock and over TCP, and why it does not hold (None:
    it holds)."""
    scenario = _at_rate(source, requests, rate)
    here = _figures(run(scenario.with_overrides(clock="real")).summary)
    there = _figures(run(scenario, network=Network(source=source)).summary)
    return {
        "rate_per_s": rate,
        "in_process": here,
        "over_tcp": there,
        "fails": holds(here, there, requests, ping_s),
    }


def _figures(summary: dict[str, Any]) -> dict[str, Any]:
    """What a step keeps of each strategy: decision p50, requests without a quote, and whether
    the run fell behind (sim.measure.caveats' thresholds: it started under HELD_SHARE of the
    scheduled rate, or nearly every race had no quote; a p99 lag over a tenth of the timeout,
    which epoll's whole-millisecond timers give best_price's 10 ms alone, is not enough)."""
    requests = summary["requests"]
    return {
        name: {
            "p50_ms": s["decision_ms"]["p50"],
            "no_quote": s["no_quote"],
            "behind": s["no_quote"] >= NO_QUOTE_SHARE * requests
            or (s.get("started_rate_per_s") or math.inf)
            < HELD_SHARE * (s.get("scheduled_rate_per_s") or 0.0),
        }
        for name, s in summary["strategies"].items()
    }


def _at_rate(source: Path, requests: int, rate: float) -> Scenario:
    """The scenario at `source`, `requests` of them arriving at `rate` (Poisson)."""
    scenario = load(source).with_overrides(requests=requests)
    return dataclasses.replace(scenario, arrivals=Arrivals("poisson", rate))


def _added(over_tcp: float | None, in_process: float | None) -> float | None:
    """How much later over TCP, in ms; None when a run decided no race (every one timed out:
    a loaded machine), which the printed line says rather than a number."""
    return None if over_tcp is None or in_process is None else round(over_tcp - in_process, 3)


def _p50_p99(summary: dict[str, Any]) -> dict[str, float]:
    return {"p50": summary["decision_ms"]["p50"], "p99": summary["decision_ms"]["p99"]}


def _ping_pong(pings: int, spacing_s: float = 0.0) -> dict[str, float]:
    """Round trips of 64 bytes to a trio echo server in another process, in microseconds:
    back to back, or one every `spacing_s` (as a run's requests come, each side idle between)."""
    server = subprocess.Popen([sys.executable, "-c", _ECHO], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())

        async def main() -> list[float]:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            times = []
            async with stream:
                for _ in range(pings):
                    await trio.sleep(spacing_s)
                    start = time.perf_counter()
                    await stream.send_all(b"x" * 64)
                    received = 0
                    while received < 64:
                        received += len(await stream.receive_some(64))
                    times.append((time.perf_counter() - start) * 1e6)
            return times

        times = sorted(trio.run(main))
    finally:
        server.kill()
        server.wait()
        server.stdout.close()
    return {
        "p50": round(statistics.median(times), 1),
        "p99": round(times[int(0.99 * (len(times) - 1))], 1),
        "pings": pings,
        **({"spacing_ms": spacing_s * 1e3} if spacing_s else {}),
    }
