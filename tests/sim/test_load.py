"""Load (docs/design.md sections 7-8): closed-loop clients, bursts, venue servers, cancellation that
reaches the venue late, coordinated omission and the wall clock.

Most checks use constant latencies, where the model's figures are exact: a closed loop's
throughput is clients / (request time + think), a cancel saves exactly the service time after
it arrives, a queue behind abandoned requests grows by a known amount per request. The queueing
formulas (M/M/1, M/M/c) are in test_queueing.py.
"""

from __future__ import annotations

import functools
import math
import random
import re

import numpy as np
import pytest
import trio

from sim.engines.records import OUTCOMES
from sim.measure.histograms import (
    corrected_histogram,
    corrected_latency_ms,
    latency_histogram,
    latency_ms,
)
from sim.measure.run import run
from sim.model.arrivals import Arrivals, Bursts, arrival_times
from sim.model.errors import ScenarioError
from sim.model.scenario import parse
from sim.report.atomic import summary_json
from tests.helpers.scenarios import build_scenario
from venues.servers import Servers


def constant(ms: float) -> dict:
    return {"dist": "constant", "ms": ms}


scenario = functools.partial(
    build_scenario, seed=3, requests=1000, strategies=[{"kind": "first_wins", "timeout_ms": 1000.0}]
)


# --- closed loop ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clients", "latency_ms", "order_ms", "think_ms"),
    [(1, 1.0, 1.0, 0.0), (4, 1.0, 0.5, 3.0), (16, 2.5, 2.0, 0.25)],
)
def test_closed_loop_throughput_is_clients_over_cycle(clients, latency_ms, order_ms, think_ms):
    """Each client's cycle is think + decision + order round trip, all constant here."""
    venue = {"name": "a", "latency": constant(latency_ms), "order_latency": constant(order_ms)}
    arrivals = {"process": "closed", "clients": clients, "think_ms": constant(think_ms)}
    result = run(scenario([venue], arrivals=arrivals, requests=960))
    cycle_s = (latency_ms + order_ms + think_ms) * 1e-3
    s = result.summary["strategies"]["first_wins"]
    assert s["requests_per_s"] == pytest.approx(clients / cycle_s, rel=1e-9)
    # Client c sends requests c, c + clients, ...: its j-th after j cycles and one think.
    arrival = result.records("first_wins")["arrival_s"]
    j = np.arange(960) // clients
    assert np.allclose(arrival, j * cycle_s + think_ms * 1e-3, rtol=0, atol=1e-12)


def test_closed_loop_waits_for_retries_and_random_think():
    """A client's next request starts exactly one think after its previous one ended, however
    long that took (retries included): arrival = previous arrival + fill time + think."""
    venues = [
        {
            "name": "a",
            "latency": {"dist": "exponential", "mean_ms": 1.0},
            "last_look": {"tolerance_bps": 0.0, "hold_ms": 1.0},
        }
    ]
    arrivals = {
        "process": "closed",
        "clients": 3,
        "think_ms": {"dist": "uniform", "low_ms": 0, "high_ms": 4},
    }
    strategies = [{"kind": "first_wins", "max_retries": 3}]
    s = parse(
        {
            "scenario": {"seed": 3, "requests": 600},
            "arrivals": arrivals,
            "market": {"volatility_bps": 30.0},
            "venues": venues,
            "strategies": strategies,
        },
        default_name="t",
    )
    result = run(s)
    table = result.records("first_wins")
    think = result.draws.think_s
    assert (table["outcome"] != 0).any() and (table["orders"] > 1).any()  # retries happened
    for c in range(3):
        mine = table[c::3]
        ended = mine["arrival_s"][:-1] + mine["fill_s"][:-1]  # NaN unless it filled
        filled = ~np.isnan(ended)
        next_start = mine["arrival_s"][1:] - think[c::3][1:]
        assert np.allclose(next_start[filled], ended[filled], rtol=0, atol=1e-9)
        assert (np.diff(mine["arrival_s"]) > 0).all()


# --- bursts --------------------------------------------------------------------------------


