"""Comparison (quoterace compare): the bootstrap, paired and unpaired, its p-values, Holm's
adjustment, the baseline, and the trade-offs the bundled scenarios exist to show."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim.cli.main import main
from sim.measure.compare import (
    _bootstrap,
    _nanmean,
    _p99,
    _summarize,
    bootstrap_p_value,
    compare,
    holm,
)
from sim.measure.run import run
from sim.model.scenario import load, parse
from tests.helpers.cli_checks import one_error_line

TWINS = {
    "scenario": {"seed": 3, "requests": 800},
    "arrivals": {"rate_per_s": 2000},
    "market": {"volatility_bps": 20},
    "venues": [
        {"name": "a", "latency": {"dist": "exponential", "mean_ms": 1}, "spread_bps": 1},
        {"name": "b", "latency": {"dist": "exponential", "mean_ms": 2}, "spread_bps": 0.5},
    ],
    "strategies": [
        {"kind": "first_wins"},
        {"kind": "first_wins", "name": "twin"},
        {"kind": "best_price"},
    ],
}


def _interval(a, b, statistic, *, paired: bool, resamples: int = 500, seed: int = 11) -> dict:
    metrics = {"m": (a, b, statistic)}
    differences = _bootstrap(metrics, (a.size, b.size), seed, resamples, paired)["m"]
    return _summarize(a, b, statistic, differences)


def test_identical_strategies_differ_by_exactly_nothing():
    # Same draws, same rule: every request pairs with itself, so every resample differs by 0.
    comparison = compare(run(parse(TWINS, default_name="twins")), resamples=200)
    assert comparison["pairing"] == "paired"
    for metric in comparison["comparisons"]["twin"].values():
        assert metric["difference"] == 0.0
        assert metric["ci95"] == [0.0, 0.0]
        assert metric["p_value"] == 1.0
        assert metric["significant"] is False


def test_the_interval_covers_a_known_shift():
    # b = a + 0.5 + noise(sd 1): the paired mean difference has standard error 1/sqrt(n) = 0.0224
    # for n = 2000, so the 95% interval is about +/-0.044 around 0.5 and holds the true 0.5.
    # 25%: the width of a 500-resample percentile interval varies by a few percent (seed fixed).
    rng = np.random.default_rng(11)
    a = rng.normal(0.0, 3.0, 2000)
    b = a + 0.5 + rng.normal(0.0, 1.0, 2000)
    result = _interval(a, b, _nanmean, paired=True)
    low, high = result["ci95"]
    assert low < 0.5 < high
    assert high - low == pytest.approx(2 * 1.96 / np.sqrt(2000), rel=0.25)
    assert result["significant"] and result["resamples_used"] == 500
    assert result["p_value"] == pytest.approx(2 / 501, abs=1e-6)  # none at or below 0


def test_unpaired_samples_of_different_sizes_get_the_two_sample_interval():
    # Independent a (n 2000, sd 3) and b (n 3000, sd 3, mean 0.5): the standard error of the
    # difference of means is sqrt(9/2000 + 9/3000) = 0.0866, so the interval is about +/-0.17
    # wide on each side; it holds the true 0.5 (a 95% event, fixed by the seed). 25% as above.
    rng = np.random.default_rng(5)
    a, b = rng.normal(0.0, 3.0, 2000), rng.normal(0.5, 3.0, 3000)
    result = _interval(a, b, _nanmean, paired=False)
    low, high = result["ci95"]
    assert low < 0.5 < high
    assert high - low == pytest.approx(2 * 1.96 * np.sqrt(9 / 2000 + 9 / 3000), rel=0.25)
    assert result["significant"]


def test_pairing_narrows_the_interval_of_correlated_samples():
    # The same pairs bootstrapped as pairs and as independent samples: paired, the noise both
    # share cancels (sd of b - a is 1), unpaired it does not (sd about 3 each): the paired
    # interval is about sqrt(18)/1 = 4.2 times narrower; 3 leaves room for resampling noise.
    rng = np.random.default_rng(7)
    a = rng.normal(0.0, 3.0, 2000)
    b = a + 0.1 + rng.normal(0.0, 1.0, 2000)
    paired = _interval(a, b, _nanmean, paired=True)["ci95"]
    unpaired = _interval(a, b, _nanmean, paired=False)["ci95"]
    assert (unpaired[1] - unpaired[0]) > 3 * (paired[1] - paired[0])


def test_paired_samples_must_be_the_same_requests():
    with pytest.raises(ValueError, match="paired samples differ in size"):
        _bootstrap({"m": (np.zeros(3), np.zeros(4), _nanmean)}, (3, 4), 1, 100, True)


def test_a_strategy_cannot_look_faster_by_giving_up():
    # Races with no quote count as infinitely slow: 2% of them make the p99 infinite (None).
    fast = np.full(1000, 1.0)
    quitter = np.where(np.arange(1000) % 50 == 0, np.inf, 0.5)
    result = _interval(fast, quitter, _p99, paired=True, resamples=100, seed=1)
    assert result["other"] is None and result["difference"] is None
    assert result["p_value"] is None


@pytest.mark.parametrize(
    ("differences", "expected"),
    [
        ([-1.0, 1.0, 2.0, 3.0], 2 * (1 + 1) / 5),  # one at or below 0 of four
        ([1.0] * 99, 2 / 100),  # none at or below 0: the smallest p 99 resamples can give
        ([0.0] * 50, 1.0),  # every resample at 0: capped at 1
        ([-1.0, 0.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2 * (2 + 1) / 8),  # 0 counts on both sides
    ],
)
def test_the_bootstrap_p_value_by_hand(differences, expected):
    assert bootstrap_p_value(np.array(differences)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("p_values", "adjusted"),
    [
        # Holm-Bonferroni's worked example (Wikipedia): sorted 0.005, 0.01, 0.03, 0.04 times
        # 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> 0.06 (never below an earlier one).
        ([0.01, 0.04, 0.03, 0.005], [0.03, 0.06, 0.06, 0.02]),
        # statsmodels' multipletests(method="holm") gives these: 0.05, 0.08, 0.09, 0.08 -> 0.09,
        # 0.05 -> 0.09.
        ([0.01, 0.02, 0.03, 0.04, 0.05], [0.05, 0.08, 0.09, 0.09, 0.09]),
        ([0.5, 0.6], [1.0, 1.0]),  # capped at 1
        ([0.02], [0.02]),  # one test: nothing to adjust
        ([], []),
    ],
)
def test_holm_by_hand(p_values, adjusted):
    assert holm(p_values) == pytest.approx(adjusted)


def test_holm_adjusts_every_row_of_the_comparison():
    # 1000 resamples: no p is below 2/1001, and Holm multiplies the smallest by 6.
    comparison = compare(run(parse(TWINS, default_name="twins")), resamples=1000, holm=True)
    assert comparison["correction"] == "holm"
    rows = [m for metrics in comparison["comparisons"].values() for m in metrics.values()]
    defined = [m for m in rows if m["p_value"] is not None]
    assert len(defined) == 6  # twin and best_price, three metrics each
    expected = holm([m["p_value"] for m in defined])
    for m, p in zip(defined, expected, strict=True):
        assert m["p_holm"] == pytest.approx(p, abs=1e-6)
        assert m["p_holm"] >= m["p_value"]
        assert m["significant"] is (m["p_holm"] < 0.05)
    # best_price's p99 is its timeout, far from first_wins': significant even adjusted.
    assert comparison["comparisons"]["best_price"]["p99_decision_ms"]["significant"]


def test_the_baseline_can_be_any_strategy():
    result = run(parse(TWINS, default_name="twins"))
    comparison = compare(result, resamples=100, baseline="best_price")
    assert comparison["baseline"] == "best_price"
    assert list(comparison["comparisons"]) == ["first_wins", "twin"]
    forward = compare(result, resamples=100)["comparisons"]["best_price"]["fill_rate"]
    backward = comparison["comparisons"]["first_wins"]["fill_rate"]
    assert backward["difference"] == pytest.approx(-forward["difference"])
    with pytest.raises(ValueError, match="no strategy 'nope'"):
        compare(result, baseline="nope")


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


SMALL = (
    "[scenario]\nrequests = 300\n"
    '[[venues]]\nname = "a"\nlatency = { dist = "constant", ms = 1 }\n'
    '[[strategies]]\nkind = "first_wins"\n'
    '[[strategies]]\nkind = "best_price"\n'
)


def test_compare_json_and_its_errors(capsys, toml_file):
    path = toml_file(SMALL, "twins.toml")
    assert main(["compare", str(path), "--json", "--resamples", "100"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["baseline"] == "first_wins" and data["pairing"] == "paired"
    assert set(data["comparisons"]["best_price"]) == {
        "mean_slippage_bps",
        "fill_rate",
        "p99_decision_ms",
    }
    lonely = toml_file(path.read_text().rsplit("[[strategies]]", 1)[0], "lonely.toml")
    assert main(["compare", str(lonely)]) == 2
    assert capsys.readouterr().err == f"{lonely}: strategies: compare needs at least two\n"


def test_compare_with_a_baseline(capsys, toml_file):
    path = toml_file(SMALL)
    args = ["compare", str(path), "--json", "--resamples", "100", "--quiet"]
    assert main([*args, "--baseline", "best_price"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["baseline"] == "best_price" and list(data["comparisons"]) == ["first_wins"]


def test_an_unknown_baseline_names_the_strategies_there_are(capsys, toml_file):
    path = toml_file(SMALL, "small.toml")
    line = one_error_line(capsys, main(["compare", str(path), "--baseline", "fastest"]))
    assert (
        line
        == "--baseline: no strategy 'fastest' in small (its strategies: first_wins, best_price)"
    )


def test_compare_out_writes_the_comparison_beside_the_run(tmp_path, capsys, toml_file):
    out = tmp_path / "run"
    path = toml_file(SMALL)
    args = ["compare", str(path), "--resamples", "100", "--quiet", "--json", "--holm"]
    assert main([*args, "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads((out / "comparison.json").read_text()) == printed
    lines = (out / "comparison.csv").read_text().splitlines()
    assert lines[0].startswith("strategy,metric,baseline,other,difference,ci95_low,ci95_high")
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["best_price", "mean_slippage_bps"],
        ["best_price", "fill_rate"],
        ["best_price", "p99_decision_ms"],
    ]
    page = (out / "report.md").read_text()  # the run's page, the comparison first
    assert page.startswith("# scenario")
    assert page.index("Paired bootstrap of 100 resamples") < page.index("decision latency")
    assert "Holm-adjusted" in page and "`comparison.csv`" in page
    assert "## scenario: paired differences against first_wins" in page
    assert not (out / "comparison.md").exists()
    # `quoterace report` rebuilds the page as it was; a plain run there drops the comparison
    before = page
    (out / "report.md").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.md").read_text() == before
    assert main(["run", str(path), "--quiet", "--json", "--out", str(out)]) == 0
    assert "paired differences" not in (out / "report.md").read_text()
    assert not (out / "comparison.json").exists() and not (out / "comparison.csv").exists()


def test_a_bad_comparison_json_is_one_line_naming_it(tmp_path, capsys, toml_file):
    out = tmp_path / "run"
    assert (
        main(
            [
                "compare",
                str(toml_file(SMALL)),
                "--resamples",
                "100",
                "--quiet",
                "--json",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    (out / "comparison.json").write_text("{ not json")
    line = one_error_line(capsys, main(["report", str(out)]))
    assert line.startswith(f"{out / 'comparison.json'}: cannot read: ")
