"""The command line of network mode: `quoterace venue`, and the network options of run and
compare (`--network`, `--venue NAME=HOST:PORT[/TARGET[/SENDER]][+extras]`, `--latency`,
`--timers`, `--epoch`)."""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING

from sim.cli.arguments import count, port, seed
from sim.model.errors import ScenarioError
from sim.model.scenario import load

if TYPE_CHECKING:
    from sim.network.connection import Address
    from sim.network.run import Network

# network mode (sim.network, venues.fix) and the wall clock (venues.wall_clock) are imported
# once a command uses them: a run in process parses these options without loading FIX servers,
# connections or trio. So the latencies servers apply (venues.fix.NETWORKS) and the timers
# (venues.wall_clock.TIMERS) are named here too (tests/sim/test_startup.py holds them equal).
NETWORKS = ("simulated", "real")
TIMERS = ("timerfd", "spin", "epoll")

_ADDRESS = re.compile(
    r"([^=]+)=([^/+]+):([0-9]{1,5})(?:/([\x21-\x2a\x2c-\x2e\x30-\x7e]{1,64}))?"
    r"(?:/([\x21-\x2a\x2c-\x2e\x30-\x7e]{1,64}))?(\+extras)?"
)
_FORM = "NAME=HOST:PORT[/TARGET[/SENDER]][+extras]"


def _address(text: str) -> tuple[str, Address]:
    """An argparse type: NAME=HOST:PORT, then optionally the venue's CompID (TARGET, default
    NAME) and ours (SENDER, default QUOTERACE), and +extras to ask the venue (a quoterace
    venue) for quoterace's own tags."""
    match = _ADDRESS.fullmatch(text)
    if match is None or not 0 < int(match[3]) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not {_FORM} (a port 1-65535)")
    from sim.network.connection import SENDER, Address

    host, port, target, sender = match[2].strip("[]"), int(match[3]), match[4], match[5]
    return match[1], Address(match[1], host, port, target, sender or SENDER, bool(match[6]))


def _unix_time(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a Unix time in seconds, such as 1795000000.5")
    return value


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """The options that put a run's venues on the network."""
    group = parser.add_argument_group("network mode: venues as FIX servers over TCP")
    group.add_argument(
        "--network",
        action="store_true",
        help="serve every venue from one process on 127.0.0.1, a port each, and race them over TCP",
    )
    group.add_argument(
        "--venue",
        dest="venues",
        action="append",
        type=_address,
        metavar=_FORM,
        help="a FIX 4.4 venue already served there (quoterace venue, or any); implies --network "
        "(repeatable). TARGET: its CompID (default NAME); SENDER: ours (default QUOTERACE); "
        "+extras: ask it for quoterace's own tags (a quoterace venue only)",
    )
    group.add_argument(
        "--latency",
        choices=NETWORKS,
        help="what servers started here apply: all the drawn latency (default) or only the "
        "venue's own time, the real network being the rest",
    )
    group.add_argument(
        "--timers",
        choices=TIMERS,
        help="the client's and the servers' timers: a timerfd (default where there is one: "
        "precise, at no cost), spinning (precise, a core busy) or epoll's (~1 ms late)",
    )
    group.add_argument(
        "--epoch",
        type=_unix_time,
        help="Unix time the market starts at, as given to the venues (default: now)",
    )


def network_of(args: argparse.Namespace) -> Network | None:
    """The Network that run and compare's options ask for, or None for in-process venues."""
    if not (args.network or args.venues):
        alone = {"--latency": args.latency, "--timers": args.timers, "--epoch": args.epoch}
        for option, value in alone.items():
            if value not in (None, False):
                raise ScenarioError(option, "applies to network mode: add --network")
        return None
    if args.clock == "virtual":
        raise ScenarioError("--clock", "network mode runs on the wall clock: drop --clock virtual")
    remote = dict(args.venues or ())
    if len(remote) < len(args.venues or ()):
        raise ScenarioError("--venue", "a venue given twice")
    from sim.network.run import Network

    # local servers load the scenario file themselves, with the run's requests and seed
    _check_timers(args.timers)
    scenario = args.scenario or "default"  # run and compare's default
    return Network(remote, args.latency or "simulated", args.timers, args.epoch, scenario)


def _check_timers(timers: str | None) -> None:
    """ScenarioError for timers this system does not have (a timerfd, not on Linux)."""
    from venues.wall_clock import precise_timers

    if timers == "timerfd" != precise_timers():
        raise ScenarioError("--timers", "this system has no timerfd (use 'spin')")


def add_venue_command(commands: argparse._SubParsersAction) -> None:
    """`quoterace venue`: serve venues of a scenario, one or several from one process."""
    venue = commands.add_parser(
        "venue", help="serve venues of a scenario as FIX 4.4 servers over TCP, a port each"
    )
    venue.add_argument("scenario", help="bundled name or path")
    venue.add_argument(
        "--venue",
        dest="names",
        action="append",
        required=True,
        metavar="NAME",
        help="a venue's name (repeatable: one process serves them all, a port each)",
    )
    venue.add_argument(
        "--port",
        type=port,
        default=0,
        help="default: any free port; with several venues, the first's, the next ones following",
    )
    venue.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    venue.add_argument("--seed", type=seed, help="override the scenario's seed")
    venue.add_argument("--requests", type=count, help="override the number of requests")
    venue.add_argument("--attempts", type=count, help="tries per request to draw for")
    venue.add_argument("--latency", choices=NETWORKS, default="simulated", help="see run --latency")
    venue.add_argument("--timers", choices=TIMERS, help="see run --timers")
    venue.add_argument("--epoch", type=_unix_time, help="Unix time the market starts at")
    venue.set_defaults(handler=serve_venue)


def serve_venue(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or Ctrl-C; once listening, print "listening on HOST:PORT" (with
    several venues, a line each in the order given, ending "for NAME")."""
    names = args.names
    if len(set(names)) < len(names):
        raise ScenarioError("--venue", "a venue given twice")
    if args.port and args.port + len(names) - 1 > 65535:
        raise ScenarioError("--port", f"{len(names)} venues from {args.port} run past 65535")
    from sim.network.run import check_epoch
    from sim.network.venue_server import serve, venue_servers

    scenario = load(args.scenario).with_overrides(seed=args.seed, requests=args.requests)
    if args.epoch is not None:
        check_epoch(args.epoch)
    _check_timers(args.timers)
    servers = venue_servers(scenario, names, network=args.latency, attempts=args.attempts)

    def ready(host: str, ports: list[int]) -> None:
        for name, bound in zip(names, ports, strict=True):
            print(f"listening on {host}:{bound}" + (f" for {name}" if len(names) > 1 else ""))
        sys.stdout.flush()

    try:
        serve(
            servers,
            host=args.host,
            port=args.port,
            timers=args.timers,
            epoch_unix=args.epoch,
            ready=ready,
        )
    except* OSError as group:
        e = group.exceptions[0]
        while isinstance(e, BaseExceptionGroup):  # nurseries nest their errors
            e = e.exceptions[0]
        last = args.port + len(names) - 1 if args.port else 0
        where = f"{args.host}:{args.port}" + (f"-{last}" if last > args.port else "")
        raise ScenarioError("--port", f"cannot listen on {where}: {e.strerror or e}") from None
    return 0
