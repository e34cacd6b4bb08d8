"""The fast engine (sim.engines.fast) against the trio engine: the same decisions from the same
draws.

On every scenario the fast engine accepts, both engines must give each request the same venue,
price and outcome, and latencies within 1e-9 s (trio may record the latest of quotes woken in
one batch of the same clock instant, an ulp away). Checked on randomized scenarios
(hypothesis, derandomized so the examples are the same on every run) and on every bundled
scenario it accepts; its building blocks (vectorized histogram fill, vectorized mid lookup)
are checked against the one-at-a-time versions they replace.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli.main import main
from sim.engines import fast
from sim.engines.fast import unsupported
from sim.engines.records import OUTCOMES
from sim.measure.histograms import HIGHEST_NS, percentile_values, record_all
from sim.measure.run import run
from sim.model.draws import draw
from sim.model.market import MidPath
from sim.model.scenario import bundled, load, parse
from sim.model.settings import parse_setting, read_source
from sim.report.atomic import summary_json
from strategies.first_wins import FirstWins

LATENCY_TOLERANCE_S = 1e-9


def agree(scenario) -> None:
    """Both engines, each as `sim.run` runs it: the same per-request results."""
    by_trio, by_fast = run(scenario, engine="trio"), run(scenario, engine="fast")
    assert (by_trio.summary["engine"], by_fast.summary["engine"]) == ("trio", "fast")
    for entry in scenario.strategies:
        name = entry.name
        trio, fast = by_trio.strategies[name].records, by_fast.strategies[name].records
        assert np.array_equal(trio.venue, fast.venue), name
        assert np.array_equal(trio.outcome, fast.outcome), name
        assert np.array_equal(trio.fill_price, fast.fill_price, equal_nan=True), name
        for field in ("decision_s", "fill_s"):
            a, b = getattr(trio, field), getattr(fast, field)
            assert np.array_equal(np.isnan(a), np.isnan(b)), (name, field)
            assert np.allclose(a, b, rtol=0, atol=LATENCY_TOLERANCE_S, equal_nan=True), name
        for field in ("filled_size", "orders", "rejects", "venue_requests", "arrival_s"):
            assert np.array_equal(getattr(trio, field), getattr(fast, field)), (name, field)
        assert abs(trio.span_s - fast.span_s) <= LATENCY_TOLERANCE_S


@contextmanager
def blocks_of(size: int) -> Iterator[None]:
    """The fast engine deciding `size` requests a block (threads, the scan's parts per block)."""
    block, fast.BLOCK = fast.BLOCK, size
    try:
        yield
    finally:
        fast.BLOCK = block


# --- randomized scenarios -------------------------------------------------------------------

ms = st.floats(0.0, 5.0).map(lambda x: round(x, 3))  # rounded: exact ties happen
latencies = st.one_of(
    st.builds(lambda m: {"dist": "constant", "ms": m}, ms),
    st.builds(lambda a, b: {"dist": "uniform", "low_ms": min(a, b), "high_ms": max(a, b)}, ms, ms),
    st.builds(lambda m: {"dist": "exponential", "mean_ms": m + 0.01}, ms),
    st.builds(
        lambda m, s: {"dist": "lognormal", "median_ms": m + 0.01, "sigma": s},
        ms,
        st.floats(0.05, 1.5),
    ),
    st.builds(
        lambda a, b: {
            "dist": "mixture",
            "components": [
                {"weight": 0.9, "dist": "constant", "ms": a},
                {"weight": 0.1, "dist": "constant", "ms": b + 3.0},
            ],
        },
        ms,
        ms,
    ),
)


@st.composite
def venues(draw_from, index: int) -> dict:
    venue = {
        "name": f"v{index}",
        "latency": draw_from(latencies),
        "fail_prob": draw_from(st.sampled_from([0.0, 0.0, 0.2])),
        "skew_bps": draw_from(st.sampled_from([0.0, 0.5, -1.0])),
        "noise_bps": draw_from(st.sampled_from([0.0, 0.3])),
    }
    if draw_from(st.booleans()):  # a ladder, sometimes too shallow for the order
        venue["depth"] = draw_from(
            st.sampled_from(
                [
                    [{"size": 1.0, "spread_bps": 1.0}, {"size": 2.0, "spread_bps": 3.0}],
                    [{"size": 0.5, "spread_bps": 0.2}],
                ]
            )
        )
    else:
        venue["spread_bps"] = draw_from(st.sampled_from([0.0, 1.0, 2.0, 1.0]))
    if draw_from(st.booleans()):
        venue["quote_ttl_ms"] = draw_from(st.sampled_from([0.5, 2.0, 5.0]))
    if draw_from(st.booleans()):
        venue["last_look"] = {
            "hold_ms": draw_from(st.sampled_from([0.0, 0.5, 2.0])),
            "tolerance_bps": draw_from(st.sampled_from([0.0, 0.2, 1.0])),
            "mode": draw_from(st.sampled_from(["asymmetric", "symmetric"])),
        }
    if draw_from(st.booleans()):
        venue["order_latency"] = draw_from(latencies)
    return venue


strategies = st.lists(
    st.one_of(
        st.builds(lambda t: {"kind": "first_wins", "timeout_ms": t}, st.sampled_from([2.0, 50.0])),
        st.builds(lambda t: {"kind": "best_price", "timeout_ms": t}, st.sampled_from([2.0, 50.0])),
        st.builds(
            lambda k, t: {"kind": "first_k", "k": k, "timeout_ms": t},
            st.integers(1, 6),
            st.sampled_from([3.0, 50.0]),
        ),
        st.builds(
            lambda g, t: {"kind": "staggered", "stagger_ms": g, "timeout_ms": t},
            st.sampled_from([0.0, 0.3, 1.0, 2.5]),
            st.sampled_from([3.0, 50.0]),
        ),
        st.builds(
            lambda c, t: {"kind": "threshold", "max_cost_bps": c, "timeout_ms": t},
            st.sampled_from([-1.0, 0.0, 0.5, 1.0, 5.0]),
            st.sampled_from([3.0, 50.0]),
        ),
        st.builds(
            lambda d, t: {"kind": "deadline", "deadline_ms": d, "timeout_ms": t},
            st.sampled_from([0.0, 0.5, 1.0, 3.0, 80.0]),
            st.sampled_from([4.0, 50.0]),
        ),
        st.builds(lambda t: {"kind": "split", "timeout_ms": t}, st.sampled_from([2.0, 50.0])),
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def scenarios(draw_from):
    count = draw_from(st.integers(1, 5))
    kinds = draw_from(strategies)
    for i, s in enumerate(kinds):
        s["name"] = f"s{i}"
        s["max_retries"] = draw_from(st.sampled_from([0, 0, 1, 2]))
    arrivals = {
        "process": draw_from(st.sampled_from(["poisson", "uniform"])),
        "rate_per_s": draw_from(st.sampled_from([500.0, 1000.0, 5000.0])),
    }
    if draw_from(st.booleans()):
        arrivals["bursts"] = {"on_ms": 5.0, "off_ms": 20.0, "rate_per_s": 20_000.0}
    market = {"volatility_bps": draw_from(st.sampled_from([0.0, 20.0, 200.0]))}
    if draw_from(st.booleans()):
        market["jumps"] = {"rate_per_s": 50.0, "size_bps": 2.0}
    return parse(
        {
            "scenario": {"seed": draw_from(st.integers(0, 2**32)), "requests": 80},
            "arrivals": arrivals,
            "market": market,
            "order": {
                "side": draw_from(st.sampled_from(["buy", "sell", "random"])),
                "size": draw_from(st.sampled_from([1.0, 1.5, 3.0])),
            },
            "venues": [draw_from(venues(i)) for i in range(count)],
            "strategies": kinds,
        },
        default_name="random",
    )


# More examples for a deeper search, e.g. QUOTERACE_FAST_EXAMPLES=500: the first 60 are the
# same in every run (derandomized).
EXAMPLES = int(os.environ.get("QUOTERACE_FAST_EXAMPLES", "60"))


def agreement(examples: int) -> settings:
    """hypothesis settings of the tests that run random scenarios on both engines: the same
    examples every run, no deadline (trio's runs and numba's first compile are slow)."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@agreement(EXAMPLES)
@given(scenarios())
def test_both_engines_decide_random_scenarios_alike(scenario) -> None:
    """Blocks of 16 requests, so that the 80 run as five blocks in threads."""
    assert unsupported(scenario) is None
    with blocks_of(16):
        agree(scenario)


@pytest.mark.parametrize(
    ("case", "venue", "strategy", "outcome"),
    [
        # network 1 ms, TTL 1 ms: priced at 0.5, checked at 1 + 0.5 = 1.5 = expiry: fills
        ("at expiry", {"quote_ttl_ms": 1.0}, {"kind": "first_wins"}, "filled"),
        ("past expiry", {"quote_ttl_ms": 0.999999}, {"kind": "first_wins"}, "expired"),
        ("at the deadline", {}, {"kind": "deadline", "deadline_ms": 1.0}, "filled"),
        ("at the timeout", {}, {"kind": "best_price", "timeout_ms": 1.0}, "filled"),
        ("past the timeout", {}, {"kind": "first_wins", "timeout_ms": 0.999999}, "no_quote"),
    ],
)
def test_both_engines_agree_exactly_at_the_boundaries(case, venue, strategy, outcome) -> None:
    """Constant latencies put every event exactly on a boundary, where `<` and `<=` differ."""
    scenario = parse(
        {
            "arrivals": {"process": "uniform", "rate_per_s": 100.0},
            "venues": [{"name": "a", "latency": {"dist": "constant", "ms": 1.0}} | venue],
            "strategies": [strategy],
        },
        default_name="edge",
    ).with_overrides(requests=20)
    agree(scenario)
    kind = strategy["kind"]
    assert (
        run(scenario, engine="fast").records(kind)["outcome"].tolist()
        == [OUTCOMES.index(outcome)] * 20
    ), case


def test_staggered_asks_no_venue_once_the_timeout_has_come() -> None:
    """A quote too small for the order arrives exactly at the timeout: trio's gatherer stops
    there, so the next venue (which would answer at once) is never asked."""
    scenario = parse(
        {
            "arrivals": {"process": "uniform", "rate_per_s": 500.0},
            "venues": [
                {
                    "name": "shallow",
                    "latency": {"dist": "constant", "ms": 0.5},
                    "depth": [{"size": 0.3, "spread_bps": 1.0}],
                },
                {"name": "instant", "latency": {"dist": "constant", "ms": 0.0}},
            ],
            "strategies": [{"kind": "staggered", "stagger_ms": 1.0, "timeout_ms": 0.5}],
        },
        default_name="edge",
    ).with_overrides(requests=20)
    agree(scenario)
    records = run(scenario, engine="fast").strategies["staggered"].records
    assert records.venue_requests.tolist() == [20, 0]
    assert (records.outcome == OUTCOMES.index("no_quote")).all()


def test_every_bundled_scenario_the_fast_engine_accepts_agrees() -> None:
    accepted = [name for name in bundled() if unsupported(load(name)) is None]
    assert {"default", "stale-quotes", "tail-at-scale"} <= set(accepted)
    for name in accepted:
        agree(load(name).with_overrides(requests=2000 if name == "default" else 300))


def test_a_recorded_market_agrees(tmp_path) -> None:
    """Ticks every 0.2 ms (some at one instant) moving a few bps: quotes priced at different
    mids, last look rejecting some, and the recording looping under the last requests."""
    rng = np.random.default_rng(3)
    stamps = np.sort(rng.integers(0, 400_000, 2000)) // 200 * 200  # us, ties included
    mids = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-4, stamps.size)))
    rows = "\n".join(
        f"{t},{m - 0.01:.4f},{m + 0.01:.4f}" for t, m in zip(stamps, mids, strict=True)
    )
    (tmp_path / "ticks.csv").write_text(f"timestamp,bid,ask\n{rows}\n", encoding="utf-8")
    table = {"file": "ticks.csv", "time_unit": "us", "at_end": "loop"}
    data = {
        "scenario": {"seed": 11, "requests": 600},
        "arrivals": {"rate_per_s": 1000.0},
        "market": table,
        "venues": [
            {
                "name": "a",
                "latency": {"dist": "lognormal", "median_ms": 1.0, "sigma": 0.6},
                "spread_bps": 1.0,
                "last_look": {"hold_ms": 0.3, "tolerance_bps": 0.5},
            },
            {"name": "b", "latency": {"dist": "exponential", "mean_ms": 2.0}, "spread_bps": 2.0},
        ],
        "strategies": [{"kind": "first_wins", "max_retries": 1}, {"kind": "best_price"}],
    }
    scenario = parse(data, default_name="recorded", base_dir=tmp_path)
    assert scenario.recording.rows == 2000 and unsupported(scenario) is None
    agree(scenario)
    summary = run(scenario, engine="fast").summary["strategies"]["first_wins"]
    assert summary["reject_rate"]["price_moved"] > 0  # the recorded mid moved under last look


def test_a_recorded_spread_agrees(tmp_path) -> None:
    """Venues quoting the recorded touch (its spread changing row to row), with skew, noise,
    depth beyond the touch and last look, beside one quoting its own spread: both engines
    decide alike and give the same summary bytes, run after run."""
    rng = np.random.default_rng(5)
    stamps = np.sort(rng.integers(0, 300_000, 1500)) // 200 * 200  # us, ties included
    mids = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-4, stamps.size)))
    halves = rng.choice([0.005, 0.01, 0.03], stamps.size)
    rows = "\n".join(
        f"{t},{m - h:.4f},{m + h:.4f}" for t, m, h in zip(stamps, mids, halves, strict=True)
    )
    (tmp_path / "ticks.csv").write_text(f"timestamp,bid,ask\n{rows}\n", encoding="utf-8")
    lognormal = {"dist": "lognormal", "median_ms": 1.0, "sigma": 0.6}
    data = {
        "scenario": {"seed": 12, "requests": 600},
        "arrivals": {"rate_per_s": 1000.0},
        "market": {"file": "ticks.csv", "time_unit": "us", "at_end": "loop"},
        "order": {"size": 1.5, "side": "random"},
        "venues": [
            {
                "name": "touch",
                "latency": lognormal,
                "recorded_spread": True,
                "skew_bps": 0.5,
                "noise_bps": 0.3,
                "depth": [{"size": 1.0, "spread_bps": 0.0}, {"size": 2.0, "spread_bps": 3.0}],
                "last_look": {"hold_ms": 0.3, "tolerance_bps": 0.5},
            },
            {
                "name": "plain",
                "latency": {"dist": "exponential", "mean_ms": 2.0},
                "spread_bps": 2.0,
            },
            {"name": "top", "latency": lognormal, "recorded_spread": True},
        ],
        "strategies": [
            {"kind": "first_wins", "max_retries": 1},
            {"kind": "best_price"},
            {"kind": "first_k", "k": 2},
        ],
    }
    scenario = parse(data, default_name="recorded-spread", base_dir=tmp_path)
    assert unsupported(scenario) is None
    agree(scenario)
    by_fast, by_trio = (run(scenario, engine=e).summary for e in ("fast", "trio"))
    assert (by_fast.pop("engine"), by_trio.pop("engine")) == ("fast", "trio")
    assert summary_json(by_fast) == summary_json(by_trio)
    again = run(scenario, engine="fast").summary
    again.pop("engine")
    assert summary_json(again) == summary_json(by_fast)
    assert by_fast["strategies"]["first_wins"]["reject_rate"]["price_moved"] > 0


def test_blocks_decided_in_parallel_threads_agree(monkeypatch) -> None:
    """Requests are decided BLOCK at a time, blocks in threads: with blocks of 128 requests,
    3000 requests make 24 blocks, and the results are still trio's."""
    monkeypatch.setattr(fast, "BLOCK", 128)
    scenario = load("default").with_overrides(requests=3000)
    prepared = fast.Prepared(draw(scenario), MidPath(scenario.market, 1), scenario.venues)
    assert len(prepared.blocks) == 24
    agree(scenario)


# --- what it refuses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "setting", "reason"),
    [
        (
            "tied-requests",
            "strategies[0].max_retries=1",
            "strategy first_wins with retries through venue servers",
        ),
        ("overload", "venues[0].quote_ttl_ms=5", "strategy adaptive (adaptive: learns from last"),
        (
            "coordinated-omission",
            "strategies[0].kind=best_price",
            "strategy best_price (best_price: takes quotes by price in a closed loop",
        ),
    ],
)
def test_scenarios_with_interactions_or_state_go_to_trio(name, setting, reason, capsys) -> None:
    """Every bundled scenario runs on the fast engine as written; changed, some go to trio."""
    assert unsupported(load(name)) is None
    scenario = read_source(name).scenario(dict([parse_setting(setting)]))
    assert unsupported(scenario).startswith(reason)
    summary = run(scenario.with_overrides(requests=50)).summary
    assert summary["engine"] == "trio"
    status = main(["run", name, "--engine", "fast", "--requests", "50", "--set", setting])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f"--engine: the fast engine cannot run {name}: {reason}")


def test_split_legs_partial_fills_and_re_races_agree() -> None:
    """An order of 3 where no venue quotes more than 2: every fill is split, last look and
    expiry reject some legs (a partial fill), and retries re-race what is left."""
    ladder = [{"size": 1.0, "spread_bps": 1.0}, {"size": 0.5, "spread_bps": 3.0}]
    scenario = parse(
        {
            "arrivals": {"process": "poisson", "rate_per_s": 2000.0},
            "market": {"volatility_bps": 100.0},
            "order": {"side": "random", "size": 3.0},
            "venues": [
                {
                    "name": "a",
                    "latency": {"dist": "lognormal", "median_ms": 1.0, "sigma": 0.5},
                    "depth": ladder,
                    "last_look": {"hold_ms": 0.5, "tolerance_bps": 0.2},
                    "fail_prob": 0.1,
                },
                {
                    "name": "b",
                    "latency": {"dist": "exponential", "mean_ms": 1.0},
                    "depth": [{"size": 2.0, "spread_bps": 2.0}],
                    "quote_ttl_ms": 1.5,
                    "noise_bps": 0.3,
                },
                {
                    "name": "c",
                    "latency": {"dist": "constant", "ms": 1.0},
                    "depth": [{"size": 1.5, "spread_bps": 1.0}],
                },
            ],
            "strategies": [
                {"kind": "split", "name": "once", "timeout_ms": 3.0},
                {"kind": "split", "name": "again", "timeout_ms": 3.0, "max_retries": 2},
            ],
        },
        default_name="legs",
    ).with_overrides(requests=2000)
    assert unsupported(scenario) is None
    agree(scenario)
    records = run(scenario, engine="fast").strategies
    once, again = records["once"].records, records["again"].records
    partial = (once.filled_size > 0) & (once.filled_size < 3.0)
    assert partial.sum() > 100 and (once.orders >= 2).mean() > 0.5  # legs, some rejected
    assert (again.filled_size >= once.filled_size).all()
    assert (again.outcome == 0).sum() > (once.outcome == 0).sum()  # re-racing fills more


def test_a_strategy_of_your_own_goes_to_trio() -> None:
    """The fast engine knows the bundled rules only: a subclass may decide differently."""

    class Mine(FirstWins):
        kind = "mine"

    scenario = load("default").with_overrides(requests=20).with_strategies([Mine()])
    assert unsupported(scenario) == "strategy mine (mine: a rule the fast engine does not know)"
    assert run(scenario).summary["engine"] == "trio"


def test_the_wall_clock_goes_to_trio() -> None:
    assert unsupported(load("default").with_overrides(clock="real")) == "the wall clock"


# --- building blocks ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_vectorized_histogram_fill_equals_recording_one_by_one(seed) -> None:
    rng = np.random.default_rng(seed)
    values = np.concatenate(
        [
            rng.integers(0, HIGHEST_NS, 20_000),
            np.rint(rng.lognormal(13, 3, 20_000)).clip(0, HIGHEST_NS).astype(np.int64),
            [0, 1, 2, 2047, 2048, 2049, 4095, 4096, 2**40 - 1, 2**40, HIGHEST_NS],
        ]
    )
    one_by_one, at_once = HdrHistogram(1, HIGHEST_NS, 3), HdrHistogram(1, HIGHEST_NS, 3)
    for value in values.tolist():
        assert one_by_one.record_value(value)
    record_all(at_once, values)
    assert list(at_once.counts) == list(one_by_one.counts)
    assert (at_once.total_count, at_once.min_value, at_once.max_value) == (
        one_by_one.total_count,
        one_by_one.min_value,
        one_by_one.max_value,
    )
    with pytest.raises(ValueError, match="outside the histogram's range"):
        record_all(at_once, np.array([HIGHEST_NS * 2]))
    # as far as hdrh's last bucket reaches, not just to the highest trackable value
    beyond = HIGHEST_NS + 10**12
    assert one_by_one.record_value(beyond)
    record_all(at_once, np.array([beyond]))
    assert list(at_once.counts) == list(one_by_one.counts)


@pytest.mark.parametrize("seed", [1, 2])
def test_vectorized_percentiles_equal_hdrhs_own(seed) -> None:
    rng = np.random.default_rng(seed)
    histogram = HdrHistogram(1, HIGHEST_NS, 3)
    percentiles = [99.99, 0.0, 50.0, 90.0, 99.0, 99.9, 100.0, 50.0, 33.3]
    empty = histogram.get_percentile_to_value_dict(percentiles)
    assert percentile_values(histogram, percentiles) == empty == {}
    for size in (1, 7, 5_000):
        values = np.rint(rng.lognormal(13, 3, size)).clip(0, HIGHEST_NS).astype(np.int64)
        record_all(histogram, values)
        expected = histogram.get_percentile_to_value_dict(percentiles)
        assert percentile_values(histogram, percentiles) == expected


def test_vectorized_mid_lookup_equals_the_scalar_one() -> None:
    spec = load("default").market
    spec = dataclasses.replace(spec, volatility_bps=50.0)
    scalar, vector = MidPath(spec, 5), MidPath(spec, 5)
    rng = np.random.default_rng(0)
    times = np.concatenate([rng.uniform(-1.0, 4.5, 5000), [0.0, 1.0, 2.0, 3.0]])
    scalar(4.4)  # generate the chunks, then ask for their exact update times too
    times = np.concatenate([times, scalar._chunks[1].times[:50]])
    expected = np.array([scalar(t) for t in times.tolist()])
    assert np.array_equal(vector.at(times), expected)
