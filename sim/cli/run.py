"""`quoterace run` and `report`: a scenario run on the console, as JSON or into a results
folder; a results folder rebuilt. `compare` (sim.cli.compare) shares run's options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sim.cli.arguments import count, seed
from sim.cli.compiled import load_numba
from sim.cli.network import add_network_options, network_of
from sim.cli.writing import RESULTS, writing
from sim.engines.fast import compiled
from sim.measure.run import RunResult, run, scenario_summary
from sim.measure.strategy_runs import ENGINES, choose_engine
from sim.model.errors import ScenarioError
from sim.model.scenario import CLOCKS, Scenario, bundled, load
from sim.model.settings import parse_setting, read_source
from sim.report.atomic import summary_json, summary_json_line, write_atomic
from sim.report.progress import RunProgress

if TYPE_CHECKING:
    from sim.network.run import Network

DEFAULT = "default"  # the scenario run and compare take when none is named
BARE_OUT = object()  # `--out` given without a folder: RESULTS/<scenario>/

# A wall-clock run in which some strategy decided none of its races (every venue failed, or
# every race timed out): it completed, but measured nothing of that strategy, and a script
# must not take it for a measurement. Warnings alone (sim.measure.caveats) leave the status 0.
EXIT_NOTHING_DECIDED = 3


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register run and report."""
    a_scenario = scenario_options()
    run_cmd = commands.add_parser(
        "run", parents=[a_scenario], help="run a scenario and compare its strategies"
    )
    run_cmd.add_argument(
        "--all",
        action="store_true",
        help="run every bundled scenario (with --out DIR: each into DIR/<scenario>/)",
    )
    run_cmd.add_argument(
        "--format",
        choices=("csv", "parquet"),  # sim.report.results_dir.FORMATS
        help="with --out: the requests file as requests.csv (default) or requests.parquet "
        "(typed and compressed; pip install 'quoterace[data]')",
    )
    run_cmd.set_defaults(handler=_run)

    report_cmd = commands.add_parser(
        "report", help="rebuild the plots and report.md of a results folder from its data"
    )
    report_cmd.add_argument("folder", type=Path, help="a folder written by run --out")
    report_cmd.set_defaults(handler=_report)


