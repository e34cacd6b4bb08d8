"""`quoterace fit`: maximum-likelihood fits of the latency families (sim.measure.fit), checked
against scipy's own fitters, against known parameters, and through the command line."""

from __future__ import annotations

import math
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sim.cli.main import main
from sim.measure.fit import FAMILIES, fit, fit_all
from sim.model.config import build_latency
from sim.model.latency_files import read_histogram
from tests.helpers.cli_checks import one_error_line
from venues.latency import Normal, sample_ms

SEED = 20261204
N = 20_000


def _lognormal_sample() -> np.ndarray:
    return np.random.default_rng(SEED).lognormal(math.log(0.4), 0.5, N)


def test_lognormal_recovered_and_ranked_first() -> None:
    """The MLE of log-median has standard error sigma/sqrt(n) (0.0035 here) and of sigma
    sigma/sqrt(2n) (0.0025): each estimate must be within 4 of them."""
    fits = fit_all(_lognormal_sample())
    assert fits[0].family == "lognormal"
    assert sorted(f.family for f in fits) == sorted(FAMILIES)
    params = dict(fits[0].params)
    assert abs(math.log(params["median_ms"]) - math.log(0.4)) < 4 * 0.5 / math.sqrt(N)
    assert abs(params["sigma"] - 0.5) < 4 * 0.5 / math.sqrt(2 * N)
    assert fits[0].ks < 1.36 / math.sqrt(N) * 1.5  # KS 5% critical value, with room
    assert all(f.aic == pytest.approx(2 * len(f.params) - 2 * f.log_likelihood) for f in fits)


@pytest.mark.parametrize(
    ("family", "law", "expected"),
    [
        ("exponential", stats.expon, lambda p: (0.0, p["mean_ms"])),
        ("lognormal", stats.lognorm, lambda p: (p["sigma"], 0.0, p["median_ms"])),
        ("gamma", stats.gamma, lambda p: (p["shape"], 0.0, p["mean_ms"] / p["shape"])),
        ("weibull", stats.weibull_min, lambda p: (p["shape"], 0.0, p["scale_ms"])),
        ("pareto", stats.pareto, lambda p: (p["alpha"], 0.0, p["scale_ms"])),
    ],
)
def test_agrees_with_scipy_fit(family: str, law, expected) -> None:
    """scipy.stats' own MLE with the location fixed at 0 finds the same parameters."""
    x = _lognormal_sample()
    ours = expected(dict(fit(family, x).params))
    theirs = law.fit(x, floc=0)
    assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-12), (ours, theirs)


def test_truncated_normal_recovered() -> None:
    """quoterace's normal is truncated at 0; mean 0.5, std 1 truncates most of the left: the
    untruncated estimates would be far off (mean ~1.03), the fit is within 0.1 of the truth
    (its standard errors here are ~0.02)."""
    x = sample_ms(Normal(0.5, 1.0), np.random.default_rng(SEED), N)
    params = dict(fit("normal", x).params)
    assert abs(x.mean() - 0.5) > 0.4  # what ignoring the truncation would give
    assert params["mean_ms"] == pytest.approx(0.5, abs=0.1)
    assert params["std_ms"] == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("family", FAMILIES)
def test_weights_count_as_repeats(family: str) -> None:
    values = np.array([0.2, 0.3, 0.35, 0.5, 0.9, 2.0])
    counts = np.array([3, 10, 7, 5, 2, 1])
    weighted, repeated = fit(family, values, counts), fit(family, np.repeat(values, counts))
    assert np.allclose([v for _, v in weighted.params], [v for _, v in repeated.params], rtol=1e-6)
    assert weighted.log_likelihood == pytest.approx(repeated.log_likelihood, rel=1e-6)
    assert weighted.ks == pytest.approx(repeated.ks)


@pytest.mark.parametrize("family", FAMILIES)
def test_toml_line_parses_as_that_distribution(family: str) -> None:
    result = fit(family, _lognormal_sample())
    table = tomllib.loads(result.toml())["latency"]
    dist = build_latency(table, "latency")
    assert dist.kind == family
    for name, value in result.params:
        assert getattr(dist, name) == pytest.approx(value, rel=1e-5)


