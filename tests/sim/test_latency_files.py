"""Latency from HdrHistogram files (`dist = "hdrhistogram"`): files written here in the formats
the field uses, read back bucket for bucket, drawn from bucket for bucket.

The interval log is Java-style (HistogramLogWriter's header lines and legend, tagged and untagged
intervals), its payloads made by hdrh's own encoder; the expected buckets come from hdrh's own
iterator over the same histograms added up, an implementation independent of the vectorized
reader. The draw checks are exact binomial bands: bucket i's count among N draws is
Binomial(N, p_i); each must lie in its central 1 - ALPHA / buckets interval, so a correct sampler
fails the whole check with probability at most ALPHA (Bonferroni), and the seed is fixed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from scipy import stats

from sim.cli.main import main
from sim.measure.histograms import latency_histogram
from sim.model.config import build_latency
from sim.model.errors import ScenarioError
from sim.model.latency_files import Buckets, read_histogram
from tests.helpers.cli_checks import one_error_line
from venues.latency import Histogram, sample_ms

SEED = 20261204
ALPHA = 1e-6
N = 1_000_000
JAVA_HEADER = """\
#[Logged with jHiccup version 2.0.10]
#[Histogram log format version 1.3]
#[StartTime: 1441812279.474 (seconds since epoch), Wed Sep 09 08:24:39 PDT 2015]
#[BaseTime: 0.000 (seconds since epoch)]
"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
"""


def _interval(values_ns: np.ndarray) -> HdrHistogram:
    """A histogram as the Java library makes by default (1 ns to an hour, 3 digits)."""
    histogram = HdrHistogram(1, 3_600_000_000_000, 3)
    for value, count in zip(*np.unique(values_ns, return_counts=True), strict=True):
        histogram.record_value(int(value), int(count))
    return histogram


def _java_log(path: Path) -> dict[str | None, list[HdrHistogram]]:
    """Write a Java-style log of lognormal latencies (ns): two untagged intervals, two tagged
    A and one tagged B; return its histograms by tag."""
    rng = np.random.default_rng(SEED)
    layout = [(None, 2.0e5), ("A", 1.0e6), (None, 2.0e5), ("A", 1.0e6), ("B", 5.0e7)]
    lines, by_tag = [], {}
    for k, (tag, median_ns) in enumerate(layout):
        values = np.rint(rng.lognormal(np.log(median_ns), 0.6, 20_000)).astype(np.int64)
        histogram = _interval(values)
        by_tag.setdefault(tag, []).append(histogram)
        prefix = f"Tag={tag}," if tag else ""
        max_ms = histogram.get_max_value() / 1e6
        payload = histogram.encode().decode("ascii")
        lines.append(f"{prefix}{0.127 + k:.3f},1.000,{max_ms:.3f},{payload}\n")
    path.write_text(JAVA_HEADER + "".join(lines), encoding="utf-8")
    return by_tag


def _expected(histograms: list[HdrHistogram]) -> Buckets:
    """The buckets of `histograms` added up, from hdrh's own recorded-values iterator."""
    total = HdrHistogram(1, 3_600_000_000_000, 3)
    for h in histograms:
        total.add(h)
    items = [
        (it.value_iterated_to, it.count_at_value_iterated_to)
        for it in total.get_recorded_iterator()
    ]
    high = np.array([v for v, _ in items], dtype=float)
    low = np.array([total.get_lowest_equivalent_value(int(v)) for v, _ in items], dtype=float)
    return Buckets(low, high, np.array([c for _, c in items]))


def _assert_same(got: Buckets, want: Buckets) -> None:
    assert np.array_equal(got.low, want.low)
    assert np.array_equal(got.high, want.high)
    assert np.array_equal(got.counts, want.counts)


def _bucket_counts(draws: np.ndarray, dist: Histogram) -> np.ndarray:
    """How many `draws` fall in each of `dist`'s (disjoint) buckets; every draw must fall in one."""
    low, high = np.asarray(dist.low_ms), np.asarray(dist.high_ms)
    i = np.searchsorted(low, draws, side="right") - 1
    assert (i >= 0).all() and (draws <= high[i]).all(), "a draw outside every bucket"
    return np.bincount(i, minlength=low.size)


