"""Keyed random streams (docs/design.md section 4): sim.model.draws and
sim.model.arrivals over sim.model.streams.

Every draw comes from a stream keyed by (seed, purpose, venue index, block of BLOCK requests), so:
the same seed gives the same arrays and another seed other ones; a venue's draws do not depend on
the venues after it, on the strategies, or on its own other parameters; and request i's draws do
not depend on how many requests the run has, across block boundaries too. Venues are keyed by
their *index*: inserting a venue before another shifts that venue's index, and so its draws
(documented by test_adding_a_venue_before_shifts_the_indices below).
"""

from __future__ import annotations

import copy
import functools
import itertools
from typing import Any

import numpy as np
import pytest

from sim.model.draws import Draws, draw
from sim.model.streams import BLOCK, SEEDS_AT_ONCE, Purpose, stream, streams
from tests.helpers.scenarios import build_scenario

SEED = 20240611

# One table per latency kind, parameters in scenario-file form.
LATENCIES: dict[str, dict[str, Any]] = {
    "constant": {"dist": "constant", "ms": 1.0, "shift_ms": 0.1},
    "uniform": {"dist": "uniform", "low_ms": 0.5, "high_ms": 2.0},
    "exponential": {"dist": "exponential", "mean_ms": 0.5, "shift_ms": 0.05},
    # mean/std = 0.5: ~31% of the first draws are negative and redrawn.
    "normal": {"dist": "normal", "mean_ms": 0.5, "std_ms": 1.0},
    "lognormal": {"dist": "lognormal", "median_ms": 0.4, "sigma": 0.5},
    "gamma": {"dist": "gamma", "shape": 2.0, "mean_ms": 1.0, "shift_ms": 0.1},
    "weibull": {"dist": "weibull", "shape": 0.7, "scale_ms": 1.0},
    "pareto": {"dist": "pareto", "alpha": 1.5, "scale_ms": 0.5},
    "empirical": {"dist": "empirical", "samples_ms": [0.3, 0.4, 0.4, 0.9, 2.5]},
    "mixture": {
        "dist": "mixture",
        "components": [
            {"weight": 0.95, "dist": "exponential", "mean_ms": 0.5},
            {"weight": 0.05, "dist": "pareto", "alpha": 1.5, "scale_ms": 5.0},
        ],
    },
}


def _venue(name: str, kind: str = "lognormal", fail_prob: float = 0.1) -> dict[str, Any]:
    return {"name": name, "latency": copy.deepcopy(LATENCIES[kind]), "fail_prob": fail_prob}


_scenario = functools.partial(
    build_scenario,
    seed=SEED,
    requests=1000,
    process="poisson",
    rate=1000.0,
    strategies=[{"kind": "first_wins"}],
)


def _three_venues() -> list[dict[str, Any]]:
    return [_venue("a", "lognormal"), _venue("b", "gamma", 0.3), _venue("c", "exponential", 0.05)]


def _assert_same(x: Draws, y: Draws) -> None:
    assert np.array_equal(x.arrival_s, y.arrival_s)
    assert len(x.latency_s) == len(y.latency_s) == len(x.answers) == len(y.answers)
    for v in range(len(x.latency_s)):
        assert np.array_equal(x.latency_s[v], y.latency_s[v]), v
        assert np.array_equal(x.answers[v], y.answers[v]), v


def test_shapes() -> None:
    d = draw(_scenario(_three_venues(), requests=1234))
    assert d.requests == 1234
    assert d.arrival_s.shape == (1234,)
    assert [a.shape for a in d.latency_s] == [(1234,)] * 3
    assert [a.shape for a in d.answers] == [(1234,)] * 3
    assert all(a.dtype == np.bool_ for a in d.answers)


def test_same_seed_same_draws() -> None:
    # Two separately parsed scenarios, so that nothing is shared but the description.
    _assert_same(draw(_scenario(_three_venues())), draw(_scenario(_three_venues())))


def test_other_seed_other_draws() -> None:
    d1 = draw(_scenario(_three_venues(), seed=SEED))
    d2 = draw(_scenario(_three_venues(), seed=SEED + 1))
    # Continuous draws: equal elements between independent streams have probability ~0; for
    # answers (fail_prob >= 0.05 over 1000 requests) identical arrays have probability < 1e-20.
    assert not np.isin(d1.arrival_s, d2.arrival_s).any()
    for v in range(3):
        assert not np.isin(d1.latency_s[v], d2.latency_s[v]).any(), v
        assert not np.array_equal(d1.answers[v], d2.answers[v]), v


def test_venues_with_the_same_spec_get_their_own_streams() -> None:
    d = draw(_scenario([_venue("a"), _venue("b")]))
    assert not np.isin(d.latency_s[0], d.latency_s[1]).any()
    assert not np.array_equal(d.answers[0], d.answers[1])


