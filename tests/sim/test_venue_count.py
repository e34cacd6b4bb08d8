"""`count = N` on a `[[venues]]` entry: N copies at its place, exactly as if written out.

Bad counts are cases of test_bad_input.py.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from pathlib import Path

import pytest

from sim.cli.main import main
from sim.model.scenario import bundled_dir, load, parse
from tests.helpers.scenarios import build_scenario, write_toml

scenario = functools.partial(build_scenario, seed=11, requests=300, rate=2000.0)

FAST = {"name": "fast", "latency": {"dist": "constant", "ms": 0.3}}
ALIKE = {
    "latency": {"dist": "lognormal", "median_ms": 1.0, "sigma": 0.4},
    "fail_prob": 0.05,
    "spread_bps": 2.0,
    "noise_bps": 0.3,
}
SLOW = {"name": "slow", "latency": {"dist": "exponential", "mean_ms": 2.0}}
# hedged names venues: it may name a numbered copy.
STRATEGIES = [
    {"kind": "first_wins"},
    {"kind": "best_price", "timeout_ms": 5.0},
    {"kind": "hedged", "venues": ["alike-3", "slow", "alike-1"], "hedge_delay_ms": 0.5},
]


def counted() -> list[dict]:
    return [FAST, {"name": "alike", "count": 3, **ALIKE}, SLOW]


def written_out() -> list[dict]:
    return [FAST, *({"name": f"alike-{k}", **ALIKE} for k in (1, 2, 3)), SLOW]


def test_a_counted_entry_parses_as_its_copies_written_out() -> None:
    short = scenario(counted(), STRATEGIES)
    assert short == scenario(written_out(), STRATEGIES)
    assert [v.name for v in short.venues] == ["fast", "alike-1", "alike-2", "alike-3", "slow"]


def test_a_number_in_braces_is_counted_up_in_place_at_its_width() -> None:
    venues = [{"name": "v{08}.x", "count": 3, **ALIKE}, {"name": "w{1}", "count": 1, **ALIKE}]
    names = [v.name for v in scenario(venues).venues]
    assert names == ["v08.x", "v09.x", "v10.x", "w1"]


def test_count_one_numbers_the_single_copy() -> None:
    assert [v.name for v in scenario([{"name": "solo", "count": 1, **ALIKE}]).venues] == ["solo-1"]


def _toml(venues: list[dict]) -> str:
    """A scenario file of these venues (ALIKE's keys as TOML) and STRATEGIES."""
    lines = ["[scenario]", 'name = "alike"', "seed = 11", "requests = 300", ""]
    lines += ["[arrivals]", 'process = "poisson"', "rate_per_s = 2000.0", ""]
    for venue in venues:
        lines.append("[[venues]]")
        lines += [f"{key} = {_value(value)}" for key, value in venue.items()]
        lines.append("")
    for strategy in STRATEGIES:
        lines.append("[[strategies]]")
        lines += [f"{key} = {_value(value)}" for key, value in strategy.items()]
        lines.append("")
    return "\n".join(lines)


def _value(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def test_a_counted_file_runs_to_the_written_out_files_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summaries = []
    for name, venues in (("counted", counted()), ("written", written_out())):
        path = write_toml(tmp_path, f"{name}.toml", _toml(venues))
        out = tmp_path / name
        assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
        summaries.append((out / "summary.json").read_bytes())
    capsys.readouterr()
    assert summaries[0] == summaries[1]
    assert b'"alike-2"' in summaries[0]


def test_tail_at_scale_is_its_hundred_venues_written_out() -> None:
    """The bundled file's one counted entry stands for v00 .. v99, as the file once had them."""
    data = tomllib.loads((bundled_dir() / "tail-at-scale.toml").read_text(encoding="utf-8"))
    (entry,) = data["venues"]
    assert entry["count"] == 100
    alike = {k: v for k, v in entry.items() if k not in ("name", "count")}
    written = data | {"venues": [{"name": f"v{i:02d}", **alike} for i in range(100)]}
    expected = parse(written, default_name="tail-at-scale")
    assert load("tail-at-scale") == dataclasses.replace(expected, file="tail-at-scale.toml")
