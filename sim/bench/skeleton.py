"""A bare trio skeleton of the engine: the same spawns, sleeps and cancels, nothing else.

The yardstick for the engine's overhead (docs/design.md section 9): no gatherer, no quotes, no
strategy objects, no market, no last look, no records. `first` races end when the first venue
wakes (it cancels the race's nursery); otherwise a race waits for every venue. Either way the
timeout cancels it. Then the race sleeps once for an order's round trip, as the engine's
order leg does (to the first venue that answered: in virtual time a sleep costs the same
whatever its length, so which venue does not matter).
"""

from __future__ import annotations

import trio
import trio.testing

from sim.model.draws import Draws


def run_skeleton(draws: Draws, *, first: bool, timeout_s: float) -> None:
    """Race every request of `draws` with bare nurseries and sleeps, in virtual time."""
    arrivals = draws.arrival_s.tolist()
    latencies = list(zip(*(lat.tolist() for lat in draws.latency_s), strict=True))
    answers = list(zip(*(a.tolist() for a in draws.answers), strict=True))
    orders = list(zip(*(v.order_latency_s[0].tolist() for v in draws.venues), strict=True))

    async def venue(deadline: float, answers: bool, race: trio.CancelScope | None) -> None:
        if not answers:
            await trio.sleep_forever()
        await trio.sleep_until(deadline)
        if race is not None:
            race.cancel()

    async def race(i: int, t0: float) -> None:
        with trio.move_on_at(t0 + timeout_s):
            async with trio.open_nursery() as nursery:
                scope = nursery.cancel_scope if first else None
                for latency, answer in zip(latencies[i], answers[i], strict=True):
                    nursery.start_soon(venue, t0 + latency, answer, scope)
        pairs = zip(latencies[i], answers[i], strict=True)
        answered = [(latency, v) for v, (latency, answer) in enumerate(pairs) if answer]
        if answered and min(answered)[0] <= timeout_s:
            await trio.sleep(orders[i][min(answered)[1]])

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for i, t0 in enumerate(arrivals):
                await trio.sleep_until(t0)
                nursery.start_soon(race, i, t0)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
