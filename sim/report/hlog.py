"""HdrHistogram interval logs (`latency.hlog`): decision latency over time, per strategy.

Each strategy's decisions are binned by when their request arrived into intervals of engine
time (one second, longer for long runs), and each interval's histogram is one line of the log,
`Tag=<strategy>,start,length,max,histogram` (format version 1.3: seconds, max in ms, the
histogram compressed by hdrh's own encoder), so HdrHistogram's tools and `hdrh.log.
HistogramLogReader` read it back. hdrh's writer has no tags, mishandles a start time of 0
(docs/design.md section 8) and truncates the interval max to whole milliseconds, so the lines are
written here.
"""

from __future__ import annotations

import math
from typing import IO

import numpy as np

from sim.measure.histograms import latency_histogram

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
    out.write("#[quoterace decision latency: values in ns, one tag per strategy]\n")
    out.write("#[Histogram log format version 1.3]\n")
    out.write("#[BaseTime: 0.000 (seconds since epoch)]\n")
    out.write('"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n')
    for name, arrivals in arrival_s.items():
        latency = latency_s[name]
        decided = ~np.isnan(latency)
        bins = np.floor(arrivals[decided] / step).astype(np.int64)
        values = latency[decided]
        for k in np.unique(bins).tolist():
            histogram = latency_histogram(values[bins == k])
            payload = histogram.encode().decode("ascii")
            max_ms = histogram.get_max_value() / 1e6
            out.write(f"Tag={name},{k * step:.3f},{step:.3f},{max_ms:.3f},{payload}\n")
