"""A strategy's run against venues over the network (network mode).

The trio engine runs as ever, on the wall clock, but each venue is a FIX connection
(sim.network.connection) to a venue server: started here on 127.0.0.1 for each venue of the
scenario, or already running wherever `Network.remote` says. Venue and client agree on the
market through a shared epoch: the Unix time at which the mid path starts. Each strategy's run
reads the mid at (its engine time + when it started - the epoch), as the servers do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sim.draws import Draws
from sim.engine import Records, run_trio
from sim.market import MidPath
from sim.network.connection import Address, VenueConnection, connected
from sim.scenario import NamedStrategy, Scenario
from venues.fix_server import NETWORKS
from venues.wall_clock import PRECISE_SPIN_S, WallClock


@dataclass(frozen=True)
class Network:
    """How a run reaches its venues: `remote` maps venue names to (host, port) of servers
    already running (`quoterace venue`, started with the same scenario, requests, seed and
    `--epoch`); the others are started on 127.0.0.1 for the run, applying `latency`
    ("simulated": all the drawn latency; "real": the venue's own time only), loading the
    scenario from `source` (default: what `sim.run` was given, which must then be a file or a
    bundled name; the servers need only its venues, with the run's requests and seed).
    `precise`: timers that spin, on the client and the local servers. `epoch_unix`: the
    market's start, shared with every server (default: when the run starts)."""

    remote: dict[str, tuple[str, int]] = field(default_factory=dict)
    latency: str = "simulated"
    precise: bool = False
    epoch_unix: float | None = None
    source: str | Path | None = None

    def __post_init__(self) -> None:
        if self.latency not in NETWORKS:
            raise ValueError(f"latency: {self.latency!r} is not one of {NETWORKS}")


@dataclass(frozen=True)
class NetworkRecords:
    """One strategy's network run: its records, why each venue failed (None: it did not),
    and the market time at its engine time 0."""

    records: Records
    failures: dict[str, str | None]
    market_offset_s: float


def run_network(
    scenario: Scenario,
    entry: NamedStrategy,
    draws: Draws,
    path: MidPath,
    addresses: list[Address],
    *,
    epoch_unix: float,
    precise: bool,
    on_progress: Callable[[int], None] | None = None,
) -> NetworkRecords:
    """Race `entry` over connections to the venues at `addresses` (one per venue, in the
    scenario's order)."""
    clock = WallClock(PRECISE_SPIN_S if precise else 0.0)
    opened: list[VenueConnection] = []

    def mid(t: float) -> float:
        return path(t + (clock.started_unix - epoch_unix))

    @asynccontextmanager
    async def connect() -> AsyncIterator[list[VenueConnection]]:
        async with connected(addresses) as connections:
            opened.extend(connections)
            yield connections

    records = run_trio(
        draws,
        entry.strategy,
        venues=scenario.venues,
        mid=mid,
        order_size=scenario.order.size,
        max_retries=entry.max_retries,
        seed=scenario.seed,
        clock=clock,
        on_progress=on_progress,
        connect=connect,
    )
    return NetworkRecords(
        records,
        {c.name: c.failure for c in opened},
        clock.started_unix - epoch_unix,
    )
