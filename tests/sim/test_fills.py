"""Fill quality end to end (docs/design.md section 6, issue 3): prices, signs, depth, last look,
retries and the shared market path, through sim.measure.run.run and sim.model.market.MidPath.

Most tests use zero volatility and zero noise, where every price is known exactly: a venue quotes
m0 * (1 + (side * spread / 2 + skew) * 1e-4), so a fill's slippage is spread / 2 + side * skew
bps up to float rounding (prices near 100 carry ~1e-14 relative error, ~1e-10 bps; hence 1e-9).
Where the market moves, expected outcomes are recomputed from a fresh MidPath of the same seed.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest

from sim.engines.records import FILLED, NO_QUOTE, ORDER_REJECTS, OUTCOMES, REJECTED
from sim.measure.run import run
from sim.model.draws import draw
from sim.model.market import Jumps, MarketSpec, MidPath
from tests.helpers.scenarios import build_scenario

M0 = 100.0  # the default mid
EXACT_BPS = 1e-9  # float rounding of prices near 100 is ~1e-10 bps


scenario = functools.partial(
    build_scenario, seed=11, requests=1000, rate=2000.0, process="poisson", name="fills"
)


def const(ms: float) -> dict[str, Any]:
    return {"dist": "constant", "ms": ms}


def expo(mean_ms: float) -> dict[str, Any]:
    return {"dist": "exponential", "mean_ms": mean_ms}


def slippage(side, price, reference=M0, m0=M0):
    """The definition (docs/design.md section 6), written out independently of
    sim.measure.quality: against
    `reference` (the arrival mid, or the oracle for shortfall), in bps of the arrival mid."""
    return side * (price - reference) / m0 * 1e4


def summary_of(values: np.ndarray) -> dict[str, float]:
    """{mean, p50, p95} of the non-NaN values, as the summary rounds them (6 decimals)."""
    values = values[~np.isnan(values)]
    p50, p95 = np.percentile(values, [50, 95])
    return {"mean": float(values.mean()), "p50": float(p50), "p95": float(p95)}


def assert_summary_matches(got: dict[str, float | None], values: np.ndarray) -> None:
    # The summary rounds to 6 decimals: half a unit of the last place, plus float slack.
    for key, value in summary_of(values).items():
        assert got[key] == pytest.approx(value, abs=1e-6), key


# --- 1. zero volatility: slippage is the winner's half spread -----------------------------------

SPREADS = [6.0, 3.0, 1.0]
PRICED = [
    {"name": "wide", "latency": expo(0.5), "spread_bps": SPREADS[0]},
    {"name": "middle", "latency": expo(1.0), "spread_bps": SPREADS[1], "fail_prob": 0.2},
    {"name": "tight", "latency": expo(2.0), "spread_bps": SPREADS[2], "fail_prob": 0.3},
]
BEST_PRICE_TIMEOUT_MS = 2.0


def test_zero_volatility_slippage_is_the_winning_venues_half_spread():
    s = scenario(
        PRICED,
        [
            {"kind": "first_wins", "timeout_ms": 50},
            {"kind": "best_price", "timeout_ms": BEST_PRICE_TIMEOUT_MS},
        ],
    )
    assert s.market.volatility_bps == 0.0 and s.market.jumps is None  # the default market
    result = run(s)
    half = np.array(SPREADS) / 2
    for name, r in result.strategies.items():
        rec = r.records
        decided = rec.venue >= 0
        # No last look, no ttl, no depth: every decision fills, and only decisions do.
        assert np.array_equal(rec.outcome == FILLED, decided), name
        assert (rec.outcome[~decided] == NO_QUOTE).all(), name
        got = slippage(1.0, rec.fill_price[decided])
        want = half[rec.venue[decided]]
        np.testing.assert_allclose(got, want, rtol=0, atol=EXACT_BPS, err_msg=name)
        # Every venue wins some races, so each half spread is checked.
        assert set(rec.venue[decided].tolist()) == {0, 1, 2}, name
        expected = np.full(s.requests, np.nan)
        expected[decided] = want
        assert_summary_matches(result.summary["strategies"][name]["slippage_bps"], expected)

    # best_price takes the tightest venue among those that answered within its timeout.
    latency = np.stack(result.draws.latency_s)  # venues x requests
    in_time = np.stack(result.draws.answers) & (latency <= BEST_PRICE_TIMEOUT_MS * 1e-3)
    spread = np.where(in_time, np.array(SPREADS)[:, None], np.inf)
    winner = np.where(in_time.any(axis=0), spread.argmin(axis=0), -1)
    best = result.strategies["best_price"].records
    assert np.array_equal(best.venue, winner)
    # The timeout matters: some races have the tight venue answering late, not just failing.
    late = np.stack(result.draws.answers)[2] & (latency[2] > BEST_PRICE_TIMEOUT_MS * 1e-3)
    assert late.any() and (best.venue[late] != 2).all()


# --- 2. sign conventions --------------------------------------------------------------------------


@pytest.mark.parametrize("skew", [0.0, 0.7, -0.4])
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_sides_pay_the_spread_and_skew_moves_both_sides(side, skew):
    # |skew| < half spread, so a buyer still pays above the mid and a seller receives below.
    s = scenario(
        [{"name": "v", "latency": expo(1.0), "spread_bps": 2.0, "skew_bps": skew}],
        [{"kind": "first_wins"}],
        requests=300,
        order={"side": side},
    )
    result = run(s)
    rec = result.strategies["first_wins"].records
    sign = 1 if side == "buy" else -1
    assert (result.draws.side == sign).all()
    assert (rec.outcome == FILLED).all()
    if side == "buy":
        assert (rec.fill_price > M0).all()
    else:
        assert (rec.fill_price < M0).all()
    # Paying the spread is a cost on both sides; skew (raising bid and ask) costs a buyer
    # more and a seller less.
    want = 1.0 + sign * skew
    np.testing.assert_allclose(slippage(sign, rec.fill_price), want, rtol=0, atol=EXACT_BPS)
    got = result.summary["strategies"]["first_wins"]["slippage_bps"]
    assert got == {
        "mean": pytest.approx(want),
        "p50": pytest.approx(want),
        "p95": pytest.approx(want),
    }


def test_random_sides_come_from_the_draws_and_both_occur():
    venues = [{"name": "v", "latency": expo(1.0), "spread_bps": 2.0, "skew_bps": 0.7}]
    s = scenario(venues, [{"kind": "first_wins"}], requests=1000, order={"side": "random"})
    result = run(s)
    side = draw(s).side
    assert np.array_equal(result.draws.side, side)
    # Binomial(1000, 1/2): sd 16, so 400..600 is more than 6 sd either way.
    assert 400 <= (side == 1).sum() <= 600
    rec = result.strategies["first_wins"].records
    assert (rec.outcome == FILLED).all()
    # The engine traded each request on its drawn side: buys above the mid, sells below.
    assert np.array_equal(np.sign(rec.fill_price - M0), side)
    cost = slippage(side, rec.fill_price)
    np.testing.assert_allclose(cost, np.where(side == 1, 1.7, 0.3), rtol=0, atol=EXACT_BPS)
    assert_summary_matches(result.summary["strategies"]["first_wins"]["slippage_bps"], cost)
    # Another seed draws other sides.
    assert not np.array_equal(draw(s.with_overrides(seed=s.seed + 1)).side, side)


# --- 3. shortfall against the latency-free oracle -----------------------------------------------


def test_shortfall_is_zero_when_the_fastest_venue_is_also_the_best():
    venues = [
        {"name": "fast-tight", "latency": const(0.5), "spread_bps": 1.0},
        {"name": "slow-wide", "latency": const(1.0), "spread_bps": 4.0},
    ]
    result = run(scenario(venues, requests=500, order={"side": "random"}))
    for name in ("first_wins", "best_price"):
        rec = result.strategies[name].records
        assert (rec.venue == 0).all()
        side = result.draws.side
        oracle = M0 * (1 + side * 0.5 * 1.0 * 1e-4)
        np.testing.assert_allclose(slippage(side, rec.fill_price, oracle), 0.0, atol=EXACT_BPS)
        got = result.summary["strategies"][name]["shortfall_bps"]
        assert got == {"mean": 0.0, "p50": 0.0, "p95": 0.0}


def test_shortfall_is_positive_when_a_faster_wider_venue_wins():
    venues = [
        {"name": "fast-wide", "latency": const(0.5), "spread_bps": 4.0},
        {"name": "slow-tight", "latency": const(1.0), "spread_bps": 1.0},
    ]
    result = run(scenario(venues, requests=500, order={"side": "random"}))
    first = result.summary["strategies"]["first_wins"]
    # first_wins takes the 4 bps venue: 2 bps against the arrival mid, 1.5 bps more than the
    # oracle's 0.5.
    assert (result.strategies["first_wins"].records.venue == 0).all()
    assert first["slippage_bps"] == {"mean": 2.0, "p50": 2.0, "p95": 2.0}
    assert first["shortfall_bps"] == {"mean": 1.5, "p50": 1.5, "p95": 1.5}
    best = result.summary["strategies"]["best_price"]
    assert (result.strategies["best_price"].records.venue == 1).all()
    assert best["shortfall_bps"] == {"mean": 0.0, "p50": 0.0, "p95": 0.0}


def test_shortfall_is_never_negative_without_noise_or_volatility():
    # Random latencies, failures and a timeout, skewed venues, both sides: the oracle is the
    # best price at arrival, so no fill beats it; shortfall is the chosen venue's cost minus
    # the cheapest venue's, per request.
    venues = [
        {"name": "a", "latency": expo(0.4), "spread_bps": 5.0, "skew_bps": 0.5},
        {"name": "b", "latency": expo(0.8), "spread_bps": 2.0, "fail_prob": 0.2},
        {"name": "c", "latency": expo(1.5), "spread_bps": 3.0, "skew_bps": -1.2},
        {"name": "d", "latency": expo(3.0), "spread_bps": 1.0, "fail_prob": 0.4},
    ]
    strategies = [{"kind": "first_wins"}, {"kind": "best_price", "timeout_ms": 2.0}]
    result = run(scenario(venues, strategies, requests=1500, order={"side": "random"}))
    side = result.draws.side
    spread = np.array([v["spread_bps"] for v in venues])
    skew = np.array([v.get("skew_bps", 0.0) for v in venues])
    cost = 0.5 * spread[:, None] + side[None, :] * skew[:, None]  # venues x requests
    oracle = M0 * (1 + side * cost.min(axis=0) * 1e-4)
    for name, r in result.strategies.items():
        rec = r.records
        filled = rec.outcome == FILLED
        shortfall = slippage(side, rec.fill_price, oracle)
        assert (shortfall[filled] >= -EXACT_BPS).all(), name
        want = cost[rec.venue[filled], np.flatnonzero(filled)] - cost.min(axis=0)[filled]
        np.testing.assert_allclose(shortfall[filled], want, rtol=0, atol=EXACT_BPS)
        assert (want > 0).any(), name  # some fills are not the oracle's best
        assert_summary_matches(result.summary["strategies"][name]["shortfall_bps"], shortfall)


# --- 4. depth walking ----------------------------------------------------------------------------

# Given out of order: the ladder sorts its levels by spread, tightest first.
LADDER = [{"size": 2, "spread_bps": 3.0}, {"size": 1, "spread_bps": 1.0}]


@pytest.mark.parametrize(
    ("size", "vwap_spread"),
    [(0.5, 1.0), (1, 1.0), (2, (1 * 1 + 1 * 3) / 2), (2.5, (1 * 1 + 1.5 * 3) / 2.5), (3, 7 / 3)],
)
def test_an_order_walks_the_depth_ladder(size, vwap_spread):
    s = scenario(
        [{"name": "deep", "latency": expo(1.0), "depth": LADDER}],
        [{"kind": "first_wins"}],
        requests=200,
        order={"side": "random", "size": size},
    )
    result = run(s)
    rec = result.strategies["first_wins"].records
    assert (rec.outcome == FILLED).all()
    cost = slippage(result.draws.side, rec.fill_price)
    np.testing.assert_allclose(cost, vwap_spread / 2, rtol=0, atol=EXACT_BPS)
    summary = result.summary["strategies"]["first_wins"]
    assert summary["slippage_bps"]["mean"] == pytest.approx(vwap_spread / 2, abs=1e-6)
    assert summary["shortfall_bps"]["mean"] == pytest.approx(0.0, abs=1e-6)


def test_an_order_beyond_the_depth_finds_no_liquidity():
    s = scenario(
        [{"name": "deep", "latency": expo(1.0), "depth": LADDER}],
        requests=200,
        order={"size": 3.5},  # the ladder holds 3
    )
    result = run(s)
    for name, r in result.strategies.items():
        rec = r.records
        assert (rec.outcome == REJECTED["no_liquidity"]).all(), name
        assert (rec.orders == 1).all() and np.isnan(rec.fill_price).all()
        summary = result.summary["strategies"][name]
        assert summary["fill_rate"] == 0.0
        assert summary["reject_rate"] == {
            "expired": 0.0,
            "price_moved": 0.0,
            "no_liquidity": 1.0,
            "venue_failed": 0.0,
        }
        assert summary["slippage_bps"] == {"mean": None, "p50": None, "p95": None}
        assert summary["venue_requests_per_fill"] is None


# --- 5. last look -------------------------------------------------------------------------------

# Constant latencies: the quote is priced at t0 + 0.5 ms (half the 1 ms quote latency), chosen
# at t0 + 1 ms, and checked at t0 + 1 + 2/2 + 1 (hold) = t0 + 3 ms, 2.5 ms after pricing.
EXPIRY_VENUE = {
    "name": "v",
    "latency": const(1.0),
    "order_latency": const(2.0),
    "spread_bps": 2.0,
    "last_look": {"hold_ms": 1.0},
}


@pytest.mark.parametrize(
    ("ttl_ms", "outcome"), [(0.5, "expired"), (2.4, "expired"), (2.6, "filled"), (None, "filled")]
)
def test_a_quote_expires_when_the_order_is_checked_after_its_ttl(ttl_ms, outcome):
    venue = dict(EXPIRY_VENUE)
    if ttl_ms is not None:
        venue["quote_ttl_ms"] = ttl_ms
    result = run(scenario([venue], [{"kind": "first_wins"}], requests=500))
    rec = result.strategies["first_wins"].records
    assert (rec.outcome == OUTCOMES.index(outcome)).all()
    summary = result.summary["strategies"]["first_wins"]
    if outcome == "expired":
        assert summary["fill_rate"] == 0.0 and summary["reject_rate"]["expired"] == 1.0
        assert np.isnan(rec.fill_s).all()
    else:
        assert summary["fill_rate"] == 1.0 and summary["reject_rate"]["expired"] == 0.0
        # decision 1 ms + order round trip 2 ms + hold 1 ms
        np.testing.assert_allclose(rec.fill_s, 4e-3, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("latency_ms", "order_latency_ms", "hold_ms"),
    [
        (1.0, 2.0, 1.0),
        (0.4, 0.6, 0.5),
        (0.2, 0.4, 0.0),  # float sums differ in the last bit here: judged in whole ns
    ],
)
def test_an_order_checked_exactly_at_expiry_fills(latency_ms, order_latency_ms, hold_ms):
    # venues/last_look.py: "exactly at the expiry ... fills". The quote is priced half its
    # latency after t0 and the order checked after the whole latency, half the order's round
    # trip and the hold: a ttl of exactly the difference (in decimal ms) fills every order.
    ttl_ms = round(0.5 * latency_ms + 0.5 * order_latency_ms + hold_ms, 12)
    venue = {
        "name": "v",
        "latency": const(latency_ms),
        "order_latency": const(order_latency_ms),
        "spread_bps": 2.0,
        "last_look": {"hold_ms": hold_ms},
        "quote_ttl_ms": ttl_ms,
    }
    result = run(scenario([venue], [{"kind": "first_wins"}], requests=500))
    rec = result.strategies["first_wins"].records
    assert (rec.outcome == FILLED).all(), np.bincount(rec.outcome).tolist()


# Jumps of 30 bps at 40/s: in the 3 ms from pricing to the check a jump comes with probability
# 1 - exp(-0.12) = 11.3%, an adverse one with 1 - exp(-0.06) = 5.8%. Diffusion of 2 bps/sqrt(s)
# moves the mid ~0.1 bps in 3 ms: that alone exceeds tolerance 0 but never 10. 2000 requests at
# 500/s span 4 s (updates at 1000/s: a 3 ms window sees none with probability exp(-3) = 5%).
JUMPY = {"volatility_bps": 2.0, "jumps": {"rate_per_s": 40.0, "size_bps": 30.0}}
PRICE_VENUE_LATENCY_MS, PRICE_ORDER_LATENCY_MS, PRICE_HOLD_MS = 1.0, 1.0, 2.0


@pytest.mark.parametrize("mode", ["asymmetric", "symmetric"])
@pytest.mark.parametrize("tolerance", [0.0, 10.0])
def test_last_look_rejects_exactly_the_orders_the_mid_moved_against(mode, tolerance):
    venue = {
        "name": "v",
        "latency": const(PRICE_VENUE_LATENCY_MS),
        "order_latency": const(PRICE_ORDER_LATENCY_MS),
        "spread_bps": 1.0,
        "last_look": {"hold_ms": PRICE_HOLD_MS, "tolerance_bps": tolerance, "mode": mode},
    }
    s = scenario(
        [venue],
        [{"kind": "first_wins"}],
        requests=2000,
        rate=500.0,
        market=JUMPY,
        order={"side": "random"},
    )
    result = run(s)
    rec = result.strategies["first_wins"].records
    # The expected outcome of every request, from a fresh path of the same seed.
    mid = MidPath(s.market, s.seed)
    t0, side = result.draws.arrival_s, result.draws.side
    priced = t0 + 0.5 * PRICE_VENUE_LATENCY_MS * 1e-3
    checked = t0 + (PRICE_VENUE_LATENCY_MS + 0.5 * PRICE_ORDER_LATENCY_MS + PRICE_HOLD_MS) * 1e-3
    m_priced = np.array([mid(t) for t in priced.tolist()])
    m_checked = np.array([mid(t) for t in checked.tolist()])
    move = side * (m_checked - m_priced) / m_priced * 1e4  # positive: against the venue
    moved = (move if mode == "asymmetric" else np.abs(move)) > tolerance
    assert np.array_equal(rec.outcome == REJECTED["price_moved"], moved)
    assert np.array_equal(rec.outcome == FILLED, ~moved)
    if tolerance > 0:
        # Only jumps exceed 10 bps. Rejects come in clusters (~1.5 requests per jump window),
        # so their count varies as the jump count: Poisson(160) in 4 s (sd 8%), Poisson(80)
        # adverse (sd 11%). Half the expected rate is more than 4 sd either way.
        p = 1 - math.exp(-(40.0 if mode == "symmetric" else 20.0) * 3e-3)
        assert abs(moved.mean() - p) < 0.5 * p
    else:
        # Diffusion alone rejects every order whose window saw an update (95%), against the
        # venue (47.5%, asymmetric) or either way (symmetric); binomial sd ~1.1%.
        assert moved.mean() > (0.4 if mode == "asymmetric" else 0.9)
    if mode == "asymmetric":
        assert (move[moved] > 0).all()
        # Favourable moves beyond the tolerance fill.
        assert ((move < -tolerance) & ~moved).any()
    else:
        assert (move[moved] < -tolerance).any() and (move[moved] > tolerance).any()
    summary = result.summary["strategies"]["first_wins"]
    assert summary["reject_rate"]["price_moved"] == pytest.approx(moved.mean(), abs=1e-6)
    assert summary["fill_rate"] == pytest.approx(1 - moved.mean(), abs=1e-6)


# --- 6. retries -----------------------------------------------------------------------------------

RETRY_VENUES = [
    {
        "name": "a",
        "latency": expo(1.0),
        "spread_bps": 2.0,
        "last_look": {"hold_ms": 1.0, "tolerance_bps": 0.0},
    },
    {
        "name": "b",
        "latency": expo(1.5),
        "spread_bps": 1.0,
        "last_look": {"hold_ms": 0.5, "tolerance_bps": 0.1},
        "quote_ttl_ms": 3.0,
    },
]
RETRY_STRATEGIES = [
    {"kind": "first_wins", "name": "once"},
    {"kind": "first_wins", "name": "retry", "max_retries": 2},
    {"kind": "best_price", "name": "best-retry", "timeout_ms": 5.0, "max_retries": 2},
]


def retry_scenario(strategies=RETRY_STRATEGIES):
    return scenario(
        RETRY_VENUES,
        strategies,
        requests=1500,
        market={"volatility_bps": 5.0},
        order={"side": "random"},
    )


def test_retries_fill_more_on_the_same_draws():
    result = run(retry_scenario())
    once = result.strategies["once"].records
    retry = result.strategies["retry"].records
    # Common random numbers: the first race of each request is the same race.
    assert np.array_equal(once.decision_s, retry.decision_s)
    assert np.array_equal(once.venue, retry.venue)
    first_filled = once.outcome == FILLED
    assert np.array_equal(once.fill_price[first_filled], retry.fill_price[first_filled])
    assert np.array_equal(once.fill_s[first_filled], retry.fill_s[first_filled])
    assert (retry.outcome[first_filled] == FILLED).all()
    assert (retry.orders[first_filled] == 1).all()
    # Every venue always answers, so a rejected first order always gets a second race.
    assert (retry.orders[~first_filled] >= 2).all()
    assert (once.orders == 1).all()
    # first_wins (timeout 1 s) always gets a quote: it stops only at a fill or after 3 orders.
    assert (retry.outcome[retry.orders < 3] == FILLED).all()
    for name in ("retry", "best-retry"):
        rec = result.strategies[name].records
        assert rec.orders.max() == 3, name
        assert rec.rejects.sum() == rec.orders.sum() - (rec.outcome == FILLED).sum(), name
        # An unfilled request that sent orders keeps its last order's reject reason (a retry
        # race that finds no quote in best_price's 5 ms does not make it "no_quote").
        unfilled = (rec.orders > 0) & (rec.outcome != FILLED)
        assert np.isin(rec.outcome[unfilled], list(REJECTED.values())).all(), name
        assert ((rec.orders == 0) == (rec.outcome == NO_QUOTE)).all(), name
    summary = result.summary["strategies"]
    # ~half the first orders are rejected (tolerance ~0 and a moving mid); retries recover most.
    assert 0.3 < summary["once"]["fill_rate"] < 0.7
    assert summary["retry"]["fill_rate"] > summary["once"]["fill_rate"] + 0.1
    assert summary["retry"]["decision_ms"] == summary["once"]["decision_ms"]


def test_reject_rate_is_rejects_per_order_sent():
    result = run(retry_scenario())
    for name, r in result.strategies.items():
        rec = r.records
        orders = int(rec.orders.sum())
        assert orders > 0 and rec.rejects.sum() > 0, name
        got = result.summary["strategies"][name]["reject_rate"]
        want = {reason: rec.rejects[k] / orders for k, reason in enumerate(ORDER_REJECTS)}
        assert got == pytest.approx(want, abs=1e-6), name
        # Per order sent, not per request: retries send more orders than requests.
        if name != "once":
            assert orders > result.scenario.requests, name
    # Both causes of reject occur in this scenario (venue b's quotes also expire).
    retry = result.strategies["retry"].records
    assert retry.rejects[ORDER_REJECTS.index("price_moved")] > 0
    assert retry.rejects[ORDER_REJECTS.index("expired")] > 0


def test_allowing_retries_changes_no_first_race():
    # The run without retries alone draws one attempt; with retrying strategies beside it,
    # three. Attempts have their own streams, so the no-retry strategy's results are the same.
    alone = run(retry_scenario(RETRY_STRATEGIES[:1])).strategies["once"].records
    beside = run(retry_scenario()).strategies["once"].records
    for field in ("decision_s", "venue", "outcome", "fill_price", "fill_s", "orders"):
        assert np.array_equal(getattr(alone, field), getattr(beside, field), equal_nan=True)


# --- 7. one market path and one set of venue draws for every strategy -----------------------------

MOVING = [
    {"name": "a", "latency": expo(0.6), "spread_bps": 3.0},
    {"name": "b", "latency": expo(1.0), "spread_bps": 1.5, "skew_bps": 0.3},
    {"name": "c", "latency": expo(2.0), "spread_bps": 0.5, "fail_prob": 0.1},
]


def test_every_strategy_sees_the_same_mid_at_the_same_time():
    s = scenario(
        MOVING,
        [{"kind": "first_wins"}, {"kind": "best_price", "timeout_ms": 3.0}],
        requests=1500,
        market={"volatility_bps": 20.0, "jumps": {"rate_per_s": 5.0, "size_bps": 10.0}},
        order={"side": "random"},
    )
    result = run(s)
    # A fresh path of the same seed, queried backwards in time: the venue priced each quote at
    # the mid halfway through its drawn latency.
    mid = MidPath(s.market, s.seed)
    side = result.draws.side
    latency = np.stack(result.draws.latency_s)
    spread = np.array([v["spread_bps"] for v in MOVING])
    skew = np.array([v.get("skew_bps", 0.0) for v in MOVING])
    n = s.requests
    m0 = np.array([mid(t) for t in result.draws.arrival_s.tolist()])
    filled = {}
    for name, r in result.strategies.items():
        rec = r.records
        idx = np.flatnonzero(rec.outcome == FILLED)
        v = rec.venue[idx]
        priced_at = result.draws.arrival_s[idx] + 0.5 * latency[v, idx]
        m = np.array([mid(t) for t in priced_at.tolist()[::-1]])[::-1]
        want = m * (1.0 + (side[idx] * 0.5 * spread[v] + skew[v]) * 1e-4)
        np.testing.assert_allclose(rec.fill_price[idx], want, rtol=1e-14, atol=0, err_msg=name)
        filled[name] = rec
        # Slippage is against the mid at arrival.
        cost = np.full(n, np.nan)
        cost[idx] = slippage(side[idx], rec.fill_price[idx], m0[idx], m0[idx])
        assert_summary_matches(result.summary["strategies"][name]["slippage_bps"], cost)
    first, best = filled["first_wins"], filled["best_price"]
    same = (first.venue == best.venue) & (first.outcome == FILLED) & (best.outcome == FILLED)
    other = (first.venue != best.venue) & (first.outcome == FILLED) & (best.outcome == FILLED)
    assert same.sum() > 100 and other.sum() > 100
    # Same venue, same request: same latency draw, same mid, so the very same price.
    assert np.array_equal(first.fill_price[same], best.fill_price[same])
    # The mid moves: the fills are not all at one price.
    assert np.ptp(first.fill_price[same]) > 0.01


def test_adding_a_strategy_changes_no_other_strategys_results():
    s = scenario(MOVING, [{"kind": "first_wins"}], market={"volatility_bps": 20.0})
    both = scenario(MOVING, market={"volatility_bps": 20.0})
    alone = run(s)
    together = run(both)
    a, b = alone.strategies["first_wins"].records, together.strategies["first_wins"].records
    for field in ("decision_s", "venue", "outcome", "fill_price", "fill_s", "orders"):
        assert np.array_equal(getattr(a, field), getattr(b, field), equal_nan=True)
    assert alone.summary["strategies"]["first_wins"] == together.summary["strategies"]["first_wins"]


PATH = MarketSpec(volatility_bps=10.0, jumps=Jumps(rate_per_s=3.0, size_bps=5.0))


def test_the_mid_path_does_not_depend_on_the_order_it_is_queried_in():
    times = np.random.default_rng(0).uniform(0.0, 8.0, 500)
    forward, backward = MidPath(PATH, 5), MidPath(PATH, 5)
    first_forward = forward(5.3)
    first_backward = backward(0.1)
    assert backward(5.3) == first_forward
    assert forward(0.1) == first_backward
    a = [forward(t) for t in np.sort(times).tolist()]
    b = [backward(t) for t in np.sort(times)[::-1].tolist()][::-1]
    assert a == b
    other = MidPath(PATH, 6)
    assert other(5.3) != first_forward
    c = [other(t) for t in np.sort(times).tolist()]
    assert sum(x != y for x, y in zip(a, c, strict=True)) > 490
    assert MidPath(PATH, 5)(0.0) == PATH.mid  # nothing has moved it yet at t = 0


def test_a_still_market_never_moves():
    still = MidPath(MarketSpec(mid=123.5), 1)
    assert {still(t) for t in (0.0, 0.5, 1.0, 7.25, 1e5)} == {123.5}


@pytest.mark.parametrize("seconds", [1, 4])
def test_log_return_variance_is_volatility_squared_times_time(seconds):
    # One long path, mids read every `seconds` seconds (off the 1 s chunk boundaries, so the
    # returns span chunk joins): non-overlapping returns are independent with variance
    # vol^2 * T bps^2. With 200 updates/s the variance realised per interval, vol^2 * (time
    # between the last updates before each end), has mean vol^2 * T and sd vol^2 * 7 ms, so the
    # returns are Gaussian to within that (excess kurtosis < 1e-4). The standard error of a
    # variance from n Gaussian draws is var * sqrt(2 / (n - 1)): 2.2% for n = 4000 (T = 1 s)
    # and 4.5% for n = 1000 (T = 4 s).
    # Tolerance: 4 standard errors.
    vol, n = 10.0, 4000 // seconds
    path = MidPath(MarketSpec(volatility_bps=vol, updates_per_s=200.0), seed=2024)
    t = 0.5 + seconds * np.arange(n + 1)
    log_mid = np.log([path(x) for x in t.tolist()])
    returns_bps = np.diff(log_mid) * 1e4
    expected = vol**2 * seconds
    se = expected * math.sqrt(2 / (n - 1))
    assert abs(returns_bps.var(ddof=1) - expected) < 4 * se
    # The mean return is 0: its standard error is sqrt(expected / n).
    assert abs(returns_bps.mean()) < 4 * math.sqrt(expected / n)


def test_jumps_move_the_log_mid_by_exactly_their_size():
    # No diffusion: the only moves are jumps. At 5/s over 20 s ~100 of them; a 0.1 ms grid
    # separates them (two in one cell: probability ~5 * 1e-4 per jump).
    size_bps = 7.0
    path = MidPath(MarketSpec(jumps=Jumps(rate_per_s=5.0, size_bps=size_bps)), seed=99)
    grid = np.arange(0.0, 20.0, 1e-4)
    moves_bps = np.diff(np.log([path(t) for t in grid.tolist()])) * 1e4
    jumps = moves_bps[moves_bps != 0.0]
    # log(exp(x)) round trips to ~1e-16 relative of log(100) = 4.6: ~1e-11 bps per move.
    np.testing.assert_allclose(np.abs(jumps), size_bps, rtol=0, atol=1e-8)
    # Poisson(100): sd 10, so 60..140 is 4 sd; each sign a fair coin.
    assert 60 <= jumps.size <= 140
    assert (jumps > 0).sum() > 25 and (jumps < 0).sum() > 25
    # ... and a still market with jumps only is a random walk on a lattice of size_bps steps.
    level = (np.log([path(t) for t in grid[::10_000].tolist()]) - math.log(M0)) * 1e4 / size_bps
    np.testing.assert_allclose(level, np.round(level), atol=1e-6)


def test_no_quote_outcome_when_no_venue_answers():
    # The summary's slippage is over fills only: a venue that never answers gives none.
    venues = [{"name": "dead", "latency": const(1.0), "spread_bps": 1.0, "fail_prob": 1.0}]
    result = run(scenario(venues, [{"kind": "first_wins", "timeout_ms": 5.0}], requests=50))
    rec = result.strategies["first_wins"].records
    assert (rec.outcome == NO_QUOTE).all() and (rec.orders == 0).all()
    summary = result.summary["strategies"]["first_wins"]
    assert summary["fill_rate"] == 0.0
    assert summary["reject_rate"] == dict.fromkeys(ORDER_REJECTS, 0.0)
    assert summary["slippage_bps"] == {"mean": None, "p50": None, "p95": None}
    assert summary["shortfall_bps"] == {"mean": None, "p50": None, "p95": None}
