"""One venue of a scenario as a FIX server: the scenario's draws and market path, by name.

The server answers request i, attempt a with exactly the draws the simulator would use for
that venue, and reads the market path the scenario's seed makes at its own engine time (its
trio clock, which reads 0 when the run starts under venues.wall_clock.WallClock).
"""

from __future__ import annotations

import contextlib
import functools
import signal
import time
from collections.abc import Callable

import trio

from sim.model.draws import draw
from sim.model.errors import ScenarioError
from sim.model.market import MidPath
from sim.model.scenario import Scenario
from venues.fix import Limits, VenueServer
from venues.wall_clock import PRECISE_SPIN_S, WallClock


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
    names = [spec.name for spec in scenario.venues]
    if venue not in names:
        raise ScenarioError(
            "venues", f"no venue named {venue!r} (there are: {', '.join(names)})", scenario.file
        )
    index = names.index(venue)
    lists = draw(scenario, attempts).venues[index].as_lists()
    market = MidPath(scenario.market, scenario.seed)
    return VenueServer(
        scenario.venues[index],
        lists,
        market,
        index=index,
        network=network,
        limits=limits,
        forget=market.forget_before,
    )


def serve(
    server: VenueServer,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    precise: bool = False,
    epoch_unix: float | None = None,
    ready: Callable[[str, int], None] = lambda host, port: None,
) -> None:
    """Serve `server` on `host`:`port` until SIGTERM or Ctrl-C; `ready(host, port)` once it
    listens (port 0: any free one). Its market path starts at Unix time `epoch_unix` (default:
    now), so that clients told the same epoch read the same mid. `precise`: timers that spin
    (venues.wall_clock) instead of waking up to a millisecond late."""
    clock = WallClock(PRECISE_SPIN_S if precise else 0.0)

    async def main() -> None:
        epoch = None if epoch_unix is None else trio.current_time() - (time.time() - epoch_unix)
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                bound = await nursery.start(
                    functools.partial(server.serve, port, host, epoch=epoch)
                )
                ready(host, bound)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop serving, quietly
        trio.run(main, clock=clock)
