"""What `quoterace run`, `scenarios`, `validate` and `bench` print and write.

The summary (`run --json`, and summary.json under `--out`) is a contract: its keys, the venue
order of `venue_wins`, and invariants that hold on any seed (percentiles in order, every request
either won by a venue or not quoted, first_wins never slower than best_price on the same draws).
Same scenario and seed give byte-identical output in any process and under any test plugin
(docs/design.md section 4): the in-process runs here go through pytest-trio, which with hypothesis
installed makes trio's scheduler deterministic, while the subprocesses keep it randomized. The
`.hgrm` files are HdrHistogram percentile distributions that must agree with the summary (section
8); bad `--out` paths are one line on stderr and exit status 2 (section 10). Speed is measured by
the benchmark, never here: the bench test checks only the shape of what it writes.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sim
from sim.bench.network import holds
from sim.cli.main import main
from sim.engines.fast import unsupported
from sim.model.scenario import Scenario, bundled, load
from tests.helpers.cli_checks import one_error_line

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 2000
SEED = 12345  # not the default scenario's seed
# The trio engine, whose scheduler is what determinism must survive (the fast engine has none).
SUBPROCESS_ARGS = [
    *("run", "default", "--json", "--engine", "trio"),
    *("--requests", str(REQUESTS), "--seed", str(SEED)),
]

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9, "p99.99": 99.99}
LATENCY_KEYS = [*PERCENTILES, "max", "mean"]
TOP_KEYS = {
    "scenario",
    "description",
    "seed",
    "requests",
    "draws",
    "engine",
    "clock",
    "transport",
    "strategies",
}
STRATEGY_KEYS = {
    "decision_ms",
    "no_quote",
    "venue_wins",
    "venue_requests_per_decision",
    "fill_rate",
    "reject_rate",
    "slippage_bps",
    "shortfall_bps",
    "fill_ms",
    "venue_requests_per_fill",
    "requests_per_s",
    "venue_utilization",
    "venue_queue_wait_ms",
    "venue_work_wasted",
}

# .hgrm values are milliseconds printed with 3 decimals; HdrHistogram itself keeps 3 significant
# digits (each value within 0.1% of the exact one).
HGRM_ROUNDING_MS = 0.0005
HDR_RELATIVE = 1e-3
HGRM_HEADER = ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
HGRM_ROW = re.compile(r"\s*(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+)(?:\s+(\d+\.\d+))?\s*")
HGRM_FOOTER = re.compile(r"(\w+)\s*=\s*(-?\d+(?:\.\d+)?)")


@functools.cache
def default_scenario() -> Scenario:
    return load("default")


def venue_names() -> list[str]:
    return [v.name for v in default_scenario().venues]


def strategy_names() -> list[str]:
    return [s.name for s in default_scenario().strategies]


def call(argv: list[str]) -> int | str | None:
    """`main(argv)`'s exit status, whether it returns it or exits (argparse)."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, dict[str, Any]]:
    """`quoterace run default --json ARGS` in this process: stdout text and the parsed summary."""
    assert call(["run", "default", "--json", "--engine", "trio", *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out, json.loads(out)


def no_temporary_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp")


def assert_summary_contract(summary: dict[str, Any], *, seed: int, requests: int) -> None:
    """Exactly the contract's keys, with values that hold together (see module docstring).

    The summary's keys may only grow (sim.measure.run.summarize): a new key belongs in this test
    too.
    """
    assert set(summary) == TOP_KEYS
    assert summary["scenario"] == "default"
    assert summary["description"] == default_scenario().description
    assert summary["seed"] == seed
    assert summary["requests"] == requests
    assert summary["engine"] == "trio"
    assert summary["clock"] == "virtual"
    assert summary["transport"] == "in-process"
    assert list(summary["strategies"]) == strategy_names()
    assert {"first_wins", "best_price"} <= set(summary["strategies"])
    venues = venue_names()
    for name, s in summary["strategies"].items():
        assert set(s) == STRATEGY_KEYS, name
        latency = s["decision_ms"]
        assert list(latency) == LATENCY_KEYS, name
        assert all(isinstance(latency[key], float) for key in LATENCY_KEYS), latency
        ordered = [latency[key] for key in [*PERCENTILES, "max"]]
        assert ordered == sorted(ordered), f"{name}: percentiles out of order: {latency}"
        assert latency["p50"] > 0 and latency["mean"] <= latency["max"], latency

        assert type(s["no_quote"]) is int and 0 <= s["no_quote"] < requests
        assert list(s["venue_wins"]) == venues, name
        assert all(type(w) is int and w >= 0 for w in s["venue_wins"].values())
        assert sum(s["venue_wins"].values()) + s["no_quote"] == requests, name

        # first_wins and best_price ask every venue once per request
        decided = requests - s["no_quote"]
        per_decision = s["venue_requests_per_decision"]
        assert isinstance(per_decision, float)
        assert per_decision == round(len(venues) * requests / decided, 6), name

        # Fill quality: rates are fractions, costs have their three statistics, a fill comes
        # after its decision.
        assert 0.0 <= s["fill_rate"] <= 1.0
        assert list(s["reject_rate"]) == ["expired", "price_moved", "no_liquidity", "venue_failed"]
        assert all(0.0 <= r <= 1.0 for r in s["reject_rate"].values())
        for cost in ("slippage_bps", "shortfall_bps"):
            assert list(s[cost]) == ["mean", "p50", "p95"], cost
        assert list(s["fill_ms"]) == LATENCY_KEYS
        if s["fill_rate"] > 0:
            assert s["fill_ms"]["p50"] >= latency["p50"]
            filled = round(s["fill_rate"] * requests)
            assert s["venue_requests_per_fill"] == round(len(venues) * requests / filled, 6)

        # Load: the default venues have no servers, so nothing to report but throughput
        # (checked exactly in test_load.py).
        assert list(s["venue_utilization"]) == venues == list(s["venue_queue_wait_ms"])
        assert set(s["venue_utilization"].values()) == {None}
        assert set(s["venue_queue_wait_ms"].values()) == {None}
        assert s["venue_work_wasted"] is None
        assert isinstance(s["requests_per_s"], float) and s["requests_per_s"] > 0

    # Same draws: first_wins decides at the first quote, best_price at the last (or timeout).
    first, best = (summary["strategies"][n]["decision_ms"] for n in ("first_wins", "best_price"))
    for key in LATENCY_KEYS:
        assert first[key] <= best[key], f"{key}: first_wins {first[key]} > best_price {best[key]}"


# --- run --json: the summary contract ------------------------------------------------------


@pytest.fixture(scope="module")
def subprocess_outputs() -> list[bytes]:
    """stdout of two concurrent `python -m sim run default --json ...` (scheduler randomized)."""
    command = [sys.executable, "-m", "sim", *SUBPROCESS_ARGS]
    processes = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode(errors="replace")
        assert err == b""
        outputs.append(out)
    return outputs


def test_run_json_contract_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    out, summary = run_json(capsys, "--requests", str(REQUESTS))
    assert_summary_contract(summary, seed=default_scenario().seed, requests=REQUESTS)
    assert out == json.dumps(summary, indent=2) + "\n"


def test_run_json_contract_subprocess(subprocess_outputs: list[bytes]) -> None:
    summary = json.loads(subprocess_outputs[0])
    assert_summary_contract(summary, seed=SEED, requests=REQUESTS)


# --- --seed and --requests; determinism ----------------------------------------------------


def test_same_seed_is_byte_identical_across_processes(subprocess_outputs: list[bytes]) -> None:
    first, second = subprocess_outputs
    assert first == second


def test_in_process_run_is_byte_identical_to_subprocess(
    capsys: pytest.CaptureFixture[str], subprocess_outputs: list[bytes]
) -> None:
    """pytest-trio's deterministic scheduling here, trio's randomized one there: same bytes."""
    assert call(SUBPROCESS_ARGS) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.encode() == subprocess_outputs[0]


def test_seed_and_requests_override_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    file = default_scenario()
    assert file.requests != 500
    _, a = run_json(capsys, "--requests", "500", "--seed", "1")
    _, a_again = run_json(capsys, "--requests", "500", "--seed", "1")
    _, b = run_json(capsys, "--seed", "2", "--requests", "500")
    assert_summary_contract(a, seed=1, requests=500)
    assert_summary_contract(b, seed=2, requests=500)
    assert a == a_again
    for name in strategy_names():
        assert a["strategies"][name]["decision_ms"] != b["strategies"][name]["decision_ms"], name
    wins_a, wins_b = (s["strategies"]["first_wins"]["venue_wins"] for s in (a, b))
    assert wins_a != wins_b


def test_auto_runs_the_default_on_the_fast_engine_with_the_same_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The fast engine decides the default scenario's requests as trio does: the summaries
    are the same but for the engine that ran."""
    _, trio = run_json(capsys, "--requests", str(REQUESTS), "--seed", str(SEED))
    assert call(["run", "default", "--json", "--requests", str(REQUESTS), "--seed", str(SEED)]) == 0
    fast = json.loads(capsys.readouterr().out)
    assert (trio["engine"], fast["engine"]) == ("trio", "fast")
    assert {**fast, "engine": "trio"} == trio


def test_seed_zero_is_a_seed(capsys: pytest.CaptureFixture[str]) -> None:
    _, summary = run_json(capsys, "--seed", "0", "--requests", "50")
    assert_summary_contract(summary, seed=0, requests=50)


# --- --out: summary.json and .hgrm files ---------------------------------------------------


def parse_hgrm(text: str) -> tuple[list[tuple[float, float, int]], dict[str, float]]:
    """Rows (value ms, percentile, total count) and footer fields of a .hgrm percentile table."""
    lines = text.splitlines()
    assert lines[0].split() == HGRM_HEADER
    rows: list[tuple[float, float, int]] = []
    footer: dict[str, float] = {}
    for line in lines[1:]:
        if not line.strip():
            continue
        if line.startswith("#["):
            footer.update((k, float(v)) for k, v in HGRM_FOOTER.findall(line))
            continue
        match = HGRM_ROW.fullmatch(line)
        assert match, f"not a .hgrm row: {line!r}"
        value, percentile, count, inverse = match.groups()
        rows.append((float(value), float(percentile), int(count)))
        if inverse is not None:  # every row but the 100% one
            assert float(inverse) == pytest.approx(1 / (1 - float(percentile)), abs=0.006)
    assert rows, "no rows"
    return rows, footer


def close_ms(hgrm_value: float, summary_value: float) -> bool:
    """Equal within the .hgrm's 3 decimals (ms) and HdrHistogram's 0.1%."""
    tolerance = HGRM_ROUNDING_MS + HDR_RELATIVE * abs(summary_value)
    return abs(hgrm_value - summary_value) <= tolerance


def assert_hgrm_matches(text: str, strategy: dict[str, Any]) -> None:
    rows, footer = parse_hgrm(text)
    latency = strategy["decision_ms"]
    total = sum(strategy["venue_wins"].values())  # == requests - no_quote
    values, percentiles, counts = (list(column) for column in zip(*rows, strict=True))
    assert values == sorted(values) and percentiles == sorted(percentiles)
    assert counts == sorted(counts)
    assert percentiles[-1] == 1.0
    assert counts[-1] == total
    assert footer["TotalCount"] == total
    assert close_ms(values[-1], latency["max"]) and close_ms(footer["Max"], latency["max"])
    assert close_ms(footer["Mean"], latency["mean"])
    # hdrh leaves the standard deviation in ns; ours is in ms like every other value.
    assert 0 < footer["StdDeviation"] <= latency["max"]
    # The rows sit at percentile levels 0, 10, 19, 27.1, ... (ticks halving the distance to
    # 100%), rarely at 50% itself. Each row is (highest value of a bucket, count up to it), and a
    # percentile is the highest value of the first bucket whose count reaches its rank: so it
    # lies above every row short of the rank and at or below every row that reaches it.
    for key, percentile in PERCENTILES.items():
        rank = max(int(percentile / 100 * total + 0.5), 1)  # HdrHistogram's rounding
        value = latency[key]
        short = [v for v, _, c in rows if c < rank]
        reached = [v for v, _, c in rows if c >= rank]
        tolerance = HGRM_ROUNDING_MS + HDR_RELATIVE * value
        if short:
            assert short[-1] <= value + tolerance, f"{key} {value} below row {short[-1]}"
        assert value <= reached[0] + tolerance, f"{key} {value} above row {reached[0]}"


def test_out_writes_summary_and_hgrm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "new" / "folder"  # created, parents too
    stdout, summary = run_json(
        capsys, "--requests", str(REQUESTS), "--out", str(out_dir), "--quiet"
    )
    names = strategy_names()
    hgrm = {f"{name}.hgrm" for name in names}
    assert hgrm | {"summary.json"} <= {p.name for p in out_dir.iterdir()}  # test_results_dir.py
    # checks the rest of the folder
    assert (out_dir / "summary.json").read_bytes() == stdout.encode()
    assert no_temporary_files(tmp_path) == []
    for name in names:
        text = (out_dir / f"{name}.hgrm").read_text(encoding="utf-8")
        assert_hgrm_matches(text, summary["strategies"][name])


def test_out_replaces_earlier_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_json(capsys, "--requests", "300", "--out", str(tmp_path), "--quiet")
    argv = ("--requests", "100", "--seed", "3", "--out", str(tmp_path), "--quiet")
    stdout, summary = run_json(capsys, *argv)
    assert (tmp_path / "summary.json").read_bytes() == stdout.encode()
    for name in strategy_names():
        rows, _ = parse_hgrm((tmp_path / f"{name}.hgrm").read_text(encoding="utf-8"))
        assert rows[-1][2] == 100 - summary["strategies"][name]["no_quote"]
    assert no_temporary_files(tmp_path) == []


@pytest.mark.parametrize("below", ["", "sub"], ids=["is-a-file", "under-a-file"])
def test_out_at_or_under_a_regular_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], below: str
) -> None:
    regular = tmp_path / "file"
    regular.write_text("keep\n", encoding="utf-8")
    out_dir = regular / below if below else regular
    status = call(["run", "default", "--json", "--requests", "50", "--out", str(out_dir)])
    line = one_error_line(capsys, status)
    assert line.startswith("--out: cannot write "), line
    assert str(regular) in line
    assert regular.read_text(encoding="utf-8") == "keep\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# --- scenarios, validate, console table ----------------------------------------------------


def test_scenarios_lists_every_bundled_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert call(["scenarios"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    names = bundled()
    assert "default" in names
    listed = [line for line in out.splitlines() if line and not line[0].isspace()]
    assert listed == names
    for name in names:
        description = " ".join(load(name).description.split())
        assert description, f"{name} has no description"
        assert f"{name}\n    {description}\n" in out


def test_validate_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert call(["validate", "default"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    scenario = default_scenario()
    assert out == (
        f"default: ok ({len(scenario.venues)} venues, {len(scenario.strategies)} strategies, "
        f"{scenario.requests:,} requests)\n"
    )


def test_validate_counts_one_in_the_singular(capsys: pytest.CaptureFixture[str]) -> None:
    assert call(["validate", "coordinated-omission"]) == 0
    out, _ = capsys.readouterr()
    assert out == "coordinated-omission: ok (1 venue, 1 strategy, 20,000 requests)\n"


def test_console_table(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(variable, raising=False)
    assert call(["run", "default", "--requests", "300", "--seed", "5"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "\x1b[" not in out  # not a terminal: no escape codes
    assert not out.lstrip().startswith("{")
    assert "300 requests" in out and "seed 5" in out
    for text in [*strategy_names(), *LATENCY_KEYS, "no quote", *venue_names()]:
        assert re.search(rf"(?<![\w.]){re.escape(text)}(?![\w.])", out), f"{text!r} missing"


# --- bench ---------------------------------------------------------------------------------


def test_bench_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "bench.json"
    argv = ["bench", "--requests", "300", "--rounds", "1", "--fast-requests", "2000"]
    argv += ["--memory-requests", "1000", "3000", "--network-requests", "40"]
    argv += ["--network-rates", "200", "1000"]
    argv += [
        "--end-to-end-requests",
        "3000",
        "200",
        "--end-to-end-scenarios",
        "default",
        "overload",
    ]
    assert call([*argv, "--out", str(out_file)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    result = json.loads(out_file.read_text(encoding="utf-8"))
    keys = {"benchmark", "scenario", "venues", "requests", "rounds", "target_ratio", "strategies"}
    assert keys <= set(result)
    assert result["scenario"] == "default"
    assert result["venues"] == len(default_scenario().venues)
    assert result["requests"] == 300
    assert result["rounds"] == 1
    assert result["target_ratio"] == 0.8
    assert set(result["strategies"]) == {"first_wins", "best_price"}
    figure_keys = {"engine_races_per_s", "skeleton_races_per_s", "ratio", "ratios"}
    for name, figures in result["strategies"].items():
        assert set(figures) == figure_keys, name
        assert type(figures["engine_races_per_s"]) is int, name
        assert type(figures["skeleton_races_per_s"]) is int, name
        # one round: the median ratio is that round's engine rate over skeleton rate
        assert figures["ratios"] == [figures["ratio"]], name
        rates = figures["engine_races_per_s"] / figures["skeleton_races_per_s"]
        assert figures["ratio"] == pytest.approx(rates, rel=0.01), name
        assert name in out  # the printed table
    fast = result["fast_engine"]
    assert (fast["requests"], fast["target_requests_per_s"]) == (2000, 1_000_000)
    assert fast["strategies"] == ["first_wins", "best_price"]
    memory = result["memory"]
    assert set(memory["peak_mb"]) == {"1000", "3000"}
    assert all(mb >= memory["import_only_mb"] > 0 for mb in memory["peak_mb"].values())
    assert "memory (peak resident" in out and "1,000 requests" in out
    network = result["network"]
    assert network["requests"] == 40 and set(network["strategies"]) == {"first_wins", "best_price"}
    # what the machine's speed decides (on a loaded one every race over TCP can time out: no
    # p50, and no rate holds) is checked for its shape and its logic, not its value
    for figures in network["strategies"].values():
        assert figures["venue_failures"] == 0
        assert figures["in_process_ms"]["p50"] > 0
        for mode in ("default", "epoll", "latency_real"):
            p50 = figures[f"over_tcp_{mode}_ms"]["p50"]
            assert p50 is None or p50 > 0, mode
    ping, spaced = network["ping_pong_us"], network["ping_pong_spaced_us"]
    assert 0 < ping["p50"] <= ping["p99"] and 0 < spaced["p50"] <= spaced["p99"]
    steps = network["rates"]
    assert [step["rate_per_s"] for step in steps] == [200, 1000][: len(steps)]
    for step in steps:
        for where in ("in_process", "over_tcp"):
            assert set(step[where]) == {"first_wins", "best_price"}, where
            assert all(set(f) == {"p50_ms", "no_quote", "behind"} for f in step[where].values())
        assert step["fails"] == holds(step["in_process"], step["over_tcp"], 40, ping["p50"] * 1e-6)
    # stepping stops at the first rate that fails; the highest that held is the figure
    assert all(step["fails"] is None for step in steps[:-1])
    held = [step["rate_per_s"] for step in steps if step["fails"] is None]
    assert network["max_rate_per_s"] == (held[-1] if held else None)
    assert len(steps) == 2 or steps[-1]["fails"] is not None
    assert "network mode holds " in out
    assert len(fast["rates"]) == 1 and fast["requests_per_s"] == fast["rates"][0] > 0
    whole = result["end_to_end"]
    assert (whole["fast_requests"], whole["trio_requests"]) == (3000, 200)
    assert list(whole["scenarios"]) == ["default", "overload"]
    for name, engines in whole["scenarios"].items():
        why = unsupported(load(name))
        assert engines["fast"] == {"refused": why} if why else engines["fast"]["requests"] == 3000
        assert engines["trio"]["requests"] == 200
        for figures in engines.values():
            if "refused" not in figures:
                rate = figures["requests"] / figures["seconds"]  # seconds rounded to 1 ms,
                assert abs(figures["requests_per_s"] - rate) <= 0.5 + 2e-3 * rate  # rate to 1
                assert figures["peak_mb"] >= memory["import_only_mb"]
    assert "end to end: whole `quoterace run` processes" in out
    assert f"fast engine: {fast['requests_per_s']:,} requests/s" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        *(
            [c, "--help"]
            for c in ("run", "compare", "scenarios", "strategies", "validate", "bench")
        ),
    ],
)
def test_help_works_for_every_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert call(argv) == 0
    assert "usage: quoterace" in capsys.readouterr().out


def test_bench_says_when_a_network_run_decided_nothing(monkeypatch, capsys) -> None:
    """On a loaded machine every race over TCP can time out: no p50 at all. The benchmark
    records None and says so, where it used to crash on None minus a float."""
    from sim.bench import network as bench_network
    from sim.bench import suite

    def run(scenario, network=None):
        result = sim.run(scenario.with_overrides(requests=50))
        if network is not None:
            for s in result.summary["strategies"].values():
                s["decision_ms"]["p50"] = s["decision_ms"]["p99"] = None
                s["venue_failures"] = {}  # what a network summary adds
        return result

    monkeypatch.setattr(bench_network, "run", run)
    monkeypatch.setattr(
        bench_network, "_ping_pong", lambda pings, spacing_s=0.0: {"p50": 1.0, "p99": 2.0}
    )
    figures = bench_network.network_figures(50)
    for name, f in figures["strategies"].items():
        assert f["added_p50_ms"] is None, name
        assert f["over_tcp_default_ms"]["p50"] is None and f["in_process_ms"]["p50"] > 0, name
    assert figures["max_rate_per_s"] is None  # the first rate did not hold: no more tried
    assert [step["fails"] for step in figures["rates"]] == ["first_wins: no race decided"]
    suite._print_network(figures)
    out = capsys.readouterr().out
    assert "decision p50 none (no race decided) over TCP" in out
    assert "network mode holds none of the rates tried (50 requests a rate); at 200/s" in out
