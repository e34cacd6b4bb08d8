"""The scan through venue servers (sim.engines.scan_kernels.served) against the trio engine: hedged
and adaptive through servers, closed loops through them (first_wins, hedged, adaptive) and
first_wins with cancel propagation (without, it goes through the queue scans), decided
alike request by request, with the same venue load to the bit and the same summary bytes.

Randomized scenarios (hypothesis, derandomized) put them through one to three venues with
servers (capacity 1 to 3 or unlimited, constant service times for exact ties in time), with
and without cancel propagation; constant times put quotes exactly at hedges and deadlines;
the bundled overload, tied-requests and coordinated-omission run whole on both engines.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.engines.fast import unsupported
from sim.measure.run import run, summary
from sim.model.scenario import load, parse
from sim.report.atomic import summary_json
from tests.sim.test_fast import agree, agreement, blocks_of
from tests.sim.test_fast_queues import agree_with_load, same_load_and_summary, scenarios
from tests.sim.test_fast_scan import adaptive, agree_closed, hedged

REQUESTS = 100  # past hedged's warm-up of 20 observed latencies


first_wins = st.builds(
    lambda t: {"kind": "first_wins", "timeout_ms": t}, st.sampled_from([2.0, 50.0])
)


def learning(count: int):
    return st.lists(st.one_of(hedged(count), adaptive), min_size=1, max_size=2)


def closed_kinds(count: int):
    return st.lists(st.one_of(first_wins, hedged(count), adaptive), min_size=1, max_size=2)


SETTINGS = agreement(25)


@SETTINGS
@given(scenarios(learning, REQUESTS))
def test_learning_strategies_through_servers_agree(scenario) -> None:
    """Blocks of 16 requests, so that the scan's decisions are handed to the blocks in parts."""
    assert unsupported(scenario) is None
    with blocks_of(16):
        agree_with_load(scenario)


@SETTINGS
@given(scenarios(closed_kinds, REQUESTS, closed=True))
def test_closed_loops_through_servers_agree(scenario) -> None:
    assert unsupported(scenario) is None
    with blocks_of(16):
        agree_closed(scenario)
        same_load_and_summary(scenario)


CONSTANT = {"dist": "constant", "ms": 0.5}
TIED_HEDGE = {"kind": "hedged", "hedge_delay_ms": 1.5, "max_attempts": 3, "budget": 10.0}


def _ties(strategy: dict, arrivals: dict, propagate: bool):
    """Venue a answers 3.5 ms after it is asked (1 ms network, 2.5 ms service), b 1.5 ms
    (0.5 + 1), c 0.25 ms (no servers), while their servers are free."""
    servers = {"capacity": 1, "cancel_propagation": propagate}
    return parse(
        {
            "arrivals": arrivals,
            "venues": [
                {"name": "a", "latency": {"dist": "constant", "ms": 1.0}}
                | {"service": {"dist": "constant", "ms": 2.5}}
                | servers,
                {"name": "b", "latency": CONSTANT, "service": {"dist": "constant", "ms": 1.0}}
                | servers,
                {"name": "c", "latency": {"dist": "constant", "ms": 0.25}},
            ],
            "strategies": [strategy],
        },
        default_name="ties",
    ).with_overrides(requests=60)


@pytest.mark.parametrize("propagate", [True, False])
@pytest.mark.parametrize(
    "strategy",
    [
        TIED_HEDGE,
        {"kind": "hedged", "hedge_delay_ms": 1.0, "max_attempts": 3, "budget": 0.5},
        {"kind": "hedged", "hedge_delay": "p50", "max_attempts": 2, "budget": 1.0},
        {"kind": "adaptive", "fanout": 2, "window": 5, "timeout_ms": 3.0},
        {"kind": "first_wins", "timeout_ms": 2.5},
    ],
)
@pytest.mark.parametrize(
    "arrivals",
    [
        {"process": "uniform", "rate_per_s": 200.0},  # the servers free at each request
        {"process": "uniform", "rate_per_s": 2000.0},  # queues, requests tied at the venues
        {"process": "closed", "clients": 3, "think_ms": CONSTANT},
    ],
)
def test_exact_ties_agree(strategy, propagate, arrivals) -> None:
    """Constant times: quotes due exactly at hedges and deadlines, requests tied at the
    venues, cancels heard as requests arrive."""
    closed = arrivals["process"] == "closed"
    scenario = _ties(strategy, arrivals, propagate)
    assert unsupported(scenario) is None
    if closed:
        agree_closed(scenario)
        same_load_and_summary(scenario)
    else:
        agree_with_load(scenario)


