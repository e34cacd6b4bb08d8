"""The fast engine: the same races decided with numpy, from the same draws, all at once.

Where requests do not interact, a race's outcome is a function of its own draws: which venues
answer, when, at what price, and what last look makes of the order. Then there is no need to
run the races as tasks: arrays over (venue, request) give every decision at once, a few
hundred times faster than trio. `unsupported(scenario)` says why a scenario needs the trio
engine instead (venue servers, a closed loop, the wall clock, a strategy with state or a rule
this engine does not know); `run_fast` gives the same Records as `sim.engines.trio.run_trio`.

The rules are the trio strategies' own, restated over arrays (see each strategy's module):
quotes arriving exactly at a timeout or deadline count; ties in time go to the lower venue;
`best` ranks quotes too small for the order last, then by cost, then by arrival. Latencies are
the drawn values, as the trio engine records them (the arrival of the quotes a strategy took).
A split's legs are settled in the order the trio engine settles them, so that a partial fill,
its VWAP and the size left to re-race are the same floats.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from sim.engines.records import FILLED, NO_QUOTE, ORDER_REJECTS, REJECTED, Records
from sim.engines.trio import FILLED_SHARE_SLACK
from sim.measure.quality import cost_bps
from sim.model.draws import Draws
from sim.model.market import MidPath
from strategies.best_price import BestPrice
from strategies.deadline import Deadline
from strategies.first_k import FirstK
from strategies.first_wins import FirstWins
from strategies.split import Split
from strategies.staggered import Staggered
from strategies.threshold import Threshold
from venues.last_look import adverse_move_bps
from venues.pricing import Ladder, quote_price
from venues.venue import VenueSpec

RULES = (FirstWins, BestPrice, FirstK, Deadline, Threshold, Staggered, Split)


def unsupported(scenario) -> str | None:
    """Why `scenario` needs the trio engine, or None when the fast engine can run it."""
    if scenario.clock != "virtual":
        return "the wall clock"
    if scenario.arrivals.closed:
        return "a closed loop (each request waits for the one before)"
    if any(v.service is not None for v in scenario.venues):
        return "venue servers (requests queue behind each other)"
    for entry in scenario.strategies:
        strategy = entry.strategy
        if hasattr(strategy, "for_run") or hasattr(strategy, "observe_report"):
            kind = strategy.kind  # hedged, adaptive: what one race learns, the next uses
            return f"strategy {entry.name} ({kind}: keeps state from race to race)"
        if type(strategy) not in RULES:
            return f"strategy {entry.name} ({strategy.kind}: a rule the fast engine does not know)"
    return None


BLOCK = 65_536  # requests decided together: bounds the temporaries, and blocks run in parallel


class Prepared:
    """What every strategy of a run shares, block by block of requests: the draws as (venue x
    request) arrays, and the mid each venue's quote is priced at (looked up on first use)."""

    def __init__(self, draws: Draws, mid: MidPath) -> None:
        latency = np.stack(draws.latency_s)
        order_latency = np.stack([np.asarray(d.order_latency_s[0]) for d in draws.venues])
        answers = np.stack(draws.answers)
        noise = np.stack([np.asarray(d.noise_bps[0]) for d in draws.venues])
        side = draws.side.astype(np.float64)
        self.blocks = [
            _Block(
                draws.arrival_s[a:b],
                side[a:b],
                latency[:, a:b],
                answers[:, a:b],
                noise[:, a:b],
                order_latency[:, a:b],
                mid,
            )
            for a, b in (
                (a, min(a + BLOCK, draws.requests)) for a in range(0, draws.requests, BLOCK)
            )
        ]
        self.last_t0 = float(draws.arrival_s.max()) if draws.requests else 0.0


