"""A run against venues over the network (network mode).

The trio engine runs as ever, on the wall clock, but each venue is a FIX connection
(sim.network.connection) to a venue server: started here on 127.0.0.1 for each venue of the
scenario (sim.network.launch), or already running wherever `Network.remote` says. Venues and
client agree on the market through a shared epoch, the Unix time at which the mid path starts:
each strategy's run reads the mid at its engine time + (when it started - the epoch), as the
servers do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import gc
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sim.engines.records import Records
from sim.engines.trio import Remote
from sim.measure.quality import arrival_touches, oracle_prices
from sim.measure.run import RunResult, strategy_result, summarize, trio_records
from sim.model.draws import Draws, draw
from sim.model.errors import ScenarioError
from sim.model.market import MidPath
from sim.model.scenario import NamedStrategy, Scenario, resolve
from sim.network.connection import Address, VenueConnection, connected
from sim.network.launch import ServerStartError, local_venues
from venues.fix import NETWORKS
from venues.wall_clock import WallClock, precise_timers


@dataclass(frozen=True)
class Network:
    """How a run reaches its venues: `remote` maps venue names to (host, port) of servers
    already running (`quoterace venue`, started with the same scenario, requests, seed and
    `--epoch`, or any FIX 4.4 venue), or to an Address (its CompIDs, and whether to ask for
    quoterace's own tags); the others are started on 127.0.0.1 for the run, applying `latency`
    ("simulated": all the drawn latency; "real": the venue's own time only), loading the
    scenario from `source` (default: what `sim.run` was given, which must then be a file or a
    bundled name; the servers need only its venues, with the run's requests and seed).
    `timers` (venues.wall_clock.TIMERS): the client's and the local servers' timers; by
    default precise where that costs nothing (a timerfd), else epoll's on the servers and
    spinning ones on the client (a request its timer sends late is decided late, which in
    process a venue's sleep to its due time would hide). `epoch_unix`: the market's start,
    shared with every server (default: when the run starts)."""

    remote: dict[str, tuple[str, int] | Address] = field(default_factory=dict)
    latency: str = "simulated"
    timers: str | None = None
    epoch_unix: float | None = None
    source: str | Path | None = None

    def __post_init__(self) -> None:
        if self.latency not in NETWORKS:
            raise ValueError(f"latency: {self.latency!r} is not one of {NETWORKS}")
        WallClock(self.timers)  # ValueError now for timers this system does not have

    def run(
        self,
        scenario: Scenario,
        source: str | Path | None,
        progress: Callable[[str, int], None] | None,
        engine: str,
    ) -> RunResult:
        """`sim.run(scenario, ..., network=self)`: see `over_network`."""
        return over_network(scenario, source, self, progress, engine)


EPOCH_PAST_S = 3600.0  # how old a market epoch may be: its path is made from the epoch on


def check_epoch(epoch_unix: float) -> None:
    """A market epoch must be at most EPOCH_PAST_S ago, and not in the future (a minute of
    clock difference allowed): the path from it to now is made, and held, on first use."""
    now = time.time()
    if now - EPOCH_PAST_S <= epoch_unix <= now + 60.0:
        return
    when = "in the future" if epoch_unix > now else f"{now - epoch_unix:,.0f} s ago"
    raise ScenarioError(
        "--epoch",
        f"the market epoch {epoch_unix:.15g} ({_utc(epoch_unix)}) is {when}: it must be a Unix "
        f"time in seconds within the last {EPOCH_PAST_S:g} s (now: {now:.0f})",
    )


def _utc(unix: float) -> str:
    """`unix` as a UTC date and time, or "beyond year 9999" for a number too large."""
    try:
        return datetime.datetime.fromtimestamp(unix, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):
        return "beyond year 9999"


def over_network(
    scenario: Scenario,
    source: str | Path | None,
    network: Network,
    progress: Callable[[str, int], None] | None,
    engine: str,
) -> RunResult:
    """`sim.run` with every venue a FIX server (`source`: what it was given, if a file or a
    name)."""
    if engine == "fast":
        raise ScenarioError("--engine", "network mode races on the trio engine: drop it")
    local, source = _started_here(scenario, network, source)
    scenario = scenario.with_overrides(clock="real")
    epoch = time.time() if network.epoch_unix is None else network.epoch_unix
    check_epoch(epoch)
    draws = draw(scenario)
    path = scenario.mid_path()
    servers = (
        local_venues(
            resolve(source),
            local,
            requests=scenario.requests,
            seed=scenario.seed,
            attempts=len(draws.venues[0].latency_s),
            epoch_unix=epoch,
            latency=network.latency,
            timers=network.timers,
        )
        if local
        else contextlib.nullcontext([])
    )
    asked = network.timers or precise_timers()
    client_timers: set[str] = set()  # as used: a clock without a timerfd falls back to epoll
    results, tallies, failures, rejects = {}, {}, {}, {}
    try:
        with servers as started:
            # quoterace's own tags are asked only of the venues started here
            at = {a.name: dataclasses.replace(a, extras=True) for a in started}
            names = [v.name for v in scenario.venues]
            addresses = [at.get(n) or _remote(n, network.remote[n]) for n in names]
            for entry in scenario.strategies:
                path.forget_before(time.time() - epoch - 1.0)  # each run reads from its start
                clock = WallClock(asked)  # a request late to leave is late to decide
                records, failures[entry.name], rejects[entry.name] = _race(
                    scenario, entry, draws, progress, addresses, clock, path, epoch
                )
                client_timers.add(clock.timers)
                arrived = records.arrival_s + (clock.started_unix - epoch)
                mids, touches = path.at(arrived), arrival_touches(path, arrived, draws.side)
                oracle = oracle_prices(draws, scenario.venues, mids, scenario.order.size, touches)
                results[entry.name], tally = strategy_result(
                    scenario, draws, entry.name, records, mids, oracle
                )
                tallies[entry.name] = tally, records
    except ServerStartError as e:
        raise ScenarioError("--network", str(e), scenario.file) from None
    where = {
        "venues": {a.name: str(a) for a in addresses},
        "started_here": local,
        "latency": network.latency if local else None,
        "timers": WallClock(network.timers).timers if local else None,  # the servers'
        "client_timers": "/".join(sorted(client_timers)),
        "epoch_unix": epoch,
        "session_rejects": rejects,
    }
    return RunResult(
        scenario, draws, results, summarize(scenario, tallies, "trio", where, failures)
    )


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave every object that exists now out of the garbage collector's full collections
    until the block ends (gc.freeze). A full collection goes through every object the process
    holds (the draws, the market, the scenario's lists): measured in a network run's client,
    20 to 25 ms with the event loop stopped, twice in 4,000 races, every race in flight then
    late or timed out. What the block makes is still collected."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _remote(name: str, where: tuple[str, int] | Address) -> Address:
    """Venue `name`'s Address, from `Network.remote`."""
    if isinstance(where, Address):
        return dataclasses.replace(where, name=name)
    return Address(name, *where)


def _started_here(
    scenario: Scenario, network: Network, source: str | Path | None
) -> tuple[list[str], str | Path | None]:
    """The venues whose servers the run starts (those not remote), and the scenario they
    load; checks that every remote venue is one of the scenario's."""
    names = [v.name for v in scenario.venues]
    for name in network.remote:
        if name not in names:
            raise ScenarioError(
                "--venue", f"no venue named {name!r} (there are: {', '.join(names)})"
            )
    local = [name for name in names if name not in network.remote]
    source = network.source or source
    if local and source is None:
        raise ScenarioError(
            "--network", "venue servers started here need the scenario as a file or bundled name"
        )
    return local, source


def _race(
    scenario: Scenario,
    entry: NamedStrategy,
    draws: Draws,
    progress: Callable[[str, int], None] | None,
    addresses: list[Address],
    clock: WallClock,
    path: MidPath,
    epoch: float,
) -> tuple[Records, dict[str, str | None], dict[str, list[str]]]:
    """One strategy's run against the venues at `addresses`, on `clock`, with the market
    `path` from `epoch` (Unix time). Its records, why any venue failed (None if none), and
    each venue's session-level Rejects (as text)."""
    opened: list[VenueConnection] = []

    def mid(t: float) -> float:  # engine time counts from when the clock started
        return path(t + (clock.started_unix - epoch))

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[list[VenueConnection]]:
        async with connected(addresses) as connections:
            opened.extend(connections)
            yield connections

    clients = scenario.arrivals.clients if scenario.arrivals.closed else None
    with frozen_heap():
        records = trio_records(
            scenario, entry, draws, mid, clients, progress, Remote(clock, connect)
        )
    return records, {c.name: c.failure for c in opened}, {c.name: c.rejects for c in opened}
