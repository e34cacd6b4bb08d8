"""The fast engine: the same races decided with numpy, from the same draws, all at once.

Where requests do not interact, a race's outcome is a function of its own draws: which venues
answer, when, at what price, and what last look makes of the order. Then there is no need to
run the races as tasks: arrays over (venue, request) give every decision at once, a few
hundred times faster than trio. Where they do interact (a strategy that learns within the
run, a closed loop), sim.engines.scan decides them in event order first; venue servers are
queue scans (sim.engines.queues), or events of that scan where races move the queues
(sim.engines.scan_kernels.served). `unsupported(scenario)` says why a scenario needs the trio engine
instead (the wall clock, a rule this engine does not know, retries with state or in a closed
loop, retries or staggered asks through venue servers, adaptive learning from last look or
expiry through them); `run_fast` gives the same Records as `sim.engines.trio.run_trio`.

The rules are the strategies' own: each states its rule over arrays (`decide_arrays`, see
strategies.arrays) beside its trio gatherer; last look is venues.last_look's `judge_arrays`.
This engine prices the orders a rule decides, judges them, and settles them attempt by
attempt. Latencies are the drawn values, as the trio engine records them (the arrival of the
quotes a strategy took). Legs are settled in the order the trio engine settles them, so that
a partial fill, its VWAP and the size left to re-race are the same floats.

Venue servers (sim.engines.queues) add queue wait and service to the quotes' latencies and
price them when service ends: the rules then decide on those latencies as on drawn ones.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from sim.engines.queues import Queued
from sim.engines.records import (
    FILLED,
    FILLED_SHARE_SLACK,
    NO_QUOTE,
    ORDER_REJECTS,
    REJECTED,
    Records,
)
from sim.engines.scan import (
    Carried,
    Scanned,
    Servers,
    closed_loop_starts,
    needs_scan,
    refused,
    refused_in_closed_loop,
    refused_through_servers,
    resumable,
    scan,
    through_servers,
)
from sim.model import streams
from sim.model.arrivals import MAX_SPAN_S
from sim.model.draws import Draws
from sim.model.errors import ScenarioError
from sim.model.market import MidPath
from strategies.arrays import Decisions, QuoteArrays
from venues.last_look import LastLook, adverse_move_bps, judge_arrays
from venues.latency import whole_ns
from venues.pricing import Ladder, quote_price
from venues.venue import VenueSpec

BLOCK = streams.BLOCK  # requests decided together: bounds the temporaries, blocks run in parallel
ASKS_LATER = ("staggered",)  # kinds that ask venues after the request: not through servers yet


def array_rule(strategy: object) -> Callable[[QuoteArrays], Decisions] | None:
    """The strategy's rule over arrays, when its own class states one beside its `decide` (a
    subclass that only inherits it may decide differently), else None."""
    if "decide_arrays" not in vars(type(strategy)):
        return None
    return strategy.decide_arrays


def compiled(scenario) -> bool:
    """Whether the fast engine runs compiled scans (numba) for `scenario`: through venue
    servers, in a closed loop, or for a strategy that learns within the run."""
    return (
        scenario.arrivals.closed
        or any(v.service is not None for v in scenario.venues)
        or any(needs_scan(entry.strategy) for entry in scenario.strategies)
    )


def unsupported(scenario) -> str | None:
    """Why `scenario` needs the trio engine, or None when the fast engine can run it."""
    if scenario.clock != "virtual":
        return "the wall clock"
    closed = scenario.arrivals.closed
    served = any(v.service is not None for v in scenario.venues)
    last_look = any(v.last_look is not None for v in scenario.venues)
    expires = any(v.quote_ttl_ms is not None for v in scenario.venues)
    for entry in scenario.strategies:
        if closed and entry.max_retries:
            return f"strategy {entry.name} (retries in a closed loop: trio only)"
        if closed and last_look and hasattr(entry.strategy, "observe_report"):
            kind = entry.strategy.kind  # its verdicts feed the very races that time them
            return f"strategy {entry.name} ({kind}: learns from last look in a closed loop)"
        why = refused_in_closed_loop(entry.strategy) if closed else None
        if why is not None:
            return f"strategy {entry.name} ({entry.strategy.kind}: {why})"
        strategy = entry.strategy
        if served and (last_look or expires) and hasattr(strategy, "observe_report"):
            kind = strategy.kind  # its verdicts would depend on when the queues answer
            return (
                f"strategy {entry.name} ({kind}: learns from last look or expiry through servers)"
            )
        why = refused_through_servers(strategy, closed) if served else None
        if why is not None:
            return f"strategy {entry.name} ({strategy.kind}: {why})"
        if needs_scan(strategy):  # hedged, adaptive: what one race learns, the next uses
            why = refused(strategy, entry.max_retries)
            if why is not None:
                return f"strategy {entry.name} ({strategy.kind}: {why})"
        elif array_rule(strategy) is None:
            return f"strategy {entry.name} ({strategy.kind}: a rule the fast engine does not know)"
        if served and entry.max_retries:
            return f"strategy {entry.name} with retries through venue servers (they queue again)"
        if served and strategy.kind in ASKS_LATER:
            return f"strategy {entry.name} ({strategy.kind}: asks venues later, through servers)"
    return None


def _recorded(venues: tuple[VenueSpec, ...]) -> np.ndarray | None:
    """(venue,) which venues quote the recorded spread; None when none does."""
    recorded = np.array([v.recorded_spread for v in venues], dtype=bool)
    return recorded if recorded.any() else None


class _Block:
    """One block's draws for one attempt, (venue x request) arrays, and the mids its quotes
    were priced at (looked up on first use: strategies.arrays.Mids); `recorded`: which venues
    price from the recorded touch instead (None: none). Through venue servers, `latency` is
    the quotes' (sim.engines.queues.Queued), priced at the engine times `priced_at`,
    `priced_after` their request; else a quote is priced halfway through its latency."""

    def __init__(
        self,
        t0,
        side,
        latency,
        answers,
        noise,
        order_latency,
        mid: MidPath,
        recorded,
        priced_at=None,
        priced_after=None,
    ) -> None:
        self.t0, self.side, self.latency, self.answers = t0, side, latency, answers
        self.noise, self.order_latency, self.mid = noise, order_latency, mid
        self.recorded = recorded
        self.priced_at, self._priced_after = priced_at, priced_after
        self._quoted: tuple[float, np.ndarray] | None = None  # (until, mids)
        self._priced: tuple[float, np.ndarray] | None = None  # (until, mids or touches)

    def quoted(self, until: float) -> np.ndarray:
        """mid(t0 + latency / 2) for every venue and request whose quote comes by `until`
        (each quote is priced halfway through its latency; later ones are never looked at,
        and get the mid at t0)."""
        if self._quoted is None or self._quoted[0] < until:
            self._quoted = until, self.mid.at(self._instants(until))
        return self._quoted[1]

    def _instants(self, until: float, rows=slice(None)) -> np.ndarray:
        """When the quotes of venues `rows` arriving by `until` were priced (t0 for the
        others)."""
        latency = self.latency[rows]
        if self.priced_at is not None:
            return np.where(latency <= until, self.priced_at[rows], self.t0[None, :])
        return self.t0[None, :] + 0.5 * np.where(latency <= until, latency, 0.0)

    def priced_after(self, venue: np.ndarray, requests: np.ndarray) -> np.ndarray:
        """How long after its request (asked at once) each quote was priced."""
        if self._priced_after is not None:
            return _picked(self._priced_after, venue, requests)
        return 0.5 * _picked(self.latency, venue, requests)

    def priced(self, until: float) -> np.ndarray:
        """`quoted`, with the recorded touch on each request's side in the rows of venues
        that quote the recorded spread (priced at the same instants)."""
        mids = self.quoted(until)
        if self.recorded is None:
            return mids
        cap = self._quoted[0]  # the instants `quoted` looked up
        if self._priced is None or self._priced[0] != cap:
            t = self._instants(cap, self.recorded)
            priced = mids.copy()
            priced[self.recorded] = self.mid.touch_at(t, self.side[None, :])
            self._priced = cap, priced
        return self._priced[1]

    def seen(self) -> np.ndarray:
        return self.mid.at(self.t0)

    def touch_of(self, venue: np.ndarray, requests: np.ndarray, sent: np.ndarray) -> np.ndarray:
        """The recorded touch the quote of venue `venue[i]` for request `requests[i]`, asked
        `sent[i]` after it, was priced from: at the instant `quoted_mid_of` looks up."""
        return self.mid.touch_at(self._instant(venue, requests, sent), self.side[requests])

    def _instant(self, venue: np.ndarray, requests: np.ndarray, sent: np.ndarray) -> np.ndarray:
        """When the quote of venue `venue[i]` for request `requests[i]`, asked `sent[i]`
        after it, was priced: (t0 + sent) + latency / 2, as the venue adds them (through
        servers, asked at once: `priced_at`)."""
        if self.priced_at is not None:
            return _picked(self.priced_at, venue, requests)
        return (self.t0[requests] + sent) + 0.5 * _picked(self.latency, venue, requests)

    def quoted_mid_of(self, venue: np.ndarray, requests: np.ndarray, sent: np.ndarray):
        """The same for the quote of venue `venue[i]` for request `requests[i]`, asked
        `sent[i]` after it: (t0 + sent) + latency / 2, as the venue adds them. The cache holds
        quotes asked at once (sent 0) up to its `until`; the others are looked up now."""
        latency = _picked(self.latency, venue, requests)
        mids = np.full(requests.size, np.nan)
        fresh = np.ones(requests.size, dtype=bool)
        if self._quoted is not None:
            cap, cached = self._quoted
            cached_ok = (sent == 0.0) & (latency <= cap)
            mids[cached_ok] = _picked(cached, venue[cached_ok], requests[cached_ok])
            fresh = ~cached_ok
        mids[fresh] = self.mid.at(self._instant(venue[fresh], requests[fresh], sent[fresh]))
        return mids


def _servers(draws: Draws, venues: tuple[VenueSpec, ...]) -> Servers | None:
    """The venues' servers on the first attempt's draws; None when no venue has any."""
    if all(v.service is None for v in venues):
        return None
    return Servers(
        tuple(
            None if v.service is None else np.asarray(d.service_s[0], dtype=np.float64)
            for v, d in zip(venues, draws.venues, strict=True)
        ),
        tuple(v.capacity for v in venues),
        tuple(v.cancel_propagation for v in venues),
    )


def _bounds(n: int) -> list[tuple[int, int]]:
    return [(a, min(a + BLOCK, n)) for a in range(0, n, BLOCK)]


class Prepared:
    """What every strategy of a run shares: the first attempt's draws as blocks of requests
    (and the mids their quotes are priced at, looked up on first use), for `venues`; and their
    servers, if any venue has them (`queues`)."""

    def __init__(self, draws: Draws, mid: MidPath, venues: tuple[VenueSpec, ...]) -> None:
        self.recorded, self.mid = _recorded(venues), mid
        self.bounds = _bounds(draws.requests)
        self.t0 = np.asarray(draws.arrival_s, dtype=np.float64)
        self.latency = np.stack(draws.latency_s)
        self.order_latency = np.stack([np.asarray(d.order_latency_s[0]) for d in draws.venues])
        self.answers = np.stack(draws.answers)
        self.noise = np.stack([np.asarray(d.noise_bps[0]) for d in draws.venues])
        self.side = draws.side.astype(np.float64)
        self.blocks = [self._block(slice(a, b)) for a, b in self.bounds]
        self.queues = None
        servers = _servers(draws, venues)
        if servers is not None:
            from sim.engines.queues import Queues  # numba, loaded only for venue servers

            self.queues = Queues(
                self.t0,
                self.latency,
                self.answers,
                list(servers.service),
                list(servers.capacity),
                list(servers.propagates),
            )

    def _block(self, requests, queued=None, took=None) -> _Block:
        """A block of `requests` (a slice or indices), through the servers as `queued`
        (sim.engines.queues.Queued) has them, if given; only the quotes in `took` (venue x
        request) answering, if given."""
        r, q = requests, queued
        through = () if q is None else (q.priced_at[:, r], q.priced_after[:, r])
        answers = self.answers[:, r] if took is None else self.answers[:, r] & took[:, r]
        return _Block(
            self.t0[r],
            self.side[r],
            self.latency[:, r] if q is None else q.latency[:, r],
            answers,
            self.noise[:, r],
            self.order_latency[:, r],
            self.mid,
            self.recorded,
            *through,
        )

    def served(
        self, queued, requests: np.ndarray | None = None, took: np.ndarray | None = None
    ) -> list[_Block]:
        """Blocks of `requests` (None: all) with their quotes through the venues' servers
        (`queued`: sim.engines.queues.Queued), only those in `took` answering (all: None;
        the quotes a race that waits for k took, sim.engines.scan.Scanned)."""
        if requests is None:
            return [self._block(slice(a, b), queued, took) for a, b in self.bounds]
        return [self._block(requests[a:b], queued, took) for a, b in _bounds(requests.size)]


def _retry_blocks(draws: Draws, attempt: int, rows, start, side, mid, recorded) -> list[_Block]:
    """Blocks of the requests `rows` racing again, from `start`, on their attempt's draws."""

    def stacked(field: str) -> np.ndarray:
        return np.stack([np.asarray(getattr(d, field)[attempt])[rows] for d in draws.venues])

    arrays = [stacked(f) for f in ("latency_s", "answers", "noise_bps", "order_latency_s")]
    return [
        _Block(start[a:b], side[a:b], *(x[:, a:b] for x in arrays), mid, recorded)
        for a, b in _bounds(rows.size)
    ]


