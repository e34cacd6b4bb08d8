"""`quoterace fit FILE`: from measured latencies to a scenario's `latency = {...}` line.

Reads one value a line, a CSV column (`--column`) or an HdrHistogram .hlog/.hgrm (`--unit`;
the fit weighs each bucket's midpoint by its count), fits every parametric family by maximum
likelihood, prints them ranked by AIC and then the best (or `--dist`) as a TOML line. scipy does
the fitting: it is the `fit` extra, imported only here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sim.cli.writing import writing
from sim.model.config import unknown_choice
from sim.model.errors import ScenarioError
from sim.model.latency_files import (
    UNITS,
    FileError,
    is_histogram,
    read_histogram,
    read_values,
    to_ms,
)


def add_command(commands: argparse._SubParsersAction) -> None:
    """Register `quoterace fit`."""
    fit = commands.add_parser(
        "fit", help="fit latency distributions to measurements and print the best as TOML"
    )
    fit.add_argument("file", type=Path, help="values one a line, a CSV, or an .hlog/.hgrm")
    fit.add_argument("--column", help="the CSV column that holds the latencies")
    fit.add_argument(
        "--unit", choices=UNITS, help="the values' unit (required for HdrHistogram files; else ms)"
    )
    fit.add_argument("--tag", help="an interval log's tag to fit (default: its untagged intervals)")
    fit.add_argument("--dist", metavar="FAMILY", help="print this family's line, not the best's")
    fit.add_argument("--out", type=Path, metavar="DIR", help="write a QQ plot per family here")
    fit.set_defaults(handler=_fit)


def _fit(args: argparse.Namespace) -> int:
    try:
        from sim.measure import fit
        from sim.report.qq_plots import qq_png
    except ImportError as e:
        if e.name != "scipy" and not (e.name or "").startswith("scipy."):
            raise
        raise ScenarioError("", "quoterace fit needs scipy: pip install 'quoterace[fit]'") from None
    from sim.report.atomic import write_atomic_bytes

    if args.dist is not None and args.dist not in fit.FAMILIES:
        raise ScenarioError("--dist", unknown_choice(args.dist, dict.fromkeys(fit.FAMILIES)))
    values_ms, weights = _measurements(args)
    fits = fit.fit_all(values_ms, weights)
    if not fits:
        raise ScenarioError("", f"{args.file}: no family fits (at least two different values?)")
    chosen = (
        fits[0] if args.dist is None else next((f for f in fits if f.family == args.dist), None)
    )
    if chosen is None:
        raise ScenarioError("--dist", f"{args.dist} cannot describe {args.file} (values of 0?)")
    count = int(weights.sum()) if weights is not None else values_ms.size
    print(f"{args.file}: {count:,} values, ranked by AIC (lower is better)")
    print(f"{'family':<12} {'parameters':<40} {'log-likelihood':>15} {'AIC':>15} {'KS':>8}")
    for f in fits:
        params = ", ".join(f"{name}={value:.4g}" for name, value in f.params)
        print(
            f"{f.family:<12} {params:<40} {f.log_likelihood:>15,.1f} {f.aic:>15,.1f} {f.ks:>8.4f}"
        )
    print()
    print(chosen.toml())
    if args.out is not None:
        with writing(args.out):
            for f in fits:
                write_atomic_bytes(args.out / f"qq-{f.family}.png", qq_png(f, values_ms, weights))
    return 0


def _measurements(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray | None]:
    """The values in ms, and their weights (an HdrHistogram's bucket counts) or None."""
    shown = str(args.file)
    if not args.file.is_file():
        what = "is not a regular file" if args.file.exists() else "no such file"
        raise ScenarioError("", f"{shown}: {what}")
    try:
        if is_histogram(args.file):
            if args.unit is None:
                raise ScenarioError(
                    "--unit", f"missing: the unit of {shown}'s values ({', '.join(UNITS)})"
                )
            buckets = read_histogram(args.file, shown, args.tag, "--tag")
            return to_ms(buckets.midpoints(), args.unit), buckets.counts
        if args.tag is not None:
            raise ScenarioError("--tag", f"{shown} is not an HdrHistogram interval log")
        return to_ms(read_values(args.file, shown, args.column), args.unit or "ms"), None
    except FileError as e:
        raise ScenarioError("", str(e)) from None
