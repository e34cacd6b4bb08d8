"""The draws of a scenario: arrivals, sides, and every venue's latencies, failures, quote noise and
order latencies, made up front.

Drawing before the run, from streams keyed by purpose, venue and attempt (sim.model.streams), is
what makes a run deterministic under trio's randomized scheduler and gives every strategy the
same draws. A retry is attempt 1, 2, ...: its own streams, so allowing retries changes no
first-race draw. Correlated slowness (`[shared_latency]`, `[regime]`: sim.model.regime) and
replayed traces (sim.model.trace) go into the quote latencies here, so every engine, and every
venue server over the network, sees them alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.model.arrivals import arrival_chunks, think_times
from sim.model.errors import ScenarioError
from sim.model.regime import RegimeChain
from sim.model.streams import Purpose, blocked
from sim.model.trace import Trace, trace_s
from venues.latency import Latency, sample_s
from venues.venue import VenueDraws, VenueSpec

if TYPE_CHECKING:
    from sim.model.scenario import Scenario

MAX_ORDER_ROUND_TRIP_S = 3600.0


@dataclass(frozen=True)
class Draws:
    """Everything random in a run, drawn before it starts.

    `side[i]` is request i's side (+1 buy, -1 sell); `venues[v]` holds venue v's draws as
    arrays indexed [attempt, request]. An open loop has `arrival_s[i]`, request i's start time;
    a closed loop has `think_s[i]`, the time its client thinks before sending it, instead.
    """

    arrival_s: np.ndarray | None
    side: np.ndarray
    venues: tuple[VenueDraws, ...]
    think_s: np.ndarray | None = None

    @property
    def requests(self) -> int:
        """How many requests were drawn for."""
        return self.side.size

    @property
    def latency_s(self) -> tuple[np.ndarray, ...]:
        """Each venue's first-attempt quote latencies (seconds)."""
        return tuple(np.asarray(v.latency_s[0]) for v in self.venues)

    @property
    def answers(self) -> tuple[np.ndarray, ...]:
        """Whether each venue answers each request's first attempt."""
        return tuple(np.asarray(v.answers[0]) for v in self.venues)

    def rows(self, requests: slice) -> Draws:
        """The draws of `requests` alone, indexed from 0."""
        return _mapped(lambda x: x[..., requests], self)

    def then(self, later: Draws) -> Draws:
        """These draws, then `later`'s: requests indexed on from these."""
        return _mapped(lambda x, y: np.concatenate([x, y], axis=-1), self, later)


def _mapped(f: Callable, *draws: Draws) -> Draws:
    """Draws with `f` applied to the arrays of `draws` alike (arrivals, sides, every venue's)."""

    def venue(*vs: VenueDraws) -> VenueDraws:
        def mapped(name: str) -> np.ndarray | None:
            if getattr(vs[0], name) is None:
                return None
            return f(*(getattr(v, name) for v in vs))

        return VenueDraws(*(mapped(x.name) for x in dataclasses.fields(VenueDraws)))

    def each(name: str) -> np.ndarray | None:  # an open loop's arrivals, a closed one's thinking
        arrays = [getattr(d, name) for d in draws]
        return None if arrays[0] is None else f(*arrays)

    return Draws(
        arrival_s=each("arrival_s"),
        side=f(*(d.side for d in draws)),
        venues=tuple(venue(*vs) for vs in zip(*(d.venues for d in draws), strict=True)),
        think_s=each("think_s"),
    )


def draw(scenario: Scenario, attempts: int | None = None) -> Draws:
    """All draws of `scenario` under its seed, for `attempts` tries per request (default: enough
    for the strategy with the most retries)."""
    n = scenario.requests
    if scenario.arrivals.closed:
        return _draws(scenario, attempts, 0, n, None, _thinking(scenario))
    if n == 0:
        return _draws(scenario, attempts, 0, 0, np.empty(0))
    return next(draw_chunks(scenario, n, attempts))


def draw_chunks(scenario: Scenario, size: int, attempts: int | None = None) -> Iterator[Draws]:
    """The draws of `scenario`, `size` requests at a time (a multiple of sim.model.streams.BLOCK,
    or all of them at once): chunk c holds requests c * size onwards, indexed from 0, exactly
    as `draw` has them."""
    n = scenario.requests
    if scenario.arrivals.closed:
        _check_thinking(scenario, size)
        for first in range(0, n, size):
            think_s = _think_chunk(scenario, first, min(size, n - first))
            yield _draws(scenario, attempts, first, think_s.size, None, think_s)
        return
    times = arrival_chunks(scenario.arrivals, scenario.seed, n, size)
    chains = _chains(scenario)
    for first, arrival_s in zip(range(0, n, size), times, strict=True):
        yield _draws(scenario, attempts, first, arrival_s.size, arrival_s, chains=chains)