@dataclass(frozen=True)
class _Venues:
    """Per venue: skew, quote time to live and last-look hold in seconds, last-look policy."""

    skew: np.ndarray
    ttl_s: np.ndarray
    hold_s: np.ndarray
    policies: tuple[LastLook | None, ...]
    last_look: np.ndarray
    ttl_ns: np.ndarray  # whole_ns of ttl_s and hold_s
    hold_ns: np.ndarray


@functools.lru_cache(maxsize=64)
def _constants(venues: tuple[VenueSpec, ...]) -> _Venues:
    ttl_s = np.array(
        [math.inf if v.quote_ttl_ms is None else v.quote_ttl_ms * 1e-3 for v in venues]
    )
    hold_s = np.array([0.0 if v.last_look is None else v.last_look.hold_ms * 1e-3 for v in venues])
    return _Venues(
        np.array([v.skew_bps for v in venues]),
        ttl_s,
        hold_s,
        tuple(v.last_look for v in venues),
        np.array([v.last_look is not None for v in venues], dtype=bool),
        whole_ns(ttl_s),
        whole_ns(hold_s),
    )


def _picked(x: np.ndarray, venue: np.ndarray, requests: np.ndarray) -> np.ndarray:
    """x[venue, requests] of a (venue x request) array: through one flat index over its rows
    where a request's values lie side by side (a block's columns of a run's arrays; numpy
    indexes by two arrays several times slower), or from its first column where every
    request's are the same (a broadcast)."""
    step = x.itemsize
    if x.strides[1] == 0:
        return x[:, 0].take(venue)
    if x.strides[1] != step or x.strides[0] % step or x.strides[0] <= 0 or 0 in x.shape:
        return x[venue, requests]
    row = x.strides[0] // step
    rows = as_strided(x, shape=((x.shape[0] - 1) * row + x.shape[1],), strides=(step,))
    return rows.take(venue * row + requests)


