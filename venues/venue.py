"""A venue: its description in a scenario, and its behaviour in a run."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from venues.last_look import LastLook, judge, rounded_move_bps
from venues.latency import Latency, whole_ns
from venues.messages import ExecutionReport, Quote, QuoteRequest
from venues.pricing import Ladder, Level, quote_price
from venues.servers import Servers

# A latency below this has an outbound half lost in engine times up to 1e6 s (their resolution
# is 1.2e-10 s).
ZERO_OUTBOUND_S = 1e-9
MAX_WALKS = 1024


@dataclass(frozen=True)
class VenueSpec:
    """A venue as a scenario describes it.

    `latency` is the time from sending a quote request to receiving the quote, drawn
    independently for every request; with probability `fail_prob` the venue never answers. The
    venue handles a request halfway through that time (the two network legs are equal) and
    prices it then: `spread_bps` is its full spread (or `depth`, a ladder of levels, for larger
    sizes), `skew_bps` moves both its sides, `noise_bps` is the standard deviation of a random
    shift per quote. Quotes are valid for `quote_ttl_ms` (forever when absent). An order's round
    trip is drawn from `order_latency` (default: the same distribution as `latency`).

    With `recorded_spread`, the venue quotes a recorded market's touch instead of a spread
    around the mid: the recorded ask to a buyer, the bid to a seller, then its skew and noise
    in bps of that price; its `depth` levels (if any) widen beyond the touch, a level's
    `spread_bps` counted on top of the recorded spread (0: the recorded top of book).

    With `service`, each request also takes a drawn service time at the venue, on one of
    `capacity` servers (as many as needed when absent), first come first served; the queue wait
    and the service add to the quote's latency, and the quote is priced when service ends. With
    `cancel_propagation`, a client's cancel (arriving after the outbound half of the latency)
    makes the venue drop the request (venues.servers).
    """

    name: str
    latency: Latency
    fail_prob: float = field(default=0.0, metadata={"ge": 0.0, "le": 1.0})
    spread_bps: float | None = field(default=None, metadata={"ge": 0.0, "le": 1000.0})
    skew_bps: float = field(default=0.0, metadata={"ge": -1000.0, "le": 1000.0})
    noise_bps: float = field(default=0.0, metadata={"ge": 0.0, "le": 100.0})
    depth: tuple[Level, ...] = ()
    quote_ttl_ms: float | None = field(default=None, metadata={"gt": 0.0})
    last_look: LastLook | None = None
    order_latency: Latency | None = None
    service: Latency | None = None
    capacity: int | None = field(default=None, metadata={"ge": 1})
    cancel_propagation: bool = False
    recorded_spread: bool = False

    def __post_init__(self) -> None:
        if self.depth and self.spread_bps is not None:
            raise ValueError("depth: give spread_bps or depth, not both")
        if self.recorded_spread and self.spread_bps is not None:
            raise ValueError("recorded_spread: give spread_bps or recorded_spread, not both")
        if self.service is None and self.capacity is not None:
            raise ValueError("service: missing (capacity needs the time each request takes)")
        if self.service is None and self.cancel_propagation:
            raise ValueError("service: missing (cancel_propagation saves service time: give it)")


@dataclass(frozen=True)
class VenueDraws:
    """A venue's pre-drawn values for a run, each indexed [attempt][request]."""

    latency_s: Sequence[Sequence[float]]
    answers: Sequence[Sequence[bool]]
    noise_bps: Sequence[Sequence[float]]
    order_latency_s: Sequence[Sequence[float]]
    service_s: Sequence[Sequence[float]] | None = None

    def as_lists(self) -> VenueDraws:
        """The same draws as Python lists: they index several times faster than numpy arrays,
        one value at a time, and hold Python floats."""
        return VenueDraws(
            self.latency_s.tolist(),
            self.answers.tolist(),
            self.noise_bps.tolist(),
            self.order_latency_s.tolist(),
            None if self.service_s is None else self.service_s.tolist(),
        )