def _chains(scenario: Scenario) -> list[RegimeChain]:
    """The regime's chains (sim.model.regime): none, one shared, or one per venue."""
    regime = scenario.regime
    if regime is None:
        return []
    if regime.shared:
        return [RegimeChain(regime, scenario.seed, None)]
    return [RegimeChain(regime, scenario.seed, v) for v in range(len(scenario.venues))]


def _draws(
    scenario: Scenario,
    attempts: int | None,
    first: int,
    n: int,
    arrival_s: np.ndarray | None,
    think_s: np.ndarray | None = None,
    chains: Sequence[RegimeChain] = (),
) -> Draws:
    """The draws of requests first .. first + n - 1 (an open loop's `arrival_s`, or a closed
    loop's `think_s`); `chains`, the regime's, read at `arrival_s`."""
    if attempts is None:
        attempts = 1 + max((s.max_retries for s in scenario.strategies), default=0)
    shared_s = _shared_latency_s(scenario, attempts, first, n, arrival_s)
    scales = [np.where(c.stressed(arrival_s, first), c.regime.stressed_scale, 1.0) for c in chains]
    return Draws(
        arrival_s=arrival_s,
        side=_sides(scenario.order.side, scenario.seed, first, n),
        venues=tuple(
            _venue_draws(
                scenario, v, spec, attempts, first, n, arrival_s, shared_s, _pick(scales, v)
            )
            for v, spec in enumerate(scenario.venues)
        ),
        think_s=think_s,
    )


def _pick(scales: list[np.ndarray], v: int) -> np.ndarray | None:
    """Venue `v`'s regime factors: the shared chain's, its own chain's, or none."""
    return scales[0 if len(scales) == 1 else v] if scales else None


def _shared_latency_s(
    scenario: Scenario, attempts: int, first: int, n: int, arrival_s: np.ndarray | None
) -> np.ndarray | None:
    """`[shared_latency]`'s draws, [attempt, request]: one per race, the same for every venue
    (keyed by attempt, as a venue's own draws are)."""
    dist = scenario.shared_latency
    if dist is None:
        return None
    seed = scenario.seed
    if isinstance(dist, Trace):
        return _replayed(dist, arrival_s, attempts, scenario)
    draws = [
        blocked(seed, Purpose.SHARED_LATENCY, (a,), n, lambda rng, k: sample_s(dist, rng, k), first)
        for a in range(attempts)
    ]
    return _finite(np.stack(draws), "shared_latency", scenario)


def _thinking(scenario: Scenario) -> np.ndarray:
    """A closed loop's think times; the longest any client thinks in all bounds the run's span
    from below, which must fit."""
    arrivals, n = scenario.arrivals, scenario.requests
    think_s = _finite(think_times(arrivals, scenario.seed, n), "arrivals.think_ms", scenario)
    per_client = np.bincount(np.arange(n) % arrivals.clients, weights=think_s)
    scenario.check_span(float(per_client.max()), "arrivals.think_ms", "the clients think too long")
    return think_s


def _think_chunk(scenario: Scenario, first: int, n: int) -> np.ndarray:
    """A closed loop's think times of requests first .. first + n - 1, as `think_times` draws
    them all (keyed by block)."""
    think = scenario.arrivals.think_ms
    if think is None:
        return np.zeros(n)
    return blocked(
        scenario.seed, Purpose.THINK, (), n, lambda rng, k: sample_s(think, rng, k), first
    )


def _check_thinking(scenario: Scenario, size: int) -> None:
    """`_thinking`'s checks, on its think times drawn `size` at a time."""
    clients, n = scenario.arrivals.clients, scenario.requests
    per_client = np.zeros(clients)
    for first in range(0, n, size):
        think_s = _finite(
            _think_chunk(scenario, first, min(size, n - first)), "arrivals.think_ms", scenario
        )
        per_client += np.bincount(
            (first + np.arange(think_s.size)) % clients, weights=think_s, minlength=clients
        )
    scenario.check_span(float(per_client.max()), "arrivals.think_ms", "the clients think too long")


