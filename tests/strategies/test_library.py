"""Each strategy's decision rule on hand-built venues where the right answer is known, and
registering strategies of your own."""

from __future__ import annotations

import numpy as np
import pytest

from sim.measure.run import run
from sim.model.errors import ScenarioError
from sim.model.scenario import parse
from strategies import (
    STRATEGIES,
    Deadline,
    FirstK,
    Leg,
    Staggered,
    Threshold,
    register,
    scatter,
)
from strategies.registry import STRATEGIES as REGISTRY
from tests.helpers.fakes import MS, decide, venues


async def test_first_k_takes_the_best_of_the_first_k(autojump_clock):
    vs = venues(3.0, 1.0, 2.0, prices=(99.0, 101.0, 100.0))
    quote, elapsed = await decide(FirstK(k=2), vs)
    assert quote.venue == 2  # venue 0's better price comes third
    assert elapsed == pytest.approx(2 * MS, abs=1e-12)


async def test_first_k_beyond_the_venues_waits_for_all(autojump_clock):
    vs = venues(3.0, 1.0, 2.0, prices=(99.0, 101.0, 100.0))
    quote, elapsed = await decide(FirstK(k=5), vs)
    assert quote.venue == 0
    assert elapsed == pytest.approx(3 * MS, abs=1e-12)


async def test_deadline_takes_the_best_by_the_deadline(autojump_clock):
    vs = venues(1.0, 2.5, 3.0, prices=(101.0, 100.0, 99.0))
    quote, elapsed = await decide(Deadline(deadline_ms=2.5), vs)
    assert quote.venue == 1  # arrives exactly at the deadline: counts; venue 2 is too late
    assert elapsed == pytest.approx(2.5 * MS, abs=1e-12)


async def test_deadline_with_nothing_by_then_takes_the_next_to_come(autojump_clock):
    vs = venues(7.0, 5.0, None, prices=(99.0, 101.0, None))
    quote, elapsed = await decide(Deadline(deadline_ms=2.0), vs)
    assert quote.venue == 1
    assert elapsed == pytest.approx(5 * MS, abs=1e-12)


async def test_deadline_gives_up_at_the_timeout(autojump_clock):
    quote, elapsed = await decide(Deadline(deadline_ms=1.0, timeout_ms=4.0), venues(None, 6.0))
    assert quote is None
    assert elapsed == pytest.approx(4 * MS, abs=1e-12)


async def test_threshold_takes_the_first_good_enough_quote(autojump_clock):
    # Buying against a mid of 100: 100.02 costs 2 bps, 100.004 costs 0.4 bps.
    vs = venues(1.0, 2.0, 3.0, prices=(100.02, 100.004, 99.9))
    quote, elapsed = await decide(Threshold(max_cost_bps=0.5), vs, mid=100.0)
    assert quote.venue == 1
    assert elapsed == pytest.approx(2 * MS, abs=1e-12)


async def test_threshold_without_a_good_quote_takes_the_best_at_the_timeout(autojump_clock):
    vs = venues(1.0, 2.0, None, prices=(100.03, 100.02, None))
    quote, elapsed = await decide(Threshold(max_cost_bps=0.5, timeout_ms=5.0), vs, mid=100.0)
    assert quote.venue == 1
    assert elapsed == pytest.approx(5 * MS, abs=1e-12)


async def test_threshold_for_a_seller(autojump_clock):
    # Selling against 100: 99.98 costs 2 bps, 99.996 costs 0.4 bps.
    vs = venues(1.0, 2.0, prices=(99.98, 99.996))
    quote, _ = await decide(Threshold(max_cost_bps=0.5), vs, side=-1, mid=100.0)
    assert quote.venue == 1