class _Block:
    """One block's arrays (views of the run's)."""

    def __init__(self, t0, side, latency, answers, noise, order_latency, mid: MidPath) -> None:
        self.t0, self.side, self.latency, self.answers = t0, side, latency, answers
        self.noise, self.order_latency, self.mid = noise, order_latency, mid
        self._quoted: tuple[float, np.ndarray] | None = None  # (timeout, mids)

    def quoted_mid(self, timeout: float) -> np.ndarray:
        """mid(t0 + latency / 2) for every venue and request whose quote comes by `timeout`
        (each quote is priced halfway through its latency; later ones are never looked at,
        and get the mid at t0)."""
        if self._quoted is None or self._quoted[0] < timeout:
            latency = np.where(self.latency <= timeout, self.latency, 0.0)
            self._quoted = timeout, self.mid.at(self.t0[None, :] + 0.5 * latency)
        return self._quoted[1]

    def quoted_mid_of(self, venue: np.ndarray, which: np.ndarray, sent: np.ndarray) -> np.ndarray:
        """The same for one quote of each request in `which` (a mask; `venue[i]` is the i-th
        such request's venue, asked `sent[i]` after the request): (t0 + sent) + latency / 2,
        as the venue adds them. The cache holds quotes asked at once (sent 0) up to its
        timeout; the others are looked up now."""
        requests = np.flatnonzero(which)
        t0, latency = self.t0[requests], self.latency[venue, requests]
        mids = np.full(requests.size, np.nan)
        fresh = np.ones(requests.size, dtype=bool)
        if self._quoted is not None:
            cap, cached = self._quoted
            cached_ok = (sent == 0.0) & (latency <= cap)
            mids[cached_ok] = cached[venue[cached_ok], requests[cached_ok]]
            fresh = ~cached_ok
        mids[fresh] = self.mid.at((t0[fresh] + sent[fresh]) + 0.5 * latency[fresh])
        return mids


def run_fast(
    draws: Draws,
    strategy: object,
    *,
    venues: tuple[VenueSpec, ...],
    mid: MidPath,
    order_size: float = 1.0,
    prepared: Prepared | None = None,
    max_retries: int = 0,
) -> Records:
    """Every request of `draws` decided by `strategy` (one of RULES), as `run_trio` would, on
    the market path `mid` (looked up many at once: MidPath.at). Blocks of requests run in
    parallel threads (numpy lets go of the GIL). Strategies racing the same draws can share
    one `prepared`. With `max_retries`, a rejected request races again from the reject, on
    its next attempt's draws (in this thread, attempt by attempt).

    Threads must not extend the market path, so it is made in this thread as far as each
    phase reaches, as the trio engine would reach it: first to the timeout after the last
    arrival (quotes are priced by then), then to the last order actually checked.
    """
    if max_retries or isinstance(strategy, Split):
        return _attempts(draws, strategy, venues, mid, order_size, max_retries)
    prepared = prepared or Prepared(draws, mid)
    count = len(venues)
    timeout = strategy.timeout_ms * 1e-3
    mid.at(np.array([prepared.last_t0 + timeout]))
    chosen = _each(prepared.blocks, lambda b: _choose(b, strategy, venues, order_size))
    reach = [c["checked_t"] for c in chosen if c["checked_t"].size]
    if reach:
        mid.at(np.array([max(float(np.max(t)) for t in reach)]))
    parts = _each(
        list(zip(prepared.blocks, chosen, strict=True)),
        lambda pair: _judge(*pair, venues, order_size),
    )
    fields = ("decision_s", "venue", "outcome", "fill_price", "fill_s", "filled_size", "orders")
    asked = np.sum([c["venue_requests"] for c in chosen], axis=0) if chosen else np.zeros(count)
    return _records(
        draws,
        **{f: np.concatenate([p[f] for p in parts]) if parts else np.empty(0) for f in fields},
        rejects=np.sum([p["rejects"] for p in parts], axis=0).astype(np.int64)
        if parts
        else np.zeros(len(ORDER_REJECTS), dtype=np.int64),
        venue_requests=asked.astype(np.int64),
        span_s=max((p["end"] for p in parts), default=0.0),
    )


def _records(draws: Draws, **fields: Any) -> Records:
    """Records of a run without venue servers or a wall clock: no load, no timer overshoot."""
    count = len(draws.venues)
    return Records(
        **fields,
        arrival_s=np.asarray(draws.arrival_s, dtype=np.float64),
        venue_busy_s=np.zeros(count),
        venue_wasted_s=np.zeros(count),
        venue_wait_s=np.zeros(count),
        venue_utilization=np.full(count, np.nan),
        timer_overshoot_s=np.empty(0),
    )


def _each(items: list, work: Callable[[Any], Any]) -> list:
    """`work` on every item, in parallel threads when there are several."""
    if len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return list(pool.map(work, items))


