"""Summaries that keep no per-request records (`sim.summary`): the same bytes as `sim.run`'s,
in memory that does not grow with the requests.

Its pieces are checked one by one against what they stand in for: draws made a chunk at a
time against draws made at once, a market path that forgets its past against one that keeps
it, exact percentiles that spill to disk against np.percentile, and a latency tally filled
chunk by chunk against the one made from every value at once.
"""

from __future__ import annotations

import gc
import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.measure import exact_percentiles, tally
from sim.measure import pieces as pieces_module
from sim.measure.histograms import Latencies, latency_histogram, latency_ms
from sim.model import market, streams
from sim.model.draws import draw, draw_chunks
from sim.model.errors import ScenarioError
from sim.model.market import Jumps, MarketSpec, MidPath
from sim.model.scenario import load, parse
from sim.report.atomic import summary_json


@pytest.fixture
def small_chunks(monkeypatch):
    """Streams in blocks of 64 requests and summaries in chunks of 128, so that a few hundred
    requests make several chunks (both `run` and `summary` see the same setting)."""
    monkeypatch.setattr(streams, "BLOCK", 64)
    monkeypatch.setattr(tally, "CHUNK", 128)
    monkeypatch.setattr(pieces_module, "CHUNK", 128)


SPLIT_AND_BURSTS = {
    "arrivals": {
        "process": "poisson",
        "rate_per_s": 500.0,
        "bursts": {"on_ms": 5.0, "off_ms": 20.0, "rate_per_s": 20_000.0},
    },
    "market": {"volatility_bps": 200.0, "jumps": {"rate_per_s": 50.0, "size_bps": 2.0}},
    "order": {"side": "random", "size": 3.0},
    "venues": [
        {
            "name": "a",
            "latency": {"dist": "lognormal", "median_ms": 1.0, "sigma": 0.5},
            "depth": [{"size": 2.0, "spread_bps": 1.0}],
            "last_look": {"hold_ms": 0.5, "tolerance_bps": 0.2},
        },
        {"name": "b", "latency": {"dist": "exponential", "mean_ms": 1.0}, "spread_bps": 2.0},
    ],
    "strategies": [
        {"kind": "split", "max_retries": 1},
        {"kind": "first_wins", "max_retries": 2},
        {"kind": "staggered", "stagger_ms": 0.5},
    ],
}


@pytest.mark.parametrize("name", ["default", "stale-quotes", "tail-at-scale", "split"])
def test_a_summary_without_records_is_byte_for_byte_the_runs(small_chunks, name) -> None:
    scenario = (
        parse(SPLIT_AND_BURSTS, default_name="split") if name == "split" else load(name)
    ).with_overrides(requests=1000)
    assert summary_json(sim.summary(scenario)) == summary_json(sim.run(scenario).summary)


def test_a_summary_over_a_market_that_rarely_moves_is_the_runs(small_chunks) -> None:
    """One mid update every 2 s: most of the market path's one-second chunks hold none, so
    once those behind are forgotten, a lookup may find no update in any chunk kept (its mid
    is the one before them all)."""
    sparse = {"volatility_bps": 100.0, "updates_per_s": 0.5}
    arrivals = {"process": "poisson", "rate_per_s": 200.0}
    scenario = parse(
        SPLIT_AND_BURSTS | {"market": sparse, "arrivals": arrivals}, default_name="sparse"
    ).with_overrides(requests=3000)  # 15 s of arrivals
    assert summary_json(sim.summary(scenario)) == summary_json(sim.run(scenario).summary)


def test_silent_bursts_arrive_in_order_and_summarize_alike(small_chunks) -> None:
    """No arrivals outside bursts (base rate 0), cycles short enough that the division by a
    cycle rounds across its end: every time lands in its own cycle, in order."""
    silent = {
        "process": "uniform",
        "rate_per_s": 0.0,
        "bursts": {"on_ms": 0.07, "off_ms": 0.07, "rate_per_s": 1000.0},
    }
    scenario = parse(SPLIT_AND_BURSTS | {"arrivals": silent}, default_name="silent")
    scenario = scenario.with_overrides(requests=1000)
    arrival_s = draw(scenario).arrival_s
    assert (np.diff(arrival_s) > 0).all()
    # 1000 requests at 1000/s during on-phases that are half of the time: 2 s
    assert arrival_s[-1] == pytest.approx(2.0, abs=1e-3)
    assert summary_json(sim.summary(scenario)) == summary_json(sim.run(scenario).summary)


