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
# # The tail at scale
#
# Dean and Barroso's "The Tail at Scale" (CACM, 2013) makes one point with one line of
# arithmetic: if a request fans out to N servers and waits for all of them, and each server is
# slow with probability p, independently, then the request is slow with probability
#
# $$P(\text{slow}) = 1 - (1 - p)^N .$$
#
# A server slow 1% of the time is a rare nuisance; 100 of them make 63% of requests slow. The
# rare event at one server becomes the typical event at scale.
#
# The bundled `tail-at-scale` scenario asks 100 venues for a quote. Each answers in about 1 ms
# (lognormal, median 1 ms), but 1% of the time in 50 to 150 ms. Three strategies race them on
# the same draws:
#
# - `wait_for_all` waits for every quote (best_price with a long timeout): slow when **any**
#   venue is slow;
# - `first_95` takes the best of the first 95 quotes: slow only when **more than 5** are;
# - `first_wins` takes the first quote: slow only when **all 100** are.
#
# This notebook checks the formula against the simulator, then shows what it does to the
# percentiles. Each check is an `assert`: if the simulator and the theory disagree beyond
# sampling error, the notebook fails.

# %%
import dataclasses
import math

import matplotlib.pyplot as plt
import numpy as np

import sim

scenario = sim.load("tail-at-scale")
fast_path, slow_path = scenario.venues[0].latency.components
p = slow_path.weight  # the chance that one venue is slow
SLOW_MS = 10.0  # no fast answer takes this long, no slow one this little
assert fast_path.dist.median_ms * math.exp(8 * fast_path.dist.sigma) < SLOW_MS  # 8 sigma
assert slow_path.dist.low_ms > SLOW_MS
slow = slow_path.dist
print(
    f"{len(scenario.venues)} venues, each slow ({slow.low_ms:g}-{slow.high_ms:g} ms), p = {p:.0%}"
)
print(
    f"theory: waiting for all of them is slow {1 - (1 - p) ** len(scenario.venues):.1%} of the time"
)

# %% [markdown]
# ## Sampling error, stated once
#
# A fraction measured over n independent requests, each slow with probability q, has a
# standard error of $\sqrt{q(1-q)/n}$. We accept a measurement within **4 standard errors** of
# the theory: a correct simulator fails that by chance about once in 16,000 checks, and a wrong
# one (a formula off by a few percentage points at these sample sizes) fails it.


# %%
def within_sampling_error(measured: float, expected: float, n: int, z: float = 4.0) -> bool:
    """Is `measured` (a fraction of n requests) within z standard errors of `expected`?"""
    return abs(measured - expected) <= z * math.sqrt(expected * (1 - expected) / n)


# %% [markdown]
# ## The whole scenario: 100 venues, three strategies

# %%
result = sim.run(scenario, requests=2000)
n = result.summary["requests"]
decisions_ms = {name: result.records(name)["decision_s"] * 1e3 for name in result.strategies}
slow_share = {name: float(np.mean(d > SLOW_MS)) for name, d in decisions_ms.items()}

print(f"{'strategy':<13}{'p50 ms':>8}{'p99 ms':>8}{'p99.9 ms':>10}{'max ms':>8}{'slow':>8}")
for name, stats in result.summary["strategies"].items():
    d = stats["decision_ms"]
    print(
        f"{name:<13}{d['p50']:>8.2f}{d['p99']:>8.2f}{d['p99.9']:>10.2f}{d['max']:>8.2f}"
        f"{slow_share[name]:>8.2%}"
    )

# %% [markdown]
# What theory says about each strategy, checked:
#
# - `wait_for_all` is slow with probability $1 - (1-p)^{100}$, 63%: more than half, so its
#   **median** is a slow venue's latency, not a fast one's.
# - `first_95` is slow when more than 5 of the 100 venues are: a binomial tail,
#   $P(X > 5)$ for $X \sim \mathrm{Binomial}(100, p)$, about 0.06%.
# - `first_wins` is slow only if all 100 are, $p^{100}$: never.