def _expires_at(sent: np.ndarray | None, priced_ns: np.ndarray, ttl_ns: np.ndarray) -> np.ndarray:
    """When each quote expires, in whole ns after its request: asked `sent` after it (None:
    at once, which adds nothing), priced `priced_ns` after being asked, living `ttl_ns`."""
    if sent is None:
        return priced_ns + ttl_ns
    return (whole_ns(np.broadcast_to(sent, priced_ns.shape)) + priced_ns) + ttl_ns


@functools.lru_cache(maxsize=64)
def _walk(venues: tuple[VenueSpec, ...], size: float) -> tuple[np.ndarray, np.ndarray]:
    walks = [Ladder(v.depth).walk(size, v.spread_bps or 0.0) for v in venues]
    return np.array([w[0] for w in walks]), np.array([w[1] for w in walks])


def _walked(venues: tuple[VenueSpec, ...], size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(venue x request) each venue's full spread for `size[i]` (its ladder walked) and the
    size it quotes; walked once when every size is the same (the same bits either way)."""
    shape = (len(venues), size.size)
    if size.size and (size == size[0]).all():
        spread, available = _walk(venues, float(size[0]))
        return np.broadcast_to(spread[:, None], shape), np.broadcast_to(available[:, None], shape)
    walks = [Ladder(v.depth).walk(size, v.spread_bps or 0.0) for v in venues]
    return np.stack([w[0] for w in walks]), np.stack([w[1] for w in walks])


@dataclass(frozen=True)
class _Orders:
    """One block's orders as a rule decided and priced them, before last look: `decisions`,
    and (leg x request) arrays of each leg's venue (-1: none), size, price, the mid its quote
    was priced at, its round trip, its expiry and check in whole ns after the request, and
    `judged`: the legs whose venues' last look looks at the mid, at `checked_t` (engine
    times, in that order)."""

    decisions: Decisions
    venue: np.ndarray
    size: np.ndarray
    price: np.ndarray
    available: np.ndarray
    quoted_mid: np.ndarray
    round_trip: np.ndarray
    expires_at: np.ndarray
    checked_at: np.ndarray
    judged: np.ndarray
    checked_t: np.ndarray


def _decide(
    block: _Block, size: np.ndarray, rule: Callable, venues: tuple[VenueSpec, ...]
) -> Decisions:
    """The rule's decisions on `block` for orders of `size` (per request)."""
    c = _constants(venues)
    spread, available = _walked(venues, size)
    return rule(
        QuoteArrays(
            latency=block.latency,
            answers=block.answers,
            side=block.side,
            size=size,
            spread=spread,
            available=available,
            skew=c.skew[:, None],
            noise=block.noise,
            mids=block,
        )
    )


