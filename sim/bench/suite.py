"""`quoterace bench`: the trio engine against a bare trio skeleton, side by side, and the fast
engine's rate.

The trio engine and the skeleton race the same draws of the default scenario (5 venues) with
the same spawns, sleeps and cancels, and an order's round trip; the engine adds quotes,
strategies, the market, last look and records. Machines here are shared and noisy, so rounds
alternate engine and skeleton and the figure that counts is the median of each round's ratio
(engine rate / skeleton rate), measured seconds apart in one process. The fast engine decides
a million requests of the same scenario, both strategies, decision and fill histograms
included (the draws are made before the clock starts, as for the trio engine): requests per
second, the median of the rounds, against FAST_TARGET. Memory: the peak resident size of
`sim.summary` on the default scenario (what `quoterace run` does without --out), each count of
requests in a fresh process, beside a process that only imports quoterace. Network mode:
sim.bench.network.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sim.bench.end_to_end import TRIO_REQUESTS as E2E_TRIO_REQUESTS
from sim.bench.end_to_end import end_to_end_figures
from sim.bench.network import RATES_PER_S, network_figures
from sim.bench.skeleton import run_skeleton
from sim.engines.fast import Prepared
from sim.engines.trio import run_trio
from sim.measure.histograms import latency_histogram
from sim.measure.run import fast_records
from sim.model.draws import draw
from sim.model.scenario import load
from sim.report.atomic import write_atomic
from strategies.best_price import BestPrice
from strategies.first_wins import FirstWins

TARGET_RATIO = 0.8
FAST_REQUESTS = 1_000_000
FAST_TARGET = 1_000_000  # requests per second
MEMORY_REQUESTS = (1_000_000, 10_000_000)
NETWORK_REQUESTS = 1000


def bench(
    *,
    requests: int,
    rounds: int,
    out: Path | None,
    fast_requests: int = FAST_REQUESTS,
    memory_requests: tuple[int, ...] = MEMORY_REQUESTS,
    network_requests: int = NETWORK_REQUESTS,
    network_rates: tuple[float, ...] = RATES_PER_S,
    network: bool = True,
    end_to_end_requests: tuple[int | None, int] = (None, E2E_TRIO_REQUESTS),
    end_to_end_scenarios: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Measure, print a table, write `out` (JSON) atomically, and return the figures (without
    `network`, network mode's are None: not measured). `end_to_end_requests`: the fast
    (None: sim.bench.end_to_end's defaults) and the trio engine's requests per whole process, on
    `end_to_end_scenarios` (default: every bundled one and the sparse market)."""
    load_before = os.getloadavg()
    scenario = load("default").with_overrides(requests=requests)
    draws = draw(scenario)
    world = {
        "venues": scenario.venues,
        "mid": scenario.mid_path(),
        "order_size": scenario.order.size,
    }
    figures: dict[str, Any] = {}
    for entry in scenario.strategies:
        strategy = entry.strategy
        if not isinstance(strategy, FirstWins | BestPrice):
            continue
        first = isinstance(strategy, FirstWins)
        timeout_s = strategy.timeout_ms * 1e-3
        engine, skeleton = [], []
        for _ in range(rounds):
            engine.append(requests / _seconds(lambda s=strategy: run_trio(draws, s, **world)))
            skeleton.append(
                requests
                / _seconds(lambda f=first, t=timeout_s: run_skeleton(draws, first=f, timeout_s=t))
            )
        ratios = [e / s for e, s in zip(engine, skeleton, strict=True)]
        figures[entry.name] = {
            "engine_races_per_s": round(statistics.median(engine)),
            "skeleton_races_per_s": round(statistics.median(skeleton)),
            "ratio": round(statistics.median(ratios), 3),
            "ratios": [round(r, 3) for r in ratios],
        }
    fast = _fast(fast_requests, rounds)
    result = {
        "benchmark": "trio engine vs bare trio skeleton; fast engine requests per second",
        "scenario": scenario.name,
        "venues": len(scenario.venues),
        "requests": requests,
        "rounds": rounds,
        "target_ratio": TARGET_RATIO,
        "strategies": figures,
        "fast_engine": fast,
        "end_to_end": end_to_end_figures(end_to_end_scenarios, *end_to_end_requests),
        "memory": _memory(memory_requests),
        "network": network_figures(network_requests, network_rates) if network else None,
        "python": platform.python_version(),
        **{package: version(package) for package in ("trio", "numpy", "hdrhistogram")},
        "machine": platform.machine(),
        "cpu": _cpu(),
        "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    _print(result)
    if out is not None:
        write_atomic(out, lambda f: f.write(json.dumps(result, indent=2) + "\n"))
    return result


def _fast(requests: int, rounds: int) -> dict[str, Any]:
    """The fast engine's rate on the default scenario: both strategies and their histograms."""
    scenario = load("default").with_overrides(requests=requests)
    draws = draw(scenario)
    mid = scenario.mid_path()

    def both() -> None:
        prepared = Prepared(draws, mid, scenario.venues)
        for entry in scenario.strategies:
            records = fast_records(scenario, entry, draws, mid, prepared)
            latency_histogram(records.decision_s)
            latency_histogram(records.fill_s)

    both()  # the market path is made on first use: not part of the rate
    rates = [requests / _seconds(both) for _ in range(rounds)]
    return {
        "requests": requests,
        "strategies": [entry.name for entry in scenario.strategies],
        "requests_per_s": round(statistics.median(rates)),
        "rates": [round(r) for r in rates],
        "target_requests_per_s": FAST_TARGET,
    }


def _memory(counts: tuple[int, ...]) -> dict[str, Any]:
    """Peak resident MB of `sim.summary("default")` for each count of requests, and of a
    process that only imports quoterace, each in a fresh process: VmHWM, the high-water mark of
    its own memory (ru_maxrss would carry over this process's peak through fork and exec)."""

    def peak_mb(work: str) -> int:
        peak = "[x for x in open('/proc/self/status') if x.startswith('VmHWM')][0].split()[1]"
        code = f"import sim; {work}; print({peak})"
        done = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        )
        return round(int(done.stdout) / 1024)

    what = "peak resident MB of sim.summary('default'), as quoterace run without --out"
    if not Path("/proc/self/status").exists():
        return {"what": what, "import_only_mb": None, "peak_mb": {}}  # not Linux: not measured
    return {
        "what": what,
        "import_only_mb": peak_mb("pass"),
        "peak_mb": {str(n): peak_mb(f"sim.summary('default', requests={n})") for n in counts},
    }


