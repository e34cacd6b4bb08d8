"""Venue servers against queueing theory (docs/design.md section 7): M/M/1 and M/M/c.

One venue with exponential `service` on `capacity` servers, Poisson arrivals and a constant
network latency is an M/M/c queue: requests reach it at the arrival times shifted by half the
latency (still Poisson, in request order), each needs an independent exponential service, and the
servers take them first come, first served. Raced by first_wins alone with a timeout far beyond
any latency, request i's decision latency is exactly latency + wait_i + service_i, so every
request's queue wait and sojourn (wait + service) come straight from the records and the drawn
service times.

Checked against the closed forms, with lambda the arrival rate, mu = 1 / mean service, c servers,
a = lambda / mu and rho = a / c:
- M/M/1: the sojourn is exponential with rate mu - lambda (its mean, p50, p90 and p99),
  P(wait > 0) = rho and the utilization is rho; at zero latency (where the venue's events land in
  their own instant) and at a small constant latency, which the decision latency then includes.
- M/M/c: P(wait > 0) is Erlang C, C(c, a), and the mean wait is C(c, a) / (c mu - lambda); the
  engine's own mean wait (`venue_wait_s`) is the mean of the per-request waits.
- Exactly, for both: the per-request waits are those of a FIFO queue recomputed from the draws,
  so that a disagreement with theory points at the model rather than the bookkeeping.

Tolerances. A queue's successive waits are autocorrelated (a request that waited long leaves a long
queue to the next), so iid standard errors are too small: here batch means give standard errors 4-5
times the iid ones. Each statistic is therefore also computed on BATCHES = 20 contiguous batches of
~1000 requests, its standard error taken as the batches' standard deviation over sqrt(20), and the
whole run's figure must lie within Z = 4 such errors of theory. The queues relax in ~1 / (c mu (1 -
sqrt(rho))^2), 20 ms for the M/M/1 and 12 ms for the M/M/3 here, ~12 and ~26 requests; batches of
~1000 requests are then close to independent and their statistics close to normal, so the figure's
distance from theory over its standard error follows Student's t with 19 degrees of freedom, for
which P(|t| > 4) = 7.7e-4 (a normal's 6.3e-5 understates it: the standard error is itself estimated
from 20 batches). The 15 statistical assertions here would all pass for a correct simulator with
probability ~99% under any seed: the seeds are fixed, so this is the chance that another seed would
fail, not a flake rate. The wrong formulas fail by far more than 4 SE (1/mu for the M/M/1 mean
sojourn by 15-19 SE, ln(100)/mu for its p99 by 12-13 SE, the M/M/1 mean wait at rho = 0.7 for the
M/M/3 by 31 SE, P(wait) = rho for Erlang C by 23 SE). The first WARMUP requests, which meet a queue
that started empty, are left out of the statistics (500 requests are ~20 relaxation times).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.engines.records import Records

REQUESTS = 20_000  # one single-venue, one-strategy run of this size takes ~3-4 s
BATCHES = 20
Z = 4.0  # t on 19 df: P(|t| > 4) = 7.7e-4 per assertion
WARMUP = 500
MEAN_SERVICE_MS = 1.0  # mu = 1000 requests/s per server
EXACT_S = 1e-9  # per-request figures are sums of a few float times of at most ~35 s


@dataclass(frozen=True)
class Queue:
    """One run of a single served venue: its parameters, the draws and the records."""

    rate_per_s: float  # lambda
    servers: int  # c
    latency_s: float  # the constant network latency (both legs)
    arrival_s: np.ndarray
    service_s: np.ndarray  # the drawn service times, by request
    records: Records

    @property
    def mu(self) -> float:
        return 1e3 / MEAN_SERVICE_MS

    @property
    def rho(self) -> float:
        return self.rate_per_s / (self.servers * self.mu)

    @property
    def sojourn_s(self) -> np.ndarray:
        """Time at the venue: queue wait plus service (decision latency minus network)."""
        return self.records.decision_s - self.latency_s

    @property
    def wait_s(self) -> np.ndarray:
        return self.sojourn_s - self.service_s


def run_queue(
    directory: Path, *, rate_per_s: float, servers: int, latency_ms: float, seed: int
) -> Queue:
    """Run one venue with exponential service on `servers` servers behind Poisson arrivals and a
    constant latency, raced by first_wins with a timeout nothing reaches."""
    path = directory / f"queue-c{servers}-{latency_ms}ms.toml"
    path.write_text(
        f"""
