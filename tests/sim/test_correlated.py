"""Correlated slowness: `[shared_latency]`, added to every venue's quote latency of a race, and
`[regime]`, calm and stressed states that scale it (sim.model.regime, sim.model.draws)."""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.measure.run import run
from sim.model.config import build_latency
from sim.model.draws import draw, draw_chunks
from sim.model.errors import ScenarioError
from sim.model.regime import Regime
from sim.model.streams import BLOCK
from tests.helpers.scenarios import build_scenario
from tests.sim.test_fast import agree, agreement, latencies, scenarios

scenario = functools.partial(build_scenario, seed=11, requests=3000, rate=2000.0)
CONSTANT_MS = (1.0, 2.0, 3.0)
SHARED = {"dist": "lognormal", "median_ms": 2.0, "sigma": 1.0}


def _constant(*ms: float) -> list[dict]:
    return [{"name": f"v{i}", "latency": {"dist": "constant", "ms": m}} for i, m in enumerate(ms)]


def _shared_s(**tables) -> np.ndarray:
    """The shared draws alone, [attempt, request]: a venue at 0 ms adds nothing to them."""
    return np.asarray(draw(scenario(_constant(0.0), **tables), attempts=3).venues[0].latency_s)


@pytest.mark.parametrize("engine", ["trio", "fast"])
def test_first_wins_is_the_shared_draw_plus_the_fastest_venue(engine) -> None:
    """Closed form: with the shared draw s added to every venue, first_wins decides at
    s + min(venue) exactly (rounding is monotonic, so min(a + s, b + s) = min(a, b) + s bit for
    bit): with constant venues s + 1 ms, with drawn ones s + the least of their own draws."""
    shared = _shared_s(shared_latency=SHARED)[0]
    constant = scenario(_constant(*CONSTANT_MS), shared_latency=SHARED)
    decision = run(constant, ["first_wins"], engine=engine).records("first_wins")["decision_s"]
    assert np.array_equal(decision, shared + 1e-3)
    drawn = [
        {"name": f"v{i}", "latency": {"dist": "exponential", "mean_ms": 1.0}} for i in range(3)
    ]
    own = np.stack(draw(scenario(drawn)).latency_s)  # the venues' own draws, keyed as before
    result = run(scenario(drawn, shared_latency=SHARED), ["first_wins"], engine=engine)
    assert np.array_equal(result.records("first_wins")["decision_s"], shared + own.min(axis=0))


def test_the_shared_draw_is_one_per_race_for_every_venue() -> None:
    """Every venue gets the same shared draw in a race; each attempt (a re-race after a reject)
    draws its own, and adding the table changes none of the other draws."""
    both = draw(scenario(_constant(0.0, 0.0), shared_latency=SHARED), attempts=3)
    a, b = (np.asarray(v.latency_s) for v in both.venues)
    assert np.array_equal(a, b)
    assert not np.array_equal(a[0], a[1]) and (a > 0).all()
    plain = draw(scenario(_constant(0.0, 0.0)), attempts=3)
    for with_shared, without in zip(both.venues, plain.venues, strict=True):
        assert np.array_equal(with_shared.order_latency_s, without.order_latency_s)
        assert np.array_equal(with_shared.noise_bps, without.noise_bps)


REGIME = {"calm_to_stressed_per_s": 20.0, "stressed_to_calm_per_s": 80.0, "stressed_scale": 3.0}


def _stressed(shared: bool, requests: int = 100_000) -> np.ndarray:
    """[venue, request]: stressed or not, read off constant 1 ms venues (3 ms when stressed),
    requests every 10 ms."""
    table = REGIME | {"shared": shared}
    s = scenario(_constant(1.0, 1.0), regime=table, requests=requests, rate=100.0)
    s = dataclasses.replace(s, arrivals=dataclasses.replace(s.arrivals, process="uniform"))
    latency = np.stack(draw(s).latency_s)
    assert set(np.unique(latency)) <= {1e-3, 3e-3}
    return latency == 3e-3


