"""`quoterace scenarios`, `strategies` and `validate`: what there is, and whether a file is
right. They load scenarios only (validate also draws them, as a run would), so they start fast
(no engine run, no plotting)."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import textwrap

from sim.model.config import bounds_text
from sim.model.draws import draw, draw_chunks
from sim.model.scenario import Scenario, bundled, load
from sim.model.streams import BLOCK
from strategies.registry import STRATEGIES


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the three catalog commands."""
    commands.add_parser("scenarios", help="list the bundled scenarios").set_defaults(
        handler=_scenarios
    )
    commands.add_parser(
        "strategies", help="list the strategy kinds and their parameters"
    ).set_defaults(handler=_strategies)
    validate = commands.add_parser("validate", help="check scenario files")
    validate.add_argument("files", nargs="+", help="scenario files or bundled names")
    validate.set_defaults(handler=_validate)


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
            if f.init and f.name != "name":  # every strategy's: what it is called in results
                bounds = bounds_text(f.metadata)
                print(f"    {f.name} = {f.default!r}" + (f"  ({bounds})" if bounds else ""))
        for paragraph in doc[1:]:
            print(textwrap.fill(paragraph, 96, initial_indent="    ", subsequent_indent="    "))
        print()
    return 0


def _validate(args: argparse.Namespace) -> int:
    for file in args.files:
        scenario = load(file)
        _draw(scenario)
        counts = (
            _count_of(len(scenario.venues), "venue"),
            _count_of(len(scenario.strategies), "strategy", "strategies"),
            _count_of(scenario.requests, "request"),
        )
        print(f"{file}: ok ({', '.join(counts)})")
    return 0


def _draw(scenario: Scenario) -> None:
    """Make every draw a run of `scenario` makes, a chunk at a time, and drop them: a run
    refuses draws that overflow or orders that would not return within the hour
    (sim.model.draws), and a file that validates must not fail so when run."""
    if scenario.arrivals.closed or scenario.requests == 0:
        draw(scenario)
        return
    for _ in draw_chunks(scenario, 4 * BLOCK):
        pass


def _count_of(n: int, one: str, many: str | None = None) -> str:
    """`n` things, in the singular for one."""
    return f"{n:,} {one if n == 1 else many or one + 's'}"
