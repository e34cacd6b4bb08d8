"""The trio engine against what is known exactly: the draws, order statistics, determinism."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import trio
import trio.testing
from scipy import optimize

from sim.engines.ledger import Ledger
from sim.engines.records import FILLED, NO_QUOTE, ORDER_REJECTS, OUTCOMES
from sim.engines.trio import TrioEngine, decision_legs, run_trio
from sim.measure.run import run
from sim.model.draws import draw
from sim.model.market import MidPath
from sim.model.scenario import parse
from sim.report.atomic import summary_json
from strategies import BestPrice, FirstWins
from strategies.split import Leg
from tests.helpers.scenarios import build_scenario
from venues.messages import ExecutionReport, Quote

scenario = functools.partial(build_scenario, seed=7, requests=2000, rate=5000.0, process="poisson")


def world(s):
    """What run_trio needs of a scenario besides its draws."""
    return {"venues": s.venues, "mid": MidPath(s.market, s.seed), "order_size": s.order.size}


MIXED = [
    {"name": "a", "latency": {"dist": "exponential", "mean_ms": 1.0}, "fail_prob": 0.1},
    {"name": "b", "latency": {"dist": "lognormal", "median_ms": 0.8, "sigma": 0.6}},
    {"name": "c", "latency": {"dist": "constant", "ms": 0.9}, "fail_prob": 0.3},
    {"name": "d", "latency": {"dist": "empirical", "samples_ms": [0.9, 1.5, 2.5]}},
]


def expected(draws, timeout_s: float, wait_for_all: bool):
    """Decision latency and venue per request, straight from the draws (numpy, no trio)."""
    latency = np.stack(draws.latency_s)  # venues x requests
    answered = np.stack(draws.answers) & (latency <= timeout_s)
    arrival = np.where(answered, latency, np.inf)
    # Ties go to the lowest venue index: argmin returns the first minimum.
    first = arrival.argmin(axis=0)
    decided = answered.any(axis=0)
    if not wait_for_all:
        return np.where(decided, arrival.min(axis=0), np.nan), np.where(decided, first, -1)
    all_in = answered.sum(axis=0) == latency.shape[0]
    last = np.where(answered, latency, -np.inf).max(axis=0)
    return np.where(decided, np.where(all_in, last, timeout_s), np.nan), np.where(
        decided, first, -1
    )


@pytest.mark.parametrize("process", ["poisson", "uniform"])
def test_decisions_match_the_draws_exactly(process):
    # At 5000 requests/s and ~1 ms latencies, several races overlap at any time.
    s = scenario(MIXED, process=process)
    draws = draw(s)
    for strategy, wait_for_all in ((FirstWins(timeout_ms=2.0), False), (BestPrice(2.0), True)):
        records = run_trio(draws, strategy, **world(s))
        latency, venue = expected(draws, strategy.timeout_ms * 1e-3, wait_for_all)
        assert np.array_equal(np.isnan(records.decision_s), np.isnan(latency))
        # Exactly the drawn latency (or the timeout), not clock arithmetic's t0 + latency - t0.
        assert np.array_equal(records.decision_s, latency, equal_nan=True)
        assert np.array_equal(records.venue, venue)
        # Both strategies ask every venue of every race.
        assert records.venue_requests.tolist() == [s.requests] * len(MIXED)


def test_constant_ties_go_to_the_lowest_index():
    venues = [{"name": n, "latency": {"dist": "constant", "ms": 1.0}} for n in "abc"]
    records = run_trio(draw(s := scenario(venues, requests=500)), FirstWins(), **world(s))
    assert (records.venue == 0).all()


def test_races_overlap_when_arrivals_outpace_latency():
    # 1000 requests in ~0.1 s of arrivals, each race lasting 5 ms: ~50 races run at once, and
    # each still decides exactly at its own start + 5 ms.
    venues = [{"name": "slow", "latency": {"dist": "constant", "ms": 5.0}}]
    records = run_trio(
        draw(s := scenario(venues, requests=1000, rate=10_000)), FirstWins(), **world(s)
    )
    assert (records.decision_s == 5e-3).all()


# Percentiles against the closed form. With n decisions, the empirical q-quantile has standard
# error sqrt(q(1-q)/n) / f(x_q); in relative terms for these distributions that is below 1.2% at
# p50/p90 and 3.5% at p99 for n = 40,000. HdrHistogram adds up to 0.1% (3 significant digits).
# Tolerances: 4 standard errors plus 0.1%.
N = 40_000
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
RELATIVE_TOLERANCE = {"p50": 0.05, "p90": 0.05, "p99": 0.15}


def test_first_wins_percentiles_are_the_minimum_of_independent_exponentials():
    # The minimum of exponentials with rates r_i is exponential with rate sum(r_i).
    means = [1.0, 2.0, 4.0]
    venues = [
        {"name": f"v{i}", "latency": {"dist": "exponential", "mean_ms": m}}
        for i, m in enumerate(means)
    ]
    s = scenario(venues, [{"kind": "first_wins"}], requests=N, rate=20_000)
    summary = run(s).summary["strategies"]["first_wins"]["decision_ms"]
    rate = sum(1 / m for m in means)
    for key, q in QUANTILES.items():
        exact = -math.log(1 - q) / rate
        assert summary[key] == pytest.approx(exact, rel=RELATIVE_TOLERANCE[key]), key
    assert summary["mean"] == pytest.approx(1 / rate, rel=0.03)  # se of the mean: 0.5%


def test_best_price_percentiles_are_the_maximum_of_independent_venues():
    # The last of independent venues has CDF prod F_i(t); shifts make the supports differ.
    venues = [
        {"name": "exp", "latency": {"dist": "exponential", "mean_ms": 1.0}},
        {"name": "uni", "latency": {"dist": "uniform", "low_ms": 0.5, "high_ms": 2.5}},
        {"name": "wei", "latency": {"dist": "weibull", "shape": 2.0, "scale_ms": 1.5}},
    ]

    def cdf(t: float) -> float:
        exponential = 1 - math.exp(-t)
        uniform = min(max((t - 0.5) / 2.0, 0.0), 1.0)
        weibull = 1 - math.exp(-((t / 1.5) ** 2))
        return exponential * uniform * weibull

    s = scenario(venues, [{"kind": "best_price", "timeout_ms": 1000}], requests=N, rate=20_000)
    summary = run(s).summary["strategies"]["best_price"]["decision_ms"]
    for key, q in QUANTILES.items():
        exact = optimize.brentq(lambda t, q=q: cdf(t) - q, 0.5, 100.0)
        assert summary[key] == pytest.approx(exact, rel=RELATIVE_TOLERANCE[key]), key


def test_same_seed_same_bytes_whatever_trios_scheduling(monkeypatch):
    # trio shuffles each batch of runnable tasks with a module-level Random; reseeding it changes
    # the order tasks run in (pytest-trio with hypothesis pins it). Results must not change.
    s = scenario(MIXED, requests=1500)
    outputs = set()
    for scheduler_seed in (1, 2, 3):
        monkeypatch.setattr(trio._core._run, "_r", __import__("random").Random(scheduler_seed))
        outputs.add(summary_json(run(s).summary))
    assert len(outputs) == 1
    assert summary_json(run(s.with_overrides(seed=8)).summary) not in outputs


# The engine's parts alone: legs, record keeping, the race's retries, the client loop.


def quote(venue: int, request: int = 0, price: float = 100.0) -> Quote:
    return Quote(request, venue, 1e-3, price)


def test_decision_legs_take_a_quote_or_legs_and_name_what_is_wrong():
    assert decision_legs(quote(1), 0, 2.0, 3, FirstWins()) == [Leg(quote(1), 2.0)]
    legs = [Leg(quote(0), 0.5), Leg(quote(2), 0.5)]
    assert decision_legs(tuple(legs), 0, 1.0, 3, FirstWins()) == legs
    wrong = {
        "not a Quote, legs or None": "a quote",
        "venue 3 \\(no such venue\\)": [Leg(quote(3), 1.0)],
        "a quote for request 1": [Leg(quote(0, request=1), 1.0)],
        "a leg of size 0": [Leg(quote(0), 0.0)],
        "two legs on one venue": [Leg(quote(0), 0.5), Leg(quote(0), 0.5)],
        "more than the 1 left to fill": [Leg(quote(0), 0.75), Leg(quote(1), 0.5)],
    }
    for message, decision in wrong.items():
        error = TypeError if isinstance(decision, str) else ValueError
        with pytest.raises(error, match=f"strategy 'first_wins'.*{message}"):
            decision_legs(decision, 0, 1.0, 3, FirstWins())


def report(price: float, reason: str | None = None, round_trip_s: float = 1e-3):
    return ExecutionReport(0, 0, price, reason, round_trip_s)


def test_the_ledger_adds_up_partial_fills_and_keeps_the_first_decision():
    ledger = Ledger([0.0, 1.0], order_size=2.0)
    ledger.ordered(0, 0, 0.004, venue=2, orders=2)
    sized = [(1.5, report(100.0)), (0.5, report(101.0, "expired"))]
    assert not ledger.settle(0, sized, elapsed=0.005)
    assert ledger.remaining[0] == 0.5 and ledger.filled_size[0] == 1.5
    assert ledger.fill_price[0] == 100.0 and math.isnan(ledger.fill_s[0])
    assert ORDER_REJECTS[ledger.outcome[0] - 1] == "expired"
    ledger.ordered(0, 1, 0.007, venue=1, orders=1)  # a retry: the first decision stays
    assert ledger.settle(0, [(0.5, report(104.0))], elapsed=0.009)
    assert (ledger.decision_s[0], ledger.venue[0], ledger.orders[0]) == (0.004, 2, 3)
    assert (ledger.outcome[0], ledger.fill_s[0]) == (FILLED, 0.009)
    assert ledger.fill_price[0] == (1.5 * 100.0 + 0.5 * 104.0) / 2.0
    # legs that cover only part of the size, all filled: what is missing had no liquidity
    assert not ledger.settle(1, [(1.0, report(99.0))], elapsed=0.002)
    assert ORDER_REJECTS[ledger.outcome[1] - 1] == "no_liquidity"
    records = ledger.records([])
    assert records.rejects.tolist() == [int(r == "expired") for r in ORDER_REJECTS]
    assert records.orders.tolist() == [3, 0] and records.arrival_s.tolist() == [0.0, 1.0]
    assert records.filled_size.tolist() == [2.0, 1.0]


class ScriptedVenue:
    """A venue whose orders take ORDER_S and end as `reasons` say, one after another."""

    index, name, requests, servers = 0, "scripted", 0, None
    ORDER_S = 2e-3

    def __init__(self, reasons):
        self.reasons, self.sizes = list(reasons), []

    async def order(self, quote, request, decided_after_s):
        await trio.sleep(self.ORDER_S)
        self.sizes.append(request.size)
        return ExecutionReport(request.index, 0, quote.price, self.reasons.pop(0), self.ORDER_S)


class QuoteAfter:
    """A strategy that takes venue 0's quote (or none) after `wait_s`."""

    kind = "quote_after"

    def __init__(self, wait_s: float, decides: bool = True):
        self.wait_s, self.decides = wait_s, decides

    async def decide(self, request, venues):
        await trio.sleep(self.wait_s)
        return quote(0, request.index) if self.decides else None