def test_uniform_bursts_land_where_the_cumulative_rate_says():
    """Base 1000/s for 10 ms (10 requests), then 10,000/s for 2 ms (20): a cycle of 30."""
    arrivals = Arrivals("uniform", 1000.0, Bursts(on_ms=2.0, off_ms=10.0, rate_per_s=10_000.0))
    t = arrival_times(arrivals, 0, 60)
    expected_cycle = np.concatenate([np.arange(1, 11) * 1e-3, 0.010 + np.arange(1, 21) * 1e-4])
    assert np.allclose(t, np.concatenate([expected_cycle, 0.012 + expected_cycle]), atol=1e-12)
    assert arrivals.mean_rate_per_s() == pytest.approx(30 / 0.012)


def test_poisson_bursts_with_silence_between():
    """Base rate 0: nothing arrives between bursts; inside them the rate is the burst's (count
    over 200 bursts of 5 ms at 4000/s: 4000 expected, Poisson SD 63, 4 SD = 253)."""
    arrivals = Arrivals("poisson", 0.0, Bursts(on_ms=5.0, off_ms=20.0, rate_per_s=4000.0))
    t = arrival_times(arrivals, 7, 4000)
    phase = np.mod(t, 0.025)
    assert (phase >= 0.020 - 1e-12).all()
    assert abs(int((t < 200 * 0.025).sum()) - 4000) < 253


def test_bursts_show_in_queue_wait():
    """One server at 1 ms per request: 500/s is fine, bursts at 2000/s queue."""
    venue = {"name": "a", "latency": constant(0.1), "service": constant(1.0), "capacity": 1}
    steady = run(
        scenario([venue], arrivals={"process": "uniform", "rate_per_s": 500.0}, requests=400)
    )
    bursty = run(
        scenario(
            [venue],
            arrivals={
                "process": "uniform",
                "rate_per_s": 500.0,
                "bursts": {"on_ms": 10.0, "off_ms": 40.0, "rate_per_s": 2000.0},
            },
            requests=400,
        )
    )
    wait = [
        r.summary["strategies"]["first_wins"]["venue_queue_wait_ms"]["a"] for r in (steady, bursty)
    ]
    assert wait[0] == 0.0 and wait[1] > 1.0


# --- cancellation reaches the venue late ---------------------------------------------------

# A answers in 1 ms network + 1 ms service; B's network is 1 ms too but its service 10 ms. The
# client takes A's quote at 2 ms and cancels B; the cancel reaches B after the outbound half,
# at 2.5 ms, 2 ms into B's service (which began at 0.5 ms).
FAST = {"name": "a", "latency": constant(1.0), "service": constant(1.0)}


def slow(propagate: bool, capacity: int | None = 1) -> dict:
    venue = {"name": "b", "latency": constant(1.0), "service": constant(10.0)}
    if capacity:
        venue["capacity"] = capacity
    return venue | {"cancel_propagation": propagate}


@pytest.mark.parametrize(("propagate", "spent_ms"), [(True, 2.0), (False, 10.0)])
def test_a_cancel_saves_the_service_after_it_arrives(propagate, spent_ms):
    venues = [FAST, slow(propagate)]
    result = run(scenario(venues, arrivals={"process": "uniform", "rate_per_s": 10.0}, requests=20))
    records = result.strategies["first_wins"].records
    assert (records.venue == 0).all() and np.allclose(records.decision_s, 0.002, rtol=0)
    assert records.venue_busy_s.tolist() == pytest.approx([0.020, 20 * spent_ms * 1e-3])
    assert records.venue_wasted_s.tolist() == pytest.approx([0.0, 20 * spent_ms * 1e-3])
    wasted = result.summary["strategies"]["first_wins"]["venue_work_wasted"]
    assert wasted == pytest.approx(spent_ms / (1.0 + spent_ms), abs=1e-6)


