"""Rough edges of the command line (issue 16): each a one-line error, a suggestion or an output
that a script can read, where it used to be silent or malformed."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

from sim.bench import end_to_end
from sim.cli.main import main
from sim.model.errors import ScenarioError
from sim.model.scenario import bundled
from tests.helpers.cli_checks import one_error_line


def test_run_all_json_is_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """One compact summary a line, in the order of `bundled()`: each line parses alone."""
    assert main(["run", "--all", "--requests", "30", "--json", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["scenario"] for line in lines] == bundled()


@pytest.mark.parametrize("name", ["default", "stale-quotes"])
def test_run_all_refuses_any_named_scenario_even_default(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_error_line(capsys, main(["run", "--all", name, "--requests", "30", "--quiet"]))
    assert line == f"--all: runs every bundled scenario: drop {name!r}"


@pytest.mark.parametrize("command", ["run", "validate", "compare"])
def test_a_misspelt_bundled_scenario_is_suggested(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_error_line(capsys, main([command, "hedgng"]))
    assert line == "hedgng: no such file, nor a bundled scenario (did you mean 'hedging'?)"


@pytest.mark.parametrize(
    ("scenarios", "said"),
    [
        (["hedgng"], "hedgng: no such file, nor a bundled scenario (did you mean 'hedging'?)"),
        (
            ["default", "overload", "default"],
            "--end-to-end-scenarios: default given twice (each scenario is one row, by its name)",
        ),
    ],
)
def test_bench_checks_its_end_to_end_scenarios_first(
    scenarios: list[str], said: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before any figure is measured: a misspelt name, or one scenario twice (its second row
    would silently replace the first)."""
    argv = ["bench", "--no-network", "--out", str(tmp_path / "bench.json")]
    line = one_error_line(capsys, main([*argv, "--end-to-end-scenarios", *scenarios]))
    assert line == said
    assert not (tmp_path / "bench.json").exists()


def test_a_bench_child_that_refuses_its_input_is_one_line(tmp_path: Path) -> None:
    """A scenario that loads but fails in its own process (here: gone by then) stops the
    bench with the child's one line, as bad input, not a traceback."""
    gone = tmp_path / "gone.toml"
    with pytest.raises(ScenarioError) as caught:
        end_to_end._timed(str(gone), "fast", 10)
    assert str(caught.value).startswith(
        f"--end-to-end-scenarios: quoterace run {gone} --engine fast failed: "
        f"{gone}: no such file, nor a bundled scenario"
    )


