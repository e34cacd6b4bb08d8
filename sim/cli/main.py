"""The `quoterace` command (also `python -m sim`): one parser, a subcommand per module.

Each command module registers its parser and handler (`set_defaults(handler=...)`); the
handlers import what only they need (plotting, sweeps, the benchmark), so `quoterace --help`,
`scenarios` and `validate` start without them.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from sim.cli import bench, catalog, compare, fit, run, sweep
from sim.cli.network import add_venue_command
from sim.model.errors import ScenarioError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    """The whole command line: every subcommand with its handler."""
    top = _Parser(prog="quoterace", description="Race quote requests across simulated venues.")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run.add_commands(commands)
    compare.add_command(commands)
    sweep.add_command(commands)
    add_venue_command(commands)
    catalog.add_commands(commands)
    bench.add_command(commands)
    fit.add_command(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except ScenarioError as e:
        print(e, file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # stdout closed early (`| head`): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return _interrupted()
    except SystemError as e:
        if not _by_ctrl_c(e):
            raise
        return _interrupted()


def command() -> NoReturn:
    """The `quoterace` console script (and `python -m sim`): `main`, then exit. What the run
    made stays until the process ends, which frees it all at once: frozen first, the
    interpreter's last collections do not walk it (a tenth of a second with numba loaded)."""
    status = main()
    gc.freeze()
    sys.exit(status)


def _interrupted() -> int:
    print("quoterace: interrupted", file=sys.stderr)
    return 130


def _by_ctrl_c(error: BaseException | None) -> bool:
    """Whether `error` was caused by Ctrl-C: numba, handing a compiled scan's arrays back in
    the main thread as the KeyboardInterrupt comes, raises a SystemError chained to it."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False
