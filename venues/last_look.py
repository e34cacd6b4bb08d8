"""Last look: a venue's right to reject an order for a quote it gave, after a look at the market.

On an order the venue holds `hold_ms`, then rejects it "expired" if the quote's validity has
passed, "price_moved" if the mid has moved against the venue by more than `tolerance_bps` since
it priced the quote (asymmetric: only adverse moves count; symmetric: moves either way), and
"no_liquidity" if the order is larger than the quote's size. Otherwise it fills at the quoted
price. Boundaries favour the fill: exactly at the expiry, or exactly at the tolerance, fills.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REJECT_REASONS = ("expired", "price_moved", "no_liquidity")


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