def _exits(decisions: Decisions) -> np.ndarray:
    """When each race stopped gathering, after its request: at its decision, else when it
    ended without one."""
    return np.where(np.isnan(decisions.decided), decisions.ended, decisions.decided)


def _orders(
    block: _Block, size: np.ndarray, rule: Callable, venues: tuple[VenueSpec, ...]
) -> _Orders:
    """The rule's decisions on `block` for orders of `size` (per request), priced."""
    c = _constants(venues)
    spread, available = _walked(venues, size)
    d = _decide(block, size, rule, venues)
    venue = d.venue
    has, pick = venue >= 0, np.maximum(venue, 0)
    requests = np.broadcast_to(np.arange(size.size), venue.shape)
    sent = np.broadcast_to(np.zeros(size.size) if d.sent is None else d.sent, venue.shape)
    quoted_mid = np.full(venue.shape, np.nan)
    quoted_mid[has] = block.quoted_mid_of(pick[has], requests[has], sent[has])
    noise = _picked(block.noise, pick, requests)
    base = quoted_mid  # a venue quoting the recorded spread prices from the touch
    if block.recorded is not None:
        touched = has & block.recorded[pick]
        base = quoted_mid.copy()
        base[touched] = block.touch_of(pick[touched], requests[touched], sent[touched])
    price = quote_price(base, block.side, _picked(spread, pick, requests), c.skew.take(pick), noise)
    order_latency, hold = _picked(block.order_latency, pick, requests), c.hold_s.take(pick)
    judged = has & c.last_look.take(pick)
    checked_after = d.decided + 0.5 * order_latency + hold
    return _Orders(
        d,
        venue,
        np.broadcast_to(size, venue.shape) if d.size is None else d.size,
        price,
        _picked(available, pick, requests),
        quoted_mid,
        order_latency + hold,
        _expires_at(d.sent, whole_ns(block.priced_after(pick, requests)), c.ttl_ns.take(pick)),
        whole_ns(d.decided) + whole_ns(0.5 * order_latency) + c.hold_ns.take(pick),
        judged,
        (block.t0 + checked_after)[judged],
    )


@dataclass(frozen=True)
class _Attempt:
    """An attempt of requests, judged: per request its decision time (NaN: no order), when
    it ended without an order, and its orders' round trip (the slowest leg's); (leg x
    request) its legs' venue (-1: none), size, price and verdict (0: a fill, else its
    REJECTED code), in the order the trio engine settles them; quote requests per venue."""

    decided: np.ndarray
    ended: np.ndarray
    round_trip: np.ndarray
    venue: np.ndarray
    size: np.ndarray
    price: np.ndarray
    reason: np.ndarray
    venue_requests: np.ndarray

    @staticmethod
    def joined(parts: list[_Attempt]) -> _Attempt:
        fields = [np.concatenate([getattr(p, f) for p in parts], axis=-1) for f in _JOINED]
        return _Attempt(*fields, np.sum([p.venue_requests for p in parts], axis=0))


_JOINED = ("decided", "ended", "round_trip", "venue", "size", "price", "reason")


def _judge(block: _Block, o: _Orders, venues: tuple[VenueSpec, ...]) -> _Attempt:
    """Last look (venues.last_look.judge_arrays) on one block's orders."""
    checked_mid = np.full(o.venue.shape, np.nan)
    checked_mid[o.judged] = block.mid.at(o.checked_t)
    reason = judge_arrays(
        _constants(venues).policies,
        o.venue,
        checked_at=o.checked_at,
        expires_at=o.expires_at,
        move_bps=adverse_move_bps(block.side, o.quoted_mid, checked_mid),
        size=o.size,
        available=o.available,
    )
    d, count, n = o.decisions, len(venues), block.t0.size
    asked = np.full(n, count) if d.asked is None else d.asked  # the first `asked` venues
    return _Attempt(
        d.decided,
        d.ended,
        np.max(np.where(o.venue >= 0, o.round_trip, -np.inf), axis=0),
        o.venue,
        o.size,
        o.price,
        reason,
        (asked[None, :] > np.arange(count)[:, None]).sum(axis=1),
    )