def _choose(block: _Block, strategy, venues, order_size: float) -> dict[str, Any]:
    """One block's decisions: the chosen quotes, their prices, and when each order would be
    checked (engine time; for the venues with last look)."""
    t0, latency = block.t0, block.latency
    n = t0.size
    timeout = strategy.timeout_ms * 1e-3
    requests = np.arange(n)
    sent = np.zeros(n)  # when the chosen venue was asked, after the request
    ended = np.full(n, timeout)  # when a race with no quote ends
    asked = np.full(n, len(venues))  # venues asked, the first `asked` (every one, scattering)
    if isinstance(strategy, Staggered):
        chosen, decided, sent, ended, asked = _staggered(strategy, block, venues, order_size)
    else:
        in_time = block.answers & (latency <= timeout)
        arrival = np.where(in_time, latency, np.inf)
        chosen, decided = _decide(strategy, arrival, in_time, timeout, venues, block, order_size)
    has = chosen >= 0
    pick = np.where(has, chosen, 0)
    spreads, _, skew, _, hold_s, policies = _venue_constants(venues, order_size)
    # the chosen quote: priced halfway through its latency, at the venue's spread and noise
    quoted_mid = np.full(n, np.nan)
    quoted_mid[has] = block.quoted_mid_of(pick[has], has, sent[has])
    price = quote_price(
        quoted_mid, block.side, spreads[pick], skew[pick], block.noise[pick, requests]
    )
    order_latency = block.order_latency[pick, requests]
    hold = hold_s[pick]
    judged = has & np.array([p is not None for p in policies])[pick]  # the moves last look saw
    checked_t = t0[judged] + (decided[judged] + 0.5 * order_latency[judged] + hold[judged])
    return {
        "chosen": chosen,
        "decided": decided,
        "sent": sent,
        "ended": ended,
        # quote requests each venue received: venue v by every race that asked more than v
        "venue_requests": (asked[None, :] > np.arange(len(venues))[:, None]).sum(axis=1),
        "pick": pick,
        "quoted_mid": quoted_mid,
        "price": price,
        "order_latency": order_latency,
        "hold": hold,
        "judged": judged,
        "checked_t": checked_t,
    }


def _judge(block: _Block, c: dict[str, Any], venues, order_size: float):
    """One block's orders judged (expiry, last look, liquidity): Records fields, its reject
    counts and when its last request ended."""
    t0 = block.t0
    n = t0.size
    chosen, decided, pick = c["chosen"], c["decided"], c["pick"]
    order_latency, hold = c["order_latency"], c["hold"]
    has = chosen >= 0
    _, available, _, _, _, _ = _venue_constants(venues, order_size)
    reason = _verdicts(
        block,
        venues,
        order_size,
        pick,
        c["judged"],
        decided,
        c["sent"],
        c["quoted_mid"],
        c["checked_t"],
        available[pick] < order_size,
    )
    outcome = np.where(has, np.where(reason == 0, FILLED, reason), NO_QUOTE).astype(np.int8)
    filled = outcome == FILLED
    price = c["price"]
    return {
        "decision_s": np.where(has, decided, np.nan),
        "venue": chosen.astype(np.int32),
        "outcome": outcome,
        "fill_price": np.where(filled, (order_size * price) / order_size, np.nan),  # the VWAP
        "fill_s": np.where(filled, decided + (order_latency + hold), np.nan),
        "filled_size": np.where(filled, order_size, 0.0),
        "orders": has.astype(np.int32),
        "rejects": np.bincount(reason[has], minlength=len(ORDER_REJECTS) + 1)[1:],
        # when the last request ended: its order's report, or its timeout with no quote
        "end": float(np.max(t0 + np.where(has, decided + (order_latency + hold), c["ended"])))
        if n
        else 0.0,
        "round_trip": order_latency + hold,
    }


