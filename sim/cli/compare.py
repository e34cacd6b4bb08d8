"""`quoterace compare`: a scenario's strategies against one of them, or two results folders'
strategies of the same name, with bootstrap 95% intervals (sim.measure.compare).

`compare [SCENARIO] [--baseline NAME]` runs the scenario (with every option `run` has) and
compares each strategy with the baseline on the same requests. `compare DIR_A DIR_B` reads two
folders written by `run --out` and compares B's strategies with A's, paired when the runs had
the same draws. `--out` writes the comparison as JSON, CSV and a Markdown page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sim.cli.arguments import whole
from sim.cli.network import network_of
from sim.cli.run import (
    BARE_OUT,
    exit_status,
    load_scenario,
    out_folder,
    run_one,
    say_written,
    scenario_options,
    warn,
)
from sim.cli.writing import writing
from sim.measure.compare import (
    RESAMPLES,
    Requests,
    SavedRun,
    compare,
    compare_saved,
    holm_resamples,
)
from sim.model.errors import ScenarioError
from sim.report.atomic import write_atomic

# The options that only shape a run: two folders were run already.
_NOT_RUN = {"scenario", "other", "json", "out", "quiet", "help", "resamples", "baseline", "holm"}


def add_command(commands: argparse._SubParsersAction) -> None:
    """Register `quoterace compare`."""
    cmd = commands.add_parser(
        "compare",
        parents=[scenario_options()],
        help="compare a scenario's strategies, or two results folders, with 95%% CIs",
        description="compare [SCENARIO]: each strategy of a run against a baseline, paired. "
        "compare DIR_A DIR_B: two folders written by run --out, strategy by strategy (B's "
        "against A's), paired when they had the same draws.",
    )
    cmd.add_argument(
        "other",
        nargs="?",
        metavar="DIR_B",
        help="a second results folder: the first argument is then DIR_A, a results folder too",
    )
    cmd.add_argument(
        "--baseline",
        metavar="NAME",
        help="the strategy every other is compared with (default: the scenario's first)",
    )
    cmd.add_argument(
        "--holm",
        action="store_true",
        help="Holm-adjust the p-values over every strategy and metric compared",
    )
    cmd.add_argument(
        "--resamples", type=whole(100, 100_000), default=RESAMPLES, help="bootstrap resamples"
    )
    run_options = {
        a.dest: (a.option_strings[0] if a.option_strings else a.dest, a.default)
        for a in cmd._actions
        if a.dest not in _NOT_RUN
    }
    cmd.set_defaults(handler=_compare, run_options=run_options)


def _compare(args: argparse.Namespace) -> int:
    if args.other is not None:
        return _compare_folders(args)
    try:
        scenario = load_scenario(args)
    except ScenarioError:
        if args.scenario is not None and Path(args.scenario).is_dir():
            why = "a folder, not a scenario: to compare two results folders, name both"
            raise ScenarioError("", why, args.scenario) from None
        raise
    if len(scenario.strategies) < 2:
        raise ScenarioError("strategies", "compare needs at least two", scenario.file)
    names = [s.name for s in scenario.strategies]
    if args.baseline is not None and args.baseline not in names:
        raise ScenarioError(
            "--baseline",
            f"no strategy {args.baseline!r} in {scenario.name} (its strategies: "
            f"{', '.join(names)})",
        )
    folder = out_folder(args, scenario, several=False)
    if folder is not None:
        with writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
    result = run_one(scenario, args, network_of(args))
    warn(result.summary)
    comparison = compare(result, args.resamples, args.baseline, args.holm)
    if folder is not None:
        from sim.report.results_dir import write_results

        with writing(folder):  # the run's files, its report.md showing the comparison
            written = write_results(result, folder, comparison=comparison)
        say_written(folder, written, args.quiet)
    _show(comparison, args.json)
    return exit_status([result.summary])


def _compare_folders(args: argparse.Namespace) -> int:
    for dest, (option, default) in args.run_options.items():
        if getattr(args, dest) != default:
            raise ScenarioError(option, "runs a scenario: two results folders were run already")
    if args.baseline is not None:
        raise ScenarioError(
            "--baseline", "is for a scenario's strategies: two folders compare B's with A's"
        )
    if args.out is BARE_OUT:
        raise ScenarioError("--out", "needs a folder to write two folders' comparison to")
    a, b = _saved(Path(args.scenario)), _saved(Path(args.other))
    if not set(a.requests) & set(b.requests):
        raise ScenarioError(
            "",
            f"{a.folder} and {b.folder} have no strategy in common (A: "
            f"{', '.join(a.requests)}; B: {', '.join(b.requests)})",
        )
    if args.out is not None and (args.out / "summary.json").exists():
        raise ScenarioError(
            "--out", f"{args.out} is a results folder: its report.md is its run's; name another"
        )
    comparison = compare_saved(a, b, args.resamples, args.holm)
    if args.out is not None:
        with writing(args.out):
            written = _write(comparison, args.out)
        say_written(args.out, written, args.quiet)
    _show(comparison, args.json)
    return 0


def _saved(folder: Path) -> SavedRun:
    """The run a results folder holds, checked; bad input is one line naming the file."""
    from sim.report.results_dir import SUMMARY, read_results

    shown = str(folder)
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        why = f"{what} (compare DIR_A DIR_B takes two folders written by run --out)"
        raise ScenarioError("", why, shown)
    if not (folder / SUMMARY).is_file():
        raise ScenarioError(SUMMARY, "missing: not a folder written by quoterace run --out", shown)
    summary, tables, _ = read_results(folder)
    seed = summary.get("seed")
    if type(seed) is not int or seed < 0:
        raise ScenarioError("seed", "missing or of the wrong type", str(folder / SUMMARY))
    requests = {
        name: Requests.of(t["slippage_bps"], t["outcome"], t["decision_ms"])
        for name, t in tables.items()
    }
    first = next(iter(tables.values()), None)
    side = np.empty(0) if first is None else first["side"]
    return SavedRun(shown, summary, requests, side)


def _write(comparison: dict[str, Any], folder: Path) -> list[Path]:
    """Two folders' comparison.json, comparison.csv and report.md, each atomically; their
    paths."""
    from sim.report.comparison import CSV_FILE, JSON_FILE, comparison_csv, comparison_json
    from sim.report.markdown import comparison_md

    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_atomic(folder / JSON_FILE, lambda f: f.write(comparison_json(comparison))),
        write_atomic(folder / CSV_FILE, lambda f: f.write(comparison_csv(comparison))),
        write_atomic(folder / "report.md", lambda f: f.write(comparison_md(comparison))),
    ]


def _show(comparison: dict[str, Any], as_json: bool) -> None:
    """The comparison on stdout, as a table or JSON; on stderr, a Holm adjustment that its
    resamples leave powerless."""
    if comparison["correction"] == "holm":
        rows = comparison["comparisons"].values()
        tests = sum(m["p_value"] is not None for metrics in rows for m in metrics.values())
        if comparison["resamples"] < holm_resamples(tests):
            print(
                f"quoterace: warning: no p-value is below 2/(resamples + 1), so Holm over "
                f"{tests} of them can reject nothing with {comparison['resamples']:,} "
                f"resamples: use --resamples {holm_resamples(tests)} or more",
                file=sys.stderr,
            )
    if as_json:
        from sim.report.comparison import comparison_json

        sys.stdout.write(comparison_json(comparison))
    else:
        from sim.report.console import print_comparison

        print_comparison(comparison)