def run_fast(draws: Draws, strategy: object, **options: Any) -> Records:
    """Every request of `draws` decided by `strategy`: `run_fast_legs`'s records (its keyword
    options)."""
    return run_fast_legs(draws, strategy, **options)[0]


def run_fast_legs(
    draws: Draws,
    strategy: object,
    *,
    venues: tuple[VenueSpec, ...],
    mid: MidPath,
    order_size: float = 1.0,
    prepared: Prepared | None = None,
    max_retries: int = 0,
    seed: int = 0,
    clients: int | None = None,
    scanned: Scanned | None = None,
    queued: Queued | None = None,
    venue_load: bool = True,
) -> tuple[Records, np.ndarray]:
    """Every request of `draws` decided by `strategy` (one with an `array_rule`, or one that
    learns within the run: sim.engines.scan decides those, keyed by `seed` as trio's are), as
    `run_trio` would, on the market path `mid` (looked up many at once: MidPath.at). Blocks
    of requests run in parallel threads (numpy lets go of the GIL). Strategies racing the same
    draws can share one `prepared`. With `max_retries`, a rejected request races again from
    its last report, at the engine time trio's clock reads then ((start + decision) + round
    trip), on its next attempt's draws, for what is left to fill. A closed loop's draws
    (think times, sent by `clients` clients) start when the scan or `closed_loop_starts`
    says, their arrivals recorded as the trio engine's client records them. `scanned`: the
    scan's decisions of these very requests, made already (a run decided a chunk at a time,
    sim.measure.run.summary), for an open loop; `queued`, for a rule over arrays, their
    quotes through the venues' servers, where no race moves the queues (no cancel
    propagation: sim.engines.queues.Queued). Without `venue_load`, the Records leave the
    venues' load out (as without servers), for a caller that makes it for a whole run
    (sim.measure.pieces). Returns the Records and the first attempt's legs, (leg x request)
    the venue each ordered from (-1: none).

    Threads must not extend the market path, so it is made in this thread as far as each
    phase reaches, as the trio engine would reach it: first to the timeout after the last
    start (quotes are priced by then), then to the last order actually checked.
    """
    rule = array_rule(strategy)
    if rule is None and not needs_scan(strategy):
        raise ValueError(f"the fast engine has no rule for {type(strategy).__name__}")
    n, timeout = draws.requests, strategy.timeout_ms * 1e-3
    if scanned is None:
        draws, prepared, scanned = _interacting(
            draws, strategy, venues, mid, order_size, prepared, seed, clients
        )
    elif draws.think_s is not None:  # a closed loop's requests start when the scan said
        draws = dataclasses.replace(draws, arrival_s=scanned.arrival_s)
    prepared = prepared or Prepared(draws, mid, venues)
    if not np.array_equal(prepared.recorded, _recorded(venues)):
        raise ValueError("prepared for venues that quote the recorded spread differently")
    blocks, queues = prepared.blocks, prepared.queues
    side = draws.side.astype(np.float64)
    s = _Settled(n, len(venues), order_size, np.asarray(draws.arrival_s, dtype=np.float64))
    active, first_legs = np.arange(n), None
    if queues is not None:
        if max_retries:
            raise ValueError("retries through venue servers: the trio engine runs them")
        mid.at(np.array([float(s.start.max(initial=0.0)) + timeout]))

        def exits(queued, requests: np.ndarray | None) -> np.ndarray:
            blocks = prepared.served(queued, requests)
            pairs = [(b, np.full(b.t0.size, float(order_size))) for b in blocks]
            decided = _each(pairs, lambda p: _exits(_decide(*p, rule, venues)))
            return np.concatenate(decided) if decided else np.empty(0)

        # the scan served the venues as it decided (sim.engines.scan_kernels.served), and
        # said which quotes a rule that waits for k took; other rules over arrays go through
        # the queue scans
        if scanned is not None:
            queued = scanned.queued
        elif queued is None:
            queued = queues.settle(exits)
        blocks = prepared.served(queued, took=None if scanned is None else scanned.took)
    rules = [rule] * len(blocks)
    if scanned is not None and scanned.took is None:
        rules = [_given(scanned.decisions, a, b) for a, b in _bounds(n)]
    for attempt in range(max_retries + 1):
        if active.size == 0:
            break
        if attempt:
            start, recorded = s.start[active], prepared.recorded
            blocks = _retry_blocks(draws, attempt, active, start, side[active], mid, recorded)
            rules = [rule] * len(blocks)
        mid.at(np.array([float(s.start[active].max()) + timeout]))
        sizes = np.split(s.remaining[active], [b for _, b in _bounds(active.size)][:-1])
        work = list(zip(blocks, sizes, rules, strict=True))
        orders = _each(work, lambda p: _orders(*p, venues))
        reach = [o.checked_t for o in orders if o.checked_t.size]
        if reach:
            mid.at(np.array([max(float(np.max(t)) for t in reach)]))
        rows = [slice(a, b) if attempt == 0 else active[a:b] for a, b in _bounds(active.size)]
        taken = scanned.taken_s if scanned is not None and attempt == 0 else None
        settle = functools.partial(
            _settled, s, venues=venues, taken=taken, first=attempt == 0, last=attempt == max_retries
        )  # each block judged and settled in a thread
        work = list(zip(blocks, orders, rows, strict=True))
        judged = _each(work, lambda p, settle=settle: settle(*p))
        if first_legs is None:
            first_legs = np.concatenate([a.venue for a, _, _ in judged], axis=1)
        s.asked += sum(a.venue_requests for a, _, _ in judged)
        s.rejects += sum(rejects for _, _, rejects in judged)
        active = np.concatenate([again for _, again, _ in judged])
    span_s = float(s.ends.max()) if n else 0.0
    load = {}
    legs = first_legs if first_legs is not None else np.full((1, n), -1)
    if queues is not None and venue_load:
        load = queues.load(queued, queues.used(legs), span_s)
    records = _records(
        draws,
        load,
        decision_s=s.decision_s,
        venue=s.venue,
        outcome=s.outcome,
        fill_price=s.fill_price,
        fill_s=s.fill_s,
        filled_size=s.filled_size,
        orders=s.orders,
        rejects=s.rejects,
        venue_requests=s.asked if scanned is None else scanned.venue_requests,
        span_s=span_s,
    )
    return records, legs


