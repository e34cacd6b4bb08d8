# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Overload: scattering multiplies load
#
# Asking every venue and taking the first answer is the fastest strategy on idle venues: the
# minimum of four latencies beats any one of them. But every request now costs every venue
# some work, and work is where queues, and tail latency, come from.
#
# Three laws of queues, each checked below against the simulator:
#
# 1. **Utilization.** A venue with c servers, receiving $\lambda$ requests a second that each
#    take E[S] of service, is busy $\rho = \lambda E[S] / c$ of the time. A strategy that sends
#    each request to k of the V venues gives each venue $\lambda k / V$ of them.
# 2. **Queueing.** One server, Poisson arrivals and exponential service (the M/M/1 queue): a
#    request waits on average $W_q = E[S]\,\rho / (1 - \rho)$ before service starts. At
#    $\rho$ = 0.5 the wait is one service time, at 0.8 four, at 0.9 nine: the curve bends
#    upwards.
# 3. **Instability.** At $\rho \ge 1$ there is no steady state: the backlog grows by
#    $\rho - 1$ seconds of work every second, for as long as the overload lasts.
#
# The bundled `overload` scenario has four venues, each one server with exponential service
# of 1 ms mean behind a 0.2 ms network. `first_wins` asks all four (each venue sees the whole
# arrival rate); `adaptive` (fanout 1) asks one (each sees a quarter).

# %%
import dataclasses
import math

import matplotlib.pyplot as plt
import numpy as np

import sim

scenario = sim.load("overload")
venue = scenario.venues[0]
assert all(v.service == venue.service and v.capacity == venue.capacity for v in scenario.venues)
service_s = venue.service.mean_ms / 1e3
servers = venue.capacity
V = len(scenario.venues)
print(f"{V} venues, each {servers} server(s), exponential service of {service_s * 1e3:g} ms mean")
print(f"so each venue serves at most {servers / service_s:.0f} requests a second")


def at_rate(rate_per_s: float) -> sim.Scenario:
    """The overload scenario with requests arriving at `rate_per_s`."""
    return dataclasses.replace(
        scenario, arrivals=dataclasses.replace(scenario.arrivals, rate_per_s=rate_per_s)
    )


# %% [markdown]
# ## Four arrival rates
#
# 1000 requests at each rate, `first_wins` against `adaptive`, on the same draws.

# %%
N = 1000
rates = [200, 400, 600, 800]
runs = {rate: sim.run(at_rate(rate), ["first_wins", "adaptive"], requests=N) for rate in rates}

print(
    f"{'rate/s':>7}{'strategy':>12}{'venue req':>10}{'utilization':>12}{'theory':>8}"
    f"{'queue wait ms':>14}{'p99 ms':>8}"
)
for rate, run in runs.items():
    for name, s in run.summary["strategies"].items():
        k = s["venue_requests_per_decision"]
        utilization = np.mean(list(s["venue_utilization"].values()))
        rho = s["requests_per_s"] * k / V * service_s / servers
        wait = np.mean(list(s["venue_queue_wait_ms"].values()))
        print(
            f"{rate:>7}{name:>12}{k:>10.2f}{utilization:>12.3f}{rho:>8.3f}"
            f"{wait:>14.3f}{s['decision_ms']['p99']:>8.2f}"
        )

# %% [markdown]
# ## Law 1: utilization
#
# A venue's utilization is its service time summed over the requests it served, divided by the
# run's length. Exponential service times have a standard deviation equal to their mean, so
# the sum over m requests is known to a relative $1/\sqrt{m}$; we allow 4 of those. Averaged
# over the four venues, the utilization is the rate times the venue requests per decision,
# spread over V venues, times E[S].

