"""Parameter fields strategies share, with the bounds a scenario file is checked against."""

from __future__ import annotations

from dataclasses import field
from typing import Any

MAX_TIMEOUT_MS = 3_600_000.0


def timeout_ms(default: float = 1000.0) -> Any:
    """`timeout_ms`: give up on a race this long after the request (at most an hour)."""
    return field(default=default, metadata={"gt": 0.0, "le": MAX_TIMEOUT_MS})


def delay_ms(default: float) -> Any:
    """A delay within a race, in ms (0 to an hour)."""
    return field(default=default, metadata={"ge": 0.0, "le": MAX_TIMEOUT_MS})


def name() -> Any:
    """`name`: what a run reports the strategy by ("": its kind), so that two of one kind can
    race side by side. Keyword-only, and not a parameter of the rule."""
    return field(default="", kw_only=True)