def test_adding_a_venue_after_changes_no_other_draw() -> None:
    before = draw(_scenario(_three_venues()))
    after = draw(_scenario([*_three_venues(), _venue("d", "mixture", 0.5)]))
    assert np.array_equal(before.arrival_s, after.arrival_s)
    for v in range(3):
        assert np.array_equal(before.latency_s[v], after.latency_s[v]), v
        assert np.array_equal(before.answers[v], after.answers[v]), v


def test_adding_a_venue_before_shifts_the_indices() -> None:
    """Streams are keyed by venue index, not name: a venue inserted at index 0 takes the streams
    of index 0, and every venue after it moves to the next index's streams. So to keep a venue's
    draws, add new venues after it."""
    before = draw(_scenario(_three_venues()))
    # The new first venue has venue a's spec: it gets exactly the draws a had at index 0.
    after = draw(_scenario([_venue("new", "lognormal"), *_three_venues()]))
    assert np.array_equal(before.arrival_s, after.arrival_s)
    assert np.array_equal(before.latency_s[0], after.latency_s[0])
    assert np.array_equal(before.answers[0], after.answers[0])
    # a, now at index 1, draws from index 1's streams: its draws changed.
    assert not np.isin(before.latency_s[0], after.latency_s[1]).any()
    assert not np.array_equal(before.answers[0], after.answers[1])


def test_strategies_do_not_change_the_draws() -> None:
    one = draw(_scenario(_three_venues(), strategies=[{"kind": "first_wins"}]))
    two = draw(
        _scenario(
            _three_venues(),
            strategies=[{"kind": "first_wins"}, {"kind": "best_price", "timeout_ms": 10}],
        )
    )
    _assert_same(one, two)


def test_latency_and_failures_are_separate_streams() -> None:
    """A venue's latencies do not depend on its fail_prob, nor its answers on its latency law."""
    base = draw(_scenario([_venue("a", "gamma", 0.1)]))
    other_fail = draw(_scenario([_venue("a", "gamma", 0.4)]))
    other_law = draw(_scenario([_venue("a", "weibull", 0.1)]))
    assert np.array_equal(base.latency_s[0], other_fail.latency_s[0])
    assert np.array_equal(base.answers[0], other_law.answers[0])


def test_answers_are_independent_of_latencies() -> None:
    """Failures and latencies come from different streams: failing does not favour fast draws.

    With uniform latencies, the requests whose latency is below the median should fail with
    fail_prob like all others. Failures among those n/2 are Binomial(n/2, p): standard error
    sqrt(p(1-p)/(n/2)) (0.25% here); allow 5 standard errors. Were both drawn from one stream,
    all failures would be the fastest draws and the fraction would be 2p.
    """
    n, p = 100_000, 0.2
    d = draw(_scenario([_venue("a", "uniform", p)], requests=n))
    fast = d.latency_s[0] < np.median(d.latency_s[0])
    failed_when_fast = 1.0 - d.answers[0][fast].mean()
    assert abs(failed_when_fast - p) < 5 * np.sqrt(p * (1 - p) / fast.sum())


# Prefix stability: (short, long) request counts. 1000 vs BLOCK+1000: the first block is partial
# in the short run and full in the long one; BLOCK+10 vs BLOCK+500: same for the second block.
PREFIXES = [
    pytest.param(1000, BLOCK + 1000, id="1000-vs-BLOCK+1000"),
    pytest.param(BLOCK + 10, BLOCK + 500, id="BLOCK+10-vs-BLOCK+500"),
]


@pytest.mark.parametrize(("short", "long"), PREFIXES)
@pytest.mark.parametrize("process", ["poisson", "uniform"])
def test_arrivals_and_answers_do_not_depend_on_run_length(
    short: int, long: int, process: str
) -> None:
    venues = [_venue("a", "constant", 0.2), _venue("b", "constant", 0.5)]
    s = draw(_scenario(venues, requests=short, process=process))
    g = draw(_scenario(venues, requests=long, process=process))
    assert np.array_equal(s.arrival_s, g.arrival_s[:short])
    for v in range(2):
        assert np.array_equal(s.answers[v], g.answers[v][:short]), v


@pytest.mark.parametrize(("short", "long"), PREFIXES)
@pytest.mark.parametrize("kind", LATENCIES)
def test_latencies_do_not_depend_on_run_length(short: int, long: int, kind: str) -> None:
    venues = [_venue("a", kind)]
    s = draw(_scenario(venues, requests=short))
    g = draw(_scenario(venues, requests=long))
    assert np.array_equal(s.latency_s[0], g.latency_s[0][:short])