def _binomial_band(counts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The central 1 - ALPHA / buckets interval of each bucket's Binomial(n, p_i) count."""
    p = counts / counts.sum()
    tail = ALPHA / counts.size / 2
    return stats.binom.ppf(tail, n, p), stats.binom.isf(tail, n, p)


def test_java_log_reads_bucket_for_bucket(tmp_path: Path) -> None:
    by_tag = _java_log(tmp_path / "java.hlog")
    # no tag: the untagged intervals only, as Java's HistogramLogProcessor reads a log
    _assert_same(read_histogram(tmp_path / "java.hlog", "java.hlog"), _expected(by_tag[None]))
    _assert_same(read_histogram(tmp_path / "java.hlog", "java.hlog", "A"), _expected(by_tag["A"]))
    b = read_histogram(tmp_path / "java.hlog", "java.hlog", "B")
    assert b.counts.sum() == 20_000


def test_draws_reproduce_the_log_bucket_for_bucket(tmp_path: Path) -> None:
    by_tag = _java_log(tmp_path / "java.hlog")
    dist = build_latency({"dist": "hdrhistogram", "file": "java.hlog", "unit": "ns"}, "l", tmp_path)
    assert isinstance(dist, Histogram)
    draws = sample_ms(dist, np.random.default_rng(SEED), N)
    got = _bucket_counts(draws, dist)
    counts = np.asarray(dist.counts)
    low, high = _binomial_band(counts, N)
    assert ((got >= low) & (got <= high)).all()
    # Power: the same check rejects a sampler that ignores one interval (the first untagged one).
    wrong = _expected(by_tag[None][1:])
    wrong_counts = np.zeros(counts.size)
    wrong_counts[np.searchsorted(dist.high_ms, wrong.high / 1e6)] = wrong.counts
    wrong_low, wrong_high = _binomial_band(wrong_counts + 1e-12, N)
    assert not ((got >= wrong_low) & (got <= wrong_high)).all()
    recorded = HdrHistogram(1, 3_600_000_000_000, 3)
    for h in by_tag[None]:
        recorded.add(h)
    _assert_percentiles_in_buckets(draws, recorded)


def _assert_percentiles_in_buckets(draws_ms: np.ndarray, recorded: HdrHistogram) -> None:
    """hdrh's value at q is the top of the bucket where the recorded CDF reaches q, so the
    draws' quantile at q lies in that bucket, but for sampling noise, which is allowed in
    probability (5 binomial standard errors) rather than in value."""
    for q in (0.1, 0.5, 0.9, 0.99, 0.999):
        top_ns = recorded.get_value_at_percentile(100 * q)
        bottom_ms = recorded.get_lowest_equivalent_value(top_ns) / 1e6
        noise = 5 * np.sqrt(q * (1 - q) / draws_ms.size)
        assert np.quantile(draws_ms, q - noise) <= top_ns / 1e6, q
        assert np.quantile(draws_ms, q + noise) >= bottom_ms, q


def test_draws_are_prefix_stable_and_uniform_within_a_bucket() -> None:
    dist = Histogram(low_ms=(1.0, 2.0, 10.0), high_ms=(1.0, 4.0, 20.0), counts=(1, 2, 1))
    a = sample_ms(dist, np.random.default_rng(SEED), 1000)
    assert np.array_equal(a[:100], sample_ms(dist, np.random.default_rng(SEED), 100))
    middle = np.sort(_within(sample_ms(dist, np.random.default_rng(SEED), N), 2.0, 4.0))
    # Uniform on [2, 4]: Kolmogorov-Smirnov at the 1e-6 level (its critical value ~ 2.7/sqrt(n)).
    assert stats.kstest(middle, stats.uniform(2.0, 2.0).cdf).statistic < 2.7 / np.sqrt(middle.size)
    assert (sample_ms(dist, np.random.default_rng(SEED), N) != 1.5).all()


def _within(x: np.ndarray, low: float, high: float) -> np.ndarray:
    return x[(x >= low) & (x <= high)]


def _hgrm_from_hdrh(tmp_path: Path) -> tuple[Path, HdrHistogram]:
    """hdrh's own .hgrm (values in microseconds) of lognormal latencies recorded in ns."""
    values = np.rint(np.random.default_rng(SEED).lognormal(np.log(3e5), 0.8, 50_000))
    histogram = _interval(values.astype(np.int64))
    out = io.BytesIO()
    histogram.output_percentile_distribution(out, 1000)
    path = tmp_path / "h.hgrm"
    path.write_bytes(out.getvalue())
    return path, histogram


def test_hgrm_draws_hit_each_listed_percentile(tmp_path: Path) -> None:
    """At each listed value the CDF of the draws is the listed percentile: N F_N(v) is
    Binomial(N, P), in its central 1 - ALPHA / rows band."""
    path, histogram = _hgrm_from_hdrh(tmp_path)
    dist = build_latency({"dist": "hdrhistogram", "file": path.name, "unit": "us"}, "l", tmp_path)
    assert sum(dist.counts) == histogram.get_total_count()
    rows = np.array(
        [
            [float(f) for f in line.split()[:3]]
            for line in path.read_text().splitlines()[2:]
            if line.strip() and not line.startswith("#")
        ]
    )
    values_ms, totals = rows[:, 0] / 1e3, rows[:, 2]
    inside = totals < totals[-1]
    p = totals[inside] / totals[-1]
    draws = np.sort(sample_ms(dist, np.random.default_rng(SEED), N))
    got = np.searchsorted(draws, values_ms[inside], side="right")
    tail = ALPHA / p.size / 2
    assert ((got >= stats.binom.ppf(tail, N, p)) & (got <= stats.binom.isf(tail, N, p))).all()
    # Power: half a bucket lower everywhere is rejected.
    lower = np.searchsorted(draws, values_ms[inside] * (1 - 2**-11), side="right")
    assert not (
        (lower >= stats.binom.ppf(tail, N, p)) & (lower <= stats.binom.isf(tail, N, p))
    ).all()


def test_java_style_hgrm_literal(tmp_path: Path) -> None:
    (tmp_path / "j.hgrm").write_text(
        """\
       Value     Percentile TotalCount 1/(1-Percentile)

       1.000 0.000000000000          2           1.00
       2.000 0.500000000000         10           2.00
       2.000 0.550000000000         10           2.22
       4.000 0.900000000000         18          10.00
       8.000 1.000000000000         20
#[Mean    =        2.950, StdDeviation   =        1.800]
#[Max     =        8.000, Total count    =           20]
#[Buckets =           20, SubBuckets     =         2048]
"""
    )
    dist = build_latency(
        {"dist": "hdrhistogram", "file": "j.hgrm", "unit": "s", "shift_ms": 0.5}, "l", tmp_path
    )
    assert dist == Histogram((1e3, 1e3, 2e3, 4e3), (1e3, 2e3, 4e3, 8e3), (2, 8, 8, 2), shift_ms=0.5)


def test_quoterace_own_log_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """quoterace's latency.hlog read back holds that run's decision latencies bucket for bucket,
    and a venue drawing from it gives a run whose decisions fill the same buckets (binomial band)
    and whose percentiles fall in the buckets of the first run's."""
    first = tmp_path / "first.toml"
    first.write_text(
        "[scenario]\nseed = 3\nrequests = 20000\n[arrivals]\nrate_per_s = 2000.0\n"
        '[[venues]]\nname = "a"\nlatency = { dist = "lognormal", median_ms = 0.4, sigma = 0.7 }\n'
        '[[venues]]\nname = "b"\nlatency = { dist = "gamma", shape = 2.0, mean_ms = 0.6 }\n'
        '[[strategies]]\nkind = "first_wins"\n'
    )
    assert main(["run", str(first), "--out", str(tmp_path / "one"), "--quiet", "--json"]) == 0
    decisions_ms = np.loadtxt(
        tmp_path / "one" / "requests.csv", delimiter=",", skiprows=1, usecols=4
    )
    histogram = latency_histogram(decisions_ms / 1e3)
    buckets = read_histogram(tmp_path / "one" / "latency.hlog", "latency.hlog", "first_wins")
    _assert_same(buckets, _expected([histogram]))

    second = tmp_path / "second.toml"
    second.write_text(
        "[scenario]\nseed = 4\nrequests = 200000\n[arrivals]\nrate_per_s = 2000.0\n"
        '[[venues]]\nname = "r"\nlatency = { dist = "hdrhistogram", file = "one/latency.hlog", '
        'unit = "ns", tag = "first_wins" }\n[[strategies]]\nkind = "first_wins"\n'
    )
    capsys.readouterr()
    assert main(["run", str(second), "--out", str(tmp_path / "two"), "--quiet", "--json"]) == 0
    replayed_ms = np.loadtxt(
        tmp_path / "two" / "requests.csv", delimiter=",", skiprows=1, usecols=4
    )
    dist = build_latency(
        {"dist": "hdrhistogram", "file": "one/latency.hlog", "unit": "ns", "tag": "first_wins"},
        "l",
        tmp_path,
    )
    got = _bucket_counts(np.rint(replayed_ms * 1e6) / 1e6, dist)
    low, high = _binomial_band(np.asarray(dist.counts), replayed_ms.size)
    assert ((got >= low) & (got <= high)).all()
    _assert_percentiles_in_buckets(replayed_ms, histogram)
    # and the summary's percentiles are those of the recorded histogram (the same buckets)
    one = json.loads((tmp_path / "one" / "summary.json").read_text())["strategies"]["first_wins"]
    for key, q in (("p50", 50.0), ("p90", 90.0), ("p99", 99.0)):
        assert one["decision_ms"][key] == histogram.get_value_at_percentile(q) / 1e6


def _validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], latency: str) -> str:
    path = tmp_path / "s.toml"
    path.write_text(
        f'[[venues]]\nname = "v"\nlatency = {latency}\n[[strategies]]\nkind = "first_wins"\n'
    )
    return one_error_line(capsys, main(["validate", str(path)]))


