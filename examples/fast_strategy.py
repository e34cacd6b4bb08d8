"""A strategy of your own on both engines: a trio gatherer (`decide`) and the same rule over
arrays (`decide_arrays`) in one class. The fast engine takes any strategy whose class defines
`decide_arrays`, so the two must agree; this script checks that they do, on two bundled
scenarios, as you would check your own.

    python examples/fast_strategy.py [REQUESTS]
"""

import sys
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import sim
from strategies import register, scatter
from strategies.arrays import Decisions, QuoteArrays


@register
@dataclass(frozen=True)
class SecondWins:
    """Take the second quote to arrive, or at the timeout the only one."""

    kind: ClassVar[str] = "second_wins"
    timeout_ms: float = 10.0

    async def decide(self, request, venues):
        async with scatter(request, venues, timeout_s=self.timeout_ms * 1e-3) as quotes:
            first = await quotes.collect(2)
        return first[-1] if first else None

    def decide_arrays(self, quotes: QuoteArrays) -> Decisions:
        timeout = self.timeout_ms * 1e-3
        arrival = quotes.arrival(quotes.in_by(timeout))  # venue x request, inf: none
        came = np.isfinite(arrival).sum(axis=0)
        order = np.argsort(arrival, axis=0, kind="stable")  # equal times: lower venue first
        column = np.arange(quotes.requests)
        chosen = np.where(came > 0, order[np.clip(came, 1, 2) - 1, column], -1)
        second = came >= min(2, quotes.venues)  # else collect(2) waits for the timeout
        decided = np.where(second, arrival[np.maximum(chosen, 0), column], timeout)
        return Decisions.one(chosen, decided, timeout)


def main(requests: int) -> None:
    mine = SecondWins()
    for scenario in ("default", "stale-quotes"):
        on_trio = sim.run(scenario, [mine], engine="trio", requests=requests)
        on_fast = sim.run(scenario, [mine], engine="fast", requests=requests)
        same = on_trio.summary["strategies"] == on_fast.summary["strategies"]
        p50 = on_fast.summary["strategies"]["second_wins"]["decision_ms"]["p50"]
        print(f"{scenario}: decision p50 {p50:.3f} ms; trio and fast agree: {same}")
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