def engine(venue: ScriptedVenue, max_retries: int) -> TrioEngine:
    """An engine for one request, racing `venue` alone."""
    s = scenario([{"name": "a", "latency": {"dist": "constant", "ms": 1.0}}], requests=1)
    strategy = QuoteAfter(1e-3)
    made = TrioEngine(
        draw(s, attempts=3), strategy, venues=None, mid=lambda t: 100.0, max_retries=max_retries
    )
    made.live.append(venue)
    return made


@pytest.mark.parametrize(
    ("max_retries", "outcome"), [(0, "expired"), (1, "price_moved"), (2, "filled")]
)
def test_a_race_re_races_after_a_reject_while_retries_are_left(max_retries, outcome):
    venue = ScriptedVenue(["expired", "price_moved", None])
    racing = engine(venue, max_retries)
    trio.run(racing.race, 0, 0.0, clock=trio.testing.MockClock(autojump_threshold=0))
    ledger, attempts = racing.ledger, max_retries + 1
    assert ledger.orders[0] == attempts and venue.sizes == [1.0] * attempts
    assert ledger.decision_s[0] == pytest.approx(1e-3)  # the first race's decision
    assert sum(ledger.rejects) == min(attempts, 2)
    assert OUTCOMES[ledger.outcome[0]] == outcome
    if outcome == "filled":  # three races of 1 ms, each with a 2 ms order
        assert ledger.fill_s[0] == pytest.approx(9e-3)
    else:
        assert math.isnan(ledger.fill_s[0])


