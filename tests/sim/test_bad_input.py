"""Bad input gives one line on stderr naming the file and key path, exit status 2, no traceback.

docs/design.md section 10. Every case starts from a small valid scenario (BASE) and applies one
mistake; the error line must start with `<file as given>: <key path>: ` and contain a fragment
of the message.
"""

# The table of cases below is one case a line, however long the line.
# ruff: noqa: E501

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from sim.cli.main import main
from sim.model.errors import ScenarioError
from sim.model.scenario import bundled, bundled_dir, loads
from tests.helpers.cli_checks import one_error_line
from tests.helpers.scenarios import write_toml

HEADER = """\
[scenario]
name = "small"
seed = 7
requests = 50
"""

ARRIVALS = """
[arrivals]
process = "poisson"
rate_per_s = 1000.0
"""

VENUES = """
[[venues]]
name = "fast"
latency = { dist = "lognormal", median_ms = 0.4, sigma = 0.5 }

[[venues]]
name = "flaky"
latency = { dist = "mixture", components = [
    { weight = 0.9, dist = "exponential", mean_ms = 0.5 },
    { weight = 0.1, dist = "constant", ms = 3.0 },
] }
fail_prob = 0.01

[[venues]]
name = "measured"
latency = { dist = "empirical", samples_ms = [0.2, 0.3, 0.5] }
"""

# Parts of VENUES that cases replace.
MIXTURE = """{ dist = "mixture", components = [
    { weight = 0.9, dist = "exponential", mean_ms = 0.5 },
    { weight = 0.1, dist = "constant", ms = 3.0 },
] }"""
INLINE_SAMPLES = "samples_ms = [0.2, 0.3, 0.5]"

STRATEGIES = """
[[strategies]]
kind = "first_wins"
timeout_ms = 50.0

[[strategies]]
kind = "best_price"
timeout_ms = 10.0
"""

BASE = HEADER + ARRIVALS + VENUES + STRATEGIES
SAMPLES = "0.2\n0.3  # a comment\n\n0.5\n"

Edits = Sequence[tuple[str, str]]

# Key paths of BASE.
FAST = "venues[0].latency"
MIX = "venues[1].latency"
EMP = "venues[2].latency"


def write_scenario(
    tmp_path: Path, edits: Edits = (), *, samples: str | None = SAMPLES, name: str = "bad.toml"
) -> Path:
    """BASE with each `(old, new)` of `edits` applied (each `old` must occur exactly once)."""
    text = BASE
    for old, new in edits:
        assert text.count(old) == 1, f"edit target {old!r} must occur exactly once"
        text = text.replace(old, new)
    if samples is not None:
        (tmp_path / "samples.txt").write_text(samples, encoding="utf-8")
    return write_toml(tmp_path, name, text)


