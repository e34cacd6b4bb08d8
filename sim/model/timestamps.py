"""Timestamps in the files quoterace replays (recorded markets, latency traces): ISO-8601 text
or epoch numbers, as int64 nanoseconds since the Unix epoch, vectorized with numpy.

A zone-less ISO time is UTC; `Z` and offsets (`+02:00`, `-0500`) are converted here rather than
left to numpy, which only warns of them. Epoch numbers past what int64 ns hold (the year 2262:
epoch ms read as seconds) are refused rather than wrapped around.
"""

from __future__ import annotations

import warnings

import numpy as np

UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def parse_instant(text: str) -> int:
    """Nanoseconds since the Unix epoch of an ISO-8601 time (zone-less: UTC); ValueError if
    it is not one."""
    ns = iso_ns(np.array([text.strip()]))
    if ns is None:
        raise ValueError(f"{text!r} is not an ISO-8601 time")
    return int(ns[0])


def epoch_ns(text: np.ndarray, unit_ns: int) -> np.ndarray | None:
    """Epoch numbers in units of `unit_ns` nanoseconds as int64 ns (exact for integers; a
    fraction is rounded to the nanosecond), or None if one is not a plain number or is past
    what int64 ns hold (the year 2262: epoch ms read as seconds would wrap around)."""
    whole, dot, fraction = np.strings.partition(np.strings.strip(text), ".")
    try:
        seconds = whole.astype(np.int64)
        if (np.abs(seconds) >= np.iinfo(np.int64).max // unit_ns).any():
            return None
        ns = seconds * unit_ns
        if (dot == "").all():
            return ns
        digits = np.where(fraction == "", "0", fraction)
        if not np.strings.isdecimal(digits).all() or (np.strings.startswith(whole, "-")).any():
            return None
        return ns + np.round(np.strings.add("0.", digits).astype(np.float64) * unit_ns).astype(
            np.int64
        )
    except (ValueError, OverflowError):
        return None


def iso_ns(text: np.ndarray) -> np.ndarray | None:
    """ISO-8601 times as int64 ns since the epoch (zone-less: UTC), or None if one is not."""
    text = np.strings.strip(text)
    if not (np.strings.find(text, "-") == 4).all():  # YYYY-...: not an epoch number misread
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns of a zone it would drop: do it here
            return text.astype("datetime64[ns]").astype(np.int64)
    except ValueError:
        return None
    except UserWarning:
        pass
    date, _, clock = np.strings.partition(np.strings.replace(text, " ", "T"), "T")
    zulu = np.strings.endswith(clock, "Z")
    clock = np.where(zulu, np.strings.rstrip(clock, "Z"), clock)
    offset = np.zeros(text.size, dtype=np.int64)
    for sign, char in ((1, "+"), (-1, "-")):
        bare, mark, zone = np.strings.partition(clock, char)
        zoned = mark != ""
        if zoned.any():
            digits = np.strings.replace(zone[zoned], ":", "")
            sized = np.isin(np.strings.str_len(digits), (2, 4))
            if not (sized & np.strings.isdecimal(digits)).all():
                return None
            hhmm = np.strings.ljust(digits, 4, "0").astype(np.int64)
            offset[zoned] = sign * (hhmm // 100 * 3600 + hhmm % 100 * 60) * 1_000_000_000
            clock = np.where(zoned, bare, clock)
    plain = np.strings.add(np.strings.add(date, np.where(clock == "", "", "T")), clock)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            local = plain.astype("datetime64[ns]").astype(np.int64)
    except (ValueError, UserWarning):
        return None
    return local - offset  # local time = UTC + offset