def test_closed_loop_clients_send_each_request_once_the_last_one_ended_and_they_thought():
    # 2 clients, 6 requests, 1 ms races that find no quote, 5 ms thoughts: a client's k-th
    # request (from 0) starts at 5 ms + k x 6 ms.
    think = {"dist": "constant", "ms": 5.0}
    s = parse(
        {
            "scenario": {"requests": 6},
            "arrivals": {"process": "closed", "clients": 2, "think_ms": think},
            "venues": [{"name": "a", "latency": {"dist": "constant", "ms": 1.0}}],
            "strategies": [{"kind": "first_wins"}],
        },
        default_name="t",
    )
    racing = TrioEngine(
        draw(s), QuoteAfter(1e-3, decides=False), venues=None, mid=lambda t: 100.0, clients=2
    )
    records = racing.run(trio.testing.MockClock(autojump_threshold=0))
    expected = [5e-3 + (i // 2) * 6e-3 for i in range(6)]
    assert records.arrival_s.tolist() == pytest.approx(expected, abs=1e-12)
    assert (records.outcome == NO_QUOTE).all() and records.span_s == pytest.approx(0.018)


def test_run_trio_takes_virtual_or_real_time_and_nothing_else():
    s = scenario([{"name": "a", "latency": {"dist": "constant", "ms": 1.0}}], requests=2)
    for clock in ("Real", "wall", None):
        with pytest.raises(ValueError, match="clock must be 'virtual' or 'real'"):
            run_trio(draw(s), FirstWins(), clock=clock, **world(s))