class Venue:
    """A venue in a run: answers quote requests and orders from pre-drawn per-request values.

    The draws are made before the run from streams keyed by venue, attempt and request, so that
    every strategy meets the same venue (common random numbers) and no draw depends on trio's
    scheduling order. `mid(t)` is the market's mid at engine time t, and `touch(t, side)` the
    recorded ask (side > 0) or bid there, for a venue with `recorded_spread`. `requests` counts
    the quote requests received; `servers` is its queue (None for a venue without `service`).
    """

    __slots__ = (
        "_draws",
        "_hold_ns",
        "_hold_s",
        "_ladder",
        "_mid",
        "_spec",
        "_touch",
        "_ttl_ns",
        "_ttl_s",
        "_walks",
        "index",
        "name",
        "requests",
        "servers",
    )

    def __init__(
        self,
        index: int,
        spec: VenueSpec,
        draws: VenueDraws,
        mid: Callable[[float], float],
        touch: Callable[[float, float], float] | None = None,
    ) -> None:
        if spec.recorded_spread and touch is None:
            raise ValueError(f"venue {spec.name}: recorded_spread needs the market's touch")
        self.index = index
        self.name = spec.name
        self._spec = spec
        self._draws = draws
        self._mid = mid
        self._touch = touch if spec.recorded_spread else None
        self._ladder = Ladder(spec.depth)
        self._walks: dict[float, tuple[float, float]] = {}  # order size -> (spread, available)
        self._ttl_s = math.inf if spec.quote_ttl_ms is None else spec.quote_ttl_ms * 1e-3
        self._hold_s = 0.0 if spec.last_look is None else spec.last_look.hold_ms * 1e-3
        self._ttl_ns, self._hold_ns = whole_ns(self._ttl_s), whole_ns(self._hold_s)
        self.requests = 0
        self.servers = None
        if spec.service is not None:
            # An outbound half this short vanishes in engine time: events land in their own
            # instant (venues.servers).
            settle = min(min(a, default=1.0) for a in draws.latency_s) < ZERO_OUTBOUND_S
            self.servers = Servers(spec.capacity, spec.cancel_propagation, settle)

    async def quote(self, request: QuoteRequest) -> Quote:
        """Answer `request` after its drawn latency, or never if this venue fails it."""
        import trio

        self.requests += 1
        a, i = request.attempt, request.index
        if not self._draws.answers[a][i]:
            await trio.sleep_forever()
        latency = self._draws.latency_s[a][i]
        sent = request.sent_after_s
        if self.servers is not None:
            return await self._served(request, latency)
        if latency:  # a quote due now (zero latency) is delivered at once: see _served
            # at t0 plus its arrival after the request, as a gatherer's deadlines are counted
            # (strategies.scatter): a quote due exactly at one wakes with it, not an ulp later
            await trio.sleep_until(request.t0 + (sent + latency))
        # Priced as of when the venue handled it; built only now, so that a quote cancelled
        # first (however long its drawn latency) never looks the market up.
        return self._quote(request, latency, request.t0 + sent + 0.5 * latency)

    def due_at(self, request: QuoteRequest) -> float | None:
        """When `quote` would answer `request`, in engine time, known as it arrives; None
        through the servers (the queue decides) or if it never answers."""
        a, i = request.attempt, request.index
        if self.servers is not None or not self._draws.answers[a][i]:
            return None
        return request.t0 + (request.sent_after_s + self._draws.latency_s[a][i])

    def quote_now(self, request: QuoteRequest) -> Quote | None:
        """`quote`'s answer at once if it is due (a venue server's client whose request took
        longer to arrive than its drawn latency, or an alarm set at `due_at`), without a task
        or a timer; None (nothing counted) if it must be waited for: due later, through the
        servers, or never."""
        import trio

        due = self.due_at(request)
        if due is None or due > trio.current_time():
            return None
        self.requests += 1
        latency = self._draws.latency_s[request.attempt][request.index]
        return self._quote(request, latency, request.t0 + request.sent_after_s + 0.5 * latency)

    async def _served(self, request: QuoteRequest, latency: float) -> Quote:
        """`quote` through the venue's servers: queue wait and service add to `latency`."""
        import trio

        a, i, sent, half = request.attempt, request.index, request.sent_after_s, 0.5 * latency
        service = self._draws.service_s[a][i]
        job = await self.servers.serve(request.t0 + sent + half, half, service, i, a)
        total = latency + (job.start - job.arrive) + service
        try:
            # Due now (zero latency, service and wait): delivered in the task's first step, so
            # that a gatherer whose deadline is now sees it (strategies.scatter waits one
            # scheduling step after its timer).
            if total:
                await trio.sleep_until(request.t0 + sent + total)
        except trio.Cancelled:
            self.servers.cancel(job)
            raise
        return self._quote(request, total, job.start + service)

    def _quote(self, request: QuoteRequest, latency: float, priced_at: float) -> Quote:
        """The quote for `request`, priced at engine time `priced_at`, arriving `latency` after
        it was sent."""
        spread, available = self._walks.get(request.size) or self._walk(request.size)
        noise = self._draws.noise_bps[request.attempt][request.index]
        touch, side = self._touch, request.side
        base = self._mid(priced_at) if touch is None else touch(priced_at, side)
        price = quote_price(base, side, spread, self._spec.skew_bps, noise)
        return Quote(
            request.index,
            self.index,
            latency,
            price,
            available,
            priced_at,
            priced_at + self._ttl_s,
            request.sent_after_s,
        )

    def used(self, attempt: int, request: int) -> None:
        """The client acted on this venue's quote for `request`'s attempt: its service time (if
        it has servers) was not wasted."""
        if self.servers is not None:
            self.servers.use(self._draws.service_s[attempt][request])

    def _walk(self, size: float) -> tuple[float, float]:
        """(spread, available) for an order of `size`, walked and kept (once per size, for the
        first MAX_WALKS sizes: a network client may ask for any number of sizes)."""
        walk = self._ladder.walk(size, self._spec.spread_bps or 0.0)
        if len(self._walks) < MAX_WALKS:
            self._walks[size] = walk
        return walk

    async def order(
        self,
        quote: Quote,
        request: QuoteRequest,
        decided_after_s: float,
        sent_at: float | None = None,
    ) -> ExecutionReport:
        """Fill or reject an order for `quote`, sent `decided_after_s` after `request.t0`
        (exactly: the engine knows it from the draws); answer after the round trip, counted
        from `sent_at` (a server's view of when a client sent it; default: now)."""
        import trio

        report = self.judge(quote, request, decided_after_s)
        if sent_at is None:
            await trio.sleep(report.round_trip_s)
        else:
            await trio.sleep_until(sent_at + report.round_trip_s)
        return report

    def judge(self, quote: Quote, request: QuoteRequest, decided_after_s: float) -> ExecutionReport:
        """`order`'s report, at once: the venue answers it a round trip after the order left.

        Last look judges expiry in whole nanoseconds since `request.t0`, summed from the drawn
        values: float sums of the same times in another order could differ in the last bit, and
        an order checked exactly at the quote's expiry must be judged exactly so.
        """
        latency = self._draws.order_latency_s[request.attempt][request.index]
        # When the venue priced the quote, after it was sent: the outbound half of the network
        # latency, plus queue wait and service for a venue with servers (the quote's latency
        # less the network's inbound half; exactly half the latency without servers).
        network = self._draws.latency_s[request.attempt][request.index]
        priced_after = quote.latency_s - 0.5 * network
        checked_after = decided_after_s + 0.5 * latency + self._hold_s
        checked_mid = self._mid(request.t0 + checked_after)
        reason = judge(
            self._spec.last_look,
            checked_at=whole_ns(decided_after_s) + whole_ns(0.5 * latency) + self._hold_ns,
            expires_at=whole_ns(quote.sent_after_s) + whole_ns(priced_after) + self._ttl_ns,
            move_bps=rounded_move_bps(request.side, self._mid(quote.priced_at), checked_mid),
            size=request.size,
            available=quote.size,
        )
        round_trip = latency + self._hold_s
        return ExecutionReport(request.index, self.index, quote.price, reason, round_trip)
