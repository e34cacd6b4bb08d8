"""Write your own gatherer and compare it with the built-in strategies on the same draws.

    python examples/custom_strategy.py [REQUESTS]

`second_look` takes the first quote unless a better one arrives within a short grace period:
a first_wins that gives the market one more look. Registering it makes `second_look` a kind
that scenario files run from this process (by `sim.run`) can use too.
"""

import sys

from rich.console import Console
from rich.table import Table

import sim
from strategies import BestPrice, FirstK, FirstWins, best, register, scatter


@register
async def second_look(request, venues, *, grace_ms: float = 0.3, timeout_ms: float = 50.0):
    """Take the first quote, or a better one that arrives within `grace_ms` of it."""
    async with scatter(request, venues, timeout_s=timeout_ms * 1e-3) as quotes:
        first = await quotes.collect(1)
        if not first:
            return None
        within = first[0].arrived_after_s + grace_ms * 1e-3
        return best(first + await quotes.collect(within_s=within), request)


def main(requests: int) -> None:
    strategies = [FirstWins(timeout_ms=50), second_look(), FirstK(k=2), BestPrice(timeout_ms=10)]
    result = sim.run("default", strategies, requests=requests)
    table = Table(title=f"default scenario, {requests:,} requests, same draws for every strategy")
    for column in ("strategy", "p50 ms", "p99 ms", "fill rate", "slippage bps"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, s in result.summary["strategies"].items():
        table.add_row(
            name,
            f"{s['decision_ms']['p50']:.3f}",
            f"{s['decision_ms']['p99']:.3f}",
            f"{s['fill_rate']:.1%}",
            f"{s['slippage_bps']['mean']:.3f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