def test_without_propagation_abandoned_requests_hold_their_place():
    """Requests every 5 ms to a server that takes 10 ms: without propagation every request is
    served in full, so request k waits 5k ms (mean 5 (n - 1) / 2 ms); with propagation each
    is dropped 2 ms into its service, and nothing waits."""
    n = 40
    arrivals = {"process": "uniform", "rate_per_s": 200.0}
    held, dropped = (
        run(scenario([FAST, slow(p)], arrivals=arrivals, requests=n)).summary["strategies"][
            "first_wins"
        ]
        for p in (False, True)
    )
    assert held["venue_queue_wait_ms"]["b"] == pytest.approx(5.0 * (n - 1) / 2)
    assert dropped["venue_queue_wait_ms"]["b"] == 0.0
    # Without propagation B works from the first arrival (5.5 ms) until the run has drained
    # it (5.5 + 10 n ms); with it, 2 ms per request over a run that ends with the last order
    # (arrival 5 n ms, decision 2 ms, order round trip 1 ms).
    assert held["venue_utilization"]["b"] == pytest.approx(10 * n / (5.5 + 10 * n), abs=1e-6)
    assert dropped["venue_utilization"]["b"] == pytest.approx(2 * n / (5 * n + 3), abs=1e-6)
    assert held["venue_work_wasted"] > dropped["venue_work_wasted"]


@pytest.mark.parametrize(("propagate", "busy_s"), [(True, 10.0), (False, 20.0)])
async def test_a_cancel_of_a_queued_request_drops_it_before_any_work(
    autojump_clock, propagate, busy_s
):
    """One server; X arrives at 0.5 and is served until 10.5; Y arrives at 0.6 and queues
    behind it. Y's client gives up at 1.0, so its cancel arrives at 1.5 (outbound 0.5), while Y
    is still queued: with propagation Y costs nothing, without it is served for nothing."""
    servers = Servers(capacity=1, cancel_propagation=propagate, settle=False)
    started = {}

    async def ask(name: str, arrive: float, request: int, give_up_at: float) -> None:
        with trio.move_on_at(give_up_at):
            job = await servers.serve(arrive, 0.5, 10.0, request, 0)
            started[name] = job.start
            await trio.sleep_until(job.start + job.service + 0.5)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(servers.run)
        nursery.start_soon(ask, "X", 0.5, 0, math.inf)
        nursery.start_soon(ask, "Y", 0.6, 1, 1.0)
        await trio.sleep(100.0)
        nursery.cancel_scope.cancel()
    servers.finish(trio.current_time())
    assert started == {"X": 0.5}
    assert (servers.busy_s, servers.started) == (busy_s, 1 + (not propagate))


@pytest.mark.parametrize("scheduler_seed", range(8))
async def test_a_request_sent_at_its_own_arrival_instant_keeps_its_place(
    autojump_clock, monkeypatch, scheduler_seed
):
    """With zero outbound latency a request reaches the venue in the instant it is sent, maybe
    after the dispatcher woke for that instant. Request 1 (sent at 1.0 by a task that wakes
    then) and request 5 (sent earlier, arriving at 1.0) tie: the lower request is served first
    whatever trio's scheduling order, because the dispatcher lets the instant settle."""
    monkeypatch.setattr(trio._core._run, "_r", random.Random(scheduler_seed))
    servers = Servers(capacity=1, cancel_propagation=False, settle=True)
    started = {}

    async def ask(request: int, send_at: float) -> None:
        await trio.sleep_until(send_at)
        started[request] = (await servers.serve(1.0, 0.0, 1.0, request, 0)).start

    async with trio.open_nursery() as nursery:
        nursery.start_soon(servers.run)
        nursery.start_soon(ask, 5, 0.5)
        nursery.start_soon(ask, 1, 1.0)
        await trio.sleep(10.0)
        nursery.cancel_scope.cancel()
    assert started == {1: 1.0, 5: 2.0}


def test_quotes_that_lose_the_comparison_are_wasted_work_too():
    """Two identical venues, 1 ms of service each: whichever strategy, one of the two answers
    is acted on and the other's service was for nothing: exactly half."""
    venues = [{"name": n, "latency": constant(1.0), "service": constant(1.0)} for n in ("a", "b")]
    strategies = [{"kind": "first_wins"}, {"kind": "best_price"}, {"kind": "first_k", "k": 2}]
    result = run(
        scenario(
            venues,
            strategies=strategies,
            arrivals={"process": "uniform", "rate_per_s": 100.0},
            requests=50,
        )
    )
    for s in result.summary["strategies"].values():
        assert s["venue_work_wasted"] == 0.5