def _venue_draws(
    scenario: Scenario,
    v: int,
    spec: VenueSpec,
    attempts: int,
    first: int,
    n: int,
    arrival_s: np.ndarray | None,
    shared_s: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> VenueDraws:
    """Venue `v`'s draws of requests first .. first + n - 1, each purpose from its own streams
    keyed (v, attempt). Its quote latency is its own draw, plus `shared_s` (every venue's, per
    attempt and request), times `scale` (per request: the regime's factor)."""
    seed = scenario.seed
    order_latency = spec.order_latency or spec.latency
    key = f"venues[{v}]"

    def per_attempt(purpose: Purpose, draw: Callable[[np.random.Generator, int], np.ndarray]):
        return np.stack([blocked(seed, purpose, (v, a), n, draw, first) for a in range(attempts)])

    def latencies(purpose: Purpose, dist: Latency | Trace) -> np.ndarray:
        if isinstance(dist, Trace):
            return _replayed(dist, arrival_s, attempts, scenario)
        return per_attempt(purpose, lambda rng, k: sample_s(dist, rng, k))

    latency_s = _correlated(latencies(Purpose.QUOTE_LATENCY, spec.latency), shared_s, scale)
    # A venue that never fails answers every request, and one without noise adds 0.0 to every
    # price: the values those draws would give, without drawing (each purpose has its own
    # streams, so skipping one moves no other draw).
    answers = (
        np.ones((attempts, n), dtype=bool)
        if spec.fail_prob == 0
        else per_attempt(Purpose.FAILURE, lambda rng, k: rng.random(k) >= spec.fail_prob)
    )
    noise_bps = (
        np.zeros((attempts, n))
        if spec.noise_bps == 0
        else per_attempt(Purpose.QUOTE_NOISE, lambda rng, k: rng.normal(0, spec.noise_bps, k))
    )
    return VenueDraws(
        latency_s=_finite(latency_s, f"{key}.latency", scenario),
        answers=answers,
        noise_bps=noise_bps,
        order_latency_s=_within_an_hour(
            latencies(Purpose.ORDER_LATENCY, order_latency),
            f"{key}.order_latency" if spec.order_latency else f"{key}.latency",
            scenario,
        ),
        service_s=None
        if spec.service is None
        else _finite(
            per_attempt(Purpose.SERVICE, lambda rng, k: sample_s(spec.service, rng, k)),
            f"{key}.service",
            scenario,
        ),
    )


def _correlated(
    latency_s: np.ndarray, shared_s: np.ndarray | None, scale: np.ndarray | None
) -> np.ndarray:
    """A venue's own quote latencies [attempt, request], plus the shared draws, times the
    regime's factor per request (untouched, bit for bit, without either)."""
    if shared_s is not None:
        latency_s = latency_s + shared_s
    if scale is not None:
        latency_s = latency_s * scale[None, :]
    return latency_s


def _replayed(trace: Trace, arrival_s: np.ndarray, attempts: int, scenario: Scenario) -> np.ndarray:
    """A trace's measurements in force at each arrival, [attempt, request]: every attempt of a
    request takes its arrival's (a re-race's time is known only as the run goes). Engine time
    0 is `[scenario] start`, else the trace's first row."""
    replayed = trace_s(trace, arrival_s, scenario.seed, scenario.start_ns())
    return np.stack([replayed] * attempts)


def _sides(side: str, seed: int, first: int, n: int) -> np.ndarray:
    if side == "random":
        coin = blocked(seed, Purpose.SIDE, (), n, lambda rng, k: rng.random(k) < 0.5, first)
        return np.where(coin, 1, -1).astype(np.int8)
    return np.full(n, 1 if side == "buy" else -1, dtype=np.int8)


def _finite(latency_s: np.ndarray, key: str, scenario: Scenario) -> np.ndarray:
    """`latency_s`, unless parameters so extreme that draws overflow made some non-finite."""
    if not np.isfinite(latency_s).all():
        bad = latency_s[~np.isfinite(latency_s)][0]
        message = f"parameters too extreme: a draw came out {bad} (not a finite latency)"
        raise ScenarioError(key, message, scenario.file)
    return latency_s


def _within_an_hour(latency_s: np.ndarray, key: str, scenario: Scenario) -> np.ndarray:
    """Order round trips, which no timeout cuts short, must come back within the hour."""
    latency_s = _finite(latency_s, key, scenario)
    if latency_s.size and latency_s.max() > MAX_ORDER_ROUND_TRIP_S:
        message = (
            f"an order round trip was drawn at {latency_s.max():.3g} s; orders must return "
            f"within {MAX_ORDER_ROUND_TRIP_S:g} s (a heavier tail than a venue can have)"
        )
        raise ScenarioError(key, message, scenario.file)
    return latency_s
