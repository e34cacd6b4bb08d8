"""Paired comparison (quoterace compare) and the trade-offs the bundled scenarios exist to show."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim.cli.main import main
from sim.measure.compare import _bootstrap, _nanmean, _p99, _summarize, compare
from sim.measure.run import run
from sim.model.scenario import load, parse

TWINS = {
    "scenario": {"seed": 3, "requests": 800},
    "arrivals": {"rate_per_s": 2000},
    "market": {"volatility_bps": 20},
    "venues": [
        {"name": "a", "latency": {"dist": "exponential", "mean_ms": 1}, "spread_bps": 1},
        {"name": "b", "latency": {"dist": "exponential", "mean_ms": 2}, "spread_bps": 0.5},
    ],
    "strategies": [{"kind": "first_wins"}, {"kind": "first_wins", "name": "twin"}],
}


def test_identical_strategies_differ_by_exactly_nothing():
    # Same draws, same rule: every request pairs with itself, so every resample differs by 0.
    comparison = compare(run(parse(TWINS, default_name="twins")), resamples=200)
    for metric in comparison["comparisons"]["twin"].values():
        assert metric["difference"] == 0.0
        assert metric["ci95"] == [0.0, 0.0]
        assert metric["significant"] is False


def test_the_interval_covers_a_known_shift():
    # b = a + 0.5 + noise(sd 1): the paired mean difference has standard error 1/sqrt(n) = 0.0224
    # for n = 2000, so the 95% interval is about +/-0.044 around 0.5 and holds the true 0.5.
    rng = np.random.default_rng(11)
    a = rng.normal(0.0, 3.0, 2000)
    b = a + 0.5 + rng.normal(0.0, 1.0, 2000)
    pairs = {"b": {"mean": (a, b, _nanmean)}}
    differences = _bootstrap(pairs, seed=11, n=a.size, resamples=500)["b"]["mean"]
    result = _summarize(a, b, _nanmean, differences)
    low, high = result["ci95"]
    assert low < 0.5 < high
    assert high - low == pytest.approx(2 * 1.96 / np.sqrt(2000), rel=0.25)
    assert result["significant"] and result["resamples_used"] == 500


def test_a_strategy_cannot_look_faster_by_giving_up():
    # Races with no quote count as infinitely slow: 2% of them make the p99 infinite (None).
    fast = np.full(1000, 1.0)
    quitter = np.where(np.arange(1000) % 50 == 0, np.inf, 0.5)
    pairs = {"quitter": {"p99": (fast, quitter, _p99)}}
    differences = _bootstrap(pairs, seed=1, n=1000, resamples=100)["quitter"]["p99"]
    result = _summarize(fast, quitter, _p99, differences)
    assert result["other"] is None and result["difference"] is None


def test_default_scenario_shows_a_trade_off():
    # No strategy is best on every column: first_wins decides faster and fills more often,
    # best_price pays less per fill.
    summary = run(load("default").with_overrides(requests=3000)).summary["strategies"]
    first, best = summary["first_wins"], summary["best_price"]
    assert first["decision_ms"]["p99"] < best["decision_ms"]["p99"]
    assert first["fill_rate"] > best["fill_rate"]
    assert best["slippage_bps"]["mean"] < first["slippage_bps"]["mean"]


def test_stale_quotes_best_price_fills_less_and_pays_more():
    comparison = compare(run(load("stale-quotes")), resamples=500)
    assert comparison["engine"] == "fast"  # auto: the fast engine takes retries too
    best = comparison["comparisons"]["best_price"]
    assert comparison["baseline"] == "first_wins"
    assert best["fill_rate"]["difference"] < 0 and best["fill_rate"]["significant"]
    slippage = best["mean_slippage_bps"]
    assert slippage["difference"] > 0 and slippage["significant"]


def test_compare_json_and_its_errors(capsys, toml_file):
    path = toml_file(
        "[scenario]\nrequests = 300\n"
        '[[venues]]\nname = "a"\nlatency = { dist = "constant", ms = 1 }\n'
        '[[strategies]]\nkind = "first_wins"\n'
        '[[strategies]]\nkind = "best_price"\n',
        "twins.toml",
    )
    assert main(["compare", str(path), "--json", "--resamples", "100"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["baseline"] == "first_wins"
    assert set(data["comparisons"]["best_price"]) == {
        "mean_slippage_bps",
        "fill_rate",
        "p99_decision_ms",
    }
    lonely = toml_file(path.read_text().rsplit("[[strategies]]", 1)[0], "lonely.toml")
    assert main(["compare", str(lonely)]) == 2
    assert capsys.readouterr().err == f"{lonely}: strategies: compare needs at least two\n"