def call(argv: list[str]) -> int | str | None:
    """`main(argv)`'s exit status, whether it returns it or exits (argparse)."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def assert_one_line_error(
    capsys: pytest.CaptureFixture[str],
    status: int | str | None,
    shown: str,
    key: str,
    fragment: str | re.Pattern[str],
) -> str:
    """Status 2, nothing on stdout, one stderr line `<shown>: <key>: ...` holding `fragment`."""
    line = one_error_line(capsys, status)
    prefix = f"{shown}: {key}: " if key else f"{shown}: "
    assert line.startswith(prefix), f"{line!r} does not start with {prefix!r}"
    if isinstance(fragment, re.Pattern):
        assert fragment.search(line), f"{line!r} does not match {fragment.pattern!r}"
    else:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def top_level(table: str, line: str) -> tuple[str, str]:
    """The edit of BASE that drops `table` and puts `line` first, as a top-level key."""
    return BASE, f"{line}\n\n{BASE.replace(table, '')}"


NESTED_MIX = (
    '{ weight = 0.1, dist = "mixture", '
    'components = [{ weight = %s, dist = "constant", ms = 3.0 }] }'
)
NESTED_CONSTANT = '{ weight = 0.1, dist = "constant", ms = 3.0 }'

# One mistake a line: (id, old, new, key, fragment): BASE with `old` replaced by `new` must fail
# on `key` with a message holding `fragment`. Left unformatted: wrapped, a case takes six lines.
# fmt: off
TABLE = [
    # Unknown and misspelled keys, with suggestions.
    ("misspelled-scenario-key", "requests = 50", "reqests = 50", "scenario.reqests", "did you mean 'requests'?"),
    ("misspelled-timeout", "timeout_ms = 50.0", "timeout = 50.0", "strategies[0].timeout", "did you mean 'timeout_ms'?"),
    ("misspelled-timeout-2nd", "timeout_ms = 10.0", "timeout_m = 10.0", "strategies[1].timeout_m", "did you mean 'timeout_ms'?"),
    ("misspelled-sigma", "sigma = 0.5", "sigmaa = 0.5", f"{FAST}.sigmaa", "did you mean 'sigma'?"),
    ("misspelled-fail-prob", "fail_prob = 0.01", "fail_prb = 0.01", "venues[1].fail_prb", "did you mean 'fail_prob'?"),
    ("misspelled-rate", "rate_per_s = 1000.0", "rate_per_sec = 1000.0", "arrivals.rate_per_sec", "did you mean 'rate_per_s'?"),
    ("misspelled-component-key", "mean_ms = 0.5", "mean = 0.5", f"{MIX}.components[0].mean", "did you mean 'mean_ms'?"),
    ("misspelled-components", "components = [", "component = [", f"{MIX}.component", "did you mean 'components'?"),
    ("unknown-venue-key", 'name = "fast"', 'name = "fast"\ncolour = "red"', "venues[0].colour", "unknown key"),
    ("unknown-strategy-key", "timeout_ms = 10.0", "timeout_ms = 10.0\nhedge = true", "strategies[1].hedge", "unknown key"),
    ("file-on-non-empirical", "sigma = 0.5", 'sigma = 0.5, file = "samples.txt"', f"{FAST}.file", "unknown key"),
    ("unknown-table", STRATEGIES, STRATEGIES + '\n[venue]\nname = "x"\n', "venue", "unknown table"),
    ("unknown-table-misspelled", "[arrivals]", "[arrival]", "arrival", "unknown table"),
    ("top-level-key", "[scenario]", "seed = 3\n\n[scenario]", "seed", "unknown key at top level"),
    # Missing keys and tables.
    ("no-venues", VENUES, "", "venues", "missing"),
    ("no-strategies", STRATEGIES, "", "strategies", "missing"),
    ("empty-venues", *top_level(VENUES, "venues = []"), "venues", "one or more [[venues]] tables"),
    ("venue-no-name", 'name = "fast"\n', "", "venues[0].name", "missing"),
    ("venue-no-latency", 'latency = { dist = "lognormal", median_ms = 0.4, sigma = 0.5 }\n', "", FAST, "missing"),
    ("missing-sigma", ", sigma = 0.5", "", f"{FAST}.sigma", "missing"),
    ("missing-dist", 'dist = "lognormal", ', "", f"{FAST}.dist", "missing"),
    ("component-missing-weight", "weight = 0.1, ", "", f"{MIX}.components[1].weight", "missing"),
    ("component-missing-dist", 'dist = "exponential", ', "", f"{MIX}.components[0].dist", "missing"),
    ("mixture-missing-components", MIXTURE, '{ dist = "mixture" }', f"{MIX}.components", "missing"),
    ("strategy-missing-kind", 'kind = "best_price"\n', "", "strategies[1].kind", "missing"),
    # Wrong types.
    ("seed-string", "seed = 7", 'seed = "7"', "scenario.seed", "must be an integer (got a string)"),
    ("seed-date", "seed = 7", "seed = 2024-01-01", "scenario.seed", "must be an integer"),
    ("requests-float", "requests = 50", "requests = 1.5", "scenario.requests", "must be an integer (got a number)"),
    ("requests-bool", "requests = 50", "requests = true", "scenario.requests", "must be an integer (got a boolean)"),
    ("sigma-bool", "sigma = 0.5", "sigma = true", f"{FAST}.sigma", "must be a number (got a boolean)"),
    ("rate-bool", "rate_per_s = 1000.0", "rate_per_s = false", "arrivals.rate_per_s", "must be a number (got a boolean)"),
    ("fail-prob-string", "fail_prob = 0.01", 'fail_prob = "low"', "venues[1].fail_prob", "must be a number (got a string)"),
    ("timeout-string", "timeout_ms = 50.0", 'timeout_ms = "50"', "strategies[0].timeout_ms", "must be a number (got a string)"),
    ("weight-bool", "weight = 0.9", "weight = true", f"{MIX}.components[0].weight", "must be a number (got a boolean)"),
    ("weight-string", "weight = 0.1", 'weight = "0.1"', f"{MIX}.components[1].weight", "must be a number (got a string)"),
    ("venue-name-int", 'name = "fast"', "name = 5", "venues[0].name", "must be a string (got an integer)"),
    ("strategy-name-int", "timeout_ms = 10.0", "timeout_ms = 10.0\nname = 3", "strategies[1].name", "must be a string"),
    ("process-int", 'process = "poisson"', "process = 3", "arrivals.process", "must be a string (got an integer)"),
    ("latency-string", '{ dist = "lognormal", median_ms = 0.4, sigma = 0.5 }', '"lognormal"', FAST, "must be a table (got a string)"),
    ("components-string", MIXTURE, '{ dist = "mixture", components = "none" }', f"{MIX}.components", "must be an array"),
    ("component-not-table", NESTED_CONSTANT, "0.1", f"{MIX}.components[1]", "must be a table"),
    ("samples-element-string", INLINE_SAMPLES, 'samples_ms = [1.0, "x"]', f"{EMP}.samples_ms[1]", "must be a number (got a string)"),
    ("scenario-array", "[scenario]", "[[scenario]]", "scenario", "must be a table (got an array)"),
    ("arrivals-int", *top_level(ARRIVALS, "arrivals = 5"), "arrivals", "must be a table (got an integer)"),
    ("venues-single-table", VENUES, '\n[venues]\nname = "x"\n', "venues", "one or more [[venues]] tables"),
    ("venue-not-table", *top_level(VENUES, "venues = [1]"), "venues[0]", "must be a table (got an integer)"),
    ("strategy-not-table", *top_level(STRATEGIES, 'strategies = ["first_wins"]'), "strategies[0]", "must be a table"),
    # Out of range.
    ("sigma-zero", "sigma = 0.5", "sigma = 0", f"{FAST}.sigma", "must be > 0"),
    ("sigma-negative", "sigma = 0.5", "sigma = -0.5", f"{FAST}.sigma", "must be > 0"),
    ("median-zero", "median_ms = 0.4", "median_ms = 0.0", f"{FAST}.median_ms", "must be > 0"),
    ("shift-negative", "sigma = 0.5", "sigma = 0.5, shift_ms = -1.0", f"{FAST}.shift_ms", "must be >= 0"),
    ("constant-negative", "ms = 3.0", "ms = -3.0", f"{MIX}.components[1].ms", "must be >= 0"),
    ("seed-negative", "seed = 7", "seed = -1", "scenario.seed", "must be >= 0"),
    ("requests-zero", "requests = 50", "requests = 0", "scenario.requests", "must be > 0"),
    ("requests-negative", "requests = 50", "requests = -5", "scenario.requests", "must be > 0"),
    ("rate-zero", "rate_per_s = 1000.0", "rate_per_s = 0", "arrivals.rate_per_s", "must be > 0"),
    ("rate-negative", "rate_per_s = 1000.0", "rate_per_s = -1000.0", "arrivals.rate_per_s", "must be >= 0"),
    ("process-unknown", 'process = "poisson"', 'process = "poison"', "arrivals.process", "must be one of 'poisson', 'uniform'"),
    ("fail-prob-above-1", "fail_prob = 0.01", "fail_prob = 1.5", "venues[1].fail_prob", "must be <= 1"),
    ("fail-prob-negative", "fail_prob = 0.01", "fail_prob = -0.01", "venues[1].fail_prob", "must be >= 0"),
    ("timeout-zero", "timeout_ms = 10.0", "timeout_ms = 0", "strategies[1].timeout_ms", "must be > 0"),
    ("timeout-negative", "timeout_ms = 50.0", "timeout_ms = -1.0", "strategies[0].timeout_ms", "must be > 0"),
    ("weight-zero", "weight = 0.1", "weight = 0", f"{MIX}.components[1].weight", "must be > 0"),
    ("weight-negative", "weight = 0.1", "weight = -0.1", f"{MIX}.components[1].weight", "must be > 0"),
    ("weight-above-1", "weight = 0.9", "weight = 1.5", f"{MIX}.components[0].weight", "must be <= 1"),
    ("weights-sum-above-1", "weight = 0.1", "weight = 0.2", f"{MIX}.components", "weights must sum to 1"),
    ("weights-sum-below-1", "weight = 0.9", "weight = 0.5", f"{MIX}.components", "weights must sum to 1"),
    ("components-empty", MIXTURE, '{ dist = "mixture", components = [] }', f"{MIX}.components", "must not be empty"),
    ("nested-mixture-weights", NESTED_CONSTANT, NESTED_MIX % "0.5", f"{MIX}.components[1].components", "weights must sum to 1"),
    ("nested-mixture-weight-zero", NESTED_CONSTANT, NESTED_MIX % "0", f"{MIX}.components[1].components[0].weight", "must be > 0"),
    ("uniform-high-below-low", 'dist = "lognormal", median_ms = 0.4, sigma = 0.5', 'dist = "uniform", low_ms = 2.0, high_ms = 1.0', f"{FAST}.high_ms", "must be >= low_ms"),
    ("samples-empty", INLINE_SAMPLES, "samples_ms = []", f"{EMP}.samples_ms", "must not be empty"),
    ("samples-negative", INLINE_SAMPLES, "samples_ms = [1.0, -2.0]", f"{EMP}.samples_ms", "must be >= 0"),
    ("samples-and-file", INLINE_SAMPLES, 'file = "samples.txt", samples_ms = [1.0]', f"{EMP}.file", "not both"),
    # nan and inf.
    ("sigma-nan", "sigma = 0.5", "sigma = nan", f"{FAST}.sigma", "finite"),
    ("sigma-inf", "sigma = 0.5", "sigma = inf", f"{FAST}.sigma", "finite"),
    ("rate-minus-inf", "rate_per_s = 1000.0", "rate_per_s = -inf", "arrivals.rate_per_s", "finite"),
    ("fail-prob-nan", "fail_prob = 0.01", "fail_prob = nan", "venues[1].fail_prob", "finite"),
    ("timeout-inf", "timeout_ms = 50.0", "timeout_ms = +inf", "strategies[0].timeout_ms", "finite"),
    ("weight-nan", "weight = 0.9", "weight = nan", f"{MIX}.components[0].weight", "finite"),
    ("samples-inf", INLINE_SAMPLES, "samples_ms = [1.0, inf]", f"{EMP}.samples_ms[1]", "finite"),
    # Unknown distribution and strategy kinds.
    ("dist-misspelled", '"lognormal"', '"lognorm"', f"{FAST}.dist", "did you mean 'lognormal'?"),
    ("dist-unknown", '"lognormal"', '"cauchy"', f"{FAST}.dist", "unknown kind 'cauchy'"),
    ("dist-int", 'dist = "lognormal"', "dist = 3", f"{FAST}.dist", "unknown kind 3"),
    ("component-dist-unknown", '"exponential"', '"expo"', f"{MIX}.components[0].dist", "unknown kind 'expo'"),
    ("component-dist-misspelled", '"constant"', '"constnat"', f"{MIX}.components[1].dist", "did you mean 'constant'?"),
    ("strategy-kind-unknown", '"best_price"', '"best_prize"', "strategies[1].kind", "unknown kind 'best_prize'"),
    ("strategy-kind-int", 'kind = "first_wins"', "kind = 3", "strategies[0].kind", "unknown kind 3"),
    # Names.
    ("duplicate-venue", 'name = "flaky"', 'name = "fast"', "venues[1].name", "duplicate of venues[0] ('fast')"),
    ("duplicate-strategy-kind", '"best_price"', '"first_wins"', "strategies[1].name", "duplicate of strategies[0] ('first_wins')"),
    ("duplicate-strategy-name", "timeout_ms = 10.0", 'timeout_ms = 10.0\nname = "first_wins"', "strategies[1].name", "duplicate of strategies[0]"),
    ("venue-name-slash", 'name = "fast"', 'name = "fa/st"', "venues[0].name", "'fa/st': use letters"),
    ("venue-name-dotdot", 'name = "fast"', 'name = "../up"', "venues[0].name", "use letters"),
    ("venue-name-empty", 'name = "measured"', 'name = ""', "venues[2].name", "use letters"),
    ("strategy-name-space", "timeout_ms = 10.0", 'timeout_ms = 10.0\nname = "my best"', "strategies[1].name", "use letters"),
    # count = N on a [[venues]] entry (copies named measured-1 .. measured-N).
    ("count-zero", 'name = "measured"', 'name = "measured"\ncount = 0', "venues[2].count", "must be >= 1 (got 0)"),
    ("count-negative", 'name = "measured"', 'name = "measured"\ncount = -3', "venues[2].count", "must be >= 1"),
    ("count-float", 'name = "measured"', 'name = "measured"\ncount = 2.0', "venues[2].count", "must be an integer (got 2.0)"),
    ("count-bool", 'name = "measured"', 'name = "measured"\ncount = true', "venues[2].count", "must be an integer (got True)"),
    ("count-string", 'name = "measured"', 'name = "measured"\ncount = "3"', "venues[2].count", "must be an integer"),
    ("count-too-many", 'name = "measured"', 'name = "measured"\ncount = 9999', "venues[2].count", "9,999 copies make 10,001 venues (at most 10,000)"),
    ("count-misspelled", 'name = "measured"', 'name = "measured"\ncont = 3', "venues[2].cont", "did you mean 'count'?"),
    ("count-name-unsafe", 'name = "measured"', 'name = "me/{1}"\ncount = 2', "venues[2].name", "'me/1': use letters"),
    ("count-braces-without-count", 'name = "measured"', 'name = "m{1}"', "venues[2].name", "'m{1}': use letters"),
]
# fmt: on
CASES = [
    pytest.param([(old, new)], key, fragment, id=id_) for id_, old, new, key, fragment in TABLE
]
# A copy of a counted entry (fast-0, fast-1) named again by a later entry: the entries are named.
CASES.append(
    pytest.param(
        [
            ('name = "flaky"', 'name = "fast-{0}"\ncount = 2'),
            ('name = "measured"', 'name = "fast-1"'),
        ],
        "venues[2].name",
        "duplicate of venues[1] ('fast-1')",
        id="count-collision",
    )
)

RUN_CASES = {
    "count-zero",
    "misspelled-timeout",
    "requests-float",
    "sigma-zero",
    "weights-sum-above-1",
    "strategy-kind-unknown",
    "venue-name-slash",
    "no-venues",
}
assert {c.id for c in CASES} >= RUN_CASES, "every run case names a case"


@pytest.mark.parametrize(("edits", "key", "fragment"), CASES)
def test_validate_bad_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edits: Edits, key: str, fragment: str
) -> None:
    path = write_scenario(tmp_path, edits)
    status = call(["validate", str(path)])
    assert_one_line_error(capsys, status, str(path), key, fragment)


@pytest.mark.parametrize(("edits", "key", "fragment"), [c for c in CASES if c.id in RUN_CASES])
def test_run_bad_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edits: Edits, key: str, fragment: str
) -> None:
    path = write_scenario(tmp_path, edits)
    status = call(["run", str(path), "--requests", "10"])
    assert_one_line_error(capsys, status, str(path), key, fragment)


def test_base_scenario_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each case's mistake is the only one: BASE validates and runs."""
    path = write_scenario(tmp_path, name="good.toml")
    assert call(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith(f"{path}: ok (3 venues, 2 strategies, 50 requests)")
    assert call(["run", str(path), "--requests", "10", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert '"requests": 10' in out


def test_path_shown_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_scenario(tmp_path, [("sigma = 0.5", "sigma = 0")])
    monkeypatch.chdir(tmp_path)
    for shown in ("bad.toml", "./bad.toml"):
        status = call(["validate", shown])
        line = assert_one_line_error(capsys, status, shown, f"{FAST}.sigma", "must be > 0")
        assert str(tmp_path) not in line


# --- empirical `file = "..."` -------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "file", "fragment"),
    [
        pytest.param(None, "samples.txt", "cannot read 'samples.txt'", id="missing"),
        pytest.param(SAMPLES, "nope.txt", "cannot read 'nope.txt'", id="wrong-name"),
        pytest.param("0.5\nabc\n", "samples.txt", "line 2: 'abc' is not a number", id="word"),
        pytest.param("0.5\n1,5\n", "samples.txt", "'1,5' is not a number", id="comma"),
        pytest.param(
            "0.5\n-1\n", "samples.txt", "line 2: must be a finite number >= 0", id="negative"
        ),
        pytest.param("nan\n", "samples.txt", "line 1: must be a finite number >= 0", id="nan"),
        pytest.param("1e400\n", "samples.txt", "must be a finite number >= 0", id="overflow"),
        pytest.param("", "samples.txt", "holds no samples", id="empty"),
        pytest.param("# only a comment\n\n", "samples.txt", "holds no samples", id="comments"),
        pytest.param(b"0.5\n\xff\xfe\n", "samples.txt", "cannot read", id="not-utf8"),
        pytest.param(SAMPLES, ".", "'.' is not a regular file", id="directory"),
    ],
)
def test_empirical_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    samples: str | bytes | None,
    file: str,
    fragment: str | re.Pattern[str],
) -> None:
    path = write_scenario(tmp_path, [(INLINE_SAMPLES, f'file = "{file}"')], samples=None)
    if isinstance(samples, bytes):
        (tmp_path / "samples.txt").write_bytes(samples)
    elif samples is not None:
        (tmp_path / "samples.txt").write_text(samples, encoding="utf-8")
    status = call(["validate", str(path)])
    assert_one_line_error(capsys, status, str(path), f"{EMP}.file", fragment)


def test_empirical_file_not_a_string(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_scenario(tmp_path, [(INLINE_SAMPLES, "file = 3")])
    status = call(["validate", str(path)])
    assert_one_line_error(capsys, status, str(path), f"{EMP}.file", "must be a string path")


def test_empirical_file_loads_relative_to_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A good `file` is found next to the scenario, not in the working directory."""
    path = write_scenario(tmp_path, [(INLINE_SAMPLES, 'file = "samples.txt"')], name="good.toml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    status = call(["validate", str(path)])
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    assert out.startswith(f"{path}: ok")


# --- the file itself ------------------------------------------------------------------------


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.toml"
    status = call(["validate", str(path)])
    assert_one_line_error(capsys, status, str(path), "", "no such file")


def test_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dir.toml"
    path.mkdir()
    status = call(["validate", str(path)])
    assert_one_line_error(capsys, status, str(path), "", "is a directory, not a scenario file")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_scenario(tmp_path)
    path.chmod(0)
    try:
        status = call(["validate", str(path)])
    finally:
        path.chmod(0o644)
    assert_one_line_error(capsys, status, str(path), "", "cannot read")


@pytest.mark.parametrize(
    ("edits", "fragment"),
    [
        pytest.param([("seed = 7", "seed = = 7")], "TOML syntax error", id="double-equals"),
        pytest.param(
            [('name = "small"', 'name = "small')], "TOML syntax error", id="unterminated-string"
        ),
        pytest.param([("seed = 7", "seed = 7\nseed = 8")], "TOML syntax error", id="duplicate-key"),
        pytest.param([("[arrivals]", "[arrivals")], "TOML syntax error", id="unclosed-header"),
        pytest.param(
            [("] }\nfail_prob", "}\nfail_prob")], "TOML syntax error", id="unclosed-array"
        ),
        pytest.param([("[scenario]", "\ufeff[scenario]")], "TOML syntax error", id="bom"),
    ],
)
def test_toml_syntax_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edits: Edits, fragment: str
) -> None:
    path = write_scenario(tmp_path, edits)
    status = call(["validate", str(path)])
    assert_one_line_error(capsys, status, str(path), "", fragment)


def test_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(BASE.replace('"small"', '"sm\xe5ll"').encode("latin-1"))
    status = call(["validate", str(path)])
    assert_one_line_error(capsys, status, str(path), "", "not UTF-8")


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    status = call(["validate", str(path)])
    assert_one_line_error(capsys, status, str(path), "venues", "missing")


def test_validate_stops_at_first_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_scenario(tmp_path, name="good.toml")
    bad = write_scenario(tmp_path, [("sigma = 0.5", "sigma = 0")])
    status = call(["validate", str(good), str(bad)])
    out, err = capsys.readouterr()
    assert status == 2
    assert out.startswith(f"{good}: ok")
    assert err.splitlines() == [f"{bad}: {FAST}.sigma: must be > 0 (got 0)"]


# --- command-line arguments -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        pytest.param(["run", "{good}", "--seed", "-1"], "--seed", id="seed-negative"),
        pytest.param(["run", "{good}", "--seed", "x"], "--seed", id="seed-word"),
        pytest.param(["run", "{good}", "--seed", "1.5"], "--seed", id="seed-float"),
        pytest.param(["run", "{good}", "--requests", "0"], "--requests", id="requests-zero"),
        pytest.param(
            ["run", "{good}", "--requests", "100000001"], "--requests", id="requests-too-many"
        ),
        pytest.param(["run", "{good}", "--requests", "²"], "--requests", id="requests-superscript"),
        pytest.param(["run", "{good}", "--seed", str(2**63)], "--seed", id="seed-too-large"),
        pytest.param(["run", "{good}", "--requests", "-3"], "--requests", id="requests-neg"),
        pytest.param(["run", "{good}", "--requests", "1.5"], "--requests", id="requests-float"),
        pytest.param(["run", "{good}", "--requests"], "--requests", id="requests-no-value"),
        pytest.param(["run", "{good}", "--bogus"], "--bogus", id="unknown-option"),
        pytest.param(["frobnicate"], "frobnicate", id="unknown-subcommand"),
        pytest.param(["valdate", "{good}"], "valdate", id="misspelled-subcommand"),
        pytest.param([], "command", id="no-subcommand"),
        pytest.param(["validate"], "files", id="validate-no-files"),
        pytest.param(["bench", "--rounds", "0"], "--rounds", id="bench-rounds-zero"),
    ],
)
def test_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    good = write_scenario(tmp_path, name="good.toml")
    status = call([a.replace("{good}", str(good)) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert status == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    assert lines[0].startswith("quoterace")
    assert fragment in lines[0]


def test_seed_and_requests_overrides_accept_good_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_scenario(tmp_path, name="good.toml")
    argv = ["run", str(good), "--seed", "0", "--requests", "5", "--json"]
    assert call(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert '"seed": 0' in out
    assert '"requests": 5' in out


# --- bundled scenarios ----------------------------------------------------------------------


def test_there_are_bundled_scenarios() -> None:
    assert "default" in bundled()


@pytest.mark.parametrize("name", bundled())
def test_bundled_scenario_validates(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert call(["validate", name]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith(f"{name}: ok (")


def test_unknown_bundled_name(capsys: pytest.CaptureFixture[str]) -> None:
    status = call(["validate", "no-such-scenario"])
    assert_one_line_error(capsys, status, "no-such-scenario", "", "bundled: ")


# --- a real process -------------------------------------------------------------------------


def _python_m_sim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_subprocess_bad_file(tmp_path: Path) -> None:
    write_scenario(tmp_path, [('"exponential"', '"ex"')])
    done = _python_m_sim("validate", "bad.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("bad.toml: venues[1].latency.components[0].dist: unknown kind 'ex'")


def test_subprocess_bad_argument(tmp_path: Path) -> None:
    write_scenario(tmp_path, name="good.toml")
    done = _python_m_sim("run", "good.toml", "--seed", "-1", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert "--seed" in done.stderr


def test_subprocess_good_file(tmp_path: Path) -> None:
    write_scenario(tmp_path, name="good.toml")
    done = _python_m_sim("validate", "good.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines() == ["good.toml: ok (3 venues, 2 strategies, 50 requests)"]


# --- input that once escaped as a traceback or as several lines -------------------------------


@pytest.mark.parametrize(
    "edits",
    [
        pytest.param([("seed = 7", '"se\\ned" = 7')], id="in-table"),
        pytest.param([("[scenario]", '"x\\ny" = 1\n\n[scenario]')], id="top-level"),
    ],
)
def test_key_with_newline(tmp_path: Path, capsys: pytest.CaptureFixture[str], edits: Edits) -> None:
    path = write_scenario(tmp_path, edits)
    status = call(["validate", str(path)])
    assert_one_line_error(capsys, status, str(path), "", "unknown")


@pytest.mark.parametrize(
    "edits",
    [
        pytest.param([("seed = 7", "seed = " + "[" * 3000 + "]" * 3000)], id="toml-arrays"),
        pytest.param(
            [
                (
                    'dist = "lognormal", median_ms = 0.4, sigma = 0.5',
                    'dist = "mixture", components = [{ weight = 1.0, ' * 400
                    + 'dist = "constant", ms = 1.0'
                    + " }]" * 400,
                )
            ],
            id="mixture-of-mixtures",
        ),
    ],
)
def test_deep_nesting(tmp_path: Path, capsys: pytest.CaptureFixture[str], edits: Edits) -> None:
    path = write_scenario(tmp_path, edits)
    status = call(["validate", str(path)])
    assert_one_line_error(capsys, status, str(path), "", "nested too deeply")


@pytest.mark.parametrize(
    ("edits", "key", "fragment"),
    [
        pytest.param(
            [("fail_prob = 0.01", "fail_prob = 1.0"), ("timeout_ms = 10.0", "timeout_ms = 1e7")],
            "strategies[1].timeout_ms",
            "must be <= 3.6e+06",
            id="timeout-over-an-hour",
        ),
        pytest.param(
            [("rate_per_s = 1000.0", "rate_per_s = 1e-300")],
            "arrivals.rate_per_s",
            "virtual time",
            id="tiny-rate",
        ),
    ],
)
def test_unrunnable_scenarios_are_rejected_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edits: Edits, key: str, fragment: str
) -> None:
    """A scenario that could not run (a race that never ends, time too coarse) fails validation."""
    path = write_scenario(tmp_path, edits)
    for argv in (["validate", str(path)], ["run", str(path), "--requests", "10", "--json"]):
        status = call(argv)
        assert_one_line_error(capsys, status, str(path), key, fragment)


def test_empirical_file_that_is_a_fifo_does_not_hang(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reading a FIFO would block until a writer came: it is refused as not a regular file."""
    path = write_scenario(tmp_path, [(INLINE_SAMPLES, 'file = "pipe"')])
    os.mkfifo(tmp_path / "pipe")
    status = call(["validate", str(path)])
    assert_one_line_error(capsys, status, str(path), f"{EMP}.file", "not a regular file")


def test_extreme_parameters_that_overflow_the_draws(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Valid-looking parameters whose draws overflow to inf or NaN stop the run in one line."""
    edits = [
        (
            'dist = "lognormal", median_ms = 0.4, sigma = 0.5',
            'dist = "lognormal", median_ms = 1e300, sigma = 50',
        )
    ]
    path = write_scenario(tmp_path, edits)
    status = call(["run", str(path), "--requests", "50"])
    assert_one_line_error(capsys, status, str(path), "venues[0].latency", "parameters too extreme")


def test_requests_override_that_spans_too_long_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_scenario(tmp_path, [("rate_per_s = 1000.0", "rate_per_s = 10.0")])
    status = call(["run", str(path), "--requests", "100000000"])
    assert_one_line_error(capsys, status, str(path), "--requests", "arrivals.rate_per_s")


def test_bench_output_that_cannot_be_written_fails_before_the_benchmark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    status = call(["bench", "--requests", "10", "--out", str(blocker / "bench.json")])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""  # nothing was measured
    assert err.startswith("--out: cannot write") and len(err.splitlines()) == 1


HEAVY = """
[scenario]
requests = 200
[market]
volatility_bps = 10
[[venues]]
name = "calm"
latency = { dist = "constant", ms = 1 }
[[venues]]
name = "wild"
latency = { dist = "pareto", alpha = 0.2, scale_ms = 1 }
[[strategies]]
kind = "first_wins"
"""


def test_a_heavy_tail_on_a_moving_market_ends_in_one_line_not_a_hang(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Quotes cancelled by the race never look the market up, however long their draw; but an
    # order's round trip (drawn from the same tail by default) has no timeout to cut it short.
    path = tmp_path / "heavy.toml"
    path.write_text(HEAVY)
    status = call(["run", str(path)])
    assert_one_line_error(capsys, status, str(path), "venues[1].latency", "order round trip")


def test_a_heavy_quote_tail_with_a_tame_order_leg_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "heavy.toml"
    path.write_text(
        HEAVY.replace(
            "alpha = 0.2, scale_ms = 1 }",
            'alpha = 0.2, scale_ms = 1 }\norder_latency = { dist = "constant", ms = 1 }',
        )
    )
    assert call(["run", str(path), "--json"]) == 0
    assert '"fill_rate": 1.0' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("line", "key", "fragment"),
    [
        ("[market]\nupdates_per_s = 1e6\n", "market.updates_per_s", "mid updates"),
        ("[market]\nupdates_per_s = 1e7\n", "market.updates_per_s", "must be <="),
        ("[order]\nsize = 0\n", "order.size", "must be > 0"),
        ('[order]\nside = "long"\n', "order.side", "must be one of"),
    ],
)
def test_market_and_order_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, key: str, fragment: str
) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(
        "[scenario]\nrequests = 100000\n[arrivals]\nrate_per_s = 100\n"
        + line.replace("[market]\n", "[market]\nvolatility_bps = 1\n")
        + '[[venues]]\nname = "a"\nlatency = { dist = "constant", ms = 1 }\n'
        '[[strategies]]\nkind = "first_wins"\n'
    )
    status = call(["validate", str(path)])
    assert_one_line_error(capsys, status, str(path), key, fragment)


def test_a_misspelt_max_retries_is_suggested(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_scenario(tmp_path, [("timeout_ms = 10.0", "timeout_ms = 10.0\nmax_retry = 1")])
    status = call(["validate", str(path)])
    key = "strategies[1].max_retry"
    assert_one_line_error(capsys, status, str(path), key, "did you mean 'max_retries'?")


def test_an_unknown_strategy_key_lists_each_key_once() -> None:
    default = (bundled_dir() / "default.toml").read_text()
    text = default.replace('kind = "first_wins"', 'kind = "first_wins"\nzzz = 1', 1)
    with pytest.raises(ScenarioError, match="unknown key") as error:
        loads(text)
    keys = str(error.value).split("expected one of ")[1].rstrip(")").split(", ")
    assert "name" in keys and len(keys) == len(set(keys)), keys
