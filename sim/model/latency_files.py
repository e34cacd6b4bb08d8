"""Measured latencies from files: HdrHistogram logs and percentile distributions, and columns of
values, as numpy arrays.

An HdrHistogram file holds buckets, not values: `read_histogram` returns each bucket's range of
equivalent values and its count, in the unit the file was recorded in.

- An interval log (`.hlog`: the Java library's HistogramLogWriter and the tools built on it,
  the Python port's, quoterace's own `latency.hlog`) is comment lines (`#[StartTime: ...]`,
  `#[BaseTime: ...]`), a legend line and one line per interval, `[Tag=T,]start,length,max,
  HISTFAAA...`. Every untagged interval (or every interval of one tag) is added up, as Java's
  HistogramLogProcessor reads a log, so that series never mix unasked; hdrh decodes each
  compressed histogram, and a bucket spans its lowest to its highest equivalent value.
- A percentile distribution (`.hgrm`, HdrHistogram's outputPercentileDistribution, in columns or
  as CSV) lists values with the running count at or below each: a bucket runs from one listed
  value to the next and holds the difference of their counts; the first row's count sits at its
  value.

`read_values` reads one number a line, or one column of a CSV file. Errors are FileError, one
line naming the file (and the line) and what is wrong.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hdrh.histogram import HdrHistogram

UNITS = ("ns", "us", "ms", "s")
_HGRM_HEADER = re.compile(r'^\s*"?Value"?[\s,]+"?Percentile"?[\s,]+"?TotalCount"?')


class FileError(ValueError):
    """A measurement file that cannot be used: the message names the file and what is wrong."""


@dataclass(frozen=True)
class Buckets:
    """A recorded distribution: bucket i holds `counts[i]` values from `low[i]` to `high[i]`
    (in the file's unit), the buckets in order of `low`."""

    low: np.ndarray
    high: np.ndarray
    counts: np.ndarray

    def midpoints(self) -> np.ndarray:
        """The middle of each bucket: where a fit puts the bucket's values."""
        return (self.low + self.high) / 2


def to_ms(values: np.ndarray, unit: str) -> np.ndarray:
    """`values` recorded in `unit` (one of UNITS) as float milliseconds."""
    values = np.asarray(values, dtype=np.float64)
    if unit == "ns":
        return values / 1e6
    if unit == "us":
        return values / 1e3
    if unit == "s":
        return values * 1e3
    return values


def is_histogram(path: Path) -> bool:
    """Whether the file at `path` looks like an HdrHistogram interval log or percentile
    distribution: its first line that is not a comment is a legend, an interval or an .hgrm
    header. (False if it cannot be read: reading it says why.)"""
    try:
        with path.open(encoding="utf-8-sig") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    return bool(_HGRM_HEADER.match(line)) or _is_interval_start(line)
    except (OSError, UnicodeDecodeError):
        pass
    return False


def read_histogram(
    path: Path, shown: str, tag: str | None = None, tag_option: str = "tag"
) -> Buckets:
    """The buckets of the HdrHistogram file at `path` (`shown` names it in errors): an interval
    log, its untagged intervals (or those of `tag`) added up, or a percentile distribution.
    `tag_option` is what the caller calls `tag`, for an error asking for one."""
    text = _text(path, shown)
    if not text.strip():
        raise FileError(f"{shown}: is empty")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if _HGRM_HEADER.match(line):
            if tag is not None:
                raise FileError(f"{shown}: a percentile distribution has no tags (tag = {tag!r})")
            return _percentile_distribution(text, shown)
        if _is_interval_start(line):
            return _interval_log(text, shown, tag, tag_option)
        break
    raise FileError(
        f"{shown}: not an HdrHistogram interval log (.hlog) or percentile distribution (.hgrm)"
    )


def read_values(path: Path, shown: str, column: str | None = None) -> np.ndarray:
    """The numbers in `path`: one a line (`#` starts a comment), or the column named `column` of
    a CSV file with a header row. Every value must be a finite number >= 0."""
    text = _text(path, shown)
    if column is None:
        numbered = [
            (n, t)
            for n, line in enumerate(text.splitlines(), 1)
            if (t := line.split("#")[0].strip())
        ]
    else:
        rows = csv.reader(io.StringIO(text))
        header = next(rows, [])
        if column not in header:
            raise FileError(f"{shown}: no column {column!r} (columns: {', '.join(header)})")
        at = header.index(column)
        numbered = [(n, row[at].strip() if at < len(row) else "") for n, row in enumerate(rows, 2)]
    if not numbered:
        raise FileError(f"{shown}: holds no values")
    lines, texts = zip(*numbered, strict=True)
    values = _numbers(np.array(texts), np.array(lines), shown)
    if not np.isfinite(values).all() or (values < 0).any():
        line = lines[int(np.flatnonzero(~np.isfinite(values) | (values < 0))[0])]
        raise FileError(f"{shown} line {line}: must be a finite number >= 0")
    return values


def _text(path: Path, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: a BOM (Excel)
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise FileError(f"cannot read {shown}: {reason}") from None


def _numbers(texts: np.ndarray, lines: np.ndarray, shown: str) -> np.ndarray:
    """`texts` as floats (numpy parses them all at once); a FileError names the first line that
    is not a number."""
    try:
        return texts.astype(np.float64)
    except ValueError:
        for text, line in zip(texts.tolist(), lines.tolist(), strict=True):
            try:
                float(text)
            except ValueError:
                raise FileError(f"{shown} line {line}: {text!r} is not a number") from None
        raise


def _is_interval_start(line: str) -> bool:
    """A legend line or an interval line (tagged or not) of an interval log."""
    return line.startswith('"StartTimestamp"') or line.startswith("Tag=") or "HIST" in line


def _interval_log(text: str, shown: str, tag: str | None, tag_option: str) -> Buckets:
    """Every untagged interval of the log (or every one of `tag`) added up, as Java's
    HistogramLogProcessor reads a log: each configuration of histogram
    (lowest and highest trackable values, precision) keeps its own counts array."""
    totals: dict[tuple[int, int, int], tuple[HdrHistogram, np.ndarray]] = {}
    tags: dict[str | None, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", '"StartTimestamp"')):
            continue
        line_tag = None
        if line.startswith("Tag="):
            line_tag, _, line = line[4:].partition(",")
        tags[line_tag] = tags.get(line_tag, 0) + 1
        if line_tag != tag:  # no tag: the untagged intervals, as HistogramLogProcessor reads
            continue
        histogram = _decode(line, shown, number)
        key = (
            histogram.lowest_trackable_value,
            histogram.highest_trackable_value,
            histogram.significant_figures,
        )
        counts = np.ctypeslib.as_array(histogram.counts).astype(np.int64)
        if key in totals:
            totals[key][1][:] += counts
        else:
            totals[key] = (histogram, counts)
    if not tags:
        raise FileError(f"{shown}: an interval log with no intervals")
    if tag not in tags:
        named = sorted(t for t in tags if t is not None)
        has = f"its tags: {', '.join(named)}" if named else "its intervals have no tags"
        if tag is None:
            raise FileError(f"{shown}: no untagged intervals ({has}): pick one with {tag_option}")
        raise FileError(f"{shown}: no intervals tagged {tag!r} ({has})")
    parts = [_bucket_ranges(h, counts) for h, counts in totals.values()]
    buckets = _merged(*(np.concatenate(p) for p in zip(*parts, strict=True)))
    if buckets.counts.size == 0:
        raise FileError(f"{shown}: its intervals hold no values")
    return buckets


def _decode(line: str, shown: str, number: int) -> HdrHistogram:
    fields = line.split(",")
    if len(fields) != 4:
        raise FileError(
            f"{shown} line {number}: expected [Tag=T,]start,length,max,histogram "
            f"(got {len(fields)} fields)"
        )
    try:
        return HdrHistogram.decode(fields[3])
    except Exception as e:  # hdrh raises base64, zlib, cookie and length errors of its own
        raise FileError(
            f"{shown} line {number}: not an HdrHistogram compressed histogram ({type(e).__name__})"
        ) from None


def _bucket_ranges(
    histogram: HdrHistogram, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lowest and highest equivalent values of each non-empty bucket of `counts` (a counts
    array laid out as `histogram`'s), and its count: hdrh's index arithmetic, vectorized."""
    index = np.flatnonzero(counts)
    half = histogram.sub_bucket_half_count
    bucket = (index >> histogram.sub_bucket_half_count_magnitude) - 1
    sub_bucket = (index & (half - 1)) + half
    first = bucket < 0
    sub_bucket[first] -= half
    bucket[first] = 0
    shift = bucket + histogram.unit_magnitude
    low = sub_bucket << shift
    high = low + (np.int64(1) << shift) - 1
    return low.astype(np.float64), high.astype(np.float64), counts[index]


def _merged(low: np.ndarray, high: np.ndarray, counts: np.ndarray) -> Buckets:
    """Buckets with the same range added together, in order of (low, high)."""
    ranges, inverse = np.unique(np.stack((low, high), axis=1), axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=counts, minlength=len(ranges))
    return Buckets(ranges[:, 0].copy(), ranges[:, 1].copy(), summed.astype(np.int64))


def _percentile_distribution(text: str, shown: str) -> Buckets:
    """The buckets between consecutive listed values of an .hgrm; comment lines (the #[Mean ...]
    footer) and the header are skipped."""
    rows, numbers = [], []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#") or _HGRM_HEADER.match(line):
            continue
        fields = [f for f in re.split(r"[\s,]+", line) if f]
        if len(fields) < 3:
            raise FileError(f"{shown} line {number}: expected Value, Percentile, TotalCount")
        try:
            value, _, total = (float(f) for f in fields[:3])
        except ValueError:
            raise FileError(f"{shown} line {number}: {line!r} is not a row of numbers") from None
        rows.append((value, total))
        numbers.append(number)
    if not rows:
        raise FileError(f"{shown}: a percentile distribution with no rows")
    values, totals = np.array(rows).T
    counts = np.diff(totals, prepend=0.0)
    good = np.isfinite(values) & (values >= 0) & (np.diff(values, prepend=0.0) >= 0)
    good &= np.isfinite(totals) & (totals == np.round(totals)) & (counts >= 0)
    if not good.all():
        number = numbers[int(np.flatnonzero(~good)[0])]
        raise FileError(
            f"{shown} line {number}: values must be >= 0 and never fall, "
            "total counts whole and never falling"
        )
    keep = counts > 0
    low = np.concatenate(([values[0]], values[:-1]))
    return _merged(low[keep], values[keep], counts[keep])
