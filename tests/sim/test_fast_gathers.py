"""Rules that wait for k quotes or their timeout (first_k, best_price and split: all of them)
through venue servers that propagate cancels, decided by the scan through the servers
(sim.engines.scan_kernels.served, FIRST_K) instead of the queue scans' rounds: against the
trio engine request by request, with the same venue load to the bit and the same summary
bytes; and a summary decided in pieces of 16 requests is the run decided at once.

Randomized scenarios (hypothesis, derandomized) race k from 1 to past the number of venues;
constant times put quotes tied at the venues and at the client, and at the timeout.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sim.engines import queues
from sim.engines.fast import resumes, unsupported
from sim.model.scenario import load, parse
from tests.sim.test_fast import agreement, blocks_of
from tests.sim.test_fast_queues import agree_with_load, scenarios
from tests.sim.test_flat import in_pieces_of_16


def waiting(count: int):
    """One or two rules that wait for k quotes, k up to one past the venues."""
    rule = st.one_of(
        st.builds(
            lambda k, t: {"kind": "first_k", "k": k, "timeout_ms": t},
            st.integers(1, count + 1),
            st.sampled_from([3.0, 50.0]),
        ),
        st.builds(lambda t: {"kind": "best_price", "timeout_ms": t}, st.sampled_from([3.0, 50.0])),
        st.builds(lambda t: {"kind": "split", "timeout_ms": t}, st.sampled_from([3.0, 50.0])),
    )
    return st.lists(rule, min_size=1, max_size=2)


def propagating(scenario) -> bool:
    return any(v.cancel_propagation for v in scenario.venues if v.service is not None)


@contextlib.contextmanager
def no_rounds() -> Iterator[None]:
    """Never the queue scans' rounds (sim.engines.queues.Queues.settle) for these rules."""

    def refused(self, exits):
        raise AssertionError("settled in rounds")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(queues.Queues, "settle", refused)
        yield


@agreement(20)
@given(scenarios(waiting, 80))
def test_random_rules_that_wait_for_k_agree(scenario) -> None:
    """Blocks of 16 requests, so that the scan's quotes are handed to the blocks in parts."""
    assume(propagating(scenario))
    assert unsupported(scenario) is None
    assert all(resumes(e.strategy, scenario.venues) for e in scenario.strategies)
    with blocks_of(16), no_rounds():
        agree_with_load(scenario)


@agreement(15)
@given(scenarios(waiting, 300))
def test_random_rules_that_wait_for_k_streamed_are_the_run(scenario) -> None:
    assume(propagating(scenario))
    with no_rounds():
        in_pieces_of_16(scenario)


CONSTANT = {"dist": "constant", "ms": 0.5}


def _tied(strategies: list[dict], rate: float, timeout_ms: float):
    """Three venues of one server, cancels propagated: a and b answer 1.5 ms after they are
    asked while free (0.5 ms network, 1 ms service), c 1 ms (0.5 + 0.5), d never (no
    servers); uniform arrivals, so that quotes tie at the client and requests at the
    venues, and a timeout of 1.5 or 2 ms meets quotes exactly. a quotes the best price, so
    which of a and b a tie lets in shows."""
    served = {"capacity": 1, "cancel_propagation": True, "latency": CONSTANT}
    one_ms = {"service": {"dist": "constant", "ms": 1.0}}
    return parse(
        {
            "arrivals": {"process": "uniform", "rate_per_s": rate},
            "venues": [
                {"name": "a", "spread_bps": 0.5} | served | one_ms,
                {"name": "b", "spread_bps": 1.0} | served | one_ms,
                {"name": "c", "spread_bps": 2.0} | served | {"service": CONSTANT},
                {"name": "d", "latency": CONSTANT, "fail_prob": 1.0},
            ],
            "strategies": [s | {"timeout_ms": timeout_ms} for s in strategies],
        },
        default_name="tied",
    ).with_overrides(requests=60)


@pytest.mark.parametrize("rate", [200.0, 1000.0, 3000.0])
@pytest.mark.parametrize("timeout_ms", [1.5, 2.0, 50.0])
def test_exact_ties_agree(rate, timeout_ms) -> None:
    """k from 2 to past the venues (d never answers: the rest wait for the timeout)."""
    kinds = [{"kind": "first_k", "k": k, "name": f"k{k}"} for k in (2, 3, 4, 5)]
    scenario = _tied([*kinds, {"kind": "best_price"}, {"kind": "split"}], rate, timeout_ms)
    with no_rounds():
        agree_with_load(scenario)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_k_of_the_venues_that_answer_agrees(k) -> None:
    """Without d every venue answers: k of 3 ends at the last quote, or before."""
    scenario = _tied([{"kind": "first_k", "k": k}], 1000.0, 50.0)
    with no_rounds():
        agree_with_load(dataclasses.replace(scenario, venues=scenario.venues[:3]))


def test_tied_requests_streamed_is_the_run() -> None:
    """The bundled scenario, every strategy its own scan, in pieces of 16 requests."""
    scenario = load("tied-requests").with_overrides(requests=400)
    assert all(resumes(e.strategy, scenario.venues) for e in scenario.strategies)
    with no_rounds():
        in_pieces_of_16(scenario)


@pytest.mark.parametrize(
    "kind",
    [{"kind": "split"}, {"kind": "best_price"}, {"kind": "first_k", "k": 1}],
)
def test_one_venue_keeps_its_rule(kind) -> None:
    """A rule that waits for every venue's quote, or for one, on a single venue still chooses
    by its own rule: split orders only what the venue's depth holds (first_wins would order
    the whole size, rejected for want of liquidity)."""
    venue = {
        "name": "a",
        "latency": {"dist": "exponential", "mean_ms": 0.3},
        "depth": [{"size": 1.0, "spread_bps": 1.0}, {"size": 0.5, "spread_bps": 3.0}],
        "service": {"dist": "exponential", "mean_ms": 0.5},
        "capacity": 1,
        "cancel_propagation": True,
    }
    scenario = parse(
        {
            "scenario": {"seed": 1, "requests": 40},
            "arrivals": {"process": "poisson", "rate_per_s": 1000.0},
            "order": {"size": 3.0},
            "venues": [venue],
            "strategies": [kind | {"timeout_ms": 2.0}],
        },
        default_name="one-venue",
    )
    with no_rounds():
        agree_with_load(scenario)
