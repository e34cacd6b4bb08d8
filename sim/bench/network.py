"""`quoterace bench`'s network figures: network mode against the in-process run of the same
draws, and a bare trio TCP ping-pong over loopback as the floor.

The default scenario's five venues, at RATE_PER_S (two cores must carry the client and five
servers), race once in process and once over TCP with servers started on 127.0.0.1 that apply
the drawn latencies: what the network mode adds is the difference, per strategy, at p50 and
p99 of decision latency. The ping-pong is the least any round trip can cost here: one trio
process echoing 64 bytes to another, no FIX, no timers.
"""

from __future__ import annotations

import dataclasses
import statistics
import subprocess
import sys
import time
from typing import Any

import trio

from sim.measure.run import run
from sim.model.arrivals import Arrivals
from sim.model.scenario import bundled_dir, load
from sim.network.run import Network

RATE_PER_S = 200.0
PINGS = 2000

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


def network_figures(requests: int) -> dict[str, Any]:
    """Decision latency p50 and p99 (ms) in process and over TCP, per strategy: with epoll's
    timers, with precise ones, and with servers applying only the venue's own time (the
    network being loopback alone); and the ping-pong's round trip (us)."""
    source = bundled_dir() / "default.toml"
    scenario = load(source).with_overrides(requests=requests)
    scenario = dataclasses.replace(scenario, arrivals=Arrivals("poisson", RATE_PER_S))
    virtual = run(scenario).summary["strategies"]
    modes = {
        "epoll": Network(source=source),
        "precise": Network(source=source, precise=True),
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
                there["epoll"]["decision_ms"]["p50"], here["decision_ms"]["p50"]
            ),
            "fill_rate": {"in_process": here["fill_rate"], "over_tcp": there["epoll"]["fill_rate"]},
            "venue_failures": sum(
                f is not None for s in there.values() for f in s["venue_failures"].values()
            ),
        }
    return {
        "what": "default scenario's venues at 200 requests/s, in process and over TCP "
        "(servers on 127.0.0.1 applying the drawn latencies with epoll's or precise timers, "
        "or only the venue's own time), and a bare trio TCP ping-pong",
        "requests": requests,
        "rate_per_s": RATE_PER_S,
        "strategies": strategies,
        "ping_pong_us": _ping_pong(PINGS),
    }


def _added(over_tcp: float | None, in_process: float | None) -> float | None:
    """How much later over TCP, in ms; None when a run decided no race (every one timed out:
    a loaded machine), which the printed line says rather than a number."""
    return None if over_tcp is None or in_process is None else round(over_tcp - in_process, 3)


def _p50_p99(summary: dict[str, Any]) -> dict[str, float]:
    return {"p50": summary["decision_ms"]["p50"], "p99": summary["decision_ms"]["p99"]}


def _ping_pong(pings: int) -> dict[str, float]:
    """Round trips of 64 bytes to a trio echo server in another process, in microseconds."""
    server = subprocess.Popen([sys.executable, "-c", _ECHO], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())

        async def main() -> list[float]:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            times = []
            async with stream:
                for _ in range(pings):
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
    }
