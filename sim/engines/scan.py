"""Races that learn from each other, decided by one scan in event order, for the fast engine.

A hedged or adaptive strategy keeps state from race to race, and a closed loop's client sends
a request when its previous one has ended: what one race does depends on the races before it.
But each reads only what happened strictly before the instant it reads
(strategies.past_events), so a scan over the run's decision points in time order decides them
exactly as the trio engine does: at each point, fold in the events strictly before it (sorted
as PastEvents sorts them), decide, and record what the decision will make happen later (an
observed latency, a hedge, a fill report, the client's next request) as pending events.

The scan fixes each request's chosen venue and timing (`Decisions`); the fast engine then
prices, judges and settles those orders with its vectorized machinery (sim.engines.fast). The
one verdict that feeds back, adaptive's fill rate, is judged up front for every venue whose
quote a request might take (`if_taken`: last look looks only at that quote and its order, so
each is fixed before the scan), and the scan reads the verdict of the venue it chose. In a
closed loop those verdicts would depend on when requests start (last look reads the market
then), so adaptive with last look in a closed loop goes to trio. A closed loop racing a rule
over arrays has no state to scan: its starts are iterated to a fixed point
(`closed_loop_starts`), for the rules whose timing does not depend on prices
(CLOSED_LOOP_RULES; for the others it takes a round per price comparison that flips).

The scans are compiled with numba (imported on first use, so runs that need none never load
it); adaptive's keyed random draws are made beforehand (compiled: sim.engines.keyed_random),
since which rng calls a request makes depends only on how many venues are left at each pick,
not on the statistics.

Through venue servers a quote's arrival depends on the queue, and the queue on the races
before (which venues they asked, when, and with cancel propagation when they ended): the
venues' dispatchers join the scan as events (sim.engines.scan_kernels.served), which then also
serves first_wins in a closed loop. It hands the fast engine each quote as it came (latency,
when it was priced) and the servers' load, as sim.engines.queues does for rules over arrays;
adaptive's verdicts must then not depend on when quotes come (no last look, no expiry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np

from sim.engines.queues import Queued, Served
from sim.model.draws import Draws
from strategies.adaptive import Adaptive
from strategies.arrays import Decisions
from strategies.best_price import BestPrice
from strategies.first_k import FirstK
from strategies.first_wins import FirstWins
from strategies.hedged import Hedged
from strategies.split import Split


def needs_scan(strategy: object) -> bool:
    """Whether `strategy` learns within a run (hedged, adaptive), so that races interact."""
    return hasattr(strategy, "for_run") or hasattr(strategy, "observe_report")


# Rules over arrays whose races' timing does not depend on prices (the quote taken is the
# first, or the first that can fill): a closed loop's starts settle in two rounds. Others
# settle too, but a round per price comparison that flips as starts move: slower than trio.
CLOSED_LOOP_RULES = ("first_wins", "staggered")


def refused_in_closed_loop(strategy: object) -> str | None:
    """Why the fast engine does not run `strategy` in a closed loop, or None."""
    if needs_scan(strategy) or getattr(strategy, "kind", None) in CLOSED_LOOP_RULES:
        return None
    return "takes quotes by price in a closed loop, whose starts then settle slowly: trio"


def refused_through_servers(strategy: object, closed: bool) -> str | None:
    """Why the fast engine does not run `strategy` through venue servers, or None: rules over
    arrays in an open loop go through the queue scans (sim.engines.queues), hedged and
    adaptive (and first_wins in a closed loop, whose starts the queues move, and with cancel
    propagation the rules that wait for k quotes, `gathers`) through the scan with servers
    (sim.engines.scan_kernels.served)."""
    if closed and not needs_scan(strategy) and type(strategy) is not FirstWins:
        return "a closed loop through venue servers: first_wins, hedged or adaptive only"
    return None


def gathers(strategy: object, count: int) -> int | None:
    """How many quotes a rule over arrays waits for before it chooses, when that is all
    that ends its race (else its timeout): first_wins 1, first_k its k, best_price and split
    all `count` venues'; None for the others (a deadline, or a price, ends theirs)."""
    if type(strategy) is FirstWins:
        return 1
    if type(strategy) is FirstK:
        return strategy.k
    if type(strategy) in (BestPrice, Split):
        return count
    return None


