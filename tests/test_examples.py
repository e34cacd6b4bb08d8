"""The scripts in examples/ run, as a user would run them, and print what they promise."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("custom_strategy.py", ["second_look", "first_wins", "best_price", "first_k"]),
        ("sweep_first_k.py", ["p99 decision ms"]),
        ("learning.py", ["hedged_p95", "budget_1pct", "uniform"]),
        ("overload_rates.py", ["rate/s", "first_wins", "adaptive", "busiest venue"]),
        ("fast_strategy.py", ["default: decision p50", "stale-quotes", "agree: True"]),
    ],
)
def test_example_runs(script: str, expected: list[str]) -> None:
    out = run_example(script)
    for text in expected:
        assert text in out, (text, out)


def run_example(script: str) -> str:
    """What `script` prints for 300 requests, run as a user would; it must exit 0."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "300"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def table_rows(script: str) -> list[list[str]]:
    """The rows (after the header) that `script` prints, split in cells."""
    return [line.split() for line in run_example(script).splitlines()[1:]]


def test_the_sweep_prints_one_row_per_k() -> None:
    rows = table_rows("sweep_first_k.py")
    assert [int(row[0]) for row in rows] == [1, 2, 3, 4, 5]
    p99 = [float(row[1]) for row in rows]
    assert p99 == sorted(p99)  # each k waits for one more quote


def test_overload_rates_prints_one_row_per_rate_with_load_rising() -> None:
    rows = table_rows("overload_rates.py")
    assert [float(row[0]) for row in rows] == [200.0, 500.0, 700.0, 900.0]
    busiest = [float(row[-1].rstrip("%")) for row in rows]
    assert busiest == sorted(busiest) and busiest[-1] > 80  # scatter-to-all: rate / 1000/s


def example_module(script: str) -> ModuleType:
    """`script` imported (not run) for its functions."""
    spec = importlib.util.spec_from_file_location(script.removesuffix(".py"), EXAMPLES / script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_learning_does_what_its_text_says() -> None:
    # The claims of examples/learning.py's docstring, on 4,000 requests (it prints 20,000).
    learning = example_module("learning.py")
    hedging = learning.hedging(4000)
    alone, hedged, small = hedging["one_venue"], hedging["hedged_p95"], hedging["budget_1pct"]
    assert alone["decision_ms"]["p99"] == 20.0  # 3% of answers take 20 ms
    assert hedged["decision_ms"]["p99"] < 5.0  # the backup answers in about 1 ms
    assert 1.03 < hedged["venue_requests_per_decision"] < 1.07  # about 5% more load
    assert small["decision_ms"]["p99"] == 20.0  # 1% of backups cannot cover 3% slow
    assert small["venue_requests_per_decision"] <= 1.011

    n = 4000
    learned, uniform = learning.adaptive(n).values()
    # Exploration alone asks the empty venue: 10% of picks, a quarter of them, 2.5% (binomial
    # sd 0.25%). The slow one also when compared with the empty one: 2.5% + 90% / 6 = 17.5%
    # (sd 0.6%). The tolerances are four standard deviations and the first picks' learning.
    assert abs(learned["venue_wins"]["empty"] / n - 0.025) < 0.01
    assert abs(learned["venue_wins"]["slow"] / n - 0.175) < 0.03
    assert abs(learned["fill_rate"] - 0.975) < 0.01
    # Uniform: a quarter to each venue (sd 0.7%), and no fill at the empty one.
    assert all(abs(w / n - 0.25) < 0.03 for w in uniform["venue_wins"].values())
    assert abs(uniform["fill_rate"] - 0.75) < 0.03