def test_unlimited_servers_still_count_wasted_work():
    result = run(
        scenario(
            [FAST, slow(True, capacity=None)],
            arrivals={"process": "uniform", "rate_per_s": 1e6},
            requests=5,
        )
    )
    s = result.summary["strategies"]["first_wins"]
    assert s["venue_utilization"] == {"a": None, "b": None}
    assert s["venue_queue_wait_ms"] == {"a": 0.0, "b": 0.0}
    assert s["venue_work_wasted"] == pytest.approx(2.0 / 3.0, abs=1e-6)


def test_servers_are_deterministic_under_any_scheduling(monkeypatch):
    """Ties at the venue (uniform arrivals, constant latencies: many events per instant) are
    broken by request, never by trio's scheduling order."""
    venues = [
        {
            "name": "a",
            "latency": constant(0.0),
            "service": constant(1.0),
            "capacity": 2,
            "cancel_propagation": True,
        },
        {
            "name": "b",
            "latency": constant(1.0),
            "service": {"dist": "exponential", "mean_ms": 1},
            "capacity": 1,
            "cancel_propagation": True,
        },
        {"name": "c", "latency": constant(0.5), "service": constant(0.5), "capacity": 1},
    ]
    s = scenario(
        venues,
        strategies=[{"kind": "first_wins"}, {"kind": "first_k", "k": 2}, {"kind": "hedged"}],
        arrivals={"process": "closed", "clients": 6},
        requests=600,
    )
    outputs = set()
    for scheduler_seed in (1, 2, 3, 4):
        monkeypatch.setattr(trio._core._run, "_r", random.Random(scheduler_seed))
        result = run(s)
        tables = b"".join(result.records(n).tobytes() for n in result.strategies)
        outputs.add((summary_json(result.summary), tables))
    assert len(outputs) == 1


def test_a_served_quote_expires_counting_from_when_it_was_priced():
    """Network 1 ms, service 10 ms: the venue prices at 10.5 ms (0.5 out, 10 of service), the
    quote arrives at 11, the order reaches the venue at 11.5 (order round trip 1 ms). A TTL of
    exactly 1 ms expires at 11.5: it fills; a hair less and it is expired."""
    for ttl_ms, outcome in ((1.0, "filled"), (0.999, "expired")):
        venue = {
            "name": "a",
            "latency": constant(1.0),
            "service": constant(10.0),
            "quote_ttl_ms": ttl_ms,
        }
        result = run(
            scenario([venue], arrivals={"process": "uniform", "rate_per_s": 10.0}, requests=5)
        )
        outcomes = result.records("first_wins")["outcome"].tolist()
        assert outcomes == [OUTCOMES.index(outcome)] * 5, ttl_ms


def test_on_the_wall_clock_a_server_still_serves_one_at_a_time(monkeypatch):
    """Tasks run late on the wall clock and register arrivals for instants the dispatcher has
    handled; they must count from its present: never more in service than the capacity (one),
    and never a start before the arrival. (A tenth of a second of wall time.)"""
    served: dict[int, list[tuple[float, float, float]]] = {}
    final = Servers._final

    def record(self, job, spent):
        if not math.isnan(job.start) and spent > 0:
            served.setdefault(id(self), []).append((job.arrive, job.start, job.start + spent))
        final(self, job, spent)

    monkeypatch.setattr(Servers, "_final", record)
    venue = {
        "name": "a",
        "latency": constant(0.05),
        "service": {"dist": "exponential", "mean_ms": 0.6},
        "capacity": 1,
        "cancel_propagation": True,
    }
    arrivals = {"process": "poisson", "rate_per_s": 1500.0}
    run(scenario([venue, venue | {"name": "b"}], arrivals=arrivals, requests=150, clock="real"))
    assert len(served) == 2 and sum(map(len, served.values())) >= 150
    for jobs in served.values():
        assert all(start >= arrive for arrive, start, _ in jobs)
        jobs.sort(key=lambda job: job[1])
        assert all(jobs[k][2] <= jobs[k + 1][1] for k in range(len(jobs) - 1))