def through_servers(strategy: object, closed: bool, servers: Servers | None) -> bool:
    """Whether the scan serves the venues (`servers`) as it decides `strategy`'s races: for
    hedged and adaptive, and in a closed loop, whose races move the queues that move them;
    and with cancel propagation for the rules that wait for k quotes or their timeout
    (`gathers`), where one pass beats the queue scans' rounds to their fixed point
    (sim.engines.queues)."""
    if servers is None:
        return False
    propagates = any(servers.propagates)
    waits = gathers(strategy, len(servers.service)) is not None
    return needs_scan(strategy) or closed or (waits and propagates)


def refused(strategy: object, max_retries: int) -> str | None:
    """Why the scan cannot run `strategy` (one that `needs_scan`), or None: it knows hedged
    and adaptive themselves, not a subclass (which may decide or learn differently)."""
    if type(strategy) not in (Hedged, Adaptive):
        return "keeps state from race to race, in a way the fast engine does not know"
    if max_retries:
        return "keeps state from race to race, and retries after a reject: trio only"
    return None


@dataclass(frozen=True)
class Servers:
    """The venues' servers, for the scan: per venue its service times on the first attempt
    (None: no servers), its `capacity` (None: unlimited) and whether it `propagates` cancels."""

    service: tuple[np.ndarray | None, ...]
    capacity: tuple[int | None, ...]
    propagates: tuple[bool, ...]


def resumable(strategy: object, closed: bool, servers: Servers | None) -> bool:
    """Whether the scan of `strategy`'s races can stop at an idle instant and resume from
    what it learned (`Carried`), so that a run is decided a chunk at a time: in an open loop,
    hedged and adaptive, and through venue servers the rules it serves them for too
    (`through_servers`), in a closed loop too (its clients' next starts carried)."""
    if servers is None:
        return not closed and type(strategy) in (Hedged, Adaptive)
    return through_servers(strategy, closed, servers)


@dataclass(frozen=True)
class Carried:
    """What a scan stopped at an idle instant hands the scan that resumes there: hedged's
    ledger (its window of latencies, oldest first, and its counts of requests and hedges);
    through servers, adaptive's EWMAs (`learned`: per venue the latency seen, whether seen,
    the fill rate, whether filled) and the venues' load so far (`served`: per venue busy time
    and queue wait added up, starts, last freeing); a closed loop's next starts (`starts`:
    of the first request after the instant and the clients' after it, one per client)."""

    ring: np.ndarray = dataclass_field(default_factory=lambda: np.empty(0))
    requests: int = 0
    hedges: int = 0
    learned: np.ndarray | None = None
    served: np.ndarray | None = None
    starts: np.ndarray | None = None


@dataclass(frozen=True)
class Scanned:
    """A run's decisions as the scan made them: per request, `decisions` (one leg each), and
    quote requests per venue; each request's start; through venue servers, the quotes and
    the servers' load as they came (`queued`, sim.engines.queues.Queued) and the engine time
    each request took its quote (`taken_s`, NaN: none; trio's clock then, which a quote
    through servers reaches at (start + sent) + latency, not start + decision), else None;
    for a rule that waits for k quotes, (venue x request) the quotes each race took (`took`),
    among which its rule chooses (its `decisions` then only say which races took any)."""

    decisions: Decisions
    venue_requests: np.ndarray
    arrival_s: np.ndarray
    queued: Queued | None = None
    taken_s: np.ndarray | None = None
    carried: Carried | None = None  # resumed: what the scan learned by its last request
    took: np.ndarray | None = None


