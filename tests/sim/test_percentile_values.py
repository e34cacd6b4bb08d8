"""sim.measure.histograms.percentile_values against hdrh's own answers, for any histogram:
empty, one value, one bucket, the highest trackable value, counts of 2^40, and percentiles
at 0, 100 and near them (hdrh rounds the target count; 0 takes the lowest equivalent value)."""

from __future__ import annotations

from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.measure.histograms import HIGHEST_NS, PERCENTILES, SIGNIFICANT_DIGITS, percentile_values

HIGHEST = 10**6  # a small histogram: hdrh's loops are over every index, in Python
EDGES = [0.0, 1e-9, 33.3, 50.0, 99.99, 99.999999, 100.0]
percentiles = st.lists(
    st.sampled_from(EDGES + list(PERCENTILES.values())) | st.floats(0.0, 100.0, allow_nan=False),
    min_size=1,
    max_size=8,
)


def _recorded(highest: int, values: list[tuple[int, int]]) -> HdrHistogram:
    histogram = HdrHistogram(1, highest, SIGNIFICANT_DIGITS)
    for value, count in values:
        assert histogram.record_value(value, count)
    return histogram


def _hdrh(histogram: HdrHistogram, asked: list[float]) -> dict[float, int]:
    expected = histogram.get_percentile_to_value_dict(asked)
    if histogram.get_total_count():  # and one at a time, as get_value_at_percentile
        assert expected == {p: histogram.get_value_at_percentile(p) for p in asked}
    return expected


@settings(derandomize=True, max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 2047, 2048, HIGHEST]) | st.integers(0, HIGHEST),
            st.sampled_from([1, 2**40]) | st.integers(1, 1000),
        ),
        max_size=6,
    ),
    percentiles,
)
def test_the_same_as_hdrhs_for_any_histogram(values, asked) -> None:
    histogram = _recorded(HIGHEST, values)
    assert percentile_values(histogram, asked) == _hdrh(histogram, asked)


@settings(derandomize=True, max_examples=10, deadline=None)
@given(st.integers(0, 4), st.integers(1, 2**40), percentiles)
def test_the_same_at_the_summarys_highest_value(n_below, count, asked) -> None:
    values = [(HIGHEST_NS, count)] + [(10**k, 1) for k in range(n_below)]
    histogram = _recorded(HIGHEST_NS, values)
    assert percentile_values(histogram, asked) == _hdrh(histogram, asked)
