"""`quoterace compare DIR_A DIR_B`: two results folders, strategy by strategy, paired when the
runs had the same draws and unpaired otherwise; and its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.cli.main import main
from sim.measure.compare import Requests, SavedRun, pairing
from tests.helpers.cli_checks import one_error_line

WORLD = """
[scenario]
seed = {seed}
requests = 600
[arrivals]
rate_per_s = 2000
[market]
volatility_bps = 20
[order]
side = "random"
[[venues]]
name = "a"
latency = {{ dist = "exponential", mean_ms = {mean_ms} }}
spread_bps = 1
[[venues]]
name = "b"
latency = {{ dist = "exponential", mean_ms = 2 }}
spread_bps = 0.5
"""
FIRST_WINS = '[[strategies]]\nkind = "first_wins"\n'
BEST_PRICE = '[[strategies]]\nkind = "best_price"\n'
FIRST_K = '[[strategies]]\nkind = "first_k"\n'


def _folder(tmp: Path, name: str, strategies: str, seed: int = 3, mean_ms: float = 1) -> Path:
    """A results folder of a run of WORLD with `strategies`."""
    scenario = tmp / f"{name}.toml"
    scenario.write_text(WORLD.format(seed=seed, mean_ms=mean_ms) + strategies)
    out = tmp / name
    assert main(["run", str(scenario), "--quiet", "--json", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Runs to compare: `a`; `more`, the same draws with a strategy added; `reseeded` and
    `slower`, other draws (another seed; another latency, same seed and requests)."""
    tmp = tmp_path_factory.mktemp("runs")
    return {
        "a": _folder(tmp, "a", FIRST_WINS + BEST_PRICE),
        "more": _folder(tmp, "more", FIRST_WINS + BEST_PRICE + FIRST_K),
        "reseeded": _folder(tmp, "reseeded", FIRST_WINS + BEST_PRICE, seed=4),
        "slower": _folder(tmp, "slower", FIRST_WINS + BEST_PRICE, mean_ms=1.5),
    }


def _compare(capsys, *args: str | Path) -> dict:
    assert main(["compare", *map(str, args), "--json", "--resamples", "200"]) == 0
    return json.loads(capsys.readouterr().out)


def test_runs_with_the_same_draws_are_paired(folders, capsys):
    data = _compare(capsys, folders["a"], folders["more"])
    assert data["pairing"] == "paired"
    assert data["pairing_reason"].startswith("the same draws (")
    assert data["folders"]["a"]["only_here"] == []
    assert data["folders"]["b"]["only_here"] == ["first_k"]
    assert list(data["comparisons"]) == ["first_wins", "best_price"]
    # The same strategy on the same draws: request i is the same in both, so every paired
    # resample differs by exactly nothing.
    for metrics in data["comparisons"].values():
        for m in metrics.values():
            assert m["difference"] == 0.0 and m["ci95"] == [0.0, 0.0] and m["p_value"] == 1.0


@pytest.mark.parametrize(
    ("other", "why"),
    [
        ("reseeded", "different draws (seeds 3 and 4)"),
        ("slower", "different draws (the scenarios' arrivals, venues, market or order differ)"),
    ],
)
def test_runs_with_other_draws_are_unpaired(folders, capsys, other, why):
    data = _compare(capsys, folders["a"], folders[other])
    assert data["pairing"] == "unpaired" and data["pairing_reason"] == why
    assert data["comparisons"]["first_wins"]["p99_decision_ms"]["difference"] != 0.0


def test_unpaired_the_same_rule_in_the_same_world_differs_by_luck_alone(folders, capsys):
    # Another seed: first_wins differs only by the draws, and no interval excludes 0 (each a
    # 95% event; the seeds fix the outcome).
    data = _compare(capsys, folders["a"], folders["reseeded"])
    for metric in data["comparisons"]["first_wins"].values():
        assert not metric["significant"], metric


def test_unpaired_a_slower_venue_is_seen(folders, capsys):
    # Venue a's mean latency 1 -> 1.5 ms: first_wins decides at the minimum of two exponential
    # latencies, exponential at the sum of their rates, so its p99 ln(100)/rate rises from
    # 3.1 to 3.9 ms, far beyond the luck of 600 requests' draws.
    data = _compare(capsys, folders["a"], folders["slower"])
    p99 = data["comparisons"]["first_wins"]["p99_decision_ms"]
    assert p99["difference"] > 0 and p99["significant"]