async def test_staggered_asks_the_next_venue_only_after_the_stagger(autojump_clock):
    vs = venues(None, 0.5, 0.2)
    quote, elapsed = await decide(Staggered(stagger_ms=1.0), vs)
    # venue 0 at 0 (never answers), venue 1 at 1 ms (answers at 1.5 ms): venue 2 never asked
    assert quote.venue == 1
    assert elapsed == pytest.approx(1.5 * MS, abs=1e-12)
    assert [v.requests for v in vs] == [1, 1, 0]


async def test_staggered_with_a_fast_first_venue_asks_only_it(autojump_clock):
    vs = venues(0.3, 0.1, 0.1)
    quote, _ = await decide(Staggered(stagger_ms=0.5), vs)
    assert quote.venue == 0
    assert [v.requests for v in vs] == [1, 0, 0]


async def test_staggered_takes_an_earlier_venue_that_answers_after_a_later_one_is_asked(
    autojump_clock,
):
    vs = venues(1.2, 5.0)
    quote, elapsed = await decide(Staggered(stagger_ms=1.0), vs)
    assert quote.venue == 0  # asked first, answers at 1.2 ms, after venue 1 was asked at 1 ms
    assert elapsed == pytest.approx(1.2 * MS, abs=1e-12)
    assert [v.requests for v in vs] == [1, 1]


@pytest.fixture
def registry():
    """Registered kinds are global: put them back as they were after the test."""
    saved = dict(REGISTRY)
    yield REGISTRY
    REGISTRY.clear()
    REGISTRY.update(saved)


async def take_second(request, venues, *, nth: int = 2, timeout_ms: float = 50.0):
    """Take the n-th quote to arrive (a deliberately odd rule for the test)."""
    async with scatter(request, venues, timeout_s=timeout_ms * 1e-3) as quotes:
        received = await quotes.collect(nth)
    return received[-1] if len(received) == nth else None


def test_a_registered_function_is_a_kind_usable_from_a_scenario_file(registry):
    cls = register(take_second)
    assert STRATEGIES["take_second"] is cls and cls.kind == "take_second"
    assert cls().nth == 2 and cls(nth=3).nth == 3
    data = {
        "scenario": {"requests": 300, "seed": 1},
        "venues": [
            {"name": n, "latency": {"dist": "constant", "ms": ms}}
            for n, ms in (("a", 1), ("b", 2), ("c", 3))
        ],
        "strategies": [{"kind": "take_second", "nth": 3}],
    }
    result = run(parse(data, default_name="custom"))
    assert result.summary["strategies"]["take_second"]["venue_wins"] == {"a": 0, "b": 0, "c": 300}
    data["strategies"] = [{"kind": "take_second", "nth": "three"}]
    with pytest.raises(ScenarioError, match=r"strategies\[0\]\.nth"):
        parse(data, default_name="custom")


def test_registering_checks_what_it_is_given(registry):
    register(take_second)
    with pytest.raises(ValueError, match="already registered"):
        register(take_second, kind="first_wins")

    async def no_default(request, venues, *, k: int):
        return None

    with pytest.raises(TypeError, match="needs a default"):
        register(no_default)

    def not_async(request, venues):
        return None

    with pytest.raises(TypeError, match="async"):
        register(not_async)
    with pytest.raises(ValueError, match="lower-case"):
        register(take_second, kind="Bad Kind")


def test_python_api_takes_objects_kinds_and_overrides(registry):
    result = run("default", [FirstK(k=2), "first_wins"], seed=5, requests=400)
    assert list(result.summary["strategies"]) == ["first_k", "first_wins"]
    assert result.summary["seed"] == 5 and result.summary["requests"] == 400
    table = result.records("first_k")
    assert table.shape == (400,)
    assert set(table.dtype.names) >= {"arrival_s", "decision_s", "fill_s", "venue", "price"}
    filled = table["outcome"] == 0
    assert filled.mean() == pytest.approx(result.summary["strategies"]["first_k"]["fill_rate"])
    assert filled.any() and not np.isnan(table["price"][filled]).any()
    assert np.isnan(table["price"][~filled]).all()
    with pytest.raises(ScenarioError, match=r"strategies\[0\]\.k: must be >= 1"):
        run("default", [FirstK(k=0)], requests=10)
    with pytest.raises(ScenarioError, match="duplicate"):
        run("default", ["first_wins", "first_wins"], requests=10)


