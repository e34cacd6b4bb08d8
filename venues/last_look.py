"""Last look: a venue's right to reject an order for a quote it gave, after a look at the market.

On an order the venue holds `hold_ms`, then rejects it "expired" if the quote's validity has
passed, "price_moved" if the mid has moved against the venue by more than `tolerance_bps` since
it priced the quote (asymmetric: only adverse moves count; symmetric: moves either way), and
"no_liquidity" if the order is larger than the quote's size. Otherwise it fills at the quoted
price. Boundaries favour the fill: exactly at the expiry, or exactly at the tolerance, fills.

`judge` decides one order (the trio engine's venues); `judge_arrays` many at once, alike to the
bit (the fast engine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

REJECT_REASONS = ("expired", "price_moved", "no_liquidity")
EXPIRED, PRICE_MOVED, NO_LIQUIDITY = (1 + REJECT_REASONS.index(r) for r in REJECT_REASONS)


@dataclass(frozen=True)
class LastLook:
    """A venue's last-look policy."""

    hold_ms: float = field(default=0.0, metadata={"ge": 0.0, "le": 3_600_000.0})
    tolerance_bps: float = field(default=0.0, metadata={"ge": 0.0})
    mode: str = field(default="asymmetric", metadata={"choices": ("asymmetric", "symmetric")})


def adverse_move_bps(side: int, quoted_mid: float, mid_now: float) -> float:
    """How far the mid moved against the venue since it quoted, in bps (negative: in its favour).

    A client buying (side +1) hurts the venue when the mid rises; a client selling, when it falls.
    """
    return side * (mid_now - quoted_mid) / quoted_mid * 1e4


def rounded_move_bps(side: int, quoted_mid: float, mid_now: float) -> float:
    """`adverse_move_bps` to 1e-9 bps, as the venues judge it: a move of exactly the tolerance
    should not fail on float rounding."""
    return round(adverse_move_bps(side, quoted_mid, mid_now), 9)


def judge(
    policy: LastLook | None,
    *,
    checked_at: float,
    expires_at: float,
    move_bps: float,
    size: float,
    available: float,
) -> str | None:
    """The reject reason for an order checked at `checked_at`, or None for a fill.

    Without a last-look policy the venue still refuses expired quotes and sizes it lacks.
    """
    if checked_at > expires_at:
        return "expired"
    if policy is not None:
        moved = move_bps if policy.mode == "asymmetric" else abs(move_bps)
        if moved > policy.tolerance_bps:
            return "price_moved"
    if size > available:
        return "no_liquidity"
    return None


def judge_arrays(
    policies: Sequence[LastLook | None],
    venue: np.ndarray,
    *,
    checked_at: np.ndarray,
    expires_at: np.ndarray,
    move_bps: np.ndarray,
    size: np.ndarray,
    available: np.ndarray,
) -> np.ndarray:
    """`judge` for many orders at once: order i on venue `venue[i]` (-1: no order; any
    verdict), whose policy is `policies[venue[i]]`, its move not yet rounded (as
    `rounded_move_bps` rounds it). Each verdict is 0 for a fill, else 1 + the index of its
    reason in REJECT_REASONS (EXPIRED, PRICE_MOVED, NO_LIQUIDITY)."""
    reason = np.zeros(np.shape(venue), dtype=np.int8)
    reason[size > available] = NO_LIQUIDITY
    for v, policy in enumerate(policies):
        if policy is not None:
            mine = venue == v
            moved = np.zeros(mine.shape, dtype=bool)
            moved[mine] = _beyond(move_bps[mine], policy.tolerance_bps, policy.mode == "symmetric")
            reason[moved] = PRICE_MOVED
    reason[checked_at > expires_at] = EXPIRED
    return reason


def _beyond(move_bps: np.ndarray, tolerance_bps: float, symmetric: bool) -> np.ndarray:
    """Whether each move, rounded to 1e-9 bps as `rounded_move_bps` rounds it (Python's round,
    which numpy's differs from in the last bit), is beyond the tolerance."""
    rounded = np.round(move_bps, 9)
    near = np.abs(np.abs(rounded) - tolerance_bps) < 1e-8  # where the last bit could matter
    rounded[near] = [round(x, 9) for x in move_bps[near].tolist()]
    return (np.abs(rounded) if symmetric else rounded) > tolerance_bps
