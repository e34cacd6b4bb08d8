"""One venue of a scenario as a FIX server: the scenario's draws and market path, by name.

The server answers request i, attempt a with exactly the draws the simulator would use for
that venue, and reads the market path the scenario's seed makes at its own engine time (its
trio clock, which reads 0 when the run starts under sim.wallclock.WallClock or
venues.precise_clock.PreciseClock).
"""

from __future__ import annotations

from sim.draws import draw
from sim.errors import ScenarioError
from sim.market import MidPath
from sim.scenario import Scenario
from venues.fix_server import Limits, VenueServer
from venues.venue import VenueDraws


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
    draws = draw(scenario, attempts).venues[index]
    lists = VenueDraws(  # lists index faster than arrays, and hold Python floats
        draws.latency_s.tolist(),
        draws.answers.tolist(),
        draws.noise_bps.tolist(),
        draws.order_latency_s.tolist(),
        None if draws.service_s is None else draws.service_s.tolist(),
    )
    return VenueServer(
        scenario.venues[index],
        lists,
        MidPath(scenario.market, scenario.seed),
        index=index,
        network=network,
        limits=limits,
    )
