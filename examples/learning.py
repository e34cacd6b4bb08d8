"""Strategies that learn within a run: hedging against a slow tail, and adaptive venue choice.

    python examples/learning.py [REQUESTS]

Hedging: three venues, each answering in about 1 ms but in 20 ms 3% of the time. One venue
alone has a 20 ms p99; a backup request after the observed p95 cuts it for about 5% more load,
and a budget of 1% is too small to (3% of requests are slow).

Adaptive: four venues, one always 8 ms, one that never fills an order (half a unit of depth).
Picking one venue by EWMA latency over fill rate (the expected time to a fill), with power of
two choices, asks the venue that never fills only to explore (a random pick 10% of the time:
2.5% of requests) and the slow one then too and whenever the two venues it compares are the
slow and the empty one (a sixth of the other picks): about 17.5% of requests. It fills about
97.5% of requests; picking uniformly at random sends each venue a quarter and fills 75%.
"""

import sys

import sim
from sim.model.scenario import parse

SLOW_TAIL = {
    "dist": "mixture",
    "components": [
        {"weight": 0.97, "dist": "lognormal", "median_ms": 1, "sigma": 0.2},
        {"weight": 0.03, "dist": "constant", "ms": 20},
    ],
}

HEDGING = {
    "scenario": {"seed": 2},
    "arrivals": {"rate_per_s": 2000},
    "venues": [{"name": name, "latency": SLOW_TAIL} for name in "abc"],
    "strategies": [
        {"kind": "hedged", "name": "one_venue", "max_attempts": 1},
        {"kind": "hedged", "name": "hedged_p95", "budget": 0.1},
        {"kind": "hedged", "name": "budget_1pct", "budget": 0.01},
    ],
}

ADAPTIVE = {
    "scenario": {"seed": 2},
    "arrivals": {"rate_per_s": 2000},
    "venues": [
        {"name": "slow", "latency": {"dist": "constant", "ms": 8}},
        {"name": "a", "latency": {"dist": "exponential", "mean_ms": 1}},
        {"name": "b", "latency": {"dist": "exponential", "mean_ms": 1}},
        {
            "name": "empty",
            "latency": {"dist": "exponential", "mean_ms": 0.3},
            "depth": [{"size": 0.5, "spread_bps": 1}],
        },
    ],
    "strategies": [
        {"kind": "adaptive", "fanout": 1},
        {"kind": "adaptive", "name": "uniform", "fanout": 1, "explore": 1.0},
    ],
}


def hedging(requests: int) -> dict:
    """Each hedging strategy's summary, by name."""
    return sim.run(parse(HEDGING, default_name="hedging"), requests=requests).summary["strategies"]


def adaptive(requests: int) -> dict:
    """The adaptive and uniform strategies' summaries, by name."""
    scenario = parse(ADAPTIVE, default_name="adaptive")
    return sim.run(scenario, requests=requests).summary["strategies"]


def main(requests: int) -> None:
    print(f"{'hedging':<12} {'p99 ms':>8} {'p99.9 ms':>9} {'venue req/decision':>19}")
    for name, s in hedging(requests).items():
        d, load = s["decision_ms"], s["venue_requests_per_decision"]
        print(f"{name:<12} {d['p99']:>8.3f} {d['p99.9']:>9.3f} {load:>19.4f}")
    print(f"\n{'adaptive':<12} {'slow wins':>10} {'empty wins':>11} {'fill rate':>10}")
    for name, s in adaptive(requests).items():
        wins = s["venue_wins"]
        print(f"{name:<12} {wins['slow']:>10} {wins['empty']:>11} {s['fill_rate']:>10.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