@pytest.mark.parametrize(
    "arrivals",
    [
        {"process": "poisson", "rate_per_s": 1000.0},
        {"process": "uniform", "rate_per_s": 3000.0},
        SPLIT_AND_BURSTS["arrivals"],
    ],
)
def test_draws_a_chunk_at_a_time_are_the_draws_made_at_once(small_chunks, arrivals) -> None:
    scenario = parse(SPLIT_AND_BURSTS | {"arrivals": arrivals}, default_name="chunks")
    scenario = scenario.with_overrides(requests=1000)
    whole, chunks = draw(scenario), list(draw_chunks(scenario, 128))
    assert [c.requests for c in chunks] == [128] * 7 + [104]
    assert np.array_equal(np.concatenate([c.arrival_s for c in chunks]), whole.arrival_s)
    assert np.array_equal(np.concatenate([c.side for c in chunks]), whole.side)
    for v, venue in enumerate(whole.venues):
        for field in ("latency_s", "answers", "noise_bps", "order_latency_s"):
            parts = [np.asarray(getattr(c.venues[v], field)) for c in chunks]
            assert np.array_equal(np.concatenate(parts, axis=1), getattr(venue, field)), field


def test_a_market_path_that_forgets_its_past_still_gives_every_later_mid() -> None:
    spec = parse(SPLIT_AND_BURSTS, default_name="market").market
    keeps, forgets = MidPath(spec, 3), MidPath(spec, 3)
    times = np.sort(np.random.default_rng(0).uniform(0.0, 6.0, 4000))
    for start in (0.0, 1.5, 2.0, 4.99):
        later = times[times >= start]
        forgets.forget_before(start)
        assert np.array_equal(forgets.at(later), keeps.at(later))
        assert [forgets(t) for t in later[:50].tolist()] == keeps.at(later[:50]).tolist()
    assert len(forgets._chunks) < len(keeps._chunks)
    with pytest.raises(RuntimeError, match="forgotten"):
        forgets.at(np.array([3.9]))
    with pytest.raises(RuntimeError, match="forgotten"):
        forgets(3.9)


values = st.lists(
    st.one_of(
        st.floats(-50.0, 50.0),
        st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, float("nan")]),  # ties and zeros
    ),
    max_size=300,
)


def test_a_path_made_ahead_in_the_background_is_the_same_path() -> None:
    """`prefetch` asked from another thread while this one looks up and forgets (the summary's
    draws thread and its main thread): the same mids, bit for bit, as a path made only when
    looked up."""
    spec = MarketSpec(volatility_bps=40.0, updates_per_s=1000.0, jumps=Jumps(5.0, 5.0))
    plain, ahead = MidPath(spec, 7), MidPath(spec, 7)
    times = np.linspace(0.0, 60.0, 12001)
    assert ahead(0.5) == plain(0.5)  # made here first: the background takes over after it
    asks = threading.Thread(target=lambda: [ahead.prefetch(t) for t in (3.0, 20.0, 45.0)])
    asks.start()
    got = [ahead(t) for t in times[:3000].tolist()]  # one at a time while the asks arrive
    asks.join()
    assert got == [plain(t) for t in times[:3000].tolist()]
    ahead.forget_before(10.0)
    assert np.array_equal(ahead.at(times[times >= 10.0]), plain.at(times[times >= 10.0]))
    assert ahead._ahead is not None  # the background made them


def test_a_path_made_ahead_holds_at_most_a_paths_worth_not_taken(monkeypatch) -> None:
    """Asked for 10,000 s ahead, the background stops once it holds more updates than a path
    may (a lookup that far would fail), instead of making them all."""
    monkeypatch.setattr(market, "MAX_MARKET_UPDATES", 5000)
    path = MidPath(MarketSpec(volatility_bps=10.0, updates_per_s=1000.0), 3)
    path.prefetch(10_000.0)
    ahead = path._ahead
    with ahead._changed:
        assert not ahead._changed.wait_for(lambda: ahead._next > 50, timeout=1.0)
        assert ahead._held <= 5000 + 2000


def test_a_failed_or_dropped_path_ends_its_background_thread(monkeypatch) -> None:
    """A lookup past the path's limit (a ScenarioError) ends the thread making it ahead, and
    so does dropping the path: neither keeps making chunks nobody will take."""
    monkeypatch.setattr(market, "MAX_MARKET_UPDATES", 5000)
    spec = MarketSpec(volatility_bps=10.0, updates_per_s=1000.0)
    failed = MidPath(spec, 3)
    failed.prefetch(3.0)
    with pytest.raises(ScenarioError, match="updates"):
        failed(100.0)
    failed._ahead.ask(10**6)  # asked for more after all: made no more
    thread = failed._ahead.thread
    thread.join(timeout=30)
    assert not thread.is_alive()
    dropped = MidPath(spec, 3)
    dropped.prefetch(2.0)
    assert dropped(0.5) == MidPath(spec, 3)(0.5)
    thread = dropped._ahead.thread
    del dropped
    gc.collect()
    thread.join(timeout=30)
    assert not thread.is_alive()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # the patched constants are the same for every example