[scenario]
name = "queue"
seed = {seed}
requests = {REQUESTS}

[arrivals]
process = "poisson"
rate_per_s = {rate_per_s}

[[venues]]
name = "served"
latency = {{ dist = "constant", ms = {latency_ms} }}
service = {{ dist = "exponential", mean_ms = {MEAN_SERVICE_MS} }}
capacity = {servers}

[[strategies]]
kind = "first_wins"
timeout_ms = 100000
""",
        encoding="utf-8",
    )
    result = sim.run(path)
    records = result.strategies["first_wins"].records
    # Every request got its one venue's quote: the decision latency is that quote's latency.
    assert (records.venue == 0).all()
    assert records.venue_requests.tolist() == [REQUESTS]
    return Queue(
        rate_per_s,
        servers,
        latency_ms * 1e-3,
        records.arrival_s,
        np.asarray(result.draws.venues[0].service_s[0]),
        records,
    )


@pytest.fixture(scope="module", params=[(0.0, 101), (0.2, 102)], ids=["latency-0", "latency-0.2ms"])
def mm1(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Queue:
    """M/M/1 at rho = 0.6: mean sojourn 1 / (mu - lambda) = 2.5 ms. Each latency has its own
    seed (the same seed would give the very same queue), so the two are independent samples."""
    latency_ms, seed = request.param
    directory = tmp_path_factory.mktemp("mm1")
    return run_queue(directory, rate_per_s=600.0, servers=1, latency_ms=latency_ms, seed=seed)


@pytest.fixture(scope="module")
def mmc(tmp_path_factory: pytest.TempPathFactory) -> Queue:
    """M/M/3 at rho = 0.7: a = 2.1, Erlang C = 0.492, mean wait 0.547 ms."""
    directory = tmp_path_factory.mktemp("mmc")
    return run_queue(directory, rate_per_s=2100.0, servers=3, latency_ms=0.2, seed=103)


def erlang_c(c: int, a: float) -> float:
    """The probability that an arrival waits in M/M/c with offered load a = lambda / mu < c."""
    queued = a**c / math.factorial(c) * c / (c - a)
    return queued / (sum(a**k / math.factorial(k) for k in range(c)) + queued)


def batch_z(values: np.ndarray, statistic: Callable[[np.ndarray], float], theory: float) -> float:
    """How many batch-means standard errors statistic(values) lies from `theory`, after the
    warm-up (see the module docstring)."""
    values = values[WARMUP:]
    per_batch = np.array([statistic(b) for b in np.array_split(values, BATCHES)])
    se = per_batch.std(ddof=1) / math.sqrt(BATCHES)
    assert se > 0
    return (statistic(values) - theory) / se


def assert_near(
    values: np.ndarray, statistic: Callable[[np.ndarray], float], theory: float, what: str
) -> None:
    z = batch_z(values, statistic, theory)
    got = statistic(values[WARMUP:])
    assert abs(z) <= Z, f"{what}: measured {got:.6g}, theory {theory:.6g} ({z:+.1f} SE)"


def mean(x: np.ndarray) -> float:
    return float(x.mean())


def waited(x: np.ndarray) -> float:
    """The fraction of requests that waited (a start exactly at arrival leaves only float
    rounding, far below EXACT_S; a true wait below it has probability < 1e-6 per request)."""
    return float((x > EXACT_S).mean())


def fifo_waits(queue: Queue) -> np.ndarray:
    """Each request's queue wait at `servers` first-come-first-served servers, recomputed from
    the draws: a request starts when it arrives or when the earliest server frees up."""
    free = [0.0] * queue.servers  # when each server next frees up (a heap)
    arrive = queue.arrival_s + 0.5 * queue.latency_s
    waits = np.empty(arrive.size)
    for i, (t, service) in enumerate(zip(arrive.tolist(), queue.service_s.tolist(), strict=True)):
        start = max(t, free[0])
        heapq.heapreplace(free, start + service)
        waits[i] = start - t
    return waits


# --- M/M/1 -------------------------------------------------------------------------------------


def test_mm1_mean_sojourn_is_one_over_mu_minus_lambda(mm1: Queue) -> None:
    assert not np.isnan(mm1.records.decision_s).any()
    theory = 1 / (mm1.mu - mm1.rate_per_s)
    assert_near(mm1.sojourn_s, mean, theory, "mean sojourn")


@pytest.mark.parametrize("p", [0.5, 0.9, 0.99])
def test_mm1_sojourn_is_exponential_with_rate_mu_minus_lambda(mm1: Queue, p: float) -> None:
    # The p-quantile of an exponential with rate r is -ln(1 - p) / r: ln 2, ln 10, ln 100 over r.
    theory = -math.log(1 - p) / (mm1.mu - mm1.rate_per_s)

    def quantile(x: np.ndarray) -> float:
        return float(np.quantile(x, p))

    assert_near(mm1.sojourn_s, quantile, theory, f"sojourn p{p * 100:g}")


def test_mm1_waits_with_probability_rho(mm1: Queue) -> None:
    assert_near(mm1.wait_s, waited, mm1.rho, "P(wait > 0)")


def test_mm1_utilization_is_rho(mm1: Queue) -> None:
    records = mm1.records
    # The bookkeeping: busy time is every drawn service (nothing was cancelled), over the span.
    assert records.venue_busy_s[0] == pytest.approx(mm1.service_s.sum(), rel=1e-12)
    assert records.venue_utilization[0] == pytest.approx(
        mm1.service_s.sum() / records.span_s, rel=1e-12
    )
    # Against theory: total service over the span (the last arrival plus one sojourn, a few ms of
    # ~33 s) is a ratio of two sums of n iid exponentials, independent of the queue, so iid
    # errors hold: relative SE sqrt(1/n + 1/n) (both coefficients of variation are 1).
    se = mm1.rho * math.sqrt(2 / REQUESTS)
    assert abs(records.venue_utilization[0] - mm1.rho) <= Z * se


# --- M/M/c -------------------------------------------------------------------------------------


def test_mmc_waits_with_the_erlang_c_probability(mmc: Queue) -> None:
    theory = erlang_c(mmc.servers, mmc.rate_per_s / mmc.mu)
    assert_near(mmc.wait_s, waited, theory, "P(wait > 0)")


def test_mmc_mean_wait_is_erlang_c_over_c_mu_minus_lambda(mmc: Queue) -> None:
    c, lam, mu = mmc.servers, mmc.rate_per_s, mmc.mu
    theory = erlang_c(c, lam / mu) / (c * mu - lam)
    # The mean alone hardly tells M/M/3 from one server three times as fast (rho / (c mu -
    # lambda), 3 SE from this run's figure): waiting requests wait an exponential time of rate
    # c mu - lambda in both, and only P(wait > 0) differs (rho against Erlang C), which the test
    # above checks (23 SE apart).
    assert_near(mmc.wait_s, mean, theory, "mean wait")
    # The engine's figure is the mean over the requests that began service: all of them.
    assert abs(mmc.records.venue_wait_s[0] - mmc.wait_s.mean()) <= EXACT_S


def test_mmc_utilization_is_rho(mmc: Queue) -> None:
    # Busy time over c x span: theory and its iid standard error as for M/M/1's utilization.
    records = mmc.records
    assert records.venue_utilization[0] == pytest.approx(
        mmc.service_s.sum() / (mmc.servers * records.span_s), rel=1e-12
    )
    se = mmc.rho * math.sqrt(2 / REQUESTS)
    assert abs(records.venue_utilization[0] - mmc.rho) <= Z * se


# --- both: the waits are the FIFO queue's, exactly -----------------------------------------------


def test_waits_are_a_fifo_queue_over_the_draws(mm1: Queue, mmc: Queue) -> None:
    for queue in (mm1, mmc):
        np.testing.assert_allclose(queue.wait_s, fifo_waits(queue), rtol=0, atol=EXACT_S)
