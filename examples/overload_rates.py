"""The bundled "overload" scenario at rising arrival rates: p99 decision latency per strategy.

    python examples/overload_rates.py [REQUESTS]

Scatter-to-all (first_wins, first_k, best_price) loads every venue with the whole arrival rate;
adaptive (fanout 1) sends each request to one venue. At low rates scattering cuts the tail; as
the venues fill up it creates one. These are the figures quoted in the scenario's description
(5000 requests, its default). `sim.sweep` runs the rates on a process pool and returns a
pandas DataFrame (the `quoterace[pandas]` extra), as `quoterace sweep overload --set
'arrivals.rate_per_s=200,500,700,900'` writes sweep.csv.
"""

import sys

import sim

RATES = (200.0, 500.0, 700.0, 900.0)


def main(requests: int) -> None:
    rows = sim.sweep("overload", {"arrivals.rate_per_s": RATES}, requests=requests)
    p99 = rows.pivot(index="arrivals.rate_per_s", columns="strategy", values="p99_ms")
    names = list(rows["strategy"].unique())  # in the scenario's order
    # the busiest venue under scatter-to-all: every venue sees the whole rate
    busiest = rows[rows["strategy"] == "first_wins"].set_index("arrivals.rate_per_s")
    print(f"{'rate/s':>7} " + " ".join(f"{n:>11}" for n in names) + f" {'busiest venue':>14}")
    for rate in RATES:
        cells = " ".join(f"{p99.loc[rate, n]:>11.2f}" for n in names)
        print(f"{rate:>7.0f} {cells} {busiest.loc[rate, 'utilization_max']:>14.0%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
