"""`quoterace bench`: the benchmark (sim.bench.suite), written to results/bench.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.cli.arguments import count
from sim.cli.writing import RESULTS, writing
from sim.model.errors import ScenarioError
from sim.model.scenario import load


def add_command(commands: argparse._SubParsersAction) -> None:
    """Register `bench`."""
    bench = commands.add_parser("bench", help="engine against a bare trio skeleton")
    bench.add_argument(
        "--requests",
        type=count,
        default=20_000,
        help="races per strategy for the trio engine and the skeleton (default: 20,000)",
    )
    bench.add_argument(
        "--rounds",
        type=count,
        default=3,
        help="rounds of each timing, the figure their median (default: 3)",
    )
    bench.add_argument(
        "--fast-requests", type=count, help="requests for the fast engine (default: 1,000,000)"
    )
    bench.add_argument(
        "--memory-requests",
        type=count,
        nargs="+",
        help="request counts whose peak memory to measure (default: 1,000,000 10,000,000)",
    )
    bench.add_argument(
        "--network-requests",
        type=count,
        help="requests raced over TCP against in process (default: 1,000)",
    )
    bench.add_argument(
        "--network-rates",
        type=count,
        nargs="+",
        help="request rates (per second) to step network mode through, up to the first it does "
        "not hold (default: 200 500 1000 2000 4000)",
    )
    bench.add_argument(
        "--end-to-end-requests",
        type=count,
        nargs=2,
        metavar=("FAST", "TRIO"),
        help="requests per whole `quoterace run` process on the fast and the trio engine "
        "(default: 1,000,000, 4,000,000 for the sparse market, and 20,000)",
    )
    bench.add_argument(
        "--end-to-end-scenarios",
        nargs="+",
        metavar="SCENARIO",
        help="scenarios to run end to end (default: every bundled one and the sparse market)",
    )
    bench.add_argument(
        "--no-network",
        dest="network",
        action="store_false",
        help="skip network mode (its figures are null in the JSON)",
    )
    bench.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "bench.json",
        help=f"where to write the figures as JSON (default: {RESULTS / 'bench.json'})",
    )
    bench.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from sim.bench.suite import bench

    if not args.network and (args.network_requests or args.network_rates):
        raise ScenarioError("--no-network", "skips network mode: drop --network-requests/-rates")
    # a bad name fails before the benchmark, not minutes into it; and each is one row, by name
    names = [load(scenario).name for scenario in args.end_to_end_scenarios or ()]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        message = f"{', '.join(twice)} given twice (each scenario is one row, by its name)"
        raise ScenarioError("--end-to-end-scenarios", message)
    with writing(args.out):  # fail before the benchmark, not after it
        args.out.parent.mkdir(parents=True, exist_ok=True)
    with writing(args.out):
        given = {
            "fast_requests": args.fast_requests,
            "memory_requests": args.memory_requests and tuple(args.memory_requests),
            "network_requests": args.network_requests,
            "network_rates": args.network_rates and tuple(args.network_rates),
            "end_to_end_requests": args.end_to_end_requests and tuple(args.end_to_end_requests),
            "end_to_end_scenarios": args.end_to_end_scenarios and tuple(args.end_to_end_scenarios),
        }  # the others: sim.bench.suite's defaults
        bench(
            requests=args.requests,
            rounds=args.rounds,
            out=args.out,
            network=args.network,
            **{name: value for name, value in given.items() if value is not None},
        )
    return 0
