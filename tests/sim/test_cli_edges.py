"""Rough edges of the command line (issue 16): each a one-line error, a suggestion or an output
that a script can read, where it used to be silent or malformed."""

from __future__ import annotations

import json

import pytest

from sim.cli.main import main
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