def _verdicts(
    block: _Block,
    venues,
    order_size: float,
    pick: np.ndarray,
    judged: np.ndarray,
    decided: np.ndarray,
    sent: np.ndarray,
    quoted_mid: np.ndarray,
    checked_t: np.ndarray,
    short: np.ndarray,
) -> np.ndarray:
    """venues.last_look.judge over arrays: for one order per request (on venue `pick[i]`, sent
    `decided[i]` after the request, for a quote asked `sent[i]` after it and priced at
    `quoted_mid[i]`), 0 for a fill, else its REJECTED code. `judged`: the orders on venues
    with last look, whose mids at `checked_t` (engine times, in that order) decide a move;
    `short`: the orders larger than their quote's size."""
    n = pick.size
    requests = np.arange(n)
    _, _, _, ttl_s, hold_s, policies = _venue_constants(venues, order_size)
    checked_mid = np.full(n, np.nan)
    checked_mid[judged] = block.mid.at(checked_t)
    checked_at = _ns(decided) + _ns(0.5 * block.order_latency[pick, requests]) + _ns(hold_s[pick])
    expires_at = _ns(sent) + _ns(0.5 * block.latency[pick, requests]) + _ns(ttl_s[pick])
    move_bps = adverse_move_bps(block.side, quoted_mid, checked_mid)
    reason = np.zeros(n, dtype=np.int8)  # 0: fill, else 1 + index into ORDER_REJECTS
    reason[short] = REJECTED["no_liquidity"]
    for v, policy in enumerate(policies):
        if policy is None:
            continue
        mine = (pick == v) & judged
        moved = _beyond(move_bps[mine], policy.tolerance_bps, policy.mode == "symmetric")
        reason[np.flatnonzero(mine)[moved]] = REJECTED["price_moved"]
    reason[checked_at > expires_at] = REJECTED["expired"]
    return reason


def _attempts(draws, strategy, venues, mid, order_size: float, retries: int) -> Records:
    """The races attempt by attempt, over the requests still short of a fill: each retry
    starts when its last report arrives, at the engine time trio's clock reads then
    ((start + decision) + round trip), on its attempt's own draws, for what is left to fill.
    Each attempt's orders (its legs) are settled in the order the trio engine settles them,
    so that what filled, its VWAP and what is left are the same floats."""
    n, count = draws.requests, len(venues)
    side = draws.side.astype(np.float64)
    decision_s, venue = np.full(n, np.nan), np.full(n, -1, dtype=np.int32)
    outcome = np.full(n, NO_QUOTE, dtype=np.int8)
    fill_price, fill_s = np.full(n, np.nan), np.full(n, np.nan)
    filled_size, orders = np.zeros(n), np.zeros(n, dtype=np.int32)
    remaining, notional = np.full(n, float(order_size)), np.zeros(n)
    rejects = np.zeros(len(ORDER_REJECTS), dtype=np.int64)
    elapsed, start = np.zeros(n), np.asarray(draws.arrival_s, dtype=np.float64).copy()
    ends = start.copy()  # when each race ended: set attempt by attempt
    active = np.arange(n)
    asked = np.zeros(count, dtype=np.int64)  # quote requests each venue received
    for attempt in range(retries + 1):
        if active.size == 0:
            break

        def stacked(field: str, a: int = attempt, rows: np.ndarray = active) -> np.ndarray:
            return np.stack([np.asarray(getattr(d, field)[a])[rows] for d in draws.venues])

        block = _Block(
            start[active],
            side[active],
            stacked("latency_s"),
            stacked("answers"),
            stacked("noise_bps"),
            stacked("order_latency_s"),
            mid,
        )
        a = _attempt(block, strategy, venues, order_size, remaining[active])
        asked += a["venue_requests"]
        has, decided, round_trip = a["has"], a["decided"], a["round_trip"]
        none = active[~has]  # no quote: the race ends (at its timeout, mostly)
        ends[none] = start[none] + a["ended"][~has]
        if attempt == 0:
            decision_s = np.where(has, decided, np.nan)
            venue = np.where(has, a["legs"][0][0], -1).astype(np.int32)
        mine = active[has]
        decided, round_trip = decided[has], round_trip[has]
        elapsed[mine] = (elapsed[mine] + decided) + round_trip
        first_reason = np.zeros(mine.size, dtype=np.int8)
        for leg_venue, size, price, reason in zip(*(x[:, has] for x in a["legs"]), strict=True):
            sent = leg_venue >= 0
            orders[mine] += sent
            fill, reject = sent & (reason == 0), sent & (reason > 0)
            remaining[mine[fill]] -= size[fill]
            notional[mine[fill]] += size[fill] * price[fill]
            first_reason = np.where(reject & (first_reason == 0), reason, first_reason)
            rejects += np.bincount(reason[reject], minlength=len(ORDER_REJECTS) + 1)[1:]
        filled_size[mine] = order_size - remaining[mine]
        some = mine[filled_size[mine] > 0]  # the VWAP of what filled, all of it or part
        fill_price[some] = notional[some] / filled_size[some]
        done = remaining[mine] <= order_size * FILLED_SHARE_SLACK
        short = np.where(first_reason > 0, first_reason, REJECTED["no_liquidity"])
        outcome[mine] = np.where(done, FILLED, short)
        fill_s[mine[done]] = elapsed[mine[done]]
        reported = (start[mine] + decided) + round_trip  # trio's clock at the last report
        ends[mine] = reported
        if attempt == retries:
            break  # the last reject ends its race
        active = mine[~done]
        start[active] = reported[~done]
    return _records(
        draws,
        decision_s=decision_s,
        venue=venue,
        outcome=outcome,
        fill_price=fill_price,
        fill_s=fill_s,
        filled_size=filled_size,
        orders=orders,
        rejects=rejects,
        venue_requests=asked,
        span_s=float(ends.max()) if n else 0.0,
    )


