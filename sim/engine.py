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
from strategies.scatter import LastEvent, last_event
from venues.messages import QuoteRequest
from venues.venue import Venue

# A race still running this long after the last arrival is stuck (a strategy that never gives
# up on a venue that never answers): twice the longest timeout a strategy accepts (one hour).
# The run stops there instead of waiting forever.
STUCK_AFTER_S = 7200.0


# Clock arithmetic is off from the exact event time by an ulp of engine time (1.2e-10 s at the
# longest span a scenario allows); anything further off is a different event.
CLOCK_SLACK_S = 1e-6


class StuckRaceError(RuntimeError):
    """Some race had not decided STUCK_AFTER_S of virtual time after the last arrival."""


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


def _decision_latency(clock_s: float, exact_s: float) -> float:
    """The exact event time when the decision came with the gather's last event, else the
    clock (a strategy that waited on something else)."""
    return exact_s if abs(clock_s - exact_s) <= CLOCK_SLACK_S else clock_s


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
        event = LastEvent()
        last_event.set(event)  # this race's task has its own context
        quote = await strategy.decide(QuoteRequest(i, t0), venues)
        if quote is not None:
            decision[i] = _decision_latency(trio.current_time() - t0, event.elapsed_s)
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