def _cpu() -> str | None:
    """The processor's model name (Linux), for the figures' record."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    return next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")), None)


def _seconds(work: Any) -> float:
    gc.collect()
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _ms(value: float | None) -> str:
    return "none (no race decided)" if value is None else f"{value} ms"


def _print_network(network: dict[str, Any]) -> None:
    """Network mode's lines: decision p50 over TCP and in process, and the ping-pong."""
    for name, f in network["strategies"].items():
        modes = ("over_tcp_default_ms", "over_tcp_epoll_ms", "over_tcp_latency_real_ms")
        p50 = {mode: _ms(f[mode]["p50"]) for mode in (*modes, "in_process_ms")}
        Console().print(
            f"network mode, {name}: decision p50 {p50['over_tcp_default_ms']} over TCP "
            f"(epoll's timers {p50['over_tcp_epoll_ms']}, venue time only "
            f"{p50['over_tcp_latency_real_ms']}) against {p50['in_process_ms']} in process"
        )
    ping = network["ping_pong_us"]
    Console().print(
        f"bare trio TCP ping-pong over loopback: p50 {ping['p50']} us, p99 {ping['p99']} us"
    )
    held = network["max_rate_per_s"]
    failed = [step for step in network["rates"] if step["fails"] is not None]
    why = f"; at {failed[0]['rate_per_s']:g}/s {failed[0]['fails']}" if failed else ""
    holds = "none of the rates tried" if held is None else f"up to {held:g} requests/s"
    Console().print(f"network mode holds {holds} ({network['requests']:,} requests a rate){why}")


def _print_end_to_end(figures: dict[str, Any]) -> None:
    """Whole processes: each scenario's rate and peak memory on both engines."""
    table = Table(
        title=f"end to end: whole `quoterace run` processes ({figures['fast_requests']:,} "
        f"requests on the fast engine, {figures['trio_requests']:,} on trio)",
        title_justify="left",
    )
    for column in (
        "scenario",
        "fast requests/s",
        "fast peak MB",
        "trio requests/s",
        "trio peak MB",
    ):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for name, engines in figures["scenarios"].items():
        fast, trio = engines["fast"], engines["trio"]
        cells = (
            ("refused", "-")
            if "refused" in fast
            else (
                f"{fast['requests_per_s']:,}",
                f"{fast['peak_mb']:,}",
            )
        )
        table.add_row(name, *cells, f"{trio['requests_per_s']:,}", f"{trio['peak_mb']:,}")
    Console().print(table)
    for name, engines in figures["scenarios"].items():
        if "refused" in engines["fast"]:
            Console().print(f"the fast engine refuses {name}: {engines['fast']['refused']}")


def _print(result: dict[str, Any]) -> None:
    table = Table(
        title=f"{result['scenario']}: {result['requests']:,} races, {result['venues']} venues, "
        + ("one round" if result["rounds"] == 1 else f"median of {result['rounds']} rounds"),
        title_justify="left",
    )
    for column in ("strategy", "engine races/s", "skeleton races/s", "engine/skeleton"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, f in result["strategies"].items():
        table.add_row(
            name,
            f"{f['engine_races_per_s']:,}",
            f"{f['skeleton_races_per_s']:,}",
            f"{f['ratio']:.2f} (target >= {result['target_ratio']})",
        )
    Console().print(table)
    fast = result["fast_engine"]
    Console().print(
        f"fast engine: {fast['requests_per_s']:,} requests/s engine only ({fast['requests']:,} "
        f"requests, {' and '.join(fast['strategies'])}, histograms included; target >= "
        f"{fast['target_requests_per_s']:,}); whole processes below"
    )
    _print_end_to_end(result["end_to_end"])
    if result["network"] is not None:
        _print_network(result["network"])
    memory = result["memory"]
    if not memory["peak_mb"]:
        return
    peaks = ", ".join(f"{int(n):,} requests {mb:,} MB" for n, mb in memory["peak_mb"].items())
    Console().print(
        f"memory (peak resident, quoterace run without --out): {peaks}; quoterace imported "
        f"alone {memory['import_only_mb']:,} MB"
    )