def scan(
    draws: Draws,
    strategy: object,
    *,
    seed: int,
    names: tuple[str, ...],
    round_trip: np.ndarray,
    if_taken: Callable[[], np.ndarray],
    clients: int | None = None,
    servers: Servers | None = None,
    carried: Carried | None = None,
    pause: bool = False,
) -> Scanned:
    """Decide every request of `draws` by `strategy`, hedged or adaptive: on the draws'
    arrivals, or sent by `clients` closed-loop clients (the draws' think times).
    `round_trip[v, i]`: venue v's order round trip for request i; `if_taken()`: (venue x
    request) whether venue v's order would fill had request i taken its quote (adaptive
    learns from it; in a closed loop, or through servers, it must not depend on when
    requests start or quotes come). Through venue `servers` (sim.engines.scan_kernels.served), also
    the rules that wait for k quotes (`gathers`): the queues then decide when their races
    end, and which quotes they take.

    `carried` (a `resumable` strategy): resume from what a scan before learned. `pause`: stop
    at the last idle instant, where the requests before it have done all they will do (their
    decision points passed, what they taught folded in), so that what comes after depends on
    them only through what was learned: the Scanned holds the requests before it (none when
    there is no such instant) and what was learned by then (`carried`), to resume from."""
    if hasattr(strategy, "for_run"):
        strategy = strategy.for_run(seed)
    latency = np.stack(draws.latency_s)
    answers = np.stack(draws.answers)
    if draws.think_s is None:
        arrivals = np.ascontiguousarray(draws.arrival_s, dtype=np.float64)
        if np.any(np.diff(arrivals) < 0):  # the scan starts request i + 1 after request i
            raise ValueError("the scan needs arrivals in order")
        loop = (arrivals, np.empty(0), 0)
    else:
        loop = (np.empty(0), np.ascontiguousarray(draws.think_s, dtype=np.float64), clients)
    timeout = strategy.timeout_ms * 1e-3
    if servers is not None:
        rules = (strategy, seed, names, round_trip, if_taken, servers, carried, pause)
        return _served(*rules, loop, latency, answers, timeout)
    if strategy.kind == "hedged":
        return _hedged(strategy, loop, latency, answers, timeout, names, round_trip, carried, pause)
    return _adaptive(
        strategy, loop, latency, answers, timeout, seed, round_trip, if_taken, carried, pause
    )


def _order(strategy, names: tuple[str, ...], count: int) -> np.ndarray:
    """The venues in the order hedged asks them."""
    if strategy.venues:
        return np.array([names.index(name) for name in strategy.venues], dtype=np.int64)
    return np.arange(count, dtype=np.int64)


def _fixed_delay(strategy) -> float:
    """hedged's fixed delay in seconds, -1 for a percentile of what it observed."""
    return -1.0 if strategy.hedge_delay_ms is None else strategy.hedge_delay_ms * 1e-3


def _hedged(
    strategy, loop, latency, answers, timeout, names, round_trip, carried, pause
) -> Scanned:
    from sim.engines import scan_kernels

    order = _order(strategy, names, latency.shape[0])
    fixed = _fixed_delay(strategy)
    before = Carried() if carried is None else carried
    pos, decided, sent, asked, t0, folded, idle, (logged, requests, hedges) = scan_kernels.hedged(
        *loop,
        np.ascontiguousarray(latency[order]),
        np.ascontiguousarray(answers[order]),
        order,
        round_trip,
        fixed,
        float(strategy.hedge_delay[1:]),
        strategy.window,
        strategy.budget,
        min(strategy.max_attempts, order.size) - 1,
        timeout,
        np.ascontiguousarray(before.ring, dtype=np.float64),
        before.requests,
        before.hedges,
    )
    if pause:
        ring = np.concatenate([before.ring, folded[:logged]])[-strategy.window :]
        carried = Carried(ring, requests, hedges)
        pos, decided, sent, asked, t0 = (x[:idle] for x in (pos, decided, sent, asked, t0))
    venue = np.where(pos >= 0, order[np.maximum(pos, 0)], -1)
    counts = np.zeros(latency.shape[0], dtype=np.int64)
    counts[order] = (asked[None, :] > np.arange(order.size)[:, None]).sum(axis=1)
    return Scanned(
        _one(venue, decided, sent, timeout), counts, t0, carried=carried if pause else None
    )