@pytest.mark.parametrize("command", ["run", "compare"])
def test_network_mode_refuses_the_virtual_clock(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Network mode races on the wall clock: asking for virtual time is a mistake, not a wish
    to drop silently."""
    line = one_error_line(capsys, main([command, "--network", "--clock", "virtual"]))
    assert line == "--clock: network mode runs on the wall clock: drop --clock virtual"


@pytest.mark.parametrize(
    ("epoch", "when"),
    [("0", "(1970-01-01 00:00:00 UTC) is 1,"), ("4102444800", "(2100-01-01 00:00:00 UTC) is in")],
)
def test_an_epoch_out_of_range_says_when_it_is(
    epoch: str, when: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The epoch as a date, and in the past or the future in words (not a signed count of
    seconds "from now")."""
    line = one_error_line(capsys, main(["run", "--network", "--epoch", epoch]))
    assert line.startswith(f"--epoch: the market epoch {epoch} {when}")
    assert (" s ago: " if epoch == "0" else " the future: ") in line
    assert "a Unix time in seconds within the last 3600 s" in line


HALF_FAILING = """
[scenario]
name = "half"
seed = 1
requests = 50

[arrivals]
process = "poisson"
rate_per_s = 100

[market]
mid = 100.0

[order]
side = "buy"
size = 1

[[venues]]
name = "half"
latency = { dist = "constant", ms = 1.0 }
spread_bps = 1.0
fail_prob = 0.5

[[strategies]]
kind = "first_wins"

[[strategies]]
kind = "best_price"
"""


def test_compare_where_both_p99s_are_infinite_warns_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Half the races find no quote for both strategies (the same draws), so both p99s are
    infinite in every resample: the difference is undefined, not numpy's inf - inf warning
    (as `compare default --network --requests 10` showed)."""
    path = tmp_path / "half.toml"
    path.write_text(HALF_FAILING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["compare", str(path), "--json", "--quiet"]) == 0
    p99 = json.loads(capsys.readouterr().out)["comparisons"]["best_price"]["p99_decision_ms"]
    assert p99["ci95"] is None and p99["resamples_used"] == 0


@pytest.mark.parametrize("command", ["validate", "run"])
def test_validate_refuses_the_draws_that_run_refuses(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lognormal with sigma = 50 passes every bound, but its order round trips come out
    beyond the hour: validate draws what run draws, so both refuse it alike."""
    path = tmp_path / "heavy.toml"
    path.write_text(HALF_FAILING.replace('{ dist = "constant", ms = 1.0 }', HEAVY))
    assert HEAVY in path.read_text()
    quiet = ["--quiet"] if command == "run" else []
    line = one_error_line(capsys, main([command, str(path), *quiet]))
    assert line.startswith(f"{path}: venues[0].latency: an order round trip was drawn at ")


HEAVY = '{ dist = "lognormal", median_ms = 0.4, sigma = 50 }'


def test_bench_without_network_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--no-network skips network mode (null in the JSON, no lines printed); one round is
    said so, not "median of 1 rounds"."""
    out_file = tmp_path / "bench.json"
    argv = ["bench", "--requests", "200", "--rounds", "1", "--fast-requests", "2000"]
    argv += ["--memory-requests", "1000", "--no-network", "--out", str(out_file)]
    argv += ["--end-to-end-requests", "2000", "100", "--end-to-end-scenarios", "default"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    result = json.loads(out_file.read_text(encoding="utf-8"))
    assert result["network"] is None and result["strategies"]
    assert "network mode" not in out
    assert "one round" in out and "rounds" not in out


def test_bench_no_network_with_network_options_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = one_error_line(capsys, main(["bench", "--no-network", "--network-requests", "10"]))
    assert line.startswith("--no-network: skips network mode")


def test_every_bench_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--requests REQUESTS", "--rounds ROUNDS", "--out OUT", "--no-network"):
        assert re.search(rf"{option} \w", text), option  # followed by its help text


def test_ctrl_c_while_numba_boxes_a_scans_results_is_an_interruption(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C as a compiled scan in the calling thread hands back its arrays (a summary on a
    market that moves) reaches Python as numba's SystemError caused by the KeyboardInterrupt:
    still one line and exit status 130, no traceback."""
    from sim.cli import run as run_command

    def interrupted(*args: object, **kwargs: object) -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise SystemError("CPUDispatcher(served) returned a result with an exception") from e

    monkeypatch.setattr(run_command, "scenario_summary", interrupted)
    assert main(["run", "overload", "--engine", "fast", "--requests", "30", "--quiet"]) == 130
    assert capsys.readouterr().err == "quoterace: interrupted\n"


def test_a_system_error_of_its_own_is_not_an_interruption(monkeypatch) -> None:
    from sim.cli import run as run_command

    def broken(*args: object, **kwargs: object) -> None:
        raise SystemError("a bug")

    monkeypatch.setattr(run_command, "scenario_summary", broken)
    with pytest.raises(SystemError, match="a bug"):
        main(["run", "overload", "--engine", "fast", "--requests", "30", "--quiet"])


def test_the_bench_times_the_fast_engine_after_an_untimed_warm_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """numba compiles a scan once per machine: the end-to-end figure is a run after one that
    filled the cache (WARM_UP requests, untimed), never the first; trio has nothing to warm."""
    runs: list[tuple[str, int]] = []

    def timed(source: str, engine: str, requests: int) -> dict[str, int]:
        runs.append((engine, requests))
        return {"requests": requests}

    monkeypatch.setattr(end_to_end, "_timed", timed)
    figures = end_to_end.end_to_end_figures(("overload",), 50_000, 100)
    assert runs == [("fast", end_to_end.WARM_UP), ("fast", 50_000), ("trio", 100)]
    assert figures["scenarios"]["overload"]["fast"] == {"requests": 50_000}