# %%
for rate, run in runs.items():
    for name, s in run.summary["strategies"].items():
        k = s["venue_requests_per_decision"]
        rho = s["requests_per_s"] * k / V * service_s / servers
        utilization = float(np.mean(list(s["venue_utilization"].values())))
        served = N * k / V  # requests per venue, on average
        assert abs(utilization - rho) <= 4 * rho / math.sqrt(served), (rate, name, utilization)
    assert run.summary["strategies"]["first_wins"]["venue_requests_per_decision"] == V

# %% [markdown]
# ## Law 2: the queue, by hand and in theory
#
# The draws are made before the run (`result.draws`), so the queue can be replayed by hand. A
# request reaches a venue after the outbound half of its network latency and waits for the one
# server; with the requests in order of arrival at the venue, the server is next free at
# `max(arrival, free) + service`, and the wait is the difference (Lindley's recursion). For
# `first_wins`, which sends every request to every venue and cancels nothing at the venue,
# this reproduces the simulator's mean queue wait exactly.


# %%
def lindley_waits(arrival_s: np.ndarray, service: np.ndarray) -> np.ndarray:
    """Each request's wait for a single first-come-first-served server."""
    order = np.argsort(arrival_s, kind="stable")
    waits = np.empty(arrival_s.size)
    free = 0.0
    for i in order:
        start = max(arrival_s[i], free)
        waits[i] = start - arrival_s[i]
        free = start + service[i]
    return waits


for rate, run in runs.items():
    sent = run.records("first_wins")["arrival_s"]
    reported = run.summary["strategies"]["first_wins"]["venue_queue_wait_ms"]
    for v, draws in zip(scenario.venues, run.draws.venues, strict=True):
        at_venue = sent + np.asarray(draws.latency_s[0]) / 2
        by_hand = lindley_waits(at_venue, np.asarray(draws.service_s[0])).mean() * 1e3
        assert math.isclose(by_hand, reported[v.name], abs_tol=1e-6), (rate, v.name, by_hand)
print("Lindley's recursion reproduces every venue's mean queue wait")

# %% [markdown]
# Now the theory. Each venue under `first_wins` is an M/M/1 queue at $\rho = \lambda E[S]$: Poisson
# arrivals (a little jittered by the network) and exponential service. Successive waits are
# strongly correlated, so the mean of n of them varies far more than n independent values
# would: Blomqvist (1967) gives its variance for M/M/1 as
# $E[S]^2\,\rho\,(2 + 5\rho - 4\rho^2 + \rho^3) / (n (1-\rho)^4)$. We allow 4 of those
# standard deviations for the mean over the four venues (the average of four can only vary
# less than one of them). At $\rho$ = 0.8 that allowance is wider than the wait itself: a thousand
# requests cannot pin down the mean wait of a busy queue, and a benchmark of a busy system
# needs a far longer run than one of an idle one.


# %%
def mm1_wait_ms(rho: float) -> float:
    return service_s * 1e3 * rho / (1 - rho)


def mm1_wait_sd_ms(rho: float, n: int) -> float:
    return (
        service_s * 1e3 * math.sqrt(rho * (2 + 5 * rho - 4 * rho**2 + rho**3) / n) / (1 - rho) ** 2
    )


waits = []
for rate, run in runs.items():
    s = run.summary["strategies"]["first_wins"]
    rho = rate * service_s / servers
    waits.append(float(np.mean(list(s["venue_queue_wait_ms"].values()))))
    print(
        f"rho {rho:.1f}: mean wait {waits[-1]:.2f} ms, M/M/1 {mm1_wait_ms(rho):.2f} "
        f"+/- {4 * mm1_wait_sd_ms(rho, N):.2f}"
    )
    assert abs(waits[-1] - mm1_wait_ms(rho)) <= 4 * mm1_wait_sd_ms(rho, N), (rate, waits[-1])

# %% [markdown]
# ## Who wins depends on the load
#
# On idle venues, `first_wins` gets the fastest of four answers and `adaptive` one answer
# from a venue of its choosing: `first_wins` has the shorter tail. As the rate rises,
# `first_wins`'s venues fill up ($\rho = \lambda E[S]$) while `adaptive`'s stay at a quarter
# of that, and its tail overtakes.