def _interacting(
    draws: Draws,
    strategy: object,
    venues: tuple[VenueSpec, ...],
    mid: MidPath,
    order_size: float,
    prepared: Prepared | None,
    seed: int,
    clients: int | None,
) -> tuple[Draws, Prepared | None, Scanned | None]:
    """Where races interact, what the scan decides before the races are priced: a learning
    strategy's decisions, and a closed loop's starts (the draws' arrivals from then on), with
    the run's `prepared` if it still holds."""
    n, timeout, rule = draws.requests, strategy.timeout_ms * 1e-3, array_rule(strategy)
    closed, scanned = draws.think_s is not None, None
    servers = _servers(draws, venues)
    if needs_scan(strategy) or through_servers(strategy, closed, servers):
        # a closed loop's verdicts (no last look) do not depend on when its requests start,
        # nor through servers (no last look, no expiry) on when quotes come
        timed = dataclasses.replace(draws, arrival_s=np.zeros(n)) if closed else draws
        mid.at(np.array([float(np.max(timed.arrival_s, initial=0.0)) + timeout]))
        prepared = None if closed else prepared or Prepared(draws, mid, venues)
        scanned = scan(
            draws,
            strategy,
            seed=seed,
            names=tuple(v.name for v in venues),
            round_trip=_round_trips(draws, venues),
            if_taken=lambda: _if_taken(
                prepared or Prepared(timed, mid, venues), venues, mid, order_size, timeout
            ),
            clients=clients,
            servers=servers,
        )
        if closed:
            draws = dataclasses.replace(draws, arrival_s=scanned.arrival_s)
    elif closed:

        def timing(starts: np.ndarray) -> tuple[np.ndarray, ...]:
            timed = dataclasses.replace(draws, arrival_s=starts)
            prepared = Prepared(timed, mid, venues)
            return _first_race(prepared, rule, venues, mid, order_size, timeout)

        starts, _ = closed_loop_starts(draws.think_s, clients, timing)
        draws, prepared = dataclasses.replace(draws, arrival_s=starts), None
    if closed and n and float(draws.arrival_s.max()) > MAX_SPAN_S:
        raise ScenarioError("arrivals", _past_span())
    return draws, prepared, scanned


def _past_span() -> str:
    """Why a closed loop that ran past MAX_SPAN_S stops."""
    return (
        f"the closed loop ran past {MAX_SPAN_S:g} s of virtual time, where engine time "
        "keeps sub-nanosecond resolution: fewer requests or shorter latencies"
    )


def resumes(strategy: object, venues: tuple[VenueSpec, ...], closed: bool = False) -> bool:
    """Whether races by `strategy` over `venues` (in a `closed` loop or an open one) can be
    decided a chunk at a time by resuming their scan (sim.engines.scan.resumable)."""
    if all(v.service is None for v in venues):
        return resumable(strategy, closed, None)
    service = tuple(None if v.service is None else np.empty(0) for v in venues)
    capacity = tuple(v.capacity for v in venues)
    propagates = tuple(v.cancel_propagation for v in venues)
    return resumable(strategy, closed, Servers(service, capacity, propagates))


def resumed(
    draws: Draws,
    strategy: object,
    *,
    venues: tuple[VenueSpec, ...],
    mid: MidPath,
    order_size: float,
    seed: int,
    carried: Carried,
    pause: bool,
    clients: int | None = None,
) -> Scanned:
    """The scan of `draws` (an open loop's, or a closed loop's sent by `clients` clients) by
    a strategy that `resumes`, from what it learned before (`carried`), up to the last idle
    instant if `pause` (sim.engines.scan.scan): `run_fast` then settles the requests it
    decided, given it as `scanned`."""
    timeout, closed = strategy.timeout_ms * 1e-3, draws.think_s is not None
    # a closed loop's verdicts do not depend on when its requests start (as `_interacting`)
    timed = dataclasses.replace(draws, arrival_s=np.zeros(draws.requests)) if closed else draws
    if not closed or strategy.kind == "adaptive":  # the market path made as far as read
        mid.at(np.array([float(np.max(timed.arrival_s, initial=0.0)) + timeout]))
    scanned = scan(
        draws,
        strategy,
        seed=seed,
        names=tuple(v.name for v in venues),
        round_trip=_round_trips(draws, venues),
        if_taken=lambda: _if_taken(Prepared(timed, mid, venues), venues, mid, order_size, timeout),
        clients=clients,
        servers=_servers(draws, venues),
        carried=carried,
        pause=pause,
    )
    if closed and scanned.arrival_s.size and float(scanned.arrival_s.max()) > MAX_SPAN_S:
        raise ScenarioError("arrivals", _past_span())
    return scanned