def test_zeros_leave_out_the_families_that_need_positive_values() -> None:
    x = np.concatenate(([0.0], _lognormal_sample()[:1000]))
    assert {f.family for f in fit_all(x)} == {"exponential", "normal"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert main(["fit", *argv]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out.splitlines()


def test_command_prints_the_table_and_a_line_that_parses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.savetxt(tmp_path / "v.txt", _lognormal_sample())
    lines = _run(capsys, str(tmp_path / "v.txt"), "--out", str(tmp_path / "qq"))
    assert lines[0] == f"{tmp_path / 'v.txt'}: {N:,} values, ranked by AIC (lower is better)"
    assert lines[2].split()[0] == "lognormal" and len(lines) == 2 + len(FAMILIES) + 2
    assert build_latency(tomllib.loads(lines[-1])["latency"], "latency").kind == "lognormal"
    for family in FAMILIES:
        assert (tmp_path / "qq" / f"qq-{family}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = _run(capsys, str(tmp_path / "v.txt"), "--dist", "weibull")
    assert lines[-1].startswith('latency = { dist = "weibull", shape = ')


def test_command_reads_a_csv_column_in_a_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = _lognormal_sample()
    rows = "".join(f"2026-01-01T00:00:{i % 60:02d},{v * 1e3:.6f}\n" for i, v in enumerate(x))
    (tmp_path / "t.csv").write_text("timestamp,rtt_us\n" + rows)
    lines = _run(capsys, str(tmp_path / "t.csv"), "--column", "rtt_us", "--unit", "us")
    want = fit("lognormal", np.round(x * 1e3, 6) / 1e3).toml()
    assert lines[-1] == want


def test_command_fits_hdrhistogram_bucket_midpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An interval log: the buckets' midpoints weighted by their counts (ns to ms)."""
    np.savetxt(tmp_path / "v.txt", _lognormal_sample())
    (tmp_path / "s.toml").write_text(
        '[scenario]\nrequests = 5000\n[[venues]]\nname = "v"\n'
        'latency = { dist = "empirical", file = "v.txt" }\n[[strategies]]\nkind = "first_wins"\n'
    )
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    capsys.readouterr()
    log = tmp_path / "r" / "latency.hlog"
    lines = _run(capsys, str(log), "--unit", "ns", "--dist", "gamma", "--tag", "first_wins")
    buckets = read_histogram(log, "latency.hlog", "first_wins")
    assert lines[-1] == fit("gamma", buckets.midpoints() / 1e6, buckets.counts).toml()
    assert lines[0].endswith("5,000 values, ranked by AIC (lower is better)")
    # quoterace's own log is tagged by strategy: without --tag, the error names the option
    line = one_error_line(capsys, main(["fit", str(log), "--unit", "ns"]))
    assert line.endswith(": no untagged intervals (its tags: first_wins): pick one with --tag"), (
        line
    )


@pytest.mark.parametrize(
    ("content", "args", "fragment"),
    [
        ("1.0\n2.0\n", ["--dist", "lognorm"], "--dist: unknown kind 'lognorm' (did you mean"),
        ("1.0\nabc\n", [], "v.txt line 2: 'abc' is not a number"),
        ("1.0\n-2.0\n", [], "v.txt line 2: must be a finite number >= 0"),
        ("", [], "v.txt: holds no values"),
        ("a,b\n1,2\n", ["--column", "c"], "v.txt: no column 'c' (columns: a, b)"),
        ("1.0\n1.0\n", [], "no family fits"),
        ("1.0\n2.0\n", ["--tag", "A"], "--tag: "),
        ("0.0\n2.0\n", ["--dist", "pareto"], "--dist: pareto cannot describe"),
        ('"StartTimestamp","Interval_Length"\n', [], "--unit: missing"),
    ],
)
def test_command_bad_input(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    args: list[str],
    fragment: str,
) -> None:
    (tmp_path / "v.txt").write_text(content)
    assert fragment in one_error_line(capsys, main(["fit", str(tmp_path / "v.txt"), *args]))


def test_command_without_scipy_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "v.txt").write_text("1.0\n2.0\n")
    for name in [m for m in sys.modules if m == "scipy" or m.startswith("scipy.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "scipy", None)  # import scipy now fails
    monkeypatch.delitem(sys.modules, "sim.measure.fit", raising=False)
    monkeypatch.delitem(sys.modules, "sim.report.qq_plots", raising=False)
    line = one_error_line(capsys, main(["fit", str(tmp_path / "v.txt")]))
    assert line == "quoterace fit needs scipy: pip install 'quoterace[fit]'"