def test_a_quote_due_at_the_next_hedge_by_the_clock_alone() -> None:
    """b, asked 1.5 ms after the request, answers 1.5 ms later: exactly at the second hedge
    after the request, but the venue wakes at (t0 + 1.5 ms) + 1.5 ms, an ulp past
    t0 + 3 ms for some requests, whose gather hedges to c before b's quote comes: on both
    engines, for the same requests."""
    scenario = _ties(TIED_HEDGE, {"process": "uniform", "rate_per_s": 200.0}, False)
    agree(scenario)
    requests = run(scenario, engine="fast").strategies["hedged"].records.venue_requests
    assert requests[:2].tolist() == [60, 60] and 0 < requests[2] < 60


INSTANT = {"dist": "constant", "ms": 0.0}


@pytest.mark.parametrize("propagate", [True, False])
@pytest.mark.parametrize(
    "strategy",
    [
        {"kind": "hedged", "hedge_delay_ms": 0.5, "max_attempts": 3, "budget": 10.0},
        {"kind": "hedged", "hedge_delay_ms": 0.0, "max_attempts": 3, "budget": 10.0},
        {"kind": "adaptive", "fanout": 2},
        {"kind": "first_wins"},
    ],
)
@pytest.mark.parametrize("closed", [False, True])
def test_zero_latency_agrees(strategy, propagate, closed) -> None:
    """Requests and cancels reach the venue in their own instant, as trio's dispatcher
    handles it for such venues (after every task of the instant has run)."""
    arrivals = {"process": "uniform", "rate_per_s": 2000.0}
    if closed:
        arrivals = {"process": "closed", "clients": 3, "think_ms": CONSTANT}
    servers = {"capacity": 1, "cancel_propagation": propagate}
    scenario = parse(
        {
            "arrivals": arrivals,
            "venues": [
                {"name": "a", "latency": INSTANT, "service": {"dist": "constant", "ms": 1.0}}
                | servers,
                {"name": "b", "latency": INSTANT, "service": CONSTANT} | servers,
                {"name": "c", "latency": {"dist": "exponential", "mean_ms": 0.5}}
                | {"service": CONSTANT, "capacity": 2, "cancel_propagation": propagate},
            ],
            "strategies": [strategy],
        },
        default_name="zero",
    ).with_overrides(requests=40)
    if closed:
        agree_closed(scenario)
        same_load_and_summary(scenario)
    else:
        agree_with_load(scenario)


@pytest.mark.parametrize(
    ("name", "requests"),
    [("overload", 600), ("tied-requests", 800), ("coordinated-omission", 1500)],
)
def test_bundled_scenarios_through_servers_agree(name, requests) -> None:
    """Every strategy of each, byte for byte; the streamed summary is the run's."""
    scenario = load(name).with_overrides(requests=requests)
    assert unsupported(scenario) is None
    if scenario.arrivals.closed:
        agree_closed(scenario)
        same_load_and_summary(scenario)
    else:
        agree_with_load(scenario)
    streamed, whole = summary(scenario, engine="fast"), run(scenario, engine="fast").summary
    assert summary_json(streamed) == summary_json(whole)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"last_look": {"hold_ms": 1.0}}, "strategy adaptive (adaptive: learns from last look or"),
        ({"quote_ttl_ms": 5.0}, "strategy adaptive (adaptive: learns from last look or expiry"),
    ],
)
def test_adaptive_learning_fills_through_servers_goes_to_trio(change, reason) -> None:
    """Its fill verdicts would depend on when the queues answer."""
    venue = {"name": "a", "latency": CONSTANT, "service": CONSTANT, "capacity": 1}
    scenario = parse(
        {"venues": [venue | change], "strategies": [{"kind": "adaptive"}, {"kind": "hedged"}]},
        default_name="fills",
    )
    assert unsupported(scenario).startswith(reason)
    assert unsupported(scenario.with_strategies(["hedged"])) is None