@pytest.mark.parametrize(
    ("content", "extra", "fragment"),
    [
        (
            "hello\n1,2,3\n",
            "",
            "x.hlog: not an HdrHistogram interval log (.hlog) or percentile distribution (.hgrm)",
        ),
        ("", "", "x.hlog: is empty"),
        (JAVA_HEADER, "", "x.hlog: an interval log with no intervals"),
        ("TAGGED", ', tag = "C"', "x.hlog: no intervals tagged 'C' (its tags: A)"),
        ("TAGGED", "", "x.hlog: no untagged intervals (its tags: A): pick one with tag"),
        ("TAGGED", ', tag = "A"', None),  # valid: the check below names what the unit must be
        (
            JAVA_HEADER + "0.1,1.0,2.0,HISTnotbase64!\n",
            "",
            "x.hlog line 6: not an HdrHistogram compressed histogram",
        ),
        (
            JAVA_HEADER + "0.1,1.0,HISTFAAA\n",
            "",
            "x.hlog line 6: expected [Tag=T,]start,length,max,histogram",
        ),
        (
            "Value Percentile TotalCount\n1.0 0.0 1\nabc 0.5 2\n",
            "",
            "x.hlog line 3: 'abc 0.5 2' is not a row of numbers",
        ),
        (
            "Value Percentile TotalCount\n1.0 0.0 3\n2.0 0.5 2\n",
            "",
            "x.hlog line 3: values must be >= 0 and never fall",
        ),
    ],
)
def test_bad_files(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    extra: str,
    fragment: str | None,
) -> None:
    if content == "TAGGED":
        payload = _interval(np.array([5, 6, 7])).encode().decode("ascii")
        content = f"{JAVA_HEADER}Tag=A,0.1,1.0,0.0,{payload}\n"
    (tmp_path / "x.hlog").write_text(content)
    if fragment is None:
        latency = f'{{ dist = "hdrhistogram", file = "x.hlog"{extra} }}'
        line = _validate(tmp_path, capsys, latency)
        assert line.endswith("venues[0].latency.unit: missing (the file's unit: ns, us, ms, s)")
        return
    line = _validate(
        tmp_path, capsys, f'{{ dist = "hdrhistogram", file = "x.hlog", unit = "ns"{extra} }}'
    )
    assert line.startswith(f"{tmp_path / 's.toml'}: venues[0].latency.file: ")
    assert fragment in line, line


