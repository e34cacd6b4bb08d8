"""`quoterace sweep`: a scenario over a grid of settings (sim.measure.sweep), written as
sweep.csv and plots (sim.report.sweep)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.cli.arguments import whole
from sim.cli.writing import RESULTS, writing
from sim.measure.strategy_runs import ENGINES


def add_command(commands: argparse._SubParsersAction) -> None:
    """Register `sweep`."""
    sweep = commands.add_parser(
        "sweep", help="run a scenario over a grid of settings (--set KEY=V1,V2,...)"
    )
    sweep.add_argument("scenario", help="bundled name or path")
    sweep.add_argument(
        "--set",
        dest="sets",
        action="append",
        required=True,
        metavar="KEY=V1,V2",
        help="a scenario key and its values, e.g. 'arrivals.rate_per_s=100,1000' or "
        "'venues[*].capacity=1,2' (every venue; repeatable)",
    )
    sweep.add_argument("--engine", choices=ENGINES, default="auto")
    sweep.add_argument(
        "--workers", type=whole(1, 1024), help="processes (default: cores; 1: no pool)"
    )
    sweep.add_argument("--dask", metavar="ADDRESS", help="a Dask scheduler, tcp://HOST:PORT")
    sweep.add_argument(
        "--out", type=Path, help="where to write sweep.csv and plots (default: results/sweep-NAME)"
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    sweep.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from sim.measure.sweep import Plan, run_plan
    from sim.model.settings import parse_set
    from sim.report.atomic import write_atomic, write_atomic_bytes
    from sim.report.progress import RunProgress
    from sim.report.sweep import sweep_csv, sweep_plots

    sets = [parse_set(text) for text in args.sets]
    plan = Plan(args.scenario, sets, args.engine)  # every point checked before anything runs
    out = args.out or RESULTS / f"sweep-{plan.name}"
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    total = len(plan.points)
    with RunProgress(total, enabled=not args.quiet) as progress:
        rows, failures = run_plan(
            plan, workers=args.workers, dask=args.dask, progress=progress.advance
        )
    with writing(out):
        write_atomic(out / "sweep.csv", lambda f: f.write(sweep_csv(rows, plan.keys)))
        for png_name, data in sweep_plots(rows, plan.keys, plan.name).items():
            write_atomic_bytes(out / png_name, data)
    for settings, error in failures:
        point = ", ".join(f"{k}={v}" for k, v in settings.items())
        print(f"quoterace: sweep point {point} failed: {error}", file=sys.stderr)
    print(f"{out}: {total - len(failures)} of {total} points, {len(rows)} rows in sweep.csv")
    return 1 if failures else 0