def chained(
    draws: Draws,
    strategy: object,
    *,
    venues: tuple[VenueSpec, ...],
    mid: MidPath,
    order_size: float,
    clients: int,
    before: np.ndarray | None,
) -> tuple[Draws, np.ndarray]:
    """A closed loop's `draws` raced by a rule over arrays without venue servers, their
    clients' first requests sent once the `clients` requests before them ended (`before`;
    None: at the run's start), as `run_fast` chains them (sim.engines.scan.closed_loop_starts):
    the draws with their starts as arrivals (an open loop's, for `run_fast`), and each
    request's end, from which the next chunk's requests start."""
    timeout = strategy.timeout_ms * 1e-3
    rule = array_rule(strategy)

    def timing(starts: np.ndarray) -> tuple[np.ndarray, ...]:
        timed = dataclasses.replace(draws, arrival_s=starts)
        return _first_race(Prepared(timed, mid, venues), rule, venues, mid, order_size, timeout)

    starts, ends = closed_loop_starts(draws.think_s, clients, timing, before)
    if starts.size and float(starts.max()) > MAX_SPAN_S:
        raise ScenarioError("arrivals", _past_span())
    return dataclasses.replace(draws, arrival_s=starts, think_s=None), ends


def _given(d: Decisions, a: int, b: int) -> Callable[[QuoteArrays], Decisions]:
    """A rule that answers requests a to b with the decisions `d` made for them before."""
    sent = None if d.sent is None else d.sent[a:b]
    part = Decisions(d.venue[:, a:b], d.decided[a:b], d.ended[a:b], sent=sent)
    return lambda _: part


def _first_race(
    prepared: Prepared,
    rule: Callable,
    venues: tuple[VenueSpec, ...],
    mid: MidPath,
    size: float,
    timeout: float,
) -> tuple[np.ndarray, ...]:
    """Each request's first race by `rule` from its start (closed loops): whether it ordered,
    when it took its quote (scan_kernels.chain), the order's round trip, and when a race
    without an order ended."""
    starts = np.concatenate([block.t0 for block in prepared.blocks])
    mid.at(np.array([float(np.max(starts, initial=0.0)) + timeout]))
    work = [(block, np.full(block.t0.size, float(size)), rule) for block in prepared.blocks]
    orders = _each(work, lambda p: _orders(*p, venues))
    reach = [o.checked_t for o in orders if o.checked_t.size]
    if reach:
        mid.at(np.array([max(float(np.max(t)) for t in reach)]))
    pairs = list(zip(prepared.blocks, orders, strict=True))
    a = _Attempt.joined(_each(pairs, lambda p: _judge(*p, venues)))
    has = (a.venue >= 0).any(axis=0)
    return has, a.decided, a.round_trip, a.ended


def _round_trips(draws: Draws, venues: tuple[VenueSpec, ...]) -> np.ndarray:
    """(venue x request) each venue's order round trip, hold included, on the first attempt."""
    order_latency = np.stack([np.asarray(d.order_latency_s[0]) for d in draws.venues])
    return order_latency + _constants(venues).hold_s[:, None]


def _if_taken(
    prepared: Prepared, venues: tuple[VenueSpec, ...], mid: MidPath, size: float, timeout: float
) -> np.ndarray:
    """(venue x request) whether venue v would fill request i's order for `size` had the
    request taken v's quote as it arrived (asked at once): last look and depth judged as
    `run_fast` judges the orders a rule decides (`_depth_only` where only depth can reject)."""
    c = _constants(venues)
    if not c.last_look.any() and np.isinf(c.ttl_s).all():
        return _depth_only(prepared, venues, size)
    return _judged_fills(prepared, venues, mid, size, timeout)


def _depth_only(prepared: Prepared, venues: tuple[VenueSpec, ...], size: float) -> np.ndarray:
    """`_if_taken` where no venue has last look or a quote time to live: only depth rejects,
    so each verdict is whether the order's size is within what its venue quotes for it
    (`_judge`'s, venue v's where it answered, else the first venue's, as an order to no
    venue reads it), without pricing or judging an order."""
    _, available = _walk(venues, float(size))
    fills = ~(float(size) > available)
    return np.where(prepared.answers, fills[:, None], fills[0])


def _judged_fills(
    prepared: Prepared, venues: tuple[VenueSpec, ...], mid: MidPath, size: float, timeout: float
) -> np.ndarray:
    """`_if_taken`, each venue's order priced and judged as `run_fast` judges it."""
    fills = []
    for v in range(len(venues)):
        parts = []
        for block in prepared.blocks:
            d = Decisions.one(np.where(block.answers[v], v, -1), block.latency[v], timeout)
            o = _orders(block, np.full(block.t0.size, float(size)), lambda _, d=d: d, venues)
            if o.checked_t.size:
                mid.at(np.array([float(np.max(o.checked_t))]))
            parts.append(_judge(block, o, venues).reason[0] == 0)
        fills.append(np.concatenate(parts) if parts else np.zeros(0, dtype=bool))
    return np.stack(fills) if fills else np.zeros((0, 0), dtype=bool)


def _settled(
    s: _Settled,
    block: _Block,
    o: _Orders,
    rows: slice | np.ndarray,
    *,
    venues: tuple[VenueSpec, ...],
    taken: np.ndarray | None,
    first: bool,
    last: bool,
) -> tuple[_Attempt, np.ndarray, np.ndarray]:
    """One block's orders judged and settled into `s` (`rows`: its requests; `taken` as
    `_Settled.settle` reads it): the attempt, the requests to race again and the rejects by
    reason."""
    a = _judge(block, o, venues)
    return a, *s.settle(rows, a, taken, first=first, last=last)