@pytest.mark.parametrize("capacity", [1, 2])
def test_a_server_free_again_in_the_instant_it_started(capacity) -> None:
    """No service time: a server that starts a request is free again at once and takes the
    next from its queue in the same instant (trio's dispatcher handles the instant's
    completions again before any client runs), so venue a answers all three clients that
    ask at once, and wins each race against b by its place in the venue order."""
    instant = {"latency": INSTANT, "service": INSTANT}
    scenario = parse(
        {
            "arrivals": {"process": "closed", "clients": 3, "think_ms": CONSTANT},
            "venues": [
                {"name": "a", "capacity": capacity} | instant,
                {"name": "b", "capacity": 3} | instant,
            ],
            "strategies": [{"kind": "first_wins"}],
        },
        default_name="instant",
    ).with_overrides(requests=30)
    agree_closed(scenario)
    same_load_and_summary(scenario)
    assert run(scenario, engine="fast").strategies["first_wins"].records.venue.tolist() == [0] * 30


def test_a_hedge_through_servers_ends_when_trio_clock_says() -> None:
    """trio's venue wakes its client at (t0 + sent) + total, an ulp or so off t0 + (sent +
    total): the run ends, and the venues' utilization is counted, by that clock."""
    served = {"service": {"dist": "constant", "ms": 0.5}, "capacity": 1}
    fails = {"fail_prob": 0.2}
    scenario = parse(
        {
            "scenario": {"seed": 7135, "requests": 100},
            "arrivals": {"process": "poisson", "rate_per_s": 1000.0},
            "venues": [
                {"name": "a", "latency": {"dist": "constant", "ms": 0.1}} | served | fails,
                {"name": "b", "latency": {"dist": "constant", "ms": 0.2}} | served,
                {"name": "c", "latency": {"dist": "constant", "ms": 0.1}} | served,
            ],
            "strategies": [
                {"kind": "hedged", "hedge_delay": "p50", "max_attempts": 3, "budget": 10.0}
                | {"window": 20, "timeout_ms": 3.0}
            ],
        },
        default_name="clock",
    )
    by_trio, by_fast = run(scenario, engine="trio"), run(scenario, engine="fast")
    trio, fast = by_trio.strategies["hedged"].records, by_fast.strategies["hedged"].records
    assert fast.venue_requests[1] > 0  # hedged to b
    assert trio.span_s == fast.span_s
    same_load_and_summary(scenario)


@pytest.mark.parametrize(
    "strategy",
    [
        {"kind": "hedged", "hedge_delay_ms": 0.0, "max_attempts": 10, "budget": 10.0},
        {"kind": "first_k", "k": 10},
        {"kind": "adaptive", "fanout": 10},
    ],
)
def test_the_most_events_a_request_can_make_fit_the_scan(strategy) -> None:
    """Ten venues with unlimited servers (some instant, some failing, half propagating
    cancels), every request asking all of them in one instant: the most events the scan's
    heap holds at once (scan_kernels.served counts its room from them)."""
    venues = []
    for j in range(10):
        latency = [INSTANT, CONSTANT, {"dist": "exponential", "mean_ms": 0.5}][j % 3]
        venue = {"name": f"v{j}", "latency": latency, "fail_prob": 0.3 if j % 5 == 4 else 0.0}
        if j % 4 != 3:
            service = [INSTANT, CONSTANT, {"dist": "exponential", "mean_ms": 0.5}][j % 4]
            venue |= {"service": service, "cancel_propagation": j % 2 == 0}
        venues.append(venue)
    scenario = parse(
        {
            "arrivals": {"process": "uniform", "rate_per_s": 1e20},
            "venues": venues,
            "strategies": [strategy],
        },
        default_name="burst",
    ).with_overrides(requests=120)
    assert unsupported(scenario) is None
    agree_with_load(scenario)