def _attempt(block: _Block, strategy, venues, order_size: float, remaining: np.ndarray):
    """One attempt of each request in `block`, for `remaining` of its order: whether it found
    a quote, its decision time, when it ended without one, the quote requests each venue got,
    the round trip of its orders (the slowest leg's), and its orders as legs, each a
    (leg x request) array of venue (-1: no such leg), size, price and verdict (0: a fill,
    else its REJECTED code), in the order the trio engine settles them."""
    if isinstance(strategy, Split):
        return _split(strategy, block, venues, order_size, remaining)
    c = _choose(block, strategy, venues, order_size)  # one order for the whole size
    r = _judge(block, c, venues, order_size)
    has = c["chosen"] >= 0
    return {
        "has": has,
        "decided": c["decided"],
        "ended": c["ended"],
        "venue_requests": c["venue_requests"],
        "round_trip": r["round_trip"],
        "legs": (
            c["chosen"][None, :],
            np.where(has, order_size, 0.0)[None, :],
            c["price"][None, :],
            np.where(has, r["outcome"], 0)[None, :],
        ),
    }


def _split(strategy: Split, block: _Block, venues, order_size: float, remaining: np.ndarray):
    """strategies.split over arrays, as `_attempt` gives it: every venue asked, the quotes in
    by the timeout taken (the decision at the last of them, or at the timeout), each priced
    for the request's `remaining` size (its venue's ladder walked for it), then legs from the
    best price down (ties: the earlier quote, then the lower venue), each for as much as its
    venue quoted, until the size is covered. The legs' orders go out at once."""
    count, n = block.latency.shape
    requests = np.arange(n)
    timeout = strategy.timeout_ms * 1e-3
    in_time = block.answers & (block.latency <= timeout)
    arrival = np.where(in_time, block.latency, np.inf)
    walks = [Ladder(v.depth).walk(remaining, v.spread_bps or 0.0) for v in venues]
    spread, available = np.stack([w[0] for w in walks]), np.stack([w[1] for w in walks])
    _, _, skew, _, hold_s, policies = _venue_constants(venues, order_size)
    quoted = block.quoted_mid(timeout)
    price = quote_price(quoted, block.side[None, :], spread, skew[:, None], block.noise)
    venue_index = np.broadcast_to(np.arange(count)[:, None], (count, n))
    ranked = np.lexsort((venue_index, arrival, block.side * price, ~in_time), axis=0)
    decided = np.where(in_time.all(axis=0), _last(arrival, in_time), timeout)
    last_look = np.array([p is not None for p in policies])
    legs = tuple(np.empty((count, n), dtype=t) for t in (np.int64, float, float, np.int8))
    left, round_trip = remaining.copy(), np.full(n, -np.inf)
    for k, v in enumerate(ranked):
        taken = in_time[v, requests] & (left > 0)
        size = np.minimum(available[v, requests], left)
        left = np.where(taken, left - size, left)
        judged = taken & last_look[v]
        order_latency = block.order_latency[v, requests]
        round_trip = np.where(taken, np.maximum(round_trip, order_latency + hold_s[v]), round_trip)
        checked_t = block.t0[judged] + (
            decided[judged] + 0.5 * order_latency[judged] + hold_s[v][judged]
        )
        verdict = _verdicts(
            block,
            venues,
            order_size,
            v,
            judged,
            decided,
            np.zeros(n),
            quoted[v, requests],
            checked_t,
            size > available[v, requests],
        )
        legs[0][k], legs[1][k], legs[2][k], legs[3][k] = (
            np.where(taken, v, -1),
            size,
            price[v, requests],
            verdict,
        )
    return {
        "has": in_time.any(axis=0),
        "decided": decided,
        "ended": np.full(n, timeout),
        "venue_requests": np.full(count, n),
        "round_trip": round_trip,
        "legs": legs,
    }