def _adaptive(
    strategy, loop, latency, answers, timeout, seed, round_trip, if_taken, carried, pause
) -> Scanned:
    from sim.engines import scan_kernels

    count, n = latency.shape
    fanout = min(strategy.fanout, count)
    before = Carried() if carried is None else carried
    picks = _adaptive_draws(seed, n, count, fanout, strategy.explore, before.requests)
    learned = np.zeros((4, count)) if before.learned is None else before.learned
    alpha = 2.0 / (strategy.window + 1)
    winner, decided, counts, t0, idle, idle_learned, idle_counts = scan_kernels.adaptive(
        *loop, latency, answers, picks, if_taken(), round_trip, alpha, timeout, learned
    )
    after = None
    if pause:  # the requests before the last idle instant, and what was learned by then
        winner, decided, t0, counts = winner[:idle], decided[:idle], t0[:idle], idle_counts
        after = Carried(requests=before.requests + idle, learned=idle_learned)
    return Scanned(_one(winner, decided, np.zeros(t0.size), timeout), counts, t0, carried=after)


def _served(
    strategy, seed, names, round_trip, if_taken, servers, carried, pause, loop, latency, answers,
    timeout,
) -> Scanned:  # fmt: skip
    from sim.engines import scan_kernels

    count, n = latency.shape
    order, fixed, q = np.arange(count, dtype=np.int64), -1.0, 0.0
    window, budget, hedges, alpha = 1, 0.0, 0, 0.0
    picks = np.zeros((n, 0, 2), dtype=np.int64)
    fills = np.zeros((count, 0), dtype=bool)
    kind, want, waits = scan_kernels.FIRST_WINS, 1, gathers(strategy, count)
    if waits is not None and type(strategy) is not FirstWins:
        # its own rule chooses among the quotes taken, even one (split: for what it holds)
        kind, want = scan_kernels.FIRST_K, waits
    elif strategy.kind == "hedged":
        kind = scan_kernels.HEDGED
        order, fixed = _order(strategy, names, count), _fixed_delay(strategy)
        q, window, budget = float(strategy.hedge_delay[1:]), strategy.window, strategy.budget
        hedges = min(strategy.max_attempts, order.size) - 1
    elif strategy.kind == "adaptive":
        kind, fanout = scan_kernels.ADAPTIVE, min(strategy.fanout, count)
        first = 0 if carried is None else carried.requests
        picks = _adaptive_draws(seed, n, count, fanout, strategy.explore, first)
        fills, alpha = if_taken(), 2.0 / (strategy.window + 1)
    before = Carried() if carried is None else carried
    learned = np.zeros((4, count)) if before.learned is None else before.learned
    so_far = np.zeros((4, count)) if before.served is None else before.served
    has = np.array([s is not None for s in servers.service], dtype=bool)
    service = np.stack([np.zeros(n) if s is None else s for s in servers.service])
    capacity = np.array([n + 1 if c is None else c for c in servers.capacity], dtype=np.int64)
    (t0, venue, decided, taken, sent, asked, latency_q, priced_at, priced_after, busy, waited,
     started, last, folded, idle, (logged, requests, hedged), idle_learned, idle_sums,
     idle_starts, took) = scan_kernels.served(
        kind, *loop, latency, answers, np.ascontiguousarray(service, dtype=np.float64), has,
        capacity, np.array(servers.propagates, dtype=bool) & has, round_trip, timeout, order,
        fixed, q, window, budget, hedges, picks, fills, alpha, want,
        np.ascontiguousarray(before.ring, dtype=np.float64), before.requests, before.hedges,
        learned, np.ascontiguousarray(so_far[:2]), _first_starts(loop, before),
    )  # fmt: skip
    if pause:  # the requests before the last idle instant, and what the scan had then
        (busy, waited, started, last), asked = idle_sums[:4], idle_sums[4].astype(np.int64)
        t0, venue, decided, taken, sent = (x[:idle] for x in (t0, venue, decided, taken, sent))
        latency_q, priced_at, priced_after, took = (
            x[:, :idle] for x in (latency_q, priced_at, priced_after, took)
        )
    totals = np.stack([busy, waited, so_far[2] + started, np.maximum(so_far[3], last)])
    if kind == scan_kernels.HEDGED:
        ring = np.concatenate([before.ring, folded[:logged]])[-window:]
    else:
        ring, requests = before.ring, before.requests + idle  # the run's request index
    after = Carried(ring, requests, hedged, idle_learned, totals, idle_starts) if pause else None
    load = tuple(
        Served(float(b), float(w), int(k), float(e)) if has[v] else None
        for v, (b, w, k, e) in enumerate(totals.T)
    )
    queued = Queued(latency_q, priced_at, priced_after, load)
    took = took if kind == scan_kernels.FIRST_K else None
    return Scanned(_one(venue, decided, sent, timeout), asked, t0, queued, taken, after, took)