def scenario_options() -> argparse.ArgumentParser:
    """The options run and compare share."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("scenario", nargs="?", help=f"bundled name or path (default: {DEFAULT})")
    options.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON (with run --all: JSON Lines, a scenario's summary a line)",
    )
    options.add_argument("--seed", type=seed, help="override the scenario's seed")
    options.add_argument("--requests", type=count, help="override the number of requests")
    options.add_argument(
        "--set",
        dest="sets",
        action="append",
        metavar="KEY=V",
        help="set a key of the scenario file, e.g. 'arrivals.rate_per_s=500' or "
        "'venues[*].cancel_propagation=false' (every venue; repeatable)",
    )
    options.add_argument(
        "--clock", choices=CLOCKS, help="virtual time or the wall clock (default: the scenario's)"
    )
    options.add_argument(
        "--out",
        type=Path,
        nargs="?",
        const=BARE_OUT,
        help="write the results folder here (summary, requests.csv, histograms, plots, "
        "report.md); without a value: results/<scenario>/",
    )
    options.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar on stderr, nor (run --out) the line saying what it wrote where",
    )
    options.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="trio races every request as tasks; fast decides them with numpy where requests "
        "do not interact; auto (default): fast when it can",
    )
    add_network_options(options)
    return options


def load_scenario(args: argparse.Namespace, name: str | None = None) -> Scenario:
    """The scenario `name` (else the one named on the command line, else DEFAULT) with the
    options of `scenario_options` applied: `--set` keys, then seed, requests and clock."""
    source = name or args.scenario or DEFAULT
    if args.sets and (args.network or args.venues):
        raise ScenarioError("--set", "not in network mode: venue servers read the file as written")
    settings = {}
    for key, value in (parse_setting(text) for text in args.sets or ()):
        if key in settings:
            raise ScenarioError("--set", f"{key!r} is set twice")
        settings[key] = value
    scenario = read_source(source).scenario(settings) if settings else load(source)
    return scenario.with_overrides(seed=args.seed, requests=args.requests, clock=args.clock)


def _run(args: argparse.Namespace) -> int:
    network = network_of(args)
    if args.all:
        if args.scenario is not None:
            raise ScenarioError("--all", f"runs every bundled scenario: drop {args.scenario!r}")
        if network is not None:
            raise ScenarioError("--all", "runs in process: network mode takes one scenario")
        scenarios = [load_scenario(args, name) for name in bundled()]
    else:
        scenarios = [load_scenario(args)]
    _check_format(args)
    folders = [out_folder(args, s, len(scenarios) > 1) for s in scenarios]
    if args.all and args.out is not None:
        _check_gallery(folders[0].parent / "README.md")
    for folder in folders:
        if folder is not None:
            with writing(folder):  # fail before the run, not after it
                folder.mkdir(parents=True, exist_ok=True)
    summaries = []
    for scenario, folder in zip(scenarios, folders, strict=True):
        written: list[Path] = []
        if folder is None and network is None:  # nothing per request kept (sim.summary)
            summary = _summary_one(scenario, args)
        else:
            result = run_one(scenario, args, network)
            if folder is not None:
                from sim.report.results_dir import write_results  # plots: matplotlib, 0.2 s

                with writing(folder):
                    written = write_results(result, folder, args.format or "csv")
            summary = result.summary
        summaries.append(summary)
        if args.json:  # JSON Lines for several: one compact document per line
            sys.stdout.write((summary_json_line if args.all else summary_json)(summary))
        else:
            from sim.report.console import print_tables  # rich: not for --json

            print_tables(summary)
        warn(summary)  # after the tables, where they are seen
        if written:
            say_written(folder, written, args.quiet)
    if args.all and args.out is not None:
        from sim.report.gallery import gallery_md
        from sim.report.results_dir import FORMATS

        gallery = folders[0].parent / "README.md"
        with writing(gallery.parent):
            page = gallery_md(summaries, FORMATS[args.format or "csv"])
            write_atomic(gallery, lambda f: f.write(page))
        say_written(gallery.parent, [gallery], args.quiet)
    return exit_status(summaries)


def say_written(folder: Path, written: list[Path], quiet: bool) -> None:
    """One line on stderr naming the folder and the files just written there, unless `quiet`
    (stdout holds the tables or the JSON)."""
    if not quiet:
        names = ", ".join(p.name for p in written)
        print(f"quoterace: wrote {folder} ({names})", file=sys.stderr)


def _check_format(args: argparse.Namespace) -> None:
    """`--format` goes with `--out`, and parquet needs pyarrow: said before the run."""
    if args.format is None:
        return
    if args.out is None:
        raise ScenarioError("--format", "picks the requests file of --out: give --out too")
    if args.format == "parquet":
        from sim.report.requests_parquet import require_pyarrow

        require_pyarrow()


def warn(summary: dict) -> None:
    """A line on stderr for each of the run's warnings (a wall-clock run's; sim.measure.caveats)."""
    for warning in summary.get("warnings", ()):
        print(f"quoterace: warning: {summary['scenario']}: {warning['message']}", file=sys.stderr)


def exit_status(summaries: list[dict]) -> int:
    """0, or EXIT_NOTHING_DECIDED when a wall-clock run has a strategy that decided no race."""
    for summary in summaries:
        if summary["clock"] == "real" and any(
            s["no_quote"] == summary["requests"] for s in summary["strategies"].values()
        ):
            return EXIT_NOTHING_DECIDED
    return 0


def _check_gallery(path: Path) -> None:
    """`run --all --out DIR` writes DIR/README.md: never over a README of something else."""
    from sim.report.gallery import GALLERY_TITLE

    if path.is_file():
        with path.open(encoding="utf-8", errors="replace") as f:
            ours = f.readline().rstrip("\n") == GALLERY_TITLE
        if not ours:
            raise ScenarioError("--out", f"{path} exists and is not a quoterace gallery")


def out_folder(args: argparse.Namespace, scenario: Scenario, several: bool) -> Path | None:
    """Where `scenario`'s results go: `--out DIR` (DIR/<scenario> when running several), or
    results/<scenario> for a bare `--out`; None without `--out`."""
    if args.out is None:
        return None
    if args.out is not BARE_OUT and not several and args.scenario is None:
        name = str(args.out)
        if name in bundled() and name != DEFAULT and not args.out.exists():
            raise ScenarioError(
                "--out",
                f"{name!r} is a bundled scenario: to run it, name it first (quoterace run "
                f"{name} --out); for a folder of that name, write --out ./{name}",
            )
    if args.out is BARE_OUT:
        return RESULTS / scenario.name
    return args.out / scenario.name if several else args.out


def run_one(
    scenario: Scenario, args: argparse.Namespace, network: Network | None = None
) -> RunResult:
    """`scenario` run, with a progress bar on stderr unless --quiet; over `network` if given."""
    if network is None:
        _compiled_first(scenario, args.engine)
    with _progress(scenario, args) as progress:
        return run(scenario, progress=progress.advance, engine=args.engine, network=network)


def _summary_one(scenario: Scenario, args: argparse.Namespace) -> dict:
    """`scenario`'s summary alone, nothing per request kept (sim.summary), with a progress bar
    on stderr unless --quiet. numba is loaded while the first requests are drawn."""
    with _progress(scenario, args) as progress:
        return scenario_summary(
            scenario,
            progress=progress.advance,
            engine=args.engine,
            while_drawing=lambda: _compiled_first(scenario, args.engine),
        )


def _compiled_first(scenario: Scenario, engine: str) -> None:
    """numba loaded (sim.cli.compiled) if the run of `scenario` on `engine` will use it."""
    if choose_engine(engine, scenario) == "fast" and compiled(scenario):
        load_numba()


def _progress(scenario: Scenario, args: argparse.Namespace) -> RunProgress:
    return RunProgress(scenario.requests * len(scenario.strategies), enabled=not args.quiet)


def _report(args: argparse.Namespace) -> int:
    from sim.report.results_dir import SUMMARY, rebuild

    folder: Path = args.folder
    if not (folder / SUMMARY).is_file():
        raise ScenarioError(
            SUMMARY, "missing: not a folder written by quoterace run --out", str(folder)
        )
    with writing(folder):
        written = rebuild(folder)
    print(f"{folder}: rebuilt {', '.join(p.name for p in written)}")
    return 0
