"""The draws digest (sim.model.fingerprint): it changes with whatever decides a draw, and only
with that, so that two results folders pair exactly when their requests saw the same draws."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from sim.measure.run import run
from sim.model.draws import draw
from sim.model.fingerprint import draws_fingerprint
from sim.model.scenario import bundled, load, loads
from tests.helpers.scenarios import build_scenario

VENUES = [
    {"name": "a", "latency": {"dist": "exponential", "mean_ms": 1}, "fail_prob": 0.1},
    {"name": "b", "latency": {"dist": "lognormal", "median_ms": 2, "sigma": 0.5}},
]
scenario = functools.partial(build_scenario, VENUES, seed=7, requests=500, rate=1000.0)
BASE = draws_fingerprint(scenario())


def _same_draws(x, y) -> bool:
    """Whether two scenarios draw exactly the same (first attempts, sides, arrivals)."""
    dx, dy = draw(x, attempts=1), draw(y, attempts=1)
    return (
        np.array_equal(dx.arrival_s, dy.arrival_s)
        and np.array_equal(dx.side, dy.side)
        and all(map(np.array_equal, dx.latency_s, dy.latency_s))
        and all(map(np.array_equal, dx.answers, dy.answers))
    )


@pytest.mark.parametrize(
    "changed",
    [
        {"seed": 8},
        {"requests": 501},
        {"rate": 1001.0},
        {"order": {"side": "random"}},
        {"market": {"volatility_bps": 5}},
        {"shared_latency": {"dist": "constant", "ms": 0.1}},
    ],
    ids=str,
)
def test_what_decides_a_draw_changes_the_digest(changed):
    other = scenario(**changed)
    assert draws_fingerprint(other) != BASE


def test_a_venue_s_latency_changes_it():
    venues = [{**VENUES[0], "latency": {"dist": "exponential", "mean_ms": 1.5}}, VENUES[1]]
    other = build_scenario(venues, seed=7, requests=500, rate=1000.0)
    assert draws_fingerprint(other) != BASE
    assert not _same_draws(scenario(), other)


def test_what_decides_no_draw_leaves_it():
    # Strategies (each run's share the draws), names, the description and the clock: the same
    # digest, and indeed the same draws.
    others = [
        scenario(strategies=[{"kind": "first_k", "k": 1}]),
        scenario(name="renamed", description="other words"),
        scenario(clock="real"),
        build_scenario(
            [{**VENUES[0], "name": "x"}, {**VENUES[1], "name": "y"}],
            seed=7,
            requests=500,
            rate=1000.0,
        ),
    ]
    for other in others:
        assert draws_fingerprint(other) == BASE
        assert _same_draws(scenario(), other)


def test_a_replayed_trace_counts_by_its_content(tmp_path):
    text = """[scenario]
seed = 3
requests = 50
[arrivals]
rate_per_s = 1000
[[venues]]
name = "a"
latency = { dist = "trace", file = "t.csv", column = "ms", mode = "bootstrap", block_s = 0.01 }
[[strategies]]
kind = "first_wins"
"""
    (tmp_path / "s.toml").write_text(text)
    rows = [f"{i * 0.001:.3f},{1 + i % 5}" for i in range(100)]
    (tmp_path / "t.csv").write_text("timestamp,ms\n" + "\n".join(rows) + "\n")
    before = draws_fingerprint(load(tmp_path / "s.toml"))
    assert before == draws_fingerprint(load(tmp_path / "s.toml"))
    rows[10] = "0.010,9"
    (tmp_path / "t.csv").write_text("timestamp,ms\n" + "\n".join(rows) + "\n")
    assert draws_fingerprint(load(tmp_path / "s.toml")) != before


def test_every_bundled_scenario_has_one_and_the_summary_names_it():
    digests = {name: draws_fingerprint(load(name)) for name in bundled()}
    assert len(set(digests.values())) == len(digests)
    assert all(len(d) == 16 and int(d, 16) >= 0 for d in digests.values())
    small = loads(
        "[scenario]\nrequests = 20\n[[venues]]\nname = 'a'\n"
        "latency = { dist = 'constant', ms = 1 }\n[[strategies]]\nkind = 'first_wins'\n"
    )
    assert run(small).summary["draws"] == draws_fingerprint(small)


def test_a_recorded_market_counts_by_its_mids(tmp_path):
    # Two recordings with the same timestamps but other prices: the same scan (rows, first
    # and last times), another mid path, so not the same runs to pair.
    text = """[scenario]
seed = 3
requests = 50
[arrivals]
rate_per_s = 1000
[market]
file = "m.csv"
[[venues]]
name = "a"
latency = { dist = "constant", ms = 1 }
[[strategies]]
kind = "first_wins"
"""
    (tmp_path / "s.toml").write_text(text)
    rows = [f"{i * 0.001:.3f},{100 + i % 7}" for i in range(100)]
    (tmp_path / "m.csv").write_text("timestamp,mid\n" + "\n".join(rows) + "\n")
    before = draws_fingerprint(load(tmp_path / "s.toml"))
    assert before == draws_fingerprint(load(tmp_path / "s.toml"))
    rows[10] = "0.010,150"
    (tmp_path / "m.csv").write_text("timestamp,mid\n" + "\n".join(rows) + "\n")
    assert draws_fingerprint(load(tmp_path / "s.toml")) != before