def _first_starts(loop, carried: Carried) -> np.ndarray:
    """A closed loop's first starts, one per client: after their think times, or as a scan
    stopped at an idle instant left them (`carried`)."""
    _, think, clients = loop
    if carried.starts is not None:
        return np.ascontiguousarray(carried.starts, dtype=np.float64)
    return 0.0 + think[:clients]


def closed_loop_starts(
    think_s: np.ndarray,
    clients: int,
    timing: Callable[[np.ndarray], tuple[np.ndarray, ...]],
    before: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A closed loop's start and end times for a strategy that does not learn, whose races
    the fast engine decides given their starts: `timing(starts)` gives each request's (has
    an order, decision, round trip, end without an order) after its start. Races may depend
    on when they start (prices move), so starts are iterated to a fixed point: starts
    chained from the races decided at those very starts. That is exact (a closed loop has
    one consistent history: request i's start depends only on requests before it), and
    takes two rounds when no race's timing depends on its start; each round settles at
    least one more request per client. `before`: the ends of the `clients` requests before
    these (a run decided a chunk at a time), else they start after their think times."""
    from sim.engines import scan_kernels

    think = np.ascontiguousarray(think_s, dtype=np.float64)
    if before is None:
        before = np.zeros(min(clients, think.size))
    # a first guess: only the order of requests matters to it (none before `before`)
    starts = np.cumsum(think) + (before.min() if before.size else 0.0)
    while True:
        chained, ends = scan_kernels.chain(think, clients, *timing(starts), before)
        if np.array_equal(chained, starts):
            return starts, ends
        starts = chained


def _one(venue, decided, sent, timeout) -> Decisions:
    has = venue >= 0
    return Decisions(
        venue[None, :],
        np.where(has, decided, np.nan),
        np.full(venue.size, timeout),
        sent=np.where(has, sent, 0.0),
    )


def _adaptive_draws(
    seed: int, n: int, count: int, fanout: int, explore: float, first: int = 0
) -> np.ndarray:
    """(request, pick, 2) adaptive's random draws for each request's first attempt: per pick,
    (index, -1) for a uniform pick of the venues left, else the pair of indices into them that
    `random.sample` compares. Request i's (the run's requests `first` on) are those of
    random.Random(f"{seed}:{i}:0"), as strategies.adaptive keys them, made compiled and many
    requests at once (sim.engines.keyed_random)."""
    from sim.engines import keyed_random

    return keyed_random.adaptive_draws(f"{seed}:".encode(), b":0", n, count, fanout, explore, first)
