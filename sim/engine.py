"""The trio engine: every request a race in virtual time.

Requests start on the arrival schedule, so races overlap when arrivals outpace latency. Each
race hands the strategy the request and the venues; the strategy scatters with a nursery and
decides under a cancel scope. The clock is trio's MockClock with autojump: whenever every task
is blocked, time jumps to the next deadline, so a simulated hour costs only CPU time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import trio
import trio.testing

from sim.draws import Draws
from strategies.registry import Strategy
from venues.messages import QuoteRequest
from venues.venue import Venue

# A race still running this long after the last arrival is stuck (a strategy that never gives
# up on a venue that never answers): twice the longest timeout a strategy accepts (one hour).
# The run stops there instead of waiting forever.
STUCK_AFTER_S = 7200.0


class StuckRaceError(RuntimeError):
    """Some race had not decided an hour of virtual time after the last request arrived."""


@dataclass(frozen=True)
class Records:
    """Per-request outcomes of one strategy's run, indexed by request.

    `decision_s[i]`: decision time minus arrival time, NaN when the race ended with no quote;
    `venue[i]`: index of the chosen venue, -1 for none; `venue_requests[v]`: quote requests
    venue v received in the whole run.
    """

    decision_s: np.ndarray
    venue: np.ndarray
    venue_requests: np.ndarray


def run_trio(draws: Draws, strategy: Strategy) -> Records:
    """Run every request of `draws` as a race decided by `strategy`, in virtual time."""
    n = draws.requests
    arrivals = draws.arrival_s.tolist()
    venues = [
        Venue(v, latency.tolist(), answers.tolist())
        for v, (latency, answers) in enumerate(zip(draws.latency_s, draws.answers, strict=True))
    ]
    decision = [math.nan] * n
    chosen = [-1] * n

    async def race(i: int, t0: float) -> None:
        quote = await strategy.decide(QuoteRequest(i, t0), venues)
        if quote is not None:
            decision[i] = trio.current_time() - t0
            chosen[i] = quote.venue

    async def main() -> None:
        horizon = (arrivals[-1] if arrivals else 0.0) + STUCK_AFTER_S
        with trio.move_on_at(horizon) as guard:
            async with trio.open_nursery() as nursery:
                for i, t0 in enumerate(arrivals):
                    await trio.sleep_until(t0)
                    nursery.start_soon(race, i, t0)
        if guard.cancelled_caught:
            raise StuckRaceError(
                f"races still undecided {STUCK_AFTER_S:g} s after the last arrival"
            )

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return Records(
        decision_s=np.array(decision),
        venue=np.array(chosen, dtype=np.int32),
        venue_requests=np.array([v.requests for v in venues], dtype=np.int64),
    )