# --- coordinated omission -------------------------------------------------------------------


def test_corrected_equals_measured_when_nothing_stalls():
    venue = {"name": "a", "latency": {"dist": "uniform", "low_ms": 1.0, "high_ms": 2.0}}
    arrivals = {"process": "closed", "clients": 2, "think_ms": constant(5.0)}
    result = run(scenario([venue], arrivals=arrivals, requests=2000))
    s = result.summary["strategies"]["first_wins"]
    assert s["expected_interval_ms"] > s["decision_ms"]["max"]
    assert s["decision_ms_corrected"] == s["decision_ms"]
    decision_s = result.strategies["first_wins"].records.decision_s
    interval_s = s["expected_interval_ms"] * 1e-3
    corrected, measured = corrected_histogram(decision_s, interval_s), latency_histogram(decision_s)
    assert list(corrected.counts) == list(measured.counts)


def test_a_stall_adds_the_requests_a_client_on_schedule_would_have_sent():
    """Decisions of 1 ms, one of 50.5 ms, interval 3 ms: HdrHistogram's rule (Java's
    recordValueWithExpectedInterval) adds 50.5 - 3k for k = 1..15, down to 5.5 ms, the last
    at least one interval; not 2.5 ms, which hdrh's Python port would add too."""
    decision_s = np.full(1000, 1e-3)
    decision_s[10] = 50.5e-3
    corrected = corrected_histogram(decision_s, 3e-3)
    assert corrected.get_total_count() == 1000 + 15
    added = [50.5 - 3 * k for k in range(1, 16)]
    for ms in added:
        assert corrected.get_count_at_value(round(ms * 1e6)) == 1, ms
    assert corrected.get_count_at_value(round(2.5e6)) == 0
    assert corrected.get_count_at_value(round(1e6)) == 999
    # The summary's mean is the exact mean of the measured and the added values.
    expected_mean = (999 * 1.0 + 50.5 + sum(added)) / 1015
    summary = corrected_latency_ms(decision_s, 3e-3)
    assert summary["mean"] == pytest.approx(expected_mean, abs=1e-6)
    assert summary["max"] == 50.5
    assert corrected_latency_ms(decision_s, 0.06) == latency_ms(
        latency_histogram(decision_s), decision_s
    )


def test_a_closed_loop_thinking_past_engine_resolution_is_bad_input():
    venue = {"name": "a", "latency": constant(1.0)}
    arrivals = {"process": "closed", "clients": 2, "think_ms": constant(1e6)}  # 1000 s each
    with pytest.raises(ScenarioError, match=r"arrivals\.think_ms: the clients think too long"):
        run(scenario([venue], arrivals=arrivals, requests=4002))  # 2001 thoughts: 2.001e6 s


def test_a_closed_loop_running_past_the_limits_stops_with_one_line(monkeypatch):
    """A closed loop's span is known only as it runs: past engine time's resolution, or past
    the market path's memory, it stops with the key to change (limits lowered here so that the
    test is quick)."""
    from sim.engines import fast
    from sim.engines import trio as engine
    from sim.model import market

    venue = {"name": "a", "latency": constant(1.0)}
    arrivals = {"process": "closed", "clients": 1}
    monkeypatch.setattr(engine, "MAX_SPAN_S", 1.0)
    monkeypatch.setattr(fast, "MAX_SPAN_S", 1.0)
    for name in ("trio", "fast"):
        with pytest.raises(ScenarioError, match=r"^t: arrivals: the closed loop ran past 1 s"):
            run(scenario([venue], arrivals=arrivals, requests=1000), engine=name)  # 2 s
    monkeypatch.undo()
    monkeypatch.setattr(market, "MAX_MARKET_UPDATES", 5000)
    moving = parse(
        {
            "arrivals": arrivals,
            "market": {"volatility_bps": 1.0, "updates_per_s": 1000.0},
            "venues": [venue],
            "strategies": [{"kind": "first_wins"}],
        },
        default_name="t",
    ).with_overrides(requests=5000)  # 10 s: 10,000 updates
    for name in ("trio", "fast"):
        with pytest.raises(ScenarioError, match=r"^t: market\.updates_per_s: the run went on"):
            run(moving, engine=name)