class _Settled:
    """Each request's results so far, attempt by attempt."""

    def __init__(self, n: int, count: int, order_size: float, arrival_s: np.ndarray) -> None:
        self.order_size = order_size
        self.decision_s, self.venue = np.full(n, np.nan), np.full(n, -1, dtype=np.int32)
        self.outcome = np.full(n, NO_QUOTE, dtype=np.int8)
        self.fill_price, self.fill_s = np.full(n, np.nan), np.full(n, np.nan)
        self.filled_size, self.orders = np.zeros(n), np.zeros(n, dtype=np.int32)
        self.remaining, self.notional = np.full(n, float(order_size)), np.zeros(n)
        self.rejects = np.zeros(len(ORDER_REJECTS), dtype=np.int64)
        self.elapsed, self.start = np.zeros(n), arrival_s.copy()
        self.ends = arrival_s.copy()  # when each race ended
        self.asked = np.zeros(count, dtype=np.int64)  # quote requests each venue received

    def settle(
        self,
        rows: slice | np.ndarray,
        a: _Attempt,
        taken: np.ndarray | None,
        *,
        first: bool,
        last: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The attempt `a` of the requests `rows` (a slice of them, or their indices), its
        legs settled in order (so that what filled, its VWAP and what is left are trio's
        floats): the requests to race again (indices) and the attempt's rejects by reason.
        Blocks of requests settle in parallel threads, so the counts are the caller's to add
        up (with `a.venue_requests`). `taken`: the engine time each request of the run took its
        quote, where the scan knows it better than start + decision (sim.engines.scan.Scanned)."""
        has = (a.venue >= 0).any(axis=0)  # else no quote: the race ends (at its timeout, mostly)
        if first:
            self.decision_s[rows] = np.where(has, a.decided, np.nan)
            self.venue[rows] = np.where(has, a.venue[0], -1)
        start, elapsed = self.start[rows], self.elapsed[rows]
        taken = start + a.decided if taken is None else taken[rows]
        reported = taken + a.round_trip  # trio's clock at the last report
        self.ends[rows] = np.where(has, reported, start + a.ended)
        elapsed = np.where(has, (elapsed + a.decided) + a.round_trip, elapsed)
        remaining, notional = self.remaining[rows], self.notional[rows]
        orders, first_reason = self.orders[rows].copy(), np.zeros(has.size, dtype=np.int8)
        rejects = np.zeros(len(ORDER_REJECTS), dtype=np.int64)
        for venue, size, price, reason in zip(a.venue, a.size, a.price, a.reason, strict=True):
            sent = venue >= 0
            orders += sent
            fill, reject = sent & (reason == 0), sent & (reason > 0)
            remaining = np.where(fill, remaining - size, remaining)
            notional = np.where(fill, notional + size * price, notional)
            first_reason = np.where(reject & (first_reason == 0), reason, first_reason)
            rejects += np.bincount(reason[reject], minlength=len(ORDER_REJECTS) + 1)[1:]
        filled = self.order_size - remaining
        done = has & (remaining <= self.order_size * FILLED_SHARE_SLACK)
        short = np.where(first_reason > 0, first_reason, REJECTED["no_liquidity"])
        some = has & (filled > 0)  # the VWAP of what filled, all of it or part
        with np.errstate(divide="ignore", invalid="ignore"):
            vwap = notional / filled
        self.remaining[rows], self.notional[rows], self.orders[rows] = remaining, notional, orders
        self.elapsed[rows], self.filled_size[rows] = elapsed, filled
        self.fill_price[rows] = np.where(some, vwap, self.fill_price[rows])
        self.outcome[rows] = np.where(has, np.where(done, FILLED, short), self.outcome[rows])
        self.fill_s[rows] = np.where(done, elapsed, self.fill_s[rows])
        if last:
            return np.empty(0, dtype=np.intp), rejects  # the last reject ends its race
        again = has & ~done
        indices = np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows
        self.start[indices[again]] = reported[again]
        return indices[again], rejects


def _records(draws: Draws, load: dict[str, np.ndarray], **fields: Any) -> Records:
    """Records of a run on the virtual clock (no timer overshoot), with the venues' `load`
    (sim.engines.queues.Queues.load; empty without servers: no load)."""
    count = len(draws.venues)
    return Records(
        **fields,
        arrival_s=np.asarray(draws.arrival_s, dtype=np.float64),
        venue_busy_s=load.get("venue_busy_s", np.zeros(count)),
        venue_wasted_s=load.get("venue_wasted_s", np.zeros(count)),
        venue_wait_s=load.get("venue_wait_s", np.zeros(count)),
        venue_utilization=load.get("venue_utilization", np.full(count, np.nan)),
        timer_overshoot_s=np.empty(0),
    )


def _each(items: list, work: Callable[[Any], Any]) -> list:
    """`work` on every item, in parallel threads when there are several."""
    if len(items) < 2:
        return [work(item) for item in items]
    return list(_pool().map(work, items))


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """The threads blocks run in, started once: starting threads for every phase of every
    strategy costs more than some phases (and waits on the GIL behind a summary's background
    drawing). A forked child (a sweep's worker) has none of its parent's threads: it starts
    its own."""
    return ThreadPoolExecutor(max_workers=os.cpu_count(), thread_name_prefix="fast")


os.register_at_fork(after_in_child=_pool.cache_clear)
