"""Each strategy's rule over arrays (decide_arrays) on small hand-made blocks of requests: the
decisions its trio gatherer would make, stated by hand (the fast engine's tests check both
forms agree on random scenarios)."""

from __future__ import annotations

import numpy as np

from strategies import BestPrice, Deadline, FirstK, FirstWins, Split, Staggered, Threshold
from strategies.arrays import QuoteArrays


class FlatMids:
    """A market that never moves: every quote priced at 100."""

    def quoted(self, until: float) -> np.ndarray:
        return np.full((3, 2), 100.0)

    def priced(self, until: float) -> np.ndarray:
        return self.quoted(until)  # no venue quotes a recorded spread

    def seen(self) -> np.ndarray:
        return np.full(2, 100.0)


def view(latency_ms, spread_bps, available=(5.0, 5.0, 5.0), size=1.0, answers=None):
    """Three venues, two buy requests: venue v's quote for request i arrives latency_ms[v][i]."""
    latency = np.array(latency_ms) * 1e-3
    shape = latency.shape
    return QuoteArrays(
        latency=latency,
        answers=np.ones(shape, dtype=bool) if answers is None else np.array(answers),
        side=np.ones(shape[1]),
        size=np.full(shape[1], size),
        spread=np.broadcast_to(np.array(spread_bps, dtype=float)[:, None], shape),
        available=np.broadcast_to(np.array(available)[:, None], shape),
        skew=np.zeros((3, 1)),
        noise=np.zeros(shape),
        mids=FlatMids(),
    )


# venue 0 fast and wide, venue 1 middling, venue 2 slow and tight; request 1: venue 2 is fast
LATENCY = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]
SPREAD = [3.0, 2.0, 1.0]


def test_first_wins_takes_the_earliest_and_ties_go_to_the_lower_venue() -> None:
    d = FirstWins().decide_arrays(view([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]], SPREAD))
    assert d.venue.tolist() == [[0, 0]]
    assert np.allclose(d.decided, [1e-3, 2e-3])


def test_best_price_waits_for_every_quote_or_the_timeout() -> None:
    d = BestPrice(timeout_ms=2.5).decide_arrays(view(LATENCY, SPREAD))
    assert d.venue.tolist() == [[1, 2]]  # request 0: venue 2 comes after the timeout
    assert np.allclose(d.decided, [2.5e-3, 2.5e-3])


def test_best_price_ranks_a_quote_too_small_last() -> None:
    d = BestPrice().decide_arrays(view(LATENCY, SPREAD, available=(5.0, 5.0, 0.5)))
    assert d.venue.tolist() == [[1, 1]]
    assert np.allclose(d.decided, [3e-3, 3e-3])


def test_first_k_takes_the_best_of_the_first_k() -> None:
    d = FirstK(k=2).decide_arrays(view(LATENCY, SPREAD))
    assert d.venue.tolist() == [[1, 2]]
    assert np.allclose(d.decided, [2e-3, 2e-3])


def test_deadline_takes_the_best_by_it_else_the_first_after() -> None:
    d = Deadline(deadline_ms=2.0).decide_arrays(view(LATENCY, SPREAD))
    assert d.venue.tolist() == [[1, 2]]
    assert np.allclose(d.decided, [2e-3, 2e-3])
    late = Deadline(deadline_ms=0.5).decide_arrays(view(LATENCY, SPREAD))
    assert late.venue.tolist() == [[0, 2]] and np.allclose(late.decided, [1e-3, 1e-3])


def test_threshold_takes_the_first_good_enough_else_the_best() -> None:
    # a buy pays half the spread: 1.5, 1.0 and 0.5 bps over the mid
    d = Threshold(max_cost_bps=1.01).decide_arrays(view(LATENCY, SPREAD))
    assert d.venue.tolist() == [[1, 2]] and np.allclose(d.decided, [2e-3, 1e-3])
    none = Threshold(max_cost_bps=0.1).decide_arrays(view(LATENCY, SPREAD))
    assert none.venue.tolist() == [[2, 2]] and np.allclose(none.decided, [3e-3, 3e-3])


def test_staggered_asks_one_venue_at_a_time() -> None:
    d = Staggered(stagger_ms=0.5).decide_arrays(view(LATENCY, SPREAD))
    # request 0: venue 0 (asked at 0) answers at 1 ms, after venue 1 was asked at 0.5 ms;
    # request 1: venue 1 (asked at 0.5 ms) would answer at 2.5, venue 2 (at 1 ms) does at 2
    assert d.venue.tolist() == [[0, 2]]
    assert np.allclose(d.decided, [1e-3, 2e-3])
    assert np.allclose(d.sent, [0.0, 1e-3]) and d.asked.tolist() == [2, 3]


def test_split_orders_from_the_best_price_down() -> None:
    d = Split().decide_arrays(view(LATENCY, SPREAD, available=(2.0, 1.0, 0.5), size=2.0))
    assert d.venue[:, 0].tolist() == [2, 1, 0] and d.size[:2, 0].tolist() == [0.5, 1.0]
    assert d.size[2, 0] == 0.5  # what is left of 2
    assert np.allclose(d.decided, [3e-3, 3e-3])