@pytest.mark.parametrize(
    ("latency", "fragment"),
    [
        ('{ dist = "hdrhistogram", unit = "ns" }', "venues[0].latency.file: missing"),
        (
            '{ dist = "hdrhistogram", file = "x.hlog", unit = "min" }',
            "venues[0].latency.unit: must be one of 'ns', 'us', 'ms', 's'",
        ),
        (
            '{ dist = "hdrhistogram", file = "x.hlog", unit = "ns", counts = [1] }',
            "venues[0].latency.file: give counts or file, not both",
        ),
        ('{ dist = "hdrhistogram", file = "nope.hlog", unit = "ns" }', "No such file"),
        (
            '{ dist = "hdrhistogram", low_ms = [1.0], high_ms = [0.5], counts = [1] }',
            "venues[0].latency.high_ms: each must be >= its low_ms",
        ),
        (
            '{ dist = "hdrhistogram", low_ms = [1.0], high_ms = [2.0], counts = [0] }',
            "venues[0].latency.counts: must be > 0",
        ),
    ],
)
def test_bad_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], latency: str, fragment: str
) -> None:
    (tmp_path / "x.hlog").write_text(JAVA_HEADER)
    assert fragment in _validate(tmp_path, capsys, latency)


def test_scenario_error_names_the_key() -> None:
    with pytest.raises(
        ScenarioError, match=r"^l\.file: 'x' is not a regular file|^l\.file: cannot read"
    ):
        build_latency(
            {"dist": "hdrhistogram", "file": "x", "unit": "ns"}, "l", Path("/nonexistent")
        )
