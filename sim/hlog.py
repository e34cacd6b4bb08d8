"""HdrHistogram interval logs (`latency.hlog`): decision latency over time, per strategy.

Each strategy's decisions are binned by when their request arrived into intervals of engine
time, and each interval's histogram is one line of the log, tagged with the strategy's name
(`Tag=<name>,`, the log format's tags), so HdrHistogram's tools and `hdrh.log.
HistogramLogReader` read it back. The hdrh writer has no tags and a buggy start-time handling
(DESIGN.md section 8): its lines are written with an explicit base time of 0 and explicit
timestamps, and the tag is put in front of each.
"""

from __future__ import annotations

import io
import math
from typing import IO

import numpy as np
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader, HistogramLogWriter

from sim.metrics import HIGHEST_NS, SIGNIFICANT_DIGITS, latency_histogram

MAX_INTERVALS = 1000  # per strategy; longer runs get longer intervals


def interval_s(span_s: float) -> float:
    """The interval length for a run spanning `span_s`: one second, or longer so that there
    are at most MAX_INTERVALS (a whole number of seconds)."""
    return float(max(1, math.ceil(span_s / MAX_INTERVALS)))


def write_interval_log(
    out: IO[str], arrival_s: dict[str, np.ndarray], latency_s: dict[str, np.ndarray]
) -> None:
    """Write each strategy's `latency_s` binned by `arrival_s` (NaN latencies skipped) as an
    interval log; intervals with no decision are left out."""
    span = max((float(np.nanmax(a)) for a in arrival_s.values() if a.size), default=0.0)
    step = interval_s(span)
    writer = HistogramLogWriter(out)
    writer.output_comment("[quoterace decision latency, values in ns, tagged by strategy]")
    writer.output_log_format_version()
    writer.output_base_time(0)
    writer.output_legend()
    for name, arrivals in arrival_s.items():
        latency = latency_s[name]
        decided = ~np.isnan(latency)
        bins = np.floor(arrivals[decided] / step).astype(np.int64)
        values = latency[decided]
        for k in np.unique(bins).tolist():
            histogram = latency_histogram(values[bins == k])
            start_ms, end_ms = k * step * 1e3, (k + 1) * step * 1e3
            histogram.set_start_time_stamp(start_ms)
            histogram.set_end_time_stamp(end_ms)
            line = io.StringIO()
            HistogramLogWriter(line).output_interval_histogram(
                histogram, start_ms / 1e3, end_ms / 1e3
            )
            out.write(f"Tag={name},{line.getvalue()}")


def read_interval_log(path: str) -> dict[str, HdrHistogram]:
    """Each tag's intervals of the log at `path`, added up into one histogram."""
    reference = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
    reader = HistogramLogReader(path, reference)
    totals: dict[str, HdrHistogram] = {}
    try:
        while (interval := reader.get_next_interval_histogram()) is not None:
            tag = interval.get_tag()
            if tag not in totals:
                totals[tag] = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
            totals[tag].add(interval)
    finally:
        reader.close()
    return totals