def test_expected_interval_too_short_is_bad_input(tmp_path):
    venue = {"name": "a", "latency": constant(1000.0)}
    arrivals = {"process": "closed", "clients": 1, "expected_interval_ms": 1e-6}
    with pytest.raises(ScenarioError, match=r"arrivals\.expected_interval_ms: the correction"):
        run(scenario([venue], arrivals=arrivals, requests=200))


# --- the wall clock -------------------------------------------------------------------------


def test_the_wall_clock_runs_the_same_race_and_reports_timer_overshoot():
    """200 requests at 2000/s: a tenth of a second of wall time. The decision can only be later
    than the drawn latency (timers wake late, never early), and the overshoot is reported."""
    venue = {"name": "a", "latency": constant(1.0)}
    arrivals = {"process": "uniform", "rate_per_s": 2000.0}
    result = run(scenario([venue], arrivals=arrivals, requests=200, clock="real"))
    assert result.summary["clock"] == "real"
    s = result.summary["strategies"]["first_wins"]
    overshoot = s["timer_overshoot_ms"]
    assert 0.0 < overshoot["p50"] <= overshoot["max"]
    assert s["decision_ms"]["p50"] >= 1.0
    assert s["fill_rate"] == 1.0
    records = result.strategies["first_wins"].records
    # one overshoot per request start and per order round trip
    assert records.timer_overshoot_s.size == 400
    assert (records.timer_overshoot_s > 0).all()  # a timer wakes after its deadline
    virtual = run(scenario([venue], arrivals=arrivals, requests=200))
    assert "timer_overshoot_ms" not in virtual.summary["strategies"]["first_wins"]
    assert virtual.summary["clock"] == "virtual"


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrivals", "venue", "header", "message"),
    [
        ({"process": "closed"}, {}, {}, "arrivals.clients: missing"),
        (
            {"process": "closed", "clients": 2, "rate_per_s": 5.0},
            {},
            {},
            "arrivals.rate_per_s: not for a closed loop",
        ),
        ({"process": "poisson", "clients": 2}, {}, {}, "arrivals.clients: only for process"),
        ({"process": "uniform", "think_ms": constant(1)}, {}, {}, "arrivals.think_ms: only for"),
        ({"process": "poisson", "rate_per_s": 0.0}, {}, {}, "arrivals.rate_per_s: must be > 0"),
        ({"process": "closed", "clients": 0}, {}, {}, "arrivals.clients: must be >= 1"),
        (
            {"process": "poisson", "bursts": {"on_ms": 1, "off_ms": 1}},
            {},
            {},
            "arrivals.bursts.rate_per_s: missing",
        ),
        ({}, {"capacity": 2}, {}, "venues[0].service: missing"),
        ({}, {"cancel_propagation": True}, {}, "venues[0].service: missing"),
        (
            {},
            {"service": constant(1), "cancel_propagation": 1},
            {},
            "venues[0].cancel_propagation: must be true or false",
        ),
        ({}, {"service": constant(1), "capacity": 0}, {}, "venues[0].capacity: must be >= 1"),
        ({}, {}, {"clock": "wall"}, "scenario.clock: must be one of 'virtual', 'real'"),
        (
            {"process": "poisson", "bursts": {"on_ms": 1e308, "off_ms": 1, "rate_per_s": 1e10}},
            {},
            {},
            "arrivals.bursts: too large to compute with",
        ),
        (
            {"process": "closed", "clients": 1, "expected_interval_ms": 1e-300},
            {},
            {},
            "arrivals.expected_interval_ms: must be >= 1e-06",
        ),
    ],
)
def test_bad_load_settings_name_the_key(arrivals, venue, header, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        scenario([{"name": "a", "latency": constant(1.0)} | venue], arrivals=arrivals, **header)
