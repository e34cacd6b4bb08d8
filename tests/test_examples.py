"""The scripts in examples/ run, as a user would run them, and print what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
