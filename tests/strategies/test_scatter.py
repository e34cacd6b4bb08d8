"""Scatter/gather semantics on hand-built venues, in virtual time (autojump_clock)."""

from __future__ import annotations

import math
import random

import pytest
import trio

from strategies import BestPrice, FirstWins, scatter
from tests.helpers.fakes import MS, decide, venues
from venues.messages import QuoteRequest


async def test_first_wins_takes_the_earliest_and_cancels_the_rest(autojump_clock):
    vs = venues(3.0, 1.0, 2.0, None)
    quote, elapsed = await decide(FirstWins(), vs)
    assert quote.venue == 1
    assert elapsed == pytest.approx(1.0 * MS, abs=1e-12)
    assert [v.cancelled for v in vs] == [1, 0, 1, 1]


async def test_ties_go_to_the_lowest_venue_index_whatever_the_list_order(autojump_clock):
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        vs = venues(2.0, 1.0, 1.0, 1.0)
        quote, _ = await decide(FirstWins(), [vs[i] for i in order])
        assert quote.venue == 1, order


async def test_first_wins_gives_up_at_the_timeout(autojump_clock):
    quote, elapsed = await decide(FirstWins(timeout_ms=5.0), venues(None, 6.0))
    assert quote is None
    assert elapsed == pytest.approx(5.0 * MS, abs=1e-12)


async def test_best_price_waits_for_the_last_quote(autojump_clock):
    quote, elapsed = await decide(BestPrice(), venues(3.0, 1.0, 2.0))
    assert elapsed == pytest.approx(3.0 * MS, abs=1e-12)
    assert quote.venue == 1  # no prices yet: the earliest quote is the best


@pytest.mark.parametrize(("side", "best"), [(1, 2), (-1, 0)])
async def test_best_price_takes_the_lowest_ask_or_highest_bid(autojump_clock, side, best):
    vs = venues(3.0, 1.0, 2.0, 0.5, prices=(101.0, 100.5, 100.0, 100.5))
    quote, _ = await decide(BestPrice(), vs, side)
    assert quote.venue == best


async def test_best_price_passes_over_quotes_too_small_for_the_order(autojump_clock):
    vs = venues(1.0, 2.0, prices=(99.0, 100.0))
    vs[0].size = 1.0  # the cheaper quote is for less than the order's 2
    request = QuoteRequest(0, trio.current_time(), 1, 2.0)
    quote = await BestPrice().decide(request, vs)
    assert quote.venue == 1


async def test_best_price_equal_prices_go_to_the_earliest(autojump_clock):
    vs = venues(3.0, 1.0, 2.0, prices=(100.0, 100.0, 100.0))
    quote, _ = await decide(BestPrice(), vs)
    assert quote.venue == 1


async def test_best_price_stops_at_the_timeout_with_what_it_has(autojump_clock):
    vs = venues(4.0, None, 1.0, 9.0, prices=(99.0, None, 100.0, 98.0))
    quote, elapsed = await decide(BestPrice(timeout_ms=5.0), vs)
    assert elapsed == pytest.approx(5.0 * MS, abs=1e-12)
    assert quote.venue == 0  # venue 3's better price comes after the timeout


async def test_a_quote_exactly_at_the_timeout_counts(autojump_clock, monkeypatch):
    # Whichever of the timer and the venue trio wakes first, the quote due at the deadline counts.
    # Reseeding trio's scheduler Random makes both orders happen (pytest-trio pins it otherwise).
    for scheduler_seed in range(20):
        monkeypatch.setattr(trio._core._run, "_r", random.Random(scheduler_seed))
        quote, elapsed = await decide(
            BestPrice(timeout_ms=4.0), venues(1.0, 4.0, None, prices=(101.0, 100.0, None))
        )
        assert quote.venue == 1
        assert elapsed == pytest.approx(4.0 * MS, abs=1e-12)
        quote, _ = await decide(FirstWins(timeout_ms=4.0), venues(None, 4.0))
        assert quote is not None and quote.venue == 1


async def test_collect_k_then_iterate_the_rest_in_arrival_order(autojump_clock):
    vs = venues(5.0, 1.0, 3.0, 2.0, 4.0)
    request = QuoteRequest(0, trio.current_time())
    async with scatter(request, vs, timeout_s=math.inf) as quotes:
        first_two = await quotes.collect(2)
        assert trio.current_time() - request.t0 == pytest.approx(2.0 * MS, abs=1e-12)
        rest = [q async for q in quotes]
    assert [q.venue for q in first_two] == [1, 3]
    assert [q.venue for q in rest] == [2, 4, 0]
    assert not quotes.timed_out


async def test_leaving_the_block_by_an_exception_cancels_every_venue(autojump_clock):
    vs = venues(1.0, 7.0, None)
    request = QuoteRequest(0, trio.current_time())
    with pytest.raises(KeyError) as raised:
        async with scatter(request, vs, timeout_s=math.inf) as quotes:
            async for _ in quotes:
                raise KeyError("strategy bug") from ValueError("its cause")
    assert [v.live for v in vs] == [0, 0, 0]
    assert [v.cancelled for v in vs] == [0, 1, 1]
    assert isinstance(raised.value.__cause__, ValueError)  # unwrapped, cause kept


async def test_a_slow_consumer_gets_nothing_that_arrived_after_the_timeout(autojump_clock):
    vs = venues(1.0, 2.0, 8.0)
    request = QuoteRequest(0, trio.current_time())
    seen = []
    async with scatter(request, vs, timeout_s=5 * MS) as quotes:
        async for quote in quotes:
            seen.append(quote.venue)
            await trio.sleep(10 * MS)  # back only after the deadline and the 8 ms quote
    assert seen == [0, 1]
    assert quotes.timed_out


async def test_scatter_to_no_venue_ends_at_once(autojump_clock):
    request = QuoteRequest(0, trio.current_time())
    with trio.fail_after(1):
        async with scatter(request, [], timeout_s=math.inf) as quotes:
            assert await quotes.collect() == []


class Unsendable:
    """A source that delivers its own quotes (`ask_quote`), whose request cannot be sent."""

    index, name = 1, "unsendable"

    def ask_quote(self, request: QuoteRequest, deliver: object) -> None:
        raise ValueError("cannot be encoded")


async def test_a_request_a_source_cannot_send_fails_the_scatter_cleanly(autojump_clock):
    """The error comes out as itself, the other venues' requests are cancelled, and trio goes
    on (the scatter's nursery is closed, not left open)."""
    vs = venues(1.0)
    request = QuoteRequest(0, trio.current_time())
    with pytest.raises(ValueError, match="cannot be encoded"):
        async with scatter(request, [*vs, Unsendable()], timeout_s=math.inf):
            pass
    await trio.sleep(1.0)
    assert [v.live for v in vs] == [0]
