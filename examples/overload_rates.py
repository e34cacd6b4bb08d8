"""The bundled "overload" scenario at rising arrival rates: p99 decision latency per strategy.

    python examples/overload_rates.py [REQUESTS]

Scatter-to-all (first_wins, first_k, best_price) loads every venue with the whole arrival rate;
adaptive (fanout 1) sends each request to one venue. At low rates scattering cuts the tail; as
the venues fill up it creates one. These are the figures quoted in the scenario's description
(5000 requests, its default).
"""

import dataclasses
import sys

import sim

RATES = (200.0, 500.0, 700.0, 900.0)


def main(requests: int) -> None:
    overload = sim.load("overload").with_overrides(requests=requests)
    names = [s.name for s in overload.strategies]
    print(f"{'rate/s':>7} " + " ".join(f"{n:>11}" for n in names) + f" {'busiest venue':>14}")
    for rate in RATES:
        arrivals = dataclasses.replace(overload.arrivals, rate_per_s=rate)
        summary = sim.run(dataclasses.replace(overload, arrivals=arrivals)).summary
        p99 = [summary["strategies"][n]["decision_ms"]["p99"] for n in names]
        busiest = max(summary["strategies"]["first_wins"]["venue_utilization"].values())
        print(f"{rate:>7.0f} " + " ".join(f"{v:>11.2f}" for v in p99) + f" {busiest:>14.0%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
