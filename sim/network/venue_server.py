"""Venues of a scenario as FIX servers: the scenario's draws and market path, by name; one
process may serve several, a port each.

The server answers request i, attempt a with exactly the draws the simulator would use for
that venue, and reads the market path the scenario's seed makes at its own engine time (its
trio clock, which reads 0 when the run starts under venues.wall_clock.WallClock).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import signal
import time
from collections.abc import Callable, Sequence

import trio

from sim.model.draws import draw
from sim.model.errors import ScenarioError
from sim.model.scenario import Scenario
from venues.fix import Limits, VenueServer
from venues.wall_clock import WallClock


def venue_server(
    scenario: Scenario,
    venue: str,
    *,
    network: str = "simulated",
    limits: Limits | None = None,
    attempts: int | None = None,
) -> VenueServer:
    """The server of the venue named `venue` in `scenario` (see VenueServer for `network`
    and `limits`); draws for `attempts` tries per request (default: as the scenario's
    strategies need). ScenarioError for a venue the scenario does not have."""
    return venue_servers(scenario, [venue], network=network, limits=limits, attempts=attempts)[0]


def venue_servers(
    scenario: Scenario,
    venues: Sequence[str],
    *,
    network: str = "simulated",
    limits: Limits | None = None,
    attempts: int | None = None,
) -> list[VenueServer]:
    """The servers of the venues named `venues` in `scenario`, in that order, as
    `venue_server` makes each: drawn once, and sharing one market path (the same for all), so
    that one process serving them all makes each draw and each update once."""
    names = [spec.name for spec in scenario.venues]
    for venue in venues:
        if venue not in names:
            raise ScenarioError(
                "venues", f"no venue named {venue!r} (there are: {', '.join(names)})", scenario.file
            )
    drawn = draw(scenario, attempts).venues
    market = scenario.mid_path()
    return [
        VenueServer(
            scenario.venues[index],
            drawn[index].as_lists(),
            market,
            index=index,
            network=network,
            limits=limits,
            forget=market.forget_before,
            touch=market.touch if market.has_touch else None,
        )
        for index in map(names.index, venues)
    ]


def serve(
    servers: Sequence[VenueServer],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    timers: str | None = None,
    epoch_unix: float | None = None,
    ready: Callable[[str, list[int]], None] = lambda host, ports: None,
) -> None:
    """Serve every one of `servers` from this process, on `host`, until SIGTERM or Ctrl-C:
    server i on port `port` + i (port 0: any free port each); `ready(host, ports)` once they
    all listen, with the port of each. One process for all a run's venues, rather than one
    each, is what keeps network mode honest on a small machine: a race's requests wake one
    process, not one per venue, and no venue waits for a core behind the others. Their market
    path starts at Unix time `epoch_unix` (default: now), so that clients told the same epoch
    read the same mid. `timers`: see venues.wall_clock (default: precise where that costs
    nothing)."""
    clock = WallClock(timers)

    async def main() -> None:
        now = trio.current_time()
        epoch = now if epoch_unix is None else now - (time.time() - epoch_unix)  # one for all
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                ports = []
                for i, server in enumerate(servers):
                    at = port + i if port else 0
                    serving = functools.partial(server.serve, at, host, epoch=epoch)
                    ports.append(await nursery.start(serving))
                ready(host, ports)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    # the servers' draws and market out of full collections, which would stop every venue
    # (sim.network.run.frozen_heap)
    gc.freeze()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop serving, quietly
        trio.run(main, clock=clock)