def _beyond(move_bps: np.ndarray, tolerance_bps: float, symmetric: bool) -> np.ndarray:
    """Whether each move, rounded to 1e-9 bps as the venue rounds it (Python's round, which
    numpy's differs from in the last bit), is beyond the tolerance."""
    rounded = np.round(move_bps, 9)
    near = np.abs(np.abs(rounded) - tolerance_bps) < 1e-8  # where the last bit could matter
    rounded[near] = [round(x, 9) for x in move_bps[near].tolist()]
    return (np.abs(rounded) if symmetric else rounded) > tolerance_bps


def _decide(strategy, arrival, in_time, timeout, venues, block, order_size):
    """(chosen venue or -1, decision time after arrival) for every request."""
    count, n = arrival.shape
    requests = np.arange(n)
    received = in_time.sum(axis=0)
    everyone = received == count
    first = np.argmin(arrival, axis=0)  # the earliest; among equals the lower venue
    if isinstance(strategy, FirstWins):
        has = received > 0
        return np.where(has, first, -1), np.where(has, arrival[first, requests], np.nan)
    if isinstance(strategy, BestPrice | Threshold):
        took = in_time
        when = np.where(everyone, _last(arrival, in_time), timeout)
        if isinstance(strategy, Threshold):  # the first good enough, else the best of all
            good = _good_enough(strategy, took, venues, block, order_size)
            first_good = np.argmin(np.where(good, arrival, np.inf), axis=0)
            found = good.any(axis=0)
            chosen = np.where(found, first_good, _best(took, arrival, venues, block, order_size))
            when = np.where(found, arrival[first_good, requests], when)
            return chosen, np.where(chosen >= 0, when, np.nan)
    elif isinstance(strategy, FirstK):
        k = strategy.k
        by_arrival = np.argsort(arrival, axis=0, kind="stable")  # ties: the lower venue first
        took = in_time & (np.argsort(by_arrival, axis=0) < k)
        kth = np.take_along_axis(arrival, by_arrival[min(k, count) - 1][None, :], axis=0)[0]
        when = np.where(received >= k, kth, np.where(everyone, _last(arrival, in_time), timeout))
    else:  # Deadline
        until = min(strategy.deadline_ms * 1e-3, timeout)
        took = in_time & (arrival <= until)
        when = np.where(took.sum(axis=0) == count, _last(arrival, took), until)
        late = ~took.any(axis=0) & (received > 0)  # none by the deadline: the first after it
        chosen = np.where(late, first, _best(took, arrival, venues, block, order_size))
        when = np.where(late, arrival[first, requests], when)
        return chosen, np.where(chosen >= 0, when, np.nan)
    chosen = _best(took, arrival, venues, block, order_size)
    return chosen, np.where(chosen >= 0, when, np.nan)


