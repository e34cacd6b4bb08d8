"""Sweep a strategy's parameter: first_k from k = 1 (first_wins) to k = 5 (best_price).

    python examples/sweep_first_k.py [REQUESTS]

Each k waits for one more quote: decision latency rises, the price chosen improves, and the
fill rate falls as quotes age under last look. Every run uses the same seed, so the points
differ only by k.
"""

import sys

import sim
from strategies import FirstK


def main(requests: int) -> None:
    print(f"{'k':>2} {'p99 decision ms':>16} {'fill rate':>10} {'mean slippage bps':>18}")
    for k in range(1, 6):
        result = sim.run("default", [FirstK(k=k, timeout_ms=10)], requests=requests)
        records = result.records("first_k")
        filled = records["outcome"] == sim.OUTCOMES.index("filled")
        summary = result.summary["strategies"]["first_k"]
        print(
            f"{k:>2} {summary['decision_ms']['p99']:>16.3f} {filled.mean():>10.1%} "
            f"{summary['slippage_bps']['mean']:>18.3f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