def test_each_block_has_its_own_stream() -> None:
    """Block b of the requests is keyed by b: the second block does not repeat the first."""
    d = draw(_scenario([_venue("a", "exponential", 0.5)], requests=BLOCK + 1000))
    gaps = np.diff(d.arrival_s, prepend=0.0)
    assert not np.isin(gaps[BLOCK:], gaps[:BLOCK]).any()
    assert not np.isin(d.latency_s[0][BLOCK:], d.latency_s[0][:BLOCK]).any()
    assert not np.array_equal(d.answers[0][BLOCK:], d.answers[0][:1000])


def test_poisson_arrivals_have_mean_gap_one_over_rate() -> None:
    rate, n = 250.0, 100_000  # n > BLOCK: gaps from two blocks' streams
    arrivals = draw(_scenario([_venue("a")], requests=n, rate=rate)).arrival_s
    gaps = np.diff(arrivals, prepend=0.0)  # the first request arrives one gap after 0
    assert (gaps > 0).all()
    # Exponential gaps have standard deviation = mean = 1/rate, so the mean of n gaps has
    # standard error (1/rate)/sqrt(n) (0.32% of the mean here); allow 5 standard errors.
    # Rate read as a mean gap (x 62500) or a missing division (x 250) fails by far.
    assert abs(gaps.mean() - 1 / rate) < 5 * (1 / rate) / np.sqrt(n)
    # The gaps are exponential, not evenly spaced: their standard deviation is also 1/rate.
    # Its sample estimate has relative standard error sqrt((kurtosis - 1) / 4n), which for the
    # exponential (kurtosis 9) is sqrt(2/n) = 0.45%; allow 5 standard errors.
    assert abs(gaps.std() * rate - 1.0) < 5 * np.sqrt(2 / n)
    # Both blocks separately, in case one block's stream were mis-scaled.
    for part in (gaps[:BLOCK], gaps[BLOCK:]):
        assert abs(part.mean() - 1 / rate) < 5 * (1 / rate) / np.sqrt(part.size)


def test_uniform_arrivals_are_exactly_i_plus_1_over_rate() -> None:
    rate, n = 3.0, BLOCK + 100  # 1/3 is inexact in binary: accumulating gaps would drift
    arrivals = draw(_scenario([_venue("a")], requests=n, process="uniform", rate=rate))
    expected = (np.arange(n, dtype=float) + 1.0) / rate
    assert np.array_equal(arrivals.arrival_s, expected)
    assert arrivals.arrival_s[0] == 1 / rate
    assert arrivals.arrival_s[-1] == n / rate
    # The exact check has power: summing the gaps, as a naive implementation would, differs.
    assert not np.array_equal(np.cumsum(np.full(n, 1 / rate)), expected)


@pytest.mark.parametrize("fail_prob", [0.01, 0.1, 0.5])
def test_answers_fail_with_fail_prob(fail_prob: float) -> None:
    n = 100_000
    answers = draw(_scenario([_venue("a", "constant", fail_prob)], requests=n)).answers[0]
    failed = 1.0 - answers.mean()
    # Failures are Binomial(n, fail_prob): the fraction has standard error
    # sqrt(p(1-p)/n) (0.03% at p = 0.01, 0.16% at p = 0.5); allow 5 standard errors.
    assert abs(failed - fail_prob) < 5 * np.sqrt(fail_prob * (1 - fail_prob) / n)


@pytest.mark.parametrize(("fail_prob", "answered"), [(0.0, True), (1.0, False)])
def test_answers_at_the_bounds_are_certain(fail_prob: float, answered: bool) -> None:
    answers = draw(_scenario([_venue("a", "constant", fail_prob)], requests=5000)).answers[0]
    assert (answers == answered).all()


def test_latencies_are_in_seconds() -> None:
    """The constant venue's 1.0 ms + 0.1 ms shift is 1.1e-3 s (sample_s: ms * 1e-3)."""
    d = draw(_scenario([_venue("a", "constant")], requests=100))
    assert (d.latency_s[0] == (1.0 + 0.1) * 1e-3).all()


@pytest.mark.parametrize("seed", [0, 11, SEED, 2**32 + 5, 2**70 + 3])
@pytest.mark.parametrize("first", [0, 70, 2**32 - 1500])
def test_streams_made_together_are_the_streams_made_one_by_one(seed: int, first: int) -> None:
    """The market's chunk streams, their seeds derived many at once (past a batch, and on
    to keys of two 32-bit words, where each is its own SeedSequence again)."""
    together = itertools.islice(streams(seed, Purpose.MARKET, first), SEEDS_AT_ONCE + 600)
    for k, rng in enumerate(together, start=first):
        assert np.array_equal(rng.random(4), stream(seed, Purpose.MARKET, k).random(4)), k