# %%
p99 = {
    name: [runs[rate].summary["strategies"][name]["decision_ms"]["p99"] for rate in rates]
    for name in ("first_wins", "adaptive")
}
assert p99["first_wins"][0] < p99["adaptive"][0]
assert p99["first_wins"][-1] > p99["adaptive"][-1]

# %% [markdown]
# ## Law 3: past capacity
#
# At 1500 requests a second each venue is offered $\rho$ = 1.5: half a second of work arrives on
# top of every second it can serve. The backlog, and with it every answer's latency, grows
# with slope $\rho - 1$ in the time a request arrives. How exactly? The work that has arrived by
# time T is a compound Poisson sum with variance $\lambda E[S^2] T$ ($E[S^2] = 2E[S]^2$ for
# exponential service), which makes the slope uncertain by about $\sqrt{\lambda E[S^2] T}/T$; we
# allow 4 of those.

# %%
overloaded = 1500
run = sim.run(at_rate(overloaded), ["first_wins"], requests=N)
records = run.records("first_wins")
slope, intercept = np.polyfit(records["arrival_s"], records["decision_s"], 1)
rho = overloaded * service_s / servers
T = float(records["arrival_s"].max())
slack = 4 * math.sqrt(overloaded * 2 * service_s**2 * T) / T
print(
    f"latency grows {slope:.3f} s per s of arrivals; theory rho - 1 = {rho - 1:.3f} +/- {slack:.3f}"
)
assert abs(slope - (rho - 1)) <= slack

# %% [markdown]
# ## The picture
#
# Left: the mean queue wait against utilization, the M/M/1 curve and the simulator (bars: 4
# standard deviations). Middle: p99 against the arrival rate, the two strategies crossing.
# Right: past capacity, every request's latency against when it arrived.

# %%
fig, (left, middle, right) = plt.subplots(1, 3, figsize=(14, 4))
grid = np.linspace(0.05, 0.9, 100)
left.plot(grid, [mm1_wait_ms(r) for r in grid], label=r"M/M/1: $E[S]\,\rho/(1-\rho)$")
rhos = [rate * service_s / servers for rate in rates]
left.errorbar(
    rhos,
    waits,
    yerr=[4 * mm1_wait_sd_ms(r, N) for r in rhos],
    fmt="o",
    capsize=3,
    label=f"first_wins, {N} requests",
)
left.set(xlabel="utilization of each venue", ylabel="mean queue wait (ms)", ylim=(0, None))
left.set_title("queueing bends upwards")
left.legend()

for name, values in p99.items():
    middle.plot(rates, values, "o-", label=name)
middle.set(xlabel="arrival rate (requests/s)", ylabel="p99 decision latency (ms)")
middle.set_title("scatter wins idle, loses busy")
middle.legend()

right.scatter(records["arrival_s"], records["decision_s"] * 1e3, s=4, label="first_wins")
t = np.array([0, T])
right.plot(t, (intercept + slope * t) * 1e3, color="C1", label=f"fitted slope {slope:.2f}")
right.plot(t, (rho - 1) * t * 1e3, "--", color="grey", label=rf"theory $\rho - 1$ = {rho - 1:.2f}")
right.set(xlabel="arrival (s)", ylabel="decision latency (ms)")
right.set_title(f"{overloaded} requests/s: no steady state")
right.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## For the classroom
#
# - At what rate does `first_wins`'s p99 cross `adaptive`'s? Bisect it with a few runs.
# - Give every venue `capacity = 2` with a 2 ms mean service: the same utilization, a different
#   queue. Does the mean queue wait go up or down? And the p99?
# - Set `cancel_propagation = true` on the venues: cancelled requests leave the queue. Which
#   strategy gains, and why? (The `tied-requests` scenario.)
# - `examples/overload_rates.py` prints every strategy's p99 at four rates.
