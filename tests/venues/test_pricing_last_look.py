"""Quote pricing, depth walking, last look and the venue's quote/order legs
(docs/design.md section 6).

Pure functions are checked against values computed by hand; `Venue.quote` / `Venue.order` run in
virtual time (autojump_clock) against a hand-made mid path and hand-made draws, so every time
and price below is known exactly in advance.

Prices are compared with pytest.approx(rel=1e-12): `quote_price` computes mid * (1 + x * 1e-4),
and neither x * 1e-4 nor the product is exact in binary floating point (100 * (1 + 1.5e-4) or
100 * (1 - 0.7e-4) need not round to the double nearest 100.015 or 99.993), so an exact
comparison would test float rounding, not the formula. 1e-12 is a few thousand ulps of slack but
only 1e-8 bp, far below any pricing mistake.
Virtual times are compared with abs=1e-12 s for the same reason (t0 + latency / 2 + ...).
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from venues.last_look import LastLook, adverse_move_bps, judge
from venues.latency import Constant
from venues.messages import ExecutionReport, Quote, QuoteRequest
from venues.pricing import Ladder, Level, quote_price
from venues.venue import Venue, VenueDraws, VenueSpec

MS = 1e-3
REL = 1e-12  # relative tolerance for prices and bps: see the module docstring
T_ABS = 1e-12  # absolute tolerance for virtual times, in seconds


def price(x: float) -> pytest.approx:
    return pytest.approx(x, rel=REL)


def at(t: float) -> pytest.approx:
    return pytest.approx(t, abs=T_ABS)


# --------------------------------------------------------------------------- quote_price


@pytest.mark.parametrize(
    ("side", "spread", "skew", "noise", "expected"),
    [
        (+1, 2.0, 0.0, 0.0, 100.01),  # buyer pays mid + 1 bp (half of 2 bps)
        (-1, 2.0, 0.0, 0.0, 99.99),  # seller receives mid - 1 bp
        (+1, 0.0, 0.0, 0.0, 100.0),  # no spread: the mid itself
        (+1, 2.0, 0.5, 0.0, 100.015),  # skew raises the ask...
        (-1, 2.0, 0.5, 0.0, 99.995),  # ...and the bid by the same 0.5 bp
        (+1, 2.0, -0.5, 0.0, 100.005),  # negative skew lowers both
        (-1, 2.0, -0.5, 0.0, 99.985),
        (+1, 2.0, 0.0, 0.3, 100.013),  # noise adds, whatever the side
        (-1, 2.0, 0.0, 0.3, 99.993),
        (-1, 2.0, 0.0, -0.3, 99.987),
        (+1, 3.0, 0.25, -0.75, 100.01),  # all three: 1.5 + 0.25 - 0.75 = 1 bp
        (-1, 3.0, 0.25, -0.75, 99.98),  # -1.5 + 0.25 - 0.75 = -2 bps
    ],
)
def test_quote_price_exact_values(side, spread, skew, noise, expected):
    assert quote_price(100.0, side, spread, skew, noise) == price(expected)


def test_quote_price_scales_with_the_mid():
    # bps are relative to the mid: 2 bps of spread on a mid of 2500 is 0.25 either side
    assert quote_price(2500.0, +1, 2.0, 0.0, 0.0) == price(2500.25)
    assert quote_price(2500.0, -1, 2.0, 0.0, 0.0) == price(2499.75)


def test_quote_price_buy_minus_sell_is_the_full_spread_and_skew_moves_the_centre():
    mid, spread, skew, noise = 100.0, 4.0, 1.5, 0.2
    ask = quote_price(mid, +1, spread, skew, noise)
    bid = quote_price(mid, -1, spread, skew, noise)
    assert (ask - bid) / mid * 1e4 == pytest.approx(spread, rel=1e-9)
    assert ((ask + bid) / 2 - mid) / mid * 1e4 == pytest.approx(skew + noise, rel=1e-9)


# --------------------------------------------------------------------------- Ladder.walk


@pytest.mark.parametrize("size", [1e-9, 0.5, 1.0, 7.0, 1e6])
def test_empty_ladder_quotes_any_size_at_the_top_spread(size):
    ladder = Ladder(())
    assert ladder.depth == math.inf
    assert ladder.walk(size, 2.5) == (2.5, size)
    assert ladder.walk(size) == (0.0, size)  # top spread defaults to 0


LEVELS = (Level(size=1.0, spread_bps=2.0), Level(size=2.0, spread_bps=4.0), Level(3.0, 10.0))


@given(st.lists(st.floats(1e-9, 20.0), min_size=1, max_size=50))
def test_walking_an_array_of_sizes_gives_each_size_walked_alone_bit_for_bit(sizes):
    """The fast engine walks every request's size at once; the venue walks one at a time."""
    for ladder in (Ladder(LEVELS), Ladder(())):
        spreads, available = ladder.walk(np.array(sizes), 1.5)
        alone = [ladder.walk(size, 1.5) for size in sizes]
        assert spreads.tolist() == [a[0] for a in alone]
        assert available.tolist() == [a[1] for a in alone]
        assert all(type(x) is float for x in alone[0])