def test_registering_again_replaces_and_bad_parameters_are_refused(registry):
    first = register(take_second)
    again = register(take_second)  # a re-run notebook cell
    assert STRATEGIES["take_second"] is again and again is not first

    async def named(request, venues, *, name: str = "x"):
        return None

    with pytest.raises(TypeError, match="scenario key"):
        register(named)

    async def listy(request, venues, *, weights: list[float] = None):  # noqa: RUF013
        return None

    with pytest.raises(TypeError, match="cannot come from a scenario file"):
        register(listy)
    with pytest.raises(ValueError, match="built in as 'first_wins'"):
        register(STRATEGIES["first_wins"], kind="fw")


async def broken(request, venues, *, timeout_ms: float = 5.0):
    """Returns something that is not a decision."""
    return "venue 0, please"


def test_a_strategy_that_decides_nonsense_gets_a_clear_error(registry):
    register(broken)
    with pytest.raises(TypeError, match="strategy 'broken' decided 'venue 0, please'"):
        run("default", ["broken"], requests=5)


async def test_staggered_moves_on_at_once_when_a_venue_fails(autojump_clock):
    # Venue 0 answers at 0.2 ms with half a unit for an order of one: a failure. Venue 1 is
    # asked then, not at the 1 ms stagger, and answers 0.5 ms later.
    vs = venues(0.2, 0.5, 0.1, prices=(100.0, 100.1, 100.2))
    vs[0].size = 0.5
    quote, elapsed = await decide(Staggered(stagger_ms=1.0), vs)
    assert quote.venue == 1
    assert elapsed == pytest.approx(0.7 * MS, abs=1e-12)
    assert [v.requests for v in vs] == [1, 1, 0]


async def test_staggered_with_no_venue_able_to_fill_decides_nothing(autojump_clock):
    vs = venues(0.2, 0.3, prices=(100.0, 100.1))
    for v in vs:
        v.size = 0.5
    quote, elapsed = await decide(Staggered(stagger_ms=1.0), vs)
    assert quote is None
    assert elapsed == pytest.approx(0.5 * MS, abs=1e-12)  # 0.2, then 0.2 + 0.3: no waiting


async def test_first_k_ties_at_the_kth_quote_go_by_venue_index(autojump_clock):
    # All three arrive at 1 ms: the first two are venues 0 and 1 (ties by index), so venue 2's
    # better price is not among them, whatever order trio runs the venues in.
    vs = venues(1.0, 1.0, 1.0, prices=(101.0, 100.0, 99.0))
    quote, _ = await decide(FirstK(k=2), list(reversed(vs)))
    assert quote.venue == 1


async def test_threshold_ties_go_to_the_lowest_venue_index(autojump_clock):
    vs = venues(2.0, 1.0, 1.0, prices=(100.0, 100.004, 100.002))
    quote, elapsed = await decide(Threshold(max_cost_bps=0.5), list(reversed(vs)), mid=100.0)
    assert quote.venue == 1  # both 1 and 2 are good enough at 1 ms: the first in arrival order
    assert elapsed == pytest.approx(1 * MS, abs=1e-12)


async def twice(request, venues, *, timeout_ms: float = 5.0):
    """Two legs on one quote: an attempt to fill past a venue's depth."""
    async with scatter(request, venues, timeout_s=timeout_ms * 1e-3) as quotes:
        first = await quotes.collect(1)
    return [Leg(first[0], request.size / 2), Leg(first[0], request.size / 2)] if first else None


def test_legs_on_one_venue_twice_are_refused(registry):
    register(twice)
    with pytest.raises(ValueError, match="two legs on one venue"):
        run("default", ["twice"], requests=5)
