"""`quoterace run --out` says on stderr what it wrote where, one line a folder, unless --quiet;
stdout keeps the tables or the JSON alone. (`run --all --out`, a line a scenario and one for the
gallery: tests/sim/test_results_dir.py.)"""

from __future__ import annotations

import json

from sim.cli.main import main

ARGS = ["run", "default", "--requests", "50", "--json"]


def wrote(line: str) -> tuple[str, set[str]]:
    """The folder and the file names of a "quoterace: wrote FOLDER (A, B, ...)" line."""
    assert line.startswith("quoterace: wrote ") and line.endswith(")"), line
    folder, names = line.removeprefix("quoterace: wrote ")[:-1].split(" (")
    return folder, set(names.split(", "))


def test_run_out_names_the_folder_and_every_file(tmp_path, capsys) -> None:
    out = tmp_path / "r"
    assert main([*ARGS, "--out", str(out)]) == 0
    stdout, stderr = capsys.readouterr()
    assert json.loads(stdout)["requests"] == 50
    [line] = stderr.splitlines()
    folder, names = wrote(line)
    assert folder == str(out)
    assert names == {p.name for p in out.iterdir()}
    assert {"summary.json", "requests.csv", "report.md"} <= names


def test_quiet_says_nothing(tmp_path, capsys) -> None:
    assert main([*ARGS, "--out", str(tmp_path), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert (tmp_path / "summary.json").is_file()


def test_compare_out_says_so_too_for_a_run_and_for_two_folders(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    args = ["compare", "default", "--requests", "50", "--resamples", "100", "--json"]
    assert main([*args, "--out", str(run)]) == 0
    [line] = capsys.readouterr().err.splitlines()
    assert wrote(line) == (str(run), {p.name for p in run.iterdir()})
    assert {"comparison.json", "comparison.csv", "report.md"} <= wrote(line)[1]
    both = tmp_path / "both"
    assert main(["compare", str(run), str(run), "--json", "--out", str(both)]) == 0
    [line] = capsys.readouterr().err.splitlines()
    assert wrote(line) == (str(both), {"comparison.json", "comparison.csv", "report.md"})