def test_the_console_says_which(folders, capsys):
    assert main(["compare", str(folders["a"]), str(folders["reseeded"]), "--resamples", "100"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps the title and caption
    assert "unpaired differences" in out and "unpaired: different draws (seeds 3 and 4)" in out
    assert main(["compare", str(folders["a"]), str(folders["more"]), "--resamples", "100"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert ": paired differences" in out and "only in B: first_k" in out


def test_a_run_from_before_the_draws_digest_is_unpaired(folders, capsys, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    for f in folders["a"].iterdir():
        (old / f.name).write_bytes(f.read_bytes())
    summary = json.loads((old / "summary.json").read_text())
    del summary["draws"]
    (old / "summary.json").write_text(json.dumps(summary))
    data = _compare(capsys, old, folders["a"])
    assert data["pairing"] == "unpaired"
    assert data["pairing_reason"] == f"{old}'s summary.json does not name its draws (an older run)"


def _saved(draws: str, side: list[int]) -> SavedRun:
    n = len(side)
    requests = {"s": Requests.of(np.zeros(n), np.zeros(n, dtype=int), np.ones(n))}
    summary = {"draws": draws, "seed": 1, "requests": n}
    return SavedRun("x", summary, requests, np.array(side))


def test_pairing_needs_the_same_digest_and_the_same_sides():
    assert pairing(_saved("d1", [1, -1, 1]), _saved("d1", [1, -1, 1]))[0]
    assert not pairing(_saved("d1", [1, -1, 1]), _saved("d2", [1, -1, 1]))[0]
    same_name_other_sides = pairing(_saved("d1", [1, -1, 1]), _saved("d1", [1, 1, 1]))
    assert same_name_other_sides == (
        False,
        "the summaries name the same draws, but the requests' sides differ",
    )


def test_out_writes_report_json_and_csv(folders, capsys, tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", str(folders["a"]), str(folders["more"]), "--resamples", "100"]
    assert main([*args, "--json", "--holm", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (out / "comparison.json").read_text() == printed
    assert sorted(p.name for p in out.iterdir()) == [
        "comparison.csv",
        "comparison.json",
        "report.md",
    ]
    page = (out / "report.md").read_text()
    assert page.startswith("# Comparison of two results folders\n")
    assert f"- A: `{folders['a']}`" in page and f"- B: `{folders['more']}`" in page
    assert "Paired bootstrap of 100 resamples" in page and "only in B: first_k" in page
    rows = (out / "comparison.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 3  # header, two strategies in both, three metrics
    assert rows[1].endswith(",1.0,1.0,false,100")  # p, p_holm, significant, resamples_used
    # The same folders, the same bytes.
    again = tmp_path / "again"
    assert main([*args, "--json", "--holm", "--out", str(again)]) == 0
    capsys.readouterr()
    for name in ("comparison.json", "comparison.csv", "report.md"):
        assert (again / name).read_bytes() == (out / name).read_bytes()


def test_bad_folders_are_one_line(folders, capsys, tmp_path):
    a = str(folders["a"])
    empty = tmp_path / "empty"
    empty.mkdir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json")
    lonely = _folder(tmp_path, "lonely", FIRST_K)
    capsys.readouterr()
    cases = [
        ([a, str(tmp_path / "nope")], f"{tmp_path / 'nope'}: no such folder"),
        ([a, str(a_file)], f"{a_file}: not a folder"),
        ([a, str(empty)], f"{empty}: summary.json: missing: not a folder written by"),
        ([str(broken), a], f"{broken / 'summary.json'}: not JSON"),
        ([a, str(lonely)], f"{a} and {lonely} have no strategy in common (A: first_wins"),
        ([a, a, "--seed", "4"], "--seed: runs a scenario: two results folders were run already"),
        ([a, a, "--engine", "trio"], "--engine: runs a scenario"),
        ([a, a, "--network"], "--network: runs a scenario"),
        ([a, a, "--baseline", "best_price"], "--baseline: is for a scenario's strategies"),
        ([a, a, "--out"], "--out: needs a folder"),
        ([a, a, "--out", a], f"--out: {a} is a results folder"),
        ([a], f"{a}: a folder, not a scenario: to compare two results folders, name both"),
    ]
    for args, start in cases:
        line = one_error_line(capsys, main(["compare", *args]))
        assert line.startswith(start), (args, line)