def test_the_share_of_requests_stressed_is_the_stationary_one() -> None:
    """pi = 20 / (20 + 80) = 0.2. A two-state chain's autocorrelation at lag dt is
    exp(-(a + b) dt) = exp(-1) = rho for requests 10 ms apart, so the mean of n = 100,000
    states has variance pi (1 - pi) / n * (1 + rho) / (1 - rho) (an AR(1) sum): SE 0.0019, and
    4 SE is 0.0074. The chain starts stationary, so no burn-in is left out. The same SE bounds
    P(stressed | stressed 10 ms before) = pi + (1 - pi) rho = 0.494 (20,000 pairs: SE 0.0035,
    binomial given the state before)."""
    stressed = _stressed(shared=True)
    assert np.array_equal(stressed[0], stressed[1])  # one chain for every venue
    pi, rho, n = 0.2, math.exp(-1.0), stressed.shape[1]
    se = math.sqrt(pi * (1 - pi) / n * (1 + rho) / (1 - rho))
    assert abs(stressed[0].mean() - pi) < 4 * se, stressed[0].mean()
    after = stressed[0][1:][stressed[0][:-1]]
    stay = pi + (1 - pi) * rho
    assert abs(after.mean() - stay) < 4 * math.sqrt(stay * (1 - stay) / after.size), after.mean()


def test_venues_with_chains_of_their_own_are_stressed_as_often_but_not_together() -> None:
    """shared = false: each venue's chain is stationary at pi = 0.2, independently: both
    stressed together pi^2 = 0.04 of the time (SE as above, 4 SE is under 0.0074)."""
    stressed = _stressed(shared=False)
    pi, rho, n = 0.2, math.exp(-1.0), stressed.shape[1]
    se = math.sqrt(pi * (1 - pi) / n * (1 + rho) / (1 - rho))
    for venue in stressed:
        assert abs(venue.mean() - pi) < 4 * se
    assert abs((stressed[0] & stressed[1]).mean() - pi**2) < 4 * se


@pytest.mark.parametrize("shared", [True, False])
def test_regime_draws_are_prefix_stable_and_the_same_in_chunks(shared) -> None:
    """Request i's state depends on requests 0..i only: a longer run, or its draws made a block
    at a time (the chain going on from chunk to chunk), changes none of it."""
    table = REGIME | {"shared": shared, "calm_to_stressed_per_s": 300.0}
    venues = [{"name": f"v{i}", "latency": SHARED} for i in range(2)]
    long = scenario(venues, regime=table, shared_latency=SHARED, requests=2 * BLOCK + 10)
    whole = np.stack(draw(long).latency_s)
    chunks = np.concatenate([np.stack(d.latency_s) for d in draw_chunks(long, BLOCK)], axis=1)
    assert np.array_equal(whole, chunks)
    short = np.stack(draw(dataclasses.replace(long, requests=BLOCK + 5)).latency_s)
    assert np.array_equal(short, whole[:, : BLOCK + 5])


def test_bad_regimes_and_shared_latencies_are_one_line_errors() -> None:
    with pytest.raises(ScenarioError, match="regime: not for a closed loop"):
        build_scenario(
            _constant(1.0),
            seed=1,
            requests=10,
            arrivals={"process": "closed", "clients": 2},
            regime=REGIME,
        )
    zero = REGIME | {"calm_to_stressed_per_s": 0.0, "stressed_to_calm_per_s": 0.0}
    with pytest.raises(ScenarioError, match=r"regime\.stressed_to_calm_per_s: one of the two"):
        scenario(_constant(1.0), regime=zero)
    with pytest.raises(ScenarioError, match=r"regime\.stressed_scale: must be > 0"):
        scenario(_constant(1.0), regime=REGIME | {"stressed_scale": 0.0})
    with pytest.raises(ScenarioError, match=r"regime\.shared: must be true or false"):
        scenario(_constant(1.0), regime=REGIME | {"shared": "yes"})
    with pytest.raises(ScenarioError, match=r"shared_latency\.dist: unknown kind"):
        scenario(_constant(1.0), shared_latency={"dist": "lognorm", "median_ms": 1.0})
    assert Regime(1.0, 3.0, 2.0).stressed_share == 0.25


@st.composite
def correlated_scenarios(draw_from):
    """The random scenarios of test_fast, with a shared latency, a regime, or both."""
    base = draw_from(scenarios())
    shared = draw_from(st.one_of(st.none(), latencies))
    regime = draw_from(
        st.one_of(
            st.none(),
            st.builds(
                Regime,
                st.sampled_from([50.0, 500.0]),
                st.sampled_from([200.0, 2000.0]),
                st.sampled_from([0.5, 4.0]),
                st.booleans(),
            ),
        )
    )
    shared = None if shared is None else build_latency(shared, "shared_latency")
    return dataclasses.replace(base, shared_latency=shared, regime=regime)


@agreement(30)
@given(correlated_scenarios())
def test_both_engines_agree_on_correlated_slowness(correlated) -> None:
    agree(correlated)