# %%
N = len(scenario.venues)
q_all = 1 - (1 - p) ** N
assert within_sampling_error(slow_share["wait_for_all"], q_all, n), (slow_share, q_all)
assert (result.summary["strategies"]["wait_for_all"]["decision_ms"]["p50"] > SLOW_MS) == (
    q_all > 0.5
)

q_first_95 = 1 - sum(math.comb(N, k) * p**k * (1 - p) ** (N - k) for k in range(6))
expected = n * q_first_95
slow_first_95 = int(np.sum(decisions_ms["first_95"] > SLOW_MS))
assert slow_first_95 <= expected + 4 * math.sqrt(expected), (slow_first_95, expected)

assert p**N * n < 1e-6 and decisions_ms["first_wins"].max() < SLOW_MS
print(f"wait_for_all slow: {slow_share['wait_for_all']:.1%}, theory {q_all:.1%}")
print(f"first_95 slow: {slow_first_95} of {n}, theory {expected:.1f}")

# %% [markdown]
# The simulator draws every venue's latency before the run (`result.draws`), so we can also
# check the engine against its own draws: `wait_for_all` is slow on exactly the requests where
# some venue drew a slow latency.

# %%
any_slow = np.any(np.stack(result.draws.latency_s) * 1e3 > SLOW_MS, axis=0)
assert np.array_equal(any_slow, decisions_ms["wait_for_all"] > SLOW_MS)

# %% [markdown]
# ## The formula, venue count by venue count
#
# Now keep the venues as they are and change how many a request waits for: the first N of the
# scenario's 100, for N from 1 to 100. Every point is its own run of 2000 requests.

# %%
fan_outs = [1, 2, 5, 10, 20, 50, 100]
measured = []
for fan_out in fan_outs:
    fewer = dataclasses.replace(scenario, venues=scenario.venues[:fan_out])
    run = sim.run(fewer, ["wait_for_all"], requests=n)
    measured.append(float(np.mean(run.records("wait_for_all")["decision_s"] * 1e3 > SLOW_MS)))

theory = [1 - (1 - p) ** fan_out for fan_out in fan_outs]
for fan_out, m, t in zip(fan_outs, measured, theory, strict=True):
    print(f"N = {fan_out:>3}: slow {m:6.1%}, theory {t:6.1%}")
    assert within_sampling_error(m, t, n), (fan_out, m, t)

# %% [markdown]
# ## The picture
#
# Left: the share of slow requests against the fan-out, theory and simulation (bars: 4
# standard errors). Right: each strategy's latency at each percentile, on the same requests.
# `wait_for_all` leaves the fast path before the median; `first_95` only past its p99.9.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
grid = np.arange(1, N + 1)
left.plot(grid, 1 - (1 - p) ** grid, label=r"theory $1-(1-p)^N$")
errors = [4 * math.sqrt(t * (1 - t) / n) for t in theory]
left.errorbar(fan_outs, measured, yerr=errors, fmt="o", capsize=3, label="simulated")
left.set(xscale="log", xlabel="venues waited for (N)", ylabel="share of requests slow")
left.set_title(f"waiting for all, each venue slow {p:.0%} of the time")
left.legend()

nines = np.linspace(0, 3.3, 300)  # 0 = p0, 1 = p90, 2 = p99, 3 = p99.9
for name, d in decisions_ms.items():
    right.plot(nines, np.percentile(d, 100 * (1 - 10**-nines)), label=name)
right.set(yscale="log", xlabel="percentile", ylabel="decision latency (ms)")
right.set_xticks([0, math.log10(2), 1, 2, 3], ["p0", "p50", "p90", "p99", "p99.9"])
right.set_title(f"{N} venues, {n} requests")
right.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## For the classroom
#
# - Change `p` (the mixture's weights in `sim/scenarios/tail-at-scale.toml`, or a dict
#   scenario) and predict the share of slow requests before you run it.
# - Where does `first_k` stop helping? Sweep k from 90 to 100 with `strategies.FirstK(k=...)`
#   and compare its slow share with the binomial tail $P(X > 100 - k)$.
# - Dean and Barroso's remedies, hedged and tied requests, are the `hedging` and
#   `tied-requests` scenarios (and the hedging notebook).
