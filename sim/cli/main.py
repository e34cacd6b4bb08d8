"""The `quoterace` command (also `python -m sim`)."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from sim.cli.arguments import count, seed, whole
from sim.cli.network import add_network_options, add_venue_command, network_of, serve_venue
from sim.measure.compare import RESAMPLES, compare
from sim.measure.run import ENGINES, RunResult, run
from sim.measure.run import summary as run_summary
from sim.model.config import bounds_text
from sim.model.errors import ScenarioError
from sim.model.scenario import CLOCKS, Scenario, bundled, load
from sim.network.run import Network
from sim.report.atomic import summary_json, write_atomic, write_atomic_bytes
from sim.report.console import comparison_table, print_tables
from sim.report.gallery import GALLERY_TITLE, gallery_md
from sim.report.progress import RunProgress
from sim.report.results_dir import SUMMARY, rebuild, write_results
from strategies.registry import STRATEGIES

EXIT_BAD_INPUT = 2
RESULTS = Path("results")
_BARE_OUT = object()  # `--out` given without a folder: RESULTS/<scenario>/


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="quoterace", description="Race quote requests across simulated venues.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    a_scenario = argparse.ArgumentParser(add_help=False)  # what run and compare share
    a_scenario.add_argument(
        "scenario", nargs="?", default="default", help="bundled name or path (default: default)"
    )
    a_scenario.add_argument("--json", action="store_true", help="print the result as JSON")
    a_scenario.add_argument("--seed", type=seed, help="override the scenario's seed")
    a_scenario.add_argument("--requests", type=count, help="override the number of requests")
    a_scenario.add_argument(
        "--clock", choices=CLOCKS, help="virtual time or the wall clock (default: the scenario's)"
    )
    a_scenario.add_argument(
        "--out",
        type=Path,
        nargs="?",
        const=_BARE_OUT,
        help="write the results folder here (summary, requests.csv, histograms, plots, "
        "report.md); without a value: results/<scenario>/",
    )
    a_scenario.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    a_scenario.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="trio races every request as tasks; fast decides them with numpy where requests "
        "do not interact; auto (default): fast when it can",
    )

    add_network_options(a_scenario)

    run_cmd = commands.add_parser(
        "run", parents=[a_scenario], help="run a scenario and compare its strategies"
    )
    run_cmd.add_argument(
        "--all",
        action="store_true",
        help="run every bundled scenario (with --out DIR: each into DIR/<scenario>/)",
    )

    sweep_cmd = commands.add_parser(
        "sweep", help="run a scenario over a grid of settings (--set KEY=V1,V2,...)"
    )
    sweep_cmd.add_argument("scenario", help="bundled name or path")
    sweep_cmd.add_argument(
        "--set",
        dest="sets",
        action="append",
        required=True,
        metavar="KEY=V1,V2",
        help="a scenario key and its values, e.g. 'arrivals.rate_per_s=100,1000' (repeatable)",
    )
    sweep_cmd.add_argument("--engine", choices=ENGINES, default="auto")
    sweep_cmd.add_argument("--workers", type=whole(1, 1024), help="processes (default: cores)")
    sweep_cmd.add_argument("--dask", metavar="ADDRESS", help="a Dask scheduler, tcp://HOST:PORT")
    sweep_cmd.add_argument(
        "--out", type=Path, help="where to write sweep.csv and plots (default: results/sweep-NAME)"
    )
    sweep_cmd.add_argument("--quiet", action="store_true", help="no progress bar on stderr")

    report_cmd = commands.add_parser(
        "report", help="rebuild the plots and report.md of a results folder from its data"
    )
    report_cmd.add_argument("folder", type=Path, help="a folder written by run --out")

    compare_cmd = commands.add_parser(
        "compare",
        parents=[a_scenario],
        help="paired differences between a scenario's strategies, with 95%% CIs",
    )
    compare_cmd.add_argument(
        "--resamples", type=whole(100, 100_000), default=RESAMPLES, help="bootstrap resamples"
    )

    add_venue_command(commands)
    commands.add_parser("scenarios", help="list the bundled scenarios")
    commands.add_parser("strategies", help="list the strategy kinds and their parameters")

    validate_cmd = commands.add_parser("validate", help="check scenario files")
    validate_cmd.add_argument("files", nargs="+", help="scenario files or bundled names")

    bench_cmd = commands.add_parser("bench", help="engine against a bare trio skeleton")
    bench_cmd.add_argument("--requests", type=count, default=20_000)
    bench_cmd.add_argument("--rounds", type=count, default=3)
    bench_cmd.add_argument(
        "--fast-requests", type=count, help="requests for the fast engine (default: 1,000,000)"
    )
    bench_cmd.add_argument(
        "--memory-requests",
        type=count,
        nargs="+",
        help="request counts whose peak memory to measure (default: 1,000,000 10,000,000)",
    )
    bench_cmd.add_argument(
        "--network-requests",
        type=count,
        help="requests raced over TCP against in process (default: 1,000)",
    )
    bench_cmd.add_argument("--out", type=Path, default=Path("results/bench.json"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except ScenarioError as e:
        print(e, file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # stdout closed early (`| head`): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("quoterace: interrupted", file=sys.stderr)
        return 130


def _load(args: argparse.Namespace, name: str | None = None) -> Scenario:
    return load(name or args.scenario).with_overrides(
        seed=args.seed, requests=args.requests, clock=args.clock
    )


def _console() -> Console:
    """Tables at least 120 columns wide, also when stdout is not a terminal."""
    return Console(width=max(Console().width, 120))


def _run(args: argparse.Namespace) -> int:
    network = network_of(args)
    if args.all:
        if args.scenario != "default":
            raise ScenarioError("--all", f"runs every bundled scenario: drop {args.scenario!r}")
        if network is not None:
            raise ScenarioError("--all", "runs in process: network mode takes one scenario")
        scenarios = [_load(args, name) for name in bundled()]
    else:
        scenarios = [_load(args)]
    folders = [_out_folder(args, s, len(scenarios) > 1) for s in scenarios]
    if args.all and args.out is not None:
        _check_gallery(folders[0].parent / "README.md")
    for folder in folders:
        if folder is not None:
            with _writing(folder):  # fail before the run, not after it
                folder.mkdir(parents=True, exist_ok=True)
    summaries = []
    for scenario, folder in zip(scenarios, folders, strict=True):
        if folder is None and network is None:  # nothing per request kept (sim.summary)
            summary = _summary_one(scenario, args)
        else:
            result = _run_one(scenario, args, network)
            if folder is not None:
                with _writing(folder):
                    write_results(result, folder)
            summary = result.summary
        summaries.append(summary)
        if args.json:
            sys.stdout.write(summary_json(summary))
        else:
            print_tables(summary, _console())
    if args.all and args.out is not None:
        gallery = folders[0].parent / "README.md"
        with _writing(gallery.parent):
            write_atomic(gallery, lambda f: f.write(gallery_md(summaries)))
    return 0


def _check_gallery(path: Path) -> None:
    """`run --all --out DIR` writes DIR/README.md: never over a README of something else."""
    if path.is_file():
        with path.open(encoding="utf-8", errors="replace") as f:
            ours = f.readline().rstrip("\n") == GALLERY_TITLE
        if not ours:
            raise ScenarioError("--out", f"{path} exists and is not a quoterace gallery")


def _out_folder(args: argparse.Namespace, scenario: Scenario, several: bool) -> Path | None:
    """Where `scenario`'s results go: `--out DIR` (DIR/<scenario> when running several), or
    results/<scenario> for a bare `--out`; None without `--out`."""
    if args.out is None:
        return None
    if args.out is not _BARE_OUT and not several and args.scenario == "default":
        name = str(args.out)
        if name in bundled() and name != "default" and not args.out.exists():
            raise ScenarioError(
                "--out",
                f"{name!r} is a bundled scenario: to run it, name it first (quoterace run "
                f"{name} --out); for a folder of that name, write --out ./{name}",
            )
    if args.out is _BARE_OUT:
        return RESULTS / scenario.name
    return args.out / scenario.name if several else args.out


def _run_one(
    scenario: Scenario, args: argparse.Namespace, network: Network | None = None
) -> RunResult:
    """`scenario` run, with a progress bar on stderr unless --quiet; over `network` if given."""
    with _progress(scenario, args) as progress:
        return run(scenario, progress=progress.advance, engine=args.engine, network=network)


def _summary_one(scenario: Scenario, args: argparse.Namespace) -> dict:
    """`scenario`'s summary alone, nothing per request kept (sim.summary), with a progress bar
    on stderr unless --quiet."""
    with _progress(scenario, args) as progress:
        return run_summary(scenario, progress=progress.advance, engine=args.engine)


def _progress(scenario: Scenario, args: argparse.Namespace) -> RunProgress:
    return RunProgress(scenario.requests * len(scenario.strategies), enabled=not args.quiet)


def _sweep(args: argparse.Namespace) -> int:
    from sim.measure.sweep import Plan, parse_set, sweep
    from sim.report.sweep import sweep_csv, sweep_plots

    sets = [parse_set(text) for text in args.sets]
    plan = Plan(args.scenario, sets, args.engine)  # every point checked before anything runs
    out = args.out or RESULTS / f"sweep-{plan.path.stem}"
    with _writing(out):
        out.mkdir(parents=True, exist_ok=True)
    total = len(plan.points)
    with RunProgress(total, enabled=not args.quiet) as progress:
        rows, failures = sweep(
            plan, workers=args.workers, dask=args.dask, progress=progress.advance
        )
    keys = [key for key, _ in sets]
    with _writing(out):
        write_atomic(out / "sweep.csv", lambda f: f.write(sweep_csv(rows, keys)))
        for png_name, data in sweep_plots(rows, keys).items():
            write_atomic_bytes(out / png_name, data)
    for settings, error in failures:
        point = ", ".join(f"{k}={v}" for k, v in settings.items())
        print(f"quoterace: sweep point {point} failed: {error}", file=sys.stderr)
    print(f"{out}: {total - len(failures)} of {total} points, {len(rows)} rows in sweep.csv")
    return 1 if failures else 0


def _report(args: argparse.Namespace) -> int:
    folder: Path = args.folder
    if not (folder / SUMMARY).is_file():
        raise ScenarioError(
            SUMMARY, "missing: not a folder written by quoterace run --out", str(folder)
        )
    with _writing(folder):
        written = rebuild(folder)
    print(f"{folder}: rebuilt {', '.join(p.name for p in written)}")
    return 0


@contextmanager
def _writing(out: Path) -> Iterator[None]:
    """Turn an OSError while writing results into the one-line error for `--out`."""
    try:
        yield
    except OSError as e:
        reason = f"cannot write {e.filename or out}: {e.strerror}"
        raise ScenarioError("--out", reason) from None


def _compare(args: argparse.Namespace) -> int:
    scenario = _load(args)
    if len(scenario.strategies) < 2:
        raise ScenarioError("strategies", "compare needs at least two", scenario.file)
    folder = _out_folder(args, scenario, several=False)
    if folder is not None:
        with _writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
    result = _run_one(scenario, args, network_of(args))
    comparison = compare(result, args.resamples)
    if folder is not None:
        with _writing(folder):
            write_results(result, folder)
            text = json.dumps(comparison, indent=2) + "\n"
            write_atomic(folder / "comparison.json", lambda f: f.write(text))
    if args.json:
        sys.stdout.write(json.dumps(comparison, indent=2) + "\n")
    else:
        _console().print(comparison_table(comparison))
    return 0


def _scenarios(args: argparse.Namespace) -> int:
    for name in bundled():
        scenario = load(name)
        print(f"{name}\n    {' '.join(scenario.description.split())}\n")
    return 0


def _strategies(args: argparse.Namespace) -> int:
    for kind, cls in STRATEGIES.items():
        doc = inspect.cleandoc(cls.__doc__ or "").split("\n\n")
        print(kind)
        print(textwrap.fill(doc[0], 96, initial_indent="    ", subsequent_indent="    "))
        for f in dataclasses.fields(cls):
            if f.init:
                bounds = bounds_text(f.metadata)
                print(f"    {f.name} = {f.default!r}" + (f"  ({bounds})" if bounds else ""))
        for paragraph in doc[1:]:
            print(textwrap.fill(paragraph, 96, initial_indent="    ", subsequent_indent="    "))
        print()
    return 0


def _validate(args: argparse.Namespace) -> int:
    for file in args.files:
        scenario = load(file)
        counts = (
            _count_of(len(scenario.venues), "venue"),
            _count_of(len(scenario.strategies), "strategy", "strategies"),
            _count_of(scenario.requests, "request"),
        )
        print(f"{file}: ok ({', '.join(counts)})")
    return 0


def _count_of(n: int, one: str, many: str | None = None) -> str:
    """`n` things, in the singular for one."""
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def _bench(args: argparse.Namespace) -> int:
    from sim.bench.suite import bench

    with _writing(args.out):  # fail before the benchmark, not after it
        args.out.parent.mkdir(parents=True, exist_ok=True)
    with _writing(args.out):
        given = {
            "fast_requests": args.fast_requests,
            "memory_requests": args.memory_requests and tuple(args.memory_requests),
            "network_requests": args.network_requests,
        }  # the others: sim.bench.suite's defaults
        bench(
            requests=args.requests,
            rounds=args.rounds,
            out=args.out,
            **{name: value for name, value in given.items() if value is not None},
        )
    return 0


_COMMANDS = {
    "run": _run,
    "report": _report,
    "sweep": _sweep,
    "compare": _compare,
    "venue": serve_venue,
    "scenarios": _scenarios,
    "strategies": _strategies,
    "validate": _validate,
    "bench": _bench,
}