@pytest.mark.parametrize("order", list(itertools.permutations(LEVELS)))
def test_levels_in_any_order_are_walked_tightest_first(order):
    ladder = Ladder(order)
    assert ladder.depth == 6.0
    # 2 units: 1 @ 2 bps + 1 @ 4 bps = 6 / 2 = 3 bps, whatever order the levels came in
    spread, available = ladder.walk(2.0)
    assert spread == pytest.approx(3.0, rel=REL)
    assert available == 2.0


@pytest.mark.parametrize("size", [0.25, 0.5, 1.0])
def test_size_inside_the_first_level_gets_its_spread(size):
    spread, available = Ladder(LEVELS).walk(size, top_spread_bps=99.0)
    assert spread == pytest.approx(2.0, rel=REL)  # the top spread argument is ignored with depth
    assert available == size


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        # 1 @ 2 + 1.5 @ 4 = 2 + 6 = 8 over 2.5 = 3.2 bps
        (2.5, 8.0 / 2.5),
        # 1 @ 2 + 2 @ 4 = 10 over 3 = 3.333... bps (exactly the first two levels)
        (3.0, 10.0 / 3.0),
        # 1 @ 2 + 2 @ 4 + 1 @ 10 = 20 over 4 = 5 bps
        (4.0, 5.0),
    ],
)
def test_size_spanning_levels_gets_the_volume_weighted_spread(size, expected):
    spread, available = Ladder(LEVELS).walk(size)
    assert spread == pytest.approx(expected, rel=REL)
    assert available == size


@pytest.mark.parametrize("size", [6.0, 6.5, 100.0])
def test_size_beyond_depth_gets_everything_and_available_is_the_depth(size):
    # everything: 1 @ 2 + 2 @ 4 + 3 @ 10 = 40 over 6 = 6.666... bps
    ladder = Ladder(LEVELS)
    spread, available = ladder.walk(size)
    assert spread == pytest.approx(40.0 / 6.0, rel=REL)
    assert available == ladder.depth == 6.0


def test_levels_at_equal_spread_add_up():
    ladder = Ladder((Level(1.0, 3.0), Level(2.0, 3.0), Level(1.0, 1.0)))
    assert ladder.depth == 4.0
    assert ladder.walk(2.0) == (pytest.approx(2.0, rel=REL), 2.0)  # 1 @ 1 + 1 @ 3
    assert ladder.walk(4.0) == (pytest.approx(2.5, rel=REL), 4.0)  # 1 @ 1 + 3 @ 3


def test_size_within_depth_is_available_exactly():
    # regression: summing the takes in floats gave 0.1 + 0.1 + 1.1 = 1.2999999999999998 here,
    # one ulp short of the order, and judge() (size > available) then refused it for liquidity
    ladder = Ladder((Level(0.1, 1.0), Level(0.1, 2.0), Level(10.0, 3.0)))
    spread, available = ladder.walk(1.3)
    assert available == 1.3
    assert spread == pytest.approx((0.1 * 1.0 + 0.1 * 2.0 + 1.1 * 3.0) / 1.3, rel=REL)


def _reference_walk(levels, size):
    """The same walk in exact rational arithmetic: (spread, available) as Fractions."""
    remaining, filled, cost = Fraction(size), Fraction(0), Fraction(0)
    for level in sorted(levels, key=lambda lv: lv.spread_bps):
        take = min(Fraction(level.size), remaining)
        filled += take
        cost += take * Fraction(level.spread_bps)
        remaining -= take
        if remaining == 0:
            break
    return cost / filled, filled


