"""quoterace bench's verdict on network mode at one rate (sim.bench.network.holds): the
targets of issue 14, on figures made up to sit either side of each bound."""

from __future__ import annotations

import pytest

from sim.bench.network import NO_QUOTE_POINTS, P50_SLACK_MS, holds

PING_S = 100e-6


def figures(
    first_p50: float | None, first_missed: int = 0, best_missed: int = 0, behind: bool = False
) -> dict:
    return {
        "first_wins": {"p50_ms": first_p50, "no_quote": first_missed, "behind": False},
        "best_price": {"p50_ms": 3.0, "no_quote": best_missed, "behind": behind},
    }


IN_PROCESS = figures(1.0, 2, 3)


def test_within_both_bounds_holds() -> None:
    at_bound = 1.0 + PING_S * 1e3 + P50_SLACK_MS
    assert holds(IN_PROCESS, figures(at_bound, 2 + 4, 3 + 4), 400, PING_S) is None


@pytest.mark.parametrize(
    ("over_tcp", "why"),
    [
        (figures(1.0, 2 + 5, 3), "first_wins: 1.2 points more requests without a quote"),
        (figures(1.0, 2, 3 + 5), "best_price: 1.2 points more requests without a quote"),
        (figures(2.2), "first_wins: p50 2.20 ms, more than 2.10 ms"),
        (figures(None), "first_wins: no race decided"),
    ],
)
def test_a_rate_fails_on_either_bound(over_tcp: dict, why: str) -> None:
    assert NO_QUOTE_POINTS == 1.0 and P50_SLACK_MS == 1.0  # the targets
    assert holds(IN_PROCESS, over_tcp, 400, PING_S) == why


def test_a_rate_fails_when_either_run_fell_behind_its_schedule() -> None:
    """Two runs that both collapse agree on their no-quote counts and p50s: that the rate was
    held in neither is what counts."""
    collapsed = figures(40.0, 360, 362, behind=True)
    assert holds(collapsed, figures(40.2, 361, 362), 400, PING_S) == (
        "best_price: in process fell behind (its starts, or nearly every race no quote)"
    )
    assert holds(IN_PROCESS, figures(1.0, 2, 3, behind=True), 400, PING_S) == (
        "best_price: over TCP fell behind (its starts, or nearly every race no quote)"
    )