@given(values, st.sampled_from([10**9, 0, 7]), st.integers(1, 5))
def test_exact_percentiles_equal_numpys_whether_or_not_they_spill(
    monkeypatch, xs, in_memory, pieces
) -> None:
    """Spilling with tiny reads and buckets gathered only when a handful remain: every path
    of the selection runs on a few hundred values."""
    monkeypatch.setattr(exact_percentiles, "READ", 13)
    monkeypatch.setattr(exact_percentiles, "GATHER", 3)
    collected = exact_percentiles.ExactPercentiles(in_memory=in_memory)
    for part in np.array_split(np.array(xs, dtype=float), pieces):
        collected.add(part)
    finite = np.array([x for x in xs if x == x])
    qs = [0, 50, 95, 99.9, 100]
    if finite.size == 0:
        assert collected.percentiles(qs) is None
    else:
        assert collected.percentiles(qs) == np.percentile(finite + 0.0, qs).tolist()


@pytest.mark.parametrize("in_memory", [0, 10**9])
def test_exact_percentiles_of_values_apart_only_in_their_last_bits(monkeypatch, in_memory) -> None:
    """A value repeated most of the time (one key: found in the pass that counts its bucket)
    and neighbours that differ from each other only in their lowest bits (narrowed down to a
    single key, 16 bits a pass)."""
    monkeypatch.setattr(exact_percentiles, "READ", 13)
    monkeypatch.setattr(exact_percentiles, "GATHER", 3)
    rng = np.random.default_rng(8)
    near = 1.0 + rng.integers(0, 2**20, 200) * np.finfo(float).eps
    for xs in (np.where(rng.random(300) < 0.7, 0.5, rng.normal(size=300)), near):
        collected = exact_percentiles.ExactPercentiles(in_memory=in_memory)
        for part in np.array_split(xs, 4):
            collected.add(part)
        qs = [0, 50, 70, 95, 100]
        assert collected.percentiles(qs) == np.percentile(xs, qs).tolist()


@pytest.mark.parametrize("in_memory", [0, 10**9])
def test_exact_percentiles_take_a_scalar_or_a_table_as_numpy_does(in_memory) -> None:
    """Any shape is its values, flattened, as np.percentile takes them (with or without a
    NaN among them)."""
    added = [np.float64(2.0), 7.0, [[1.0, 9.0], [4.0, 3.0]], [[5.0, np.nan]]]
    collected = exact_percentiles.ExactPercentiles(in_memory=in_memory)
    for part in added:
        collected.add(part)
    qs = [0, 30, 50, 100]
    assert collected.percentiles(qs) == np.percentile([2, 7, 1, 9, 4, 3, 5], qs).tolist()


def test_a_latency_tally_filled_in_chunks_is_the_tally_of_all_at_once() -> None:
    latency_s = np.random.default_rng(4).lognormal(-7, 1, 10_000)
    latency_s[::7] = np.nan
    chunked = Latencies()
    for part in np.array_split(latency_s, 9):
        chunked.record(part)
    whole = latency_ms(latency_histogram(latency_s), latency_s)
    assert list(chunked.histogram.counts) == list(latency_histogram(latency_s).counts)
    got = chunked.ms()
    assert {k: got[k] for k in got if k != "mean"} == {k: whole[k] for k in whole if k != "mean"}
    assert got["mean"] == pytest.approx(whole["mean"], abs=1e-6)  # summed chunk by chunk
    empty = Latencies()
    empty.record(np.array([np.nan]))
    assert empty.ms() == dict.fromkeys(whole)


def test_memory_does_not_grow_with_the_requests() -> None:
    """Peak traced memory of a summary over 8 chunks against 2 (real block and chunk sizes):
    flat means within 25%, where keeping records and market (about 600 bytes a request) would
    make it twice as much or more."""

    def peak(chunks: int) -> int:
        tracemalloc.start()
        try:
            sim.summary("default", requests=chunks * tally.CHUNK)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    two, eight = peak(2), peak(8)
    assert eight < 1.25 * two, (two, eight)