level_st = st.builds(
    Level,
    size=st.floats(min_value=0.01, max_value=100.0, allow_nan=False),
    spread_bps=st.floats(min_value=0.0, max_value=50.0, allow_nan=False),
)
size_st = st.floats(min_value=1e-3, max_value=500.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(levels=st.lists(level_st, min_size=1, max_size=6), sizes=st.tuples(size_st, size_st))
def test_walk_properties(levels, sizes):
    small, large = sorted(sizes)
    ladder = Ladder(levels)
    lo = min(level.spread_bps for level in levels)
    hi = max(level.spread_bps for level in levels)
    # float slack: cost / filled of a single level (take * s / take) can miss s by an ulp or two
    slack = 1e-12 * max(hi, 1.0)
    assert ladder.depth == pytest.approx(math.fsum(level.size for level in levels), rel=REL)

    s_small, a_small = ladder.walk(small)
    s_large, a_large = ladder.walk(large)
    for size, spread, available in ((small, s_small, a_small), (large, s_large, a_large)):
        assert lo - slack <= spread <= hi + slack
        assert available == min(size, ladder.depth)  # exactly: judge() compares with >
        ref_spread, ref_available = _reference_walk(levels, size)
        assert spread == pytest.approx(float(ref_spread), rel=1e-9, abs=1e-12)
        assert available == pytest.approx(float(ref_available), rel=REL)
    # a larger order walks further into wider levels: never a tighter spread
    assert s_small <= s_large + slack


# --------------------------------------------------------------------------- adverse_move_bps


def test_adverse_move_buyer_is_hurt_by_a_rising_mid():
    assert adverse_move_bps(+1, 100.0, 100.02) == pytest.approx(2.0, rel=1e-9)
    assert adverse_move_bps(+1, 100.0, 99.98) == pytest.approx(-2.0, rel=1e-9)


def test_adverse_move_seller_is_hurt_by_a_falling_mid():
    assert adverse_move_bps(-1, 100.0, 99.98) == pytest.approx(2.0, rel=1e-9)
    assert adverse_move_bps(-1, 100.0, 100.02) == pytest.approx(-2.0, rel=1e-9)


@pytest.mark.parametrize(("quoted", "now"), [(100.0, 100.05), (50.0, 49.9), (1.2345, 1.2345)])
def test_adverse_move_sign_flips_with_side(quoted, now):
    assert adverse_move_bps(-1, quoted, now) == -adverse_move_bps(+1, quoted, now)
    # relative to the quoted mid, in bps
    assert adverse_move_bps(+1, quoted, now) == pytest.approx(
        (now - quoted) / quoted * 1e4, rel=REL, abs=1e-12
    )


# --------------------------------------------------------------------------- judge

ASYM = LastLook(hold_ms=1.0, tolerance_bps=0.5, mode="asymmetric")
SYM = LastLook(hold_ms=1.0, tolerance_bps=0.5, mode="symmetric")
UP = math.inf
DOWN = -math.inf


def verdict(policy, *, checked_at=1.0, expires_at=2.0, move_bps=0.0, size=1.0, available=5.0):
    return judge(
        policy,
        checked_at=checked_at,
        expires_at=expires_at,
        move_bps=move_bps,
        size=size,
        available=available,
    )


@pytest.mark.parametrize("policy", [ASYM, SYM, None])
def test_judge_fills_a_clean_order(policy):
    assert verdict(policy) is None


@pytest.mark.parametrize("policy", [ASYM, SYM, None])
def test_judge_expiry_boundary_favours_the_fill(policy):
    t = 0.0123
    assert verdict(policy, checked_at=t, expires_at=t) is None
    assert verdict(policy, checked_at=math.nextafter(t, UP), expires_at=t) == "expired"
    assert verdict(policy, checked_at=math.nextafter(t, DOWN), expires_at=t) is None


@pytest.mark.parametrize("policy", [ASYM, SYM])
def test_judge_tolerance_boundary_favours_the_fill(policy):
    assert verdict(policy, move_bps=0.5) is None
    assert verdict(policy, move_bps=math.nextafter(0.5, UP)) == "price_moved"
    assert verdict(policy, move_bps=2.0) == "price_moved"


def test_judge_zero_tolerance_fills_only_an_unmoved_market():
    strict = LastLook(tolerance_bps=0.0)
    assert verdict(strict, move_bps=0.0) is None
    assert verdict(strict, move_bps=5e-324) == "price_moved"  # the smallest positive double


@pytest.mark.parametrize("move", [-0.5, math.nextafter(-0.5, DOWN), -2.0, -1e6])
def test_judge_asymmetric_ignores_favourable_moves_of_any_size(move):
    assert verdict(ASYM, move_bps=move) is None


def test_judge_symmetric_rejects_favourable_moves_beyond_tolerance():
    assert verdict(SYM, move_bps=-0.5) is None
    assert verdict(SYM, move_bps=math.nextafter(-0.5, DOWN)) == "price_moved"
    assert verdict(SYM, move_bps=-2.0) == "price_moved"


@pytest.mark.parametrize("policy", [ASYM, SYM, None])
def test_judge_liquidity_boundary_favours_the_fill(policy):
    assert verdict(policy, size=3.0, available=3.0) is None
    assert verdict(policy, size=math.nextafter(3.0, UP), available=3.0) == "no_liquidity"
    assert verdict(policy, size=1e9, available=math.inf) is None  # no depth: any size


@pytest.mark.parametrize("move", [2.0, -2.0, 1e6, -1e6])
def test_judge_without_policy_has_no_price_check(move):
    assert verdict(None, move_bps=move) is None
    # ...but expiry and liquidity still apply
    assert verdict(None, move_bps=move, checked_at=3.0, expires_at=2.0) == "expired"
    assert verdict(None, move_bps=move, size=6.0, available=5.0) == "no_liquidity"


@pytest.mark.parametrize(
    ("policy", "late", "moved", "short", "expected"),
    [
        (ASYM, True, True, True, "expired"),
        (ASYM, True, True, False, "expired"),
        (ASYM, True, False, True, "expired"),
        (ASYM, False, True, True, "price_moved"),
        (SYM, True, True, True, "expired"),
        (SYM, False, True, True, "price_moved"),
        (None, True, True, True, "expired"),
        (None, False, True, True, "no_liquidity"),  # no price check without a policy
    ],
)
def test_judge_precedence_expired_then_price_moved_then_no_liquidity(
    policy, late, moved, short, expected
):
    reason = verdict(
        policy,
        checked_at=3.0 if late else 1.0,
        expires_at=2.0,
        move_bps=2.0 if moved else 0.0,
        size=6.0 if short else 1.0,
        available=5.0,
    )
    assert reason == expected


# --------------------------------------------------------------------------- Venue in virtual time

LATENCY_S = 2.0 * MS
ORDER_LATENCY_S = 2.0 * MS
HOLD_MS = 1.0
LAST_LOOK = LastLook(hold_ms=HOLD_MS, tolerance_bps=0.5)


def step_mid(after: float, at_s: float = 1.5 * MS, before: float = 100.0):
    """100.0 before `at_s`, `after` from then on."""
    return lambda t: before if t < at_s else after


def grid(value, attempts: int = 2, requests: int = 3) -> list[list]:
    return [[value] * requests for _ in range(attempts)]


def make_venue(
    mid,
    *,
    ttl_ms: float | None = 10.0,
    last_look: LastLook | None = LAST_LOOK,
    spread_bps: float | None = 2.0,
    depth: tuple[Level, ...] = (),
    draws: VenueDraws | None = None,
    index: int = 0,
) -> Venue:
    spec = VenueSpec(
        name="v",
        latency=Constant(ms=2.0),
        spread_bps=spread_bps,
        depth=depth,
        last_look=last_look,
        quote_ttl_ms=ttl_ms,
    )
    if draws is None:
        draws = VenueDraws(
            latency_s=grid(LATENCY_S),
            answers=grid(True),
            noise_bps=grid(0.0),
            order_latency_s=grid(ORDER_LATENCY_S),
        )
    return Venue(index, spec, draws, mid)


async def quote_then_order(venue: Venue, side: int = 1, size: float = 1.0):
    """Request a quote at the current time, order on it as soon as it arrives.

    The order is sent `quote.latency_s` after the request (the exact drawn value, as the engine
    passes it), which is also the virtual time elapsed.
    """
    request = QuoteRequest(0, trio.current_time(), side, size)
    with trio.fail_after(3600):  # a broken venue fails the test instead of hanging it
        quote = await venue.quote(request)
        sent_at = trio.current_time()
        assert sent_at == at(request.t0 + quote.latency_s)
        report = await venue.order(quote, request, quote.latency_s)
    return request, quote, sent_at, report


async def test_quote_arrives_after_its_latency_priced_at_the_midpoint(autojump_clock):
    # the mid is 100 only around t0 + latency / 2 = 1 ms: any other pricing time shows
    def mid(t):
        return 100.0 if 0.9 * MS <= t < 1.1 * MS else 200.0

    venue = make_venue(mid, ttl_ms=10.0)
    t0 = trio.current_time()
    request = QuoteRequest(0, t0, +1)
    with trio.fail_after(3600):
        quote = await venue.quote(request)

    assert isinstance(quote, Quote)
    assert trio.current_time() == at(t0 + LATENCY_S)
    assert quote.latency_s == LATENCY_S
    assert quote.priced_at == at(t0 + LATENCY_S / 2)
    assert quote.price == price(100.01)  # mid 100 + 1 bp
    assert quote.expires_at == at(quote.priced_at + 10.0 * MS)
    assert quote.size == 1.0  # no depth: the order size, whatever it is
    assert (quote.request, quote.venue) == (0, 0)


async def test_sell_quote_and_noise_draw(autojump_clock):
    draws = VenueDraws(
        latency_s=grid(LATENCY_S),
        answers=grid(True),
        noise_bps=grid(0.3),
        order_latency_s=grid(ORDER_LATENCY_S),
    )
    venue = make_venue(step_mid(100.02), draws=draws, index=4)
    with trio.fail_after(3600):
        quote = await venue.quote(QuoteRequest(0, trio.current_time(), -1))
    assert quote.price == price(100.0 * (1 + (-1.0 + 0.3) * 1e-4))  # 99.993
    assert quote.venue == 4


async def test_quote_without_ttl_never_expires(autojump_clock):
    venue = make_venue(step_mid(100.0), ttl_ms=None)
    with trio.fail_after(3600):
        quote = await venue.quote(QuoteRequest(0, trio.current_time(), +1))
    assert quote.expires_at == math.inf


async def test_order_timing_check_and_round_trip(autojump_clock):
    venue = make_venue(step_mid(100.004))  # +0.4 bp: within tolerance
    await trio.sleep(0.25 * MS)  # t0 is not 0: times must be relative to the request
    request, quote, sent_at, report = await quote_then_order(venue)

    assert sent_at == at(request.t0 + LATENCY_S)
    assert isinstance(report, ExecutionReport)
    assert trio.current_time() == at(sent_at + ORDER_LATENCY_S + HOLD_MS * MS)
    assert report.round_trip_s == pytest.approx(ORDER_LATENCY_S + HOLD_MS * MS, rel=REL)
    assert report.filled and report.reason is None
    assert report.price == quote.price == price(100.01)
    assert (report.request, report.venue) == (request.index, venue.index)


async def test_buy_rejected_when_the_mid_moves_beyond_tolerance(autojump_clock):
    venue = make_venue(step_mid(100.02))  # +2 bps against a buyer
    _, quote, _, report = await quote_then_order(venue, side=+1)
    assert quote.price == price(100.01)  # priced at 1 ms, before the step
    assert report.reason == "price_moved"
    assert not report.filled
    assert report.price == quote.price
    # a reject takes the same round trip as a fill
    assert report.round_trip_s == pytest.approx(ORDER_LATENCY_S + HOLD_MS * MS, rel=REL)


async def test_sell_fills_when_the_mid_rises_under_asymmetric_last_look(autojump_clock):
    venue = make_venue(step_mid(100.02))  # +2 bps: in the venue's favour for a seller
    _, quote, _, report = await quote_then_order(venue, side=-1)
    assert report.filled
    assert report.price == quote.price == price(99.99)


async def test_sell_rejected_when_the_mid_falls(autojump_clock):
    venue = make_venue(step_mid(99.98))
    *_, report = await quote_then_order(venue, side=-1)
    assert report.reason == "price_moved"


async def test_symmetric_last_look_rejects_a_favourable_move(autojump_clock):
    venue = make_venue(step_mid(99.98), last_look=LastLook(hold_ms=1.0, mode="symmetric"))
    *_, report = await quote_then_order(venue, side=+1)
    assert report.reason == "price_moved"


async def test_without_last_look_any_move_fills(autojump_clock):
    venue = make_venue(step_mid(101.0), last_look=None)
    *_, report = await quote_then_order(venue)
    assert report.filled
    assert report.round_trip_s == pytest.approx(ORDER_LATENCY_S, rel=REL)  # no hold
    assert trio.current_time() == at(LATENCY_S + ORDER_LATENCY_S)


async def test_the_market_is_looked_at_after_the_hold_and_before_the_answer(autojump_clock):
    # order sent at 2 ms: reaches the venue at 3 ms, checked at 4 ms, answer at 5 ms
    during_hold = make_venue(step_mid(100.02, at_s=3.5 * MS))
    *_, report = await quote_then_order(during_hold)
    assert report.reason == "price_moved"  # the hold lets the venue see the move

    after_check = make_venue(step_mid(100.02, at_s=4.5 * MS))
    *_, report = await quote_then_order(after_check)
    assert report.filled  # a move on the way back is too late for last look


async def test_quote_expires_during_the_hold(autojump_clock):
    # priced at 1 ms, valid for 2.5 ms -> 3.5 ms; the order is checked at 4 ms
    venue = make_venue(step_mid(100.0), ttl_ms=2.5)
    _, quote, _, report = await quote_then_order(venue)
    assert quote.expires_at == at(3.5 * MS)
    assert report.reason == "expired"
    assert trio.current_time() == at(5.0 * MS)

    # valid for 3.5 ms -> 4.5 ms: still good at the check
    venue = make_venue(step_mid(100.0), ttl_ms=3.5)
    *_, report = await quote_then_order(venue)
    assert report.filled


async def test_a_move_before_pricing_is_in_the_quote_not_a_reason_to_reject(autojump_clock):
    # the mid steps up 2 bps at 0.5 ms, before the venue prices at 1 ms, and stays there
    venue = make_venue(step_mid(100.02, at_s=0.5 * MS))
    _, quote, _, report = await quote_then_order(venue, side=+1)
    assert quote.price == price(100.02 * (1 + 1e-4))
    assert report.filled  # the venue's own quoted mid is the reference, not the arrival mid


async def test_the_venue_answers_at_t0_plus_latency_even_if_called_late(autojump_clock):
    venue = make_venue(step_mid(100.0))
    t0 = trio.current_time()
    request = QuoteRequest(0, t0, +1)
    await trio.sleep(0.5 * MS)  # the client's task starts late: the wire time is still 2 ms
    with trio.fail_after(3600):
        quote = await venue.quote(request)
    assert trio.current_time() == at(t0 + LATENCY_S)
    assert quote.priced_at == at(t0 + LATENCY_S / 2)


@pytest.mark.parametrize(
    ("latency_ms", "order_latency_ms", "hold_ms", "ttl_ms"),
    [
        # ttl = latency / 2 + order latency / 2 + hold: the check lands exactly on the expiry.
        # The first three are cases where float sums of the same times disagree in the last bit
        (0.1, 0.1, 0.2, 0.3),
        (0.1, 0.1, 0.9, 1.0),
        (0.1, 0.1, 1.3, 1.4),
        (2.0, 2.0, 1.0, 3.0),
    ],
)
async def test_an_order_checked_exactly_at_expiry_fills_and_a_nanosecond_later_expires(
    autojump_clock, latency_ms, order_latency_ms, hold_ms, ttl_ms
):
    draws = VenueDraws(
        latency_s=grid(latency_ms * MS),
        answers=grid(True),
        noise_bps=grid(0.0),
        order_latency_s=grid(order_latency_ms * MS),
    )
    await trio.sleep(12.3456789 * MS)  # an awkward t0: absolute times would round differently
    policy = LastLook(hold_ms=hold_ms, tolerance_bps=0.5)
    on_time = make_venue(step_mid(100.0), draws=draws, last_look=policy, ttl_ms=ttl_ms)
    *_, report = await quote_then_order(on_time)
    assert report.reason is None

    one_ns_short = make_venue(step_mid(100.0), draws=draws, last_look=policy, ttl_ms=ttl_ms - 1e-6)
    *_, report = await quote_then_order(one_ns_short)
    assert report.reason == "expired"


async def test_depth_venue_quotes_the_walked_spread_and_refuses_what_it_lacks(autojump_clock):
    depth = (Level(1.0, 4.0), Level(0.5, 1.0))  # 0.5 @ 1 bp then 1 @ 4 bps
    # 1 unit: 0.5 @ 1 + 0.5 @ 4 = 2.5 over 1 = 2.5 bps full spread -> 1.25 bps half
    venue = make_venue(step_mid(100.0), spread_bps=None, depth=depth)
    _, quote, _, report = await quote_then_order(venue, size=1.0)
    assert quote.price == price(100.0 * (1 + 1.25e-4))
    assert quote.size == 1.0
    assert report.filled

    # 2 units: all 1.5 there is, at 0.5 @ 1 + 1 @ 4 = 4.5 over 1.5 = 3 bps -> 1.5 bps half
    venue = make_venue(step_mid(100.0), spread_bps=None, depth=depth)
    _, quote, _, report = await quote_then_order(venue, side=-1, size=2.0)
    assert quote.price == price(100.0 * (1 - 1.5e-4))
    assert quote.size == 1.5
    assert report.reason == "no_liquidity"


async def test_depth_venue_fills_an_order_well_within_depth(autojump_clock):
    depth = (Level(0.1, 1.0), Level(0.1, 2.0), Level(10.0, 3.0))
    venue = make_venue(step_mid(100.0), spread_bps=None, depth=depth)
    _, quote, _, report = await quote_then_order(venue, size=1.3)
    assert quote.size == 1.3
    assert report.filled  # regression: float rounding of the depth walk made this no_liquidity


async def test_draws_are_indexed_by_attempt_then_request(autojump_clock):
    # distinct values everywhere, 2 attempts x 3 requests: a transposed index raises or differs
    draws = VenueDraws(
        latency_s=[[1 * MS, 2 * MS, 3 * MS], [4 * MS, 5 * MS, 6 * MS]],
        answers=grid(True),
        noise_bps=[[0.0, 0.1, 0.2], [0.3, 0.4, 0.5]],
        order_latency_s=[[1 * MS, 2 * MS, 3 * MS], [7 * MS, 8 * MS, 9 * MS]],
    )
    venue = make_venue(lambda t: 100.0, draws=draws, last_look=None, ttl_ms=None)
    request = QuoteRequest(2, trio.current_time(), +1, 1.0, attempt=1)
    with trio.fail_after(3600):
        quote = await venue.quote(request)
    assert quote.latency_s == 6 * MS
    assert trio.current_time() == at(request.t0 + 6 * MS)
    assert quote.price == price(100.0 * (1 + (1.0 + 0.5) * 1e-4))
    sent_at = trio.current_time()
    with trio.fail_after(3600):
        report = await venue.order(quote, request, quote.latency_s)
    assert report.round_trip_s == pytest.approx(9 * MS, rel=REL)
    assert trio.current_time() == at(sent_at + 9 * MS)
    assert report.request == 2


def request_1_unanswered() -> VenueDraws:
    """Draws in which the venue never answers request 1's first attempt."""
    return VenueDraws(
        latency_s=grid(LATENCY_S),
        answers=[[True, False, True], [True, True, True]],
        noise_bps=grid(0.0),
        order_latency_s=grid(ORDER_LATENCY_S),
    )


async def test_a_venue_that_does_not_answer_never_answers(autojump_clock):
    venue = make_venue(step_mid(100.0), draws=request_1_unanswered())
    got = []
    with trio.move_on_after(10.0) as scope:
        got.append(await venue.quote(QuoteRequest(1, trio.current_time(), +1)))
    assert scope.cancelled_caught
    assert got == []
    assert trio.current_time() == at(10.0)

    # the same request index answers on another attempt, and other indices answer
    t0 = trio.current_time()
    with trio.fail_after(3600):
        quote = await venue.quote(QuoteRequest(1, t0, +1, attempt=1))
    assert trio.current_time() == at(t0 + LATENCY_S)
    assert quote.request == 1


async def test_requests_counts_every_quote_call(autojump_clock):
    venue = make_venue(step_mid(100.0), draws=request_1_unanswered())
    assert venue.requests == 0
    with trio.fail_after(3600):
        await venue.quote(QuoteRequest(0, trio.current_time(), +1))
    assert venue.requests == 1
    with trio.move_on_after(1.0):
        await venue.quote(QuoteRequest(1, trio.current_time(), +1))  # never answers
    assert venue.requests == 2  # a request is counted when received, answered or not
    request = QuoteRequest(2, trio.current_time(), -1)
    with trio.fail_after(3600):
        quote = await venue.quote(request)
        await venue.order(quote, request, quote.latency_s)
    assert venue.requests == 3  # orders are not quote requests