def _staggered(strategy: Staggered, block: _Block, venues, order_size: float):
    """strategies.staggered over arrays: venues asked in order, the next `stagger_ms` after
    the last one asked, or at once when a quote that cannot fill the order comes; the first
    quote that can fill it wins. Quotes are taken in order of arrival (then venue), one at a
    time. Returns (chosen venue or -1, decision time, when the chosen venue was asked)."""
    count, n = block.latency.shape
    timeout, stagger = strategy.timeout_ms * 1e-3, strategy.stagger_ms * 1e-3
    _, available, _, _, _, _ = _venue_constants(venues, order_size)
    can_fill = available >= order_size
    asked_at = np.full((count, n), np.inf)  # after the request
    taken = np.zeros((count, n), dtype=bool)
    now = np.zeros(n)
    asked = np.zeros(n, dtype=np.int64)  # venues asked so far: the first `asked`
    chosen, decided = np.full(n, -1), np.full(n, np.nan)
    going = np.ones(n, dtype=bool)
    columns = np.arange(n)
    for _ in range(2 * count + 1):  # each round asks a venue or takes a quote
        ask = going & (asked < count)
        asked_at[asked[ask], columns[ask]] = now[ask]
        asked[ask] += 1
        arrives = asked_at + block.latency  # sent_after + latency, as trio adds them
        waiting = going[None, :] & np.isfinite(asked_at) & ~taken & block.answers
        waiting &= arrives <= timeout
        first = np.argmin(np.where(waiting, arrives, np.inf), axis=0)
        at = arrives[first, columns]
        some = waiting[first, columns]
        more = asked < count
        until = np.where(more, now + stagger, np.inf)
        limit = np.minimum(until, timeout)
        got = going & some & (at <= limit)
        win = got & can_fill[first]
        chosen[win], decided[win] = first[win], at[win]
        failed = got & ~win  # a quote too small for the order: on to the next venue at once
        taken[first[failed], columns[failed]] = True
        now[failed] = at[failed]
        passed = going & ~got & more & (until < timeout)  # the stagger passed first
        now[passed] = until[passed]
        going &= (failed & (at < timeout)) | passed  # at the timeout, the gatherer stops
        if not going.any():
            break
    sent = np.where(chosen >= 0, asked_at[np.maximum(chosen, 0), columns], 0.0)
    # with no quote that can fill, the race ends when every venue has answered (all taken,
    # none could fill), else at the timeout
    ended = np.where(taken.sum(axis=0) == count, now, timeout)
    return chosen, decided, sent, ended, asked


def _good_enough(strategy: Threshold, took, venues, block, order_size: float) -> np.ndarray:
    """Quotes within `max_cost_bps` of the mid at the request and deep enough for the order
    (strategies.threshold, with strategies.ranking.cost_bps)."""
    spreads, available, skew, _, _, _ = _venue_constants(venues, order_size)
    arrival = np.where(took, block.latency, 0.0)
    quoted = block.quoted_mid(float(np.max(arrival, initial=0.0)))
    side = block.side[None, :]
    price = quote_price(quoted, side, spreads[:, None], skew[:, None], block.noise)
    seen = block.mid.at(block.t0)[None, :]  # the mid the client saw when it sent the request
    cost = cost_bps(side, price, seen, seen)
    return took & (cost <= strategy.max_cost_bps) & (available >= order_size)[:, None]


def _last(arrival: np.ndarray, took: np.ndarray) -> np.ndarray:
    return np.max(np.where(took, arrival, -np.inf), axis=0)


def _best(took, arrival, venues, block, order_size):
    """strategies.ranking.best over the quotes each request took: those too small for the
    order only if there is no other, then the lowest cost to the client, then the earliest,
    then the lower venue."""
    spreads, available, skew, _, _, _ = _venue_constants(venues, order_size)
    side = block.side[None, :]
    quoted = block.quoted_mid(float(np.max(np.where(took, arrival, 0.0), initial=0.0)))
    price = quote_price(quoted, side, spreads[:, None], skew[:, None], block.noise)
    deep = took & (available >= order_size)[:, None]
    candidates = np.where(deep.any(axis=0), deep, took)
    for key in (side * price, arrival):  # narrow to the lowest cost, then earliest
        value = np.where(candidates, key, np.inf)
        candidates = candidates & (value == value.min(axis=0))
    best = np.argmax(candidates, axis=0)  # the first True: the lower venue
    return np.where(took.any(axis=0), best, -1)


@functools.lru_cache(maxsize=64)
def _venue_constants(venues: tuple[VenueSpec, ...], size: float):
    """Per venue: full spread for the order (its ladder walked), size available, skew, quote
    time to live and last-look hold in seconds, and the last-look policy."""
    walks = [Ladder(v.depth).walk(size, v.spread_bps or 0.0) for v in venues]
    return (
        np.array([w[0] for w in walks]),
        np.array([w[1] for w in walks]),
        np.array([v.skew_bps for v in venues]),
        np.array([math.inf if v.quote_ttl_ms is None else v.quote_ttl_ms * 1e-3 for v in venues]),
        np.array([0.0 if v.last_look is None else v.last_look.hold_ms * 1e-3 for v in venues]),
        [v.last_look for v in venues],
    )


def _ns(seconds: np.ndarray) -> np.ndarray:
    """Whole nanoseconds, as the venues judge expiry (infinity stays infinite)."""
    seconds = np.asarray(seconds, dtype=np.float64)
    return np.where(np.isinf(seconds), seconds, np.rint(seconds * 1e9))
