"""A fast summary decided in pieces, so that memory stays flat however many requests a run
has (sim.measure.run.summary).

The requests are drawn, decided and added up CHUNK at a time (sim.measure.tally), and the
market path behind them is forgotten. Races that interact (a learning strategy, venue
servers) are decided STEP requests at a time up to the last idle instant of each piece,
what was learned and the venues' load carried across and the requests after that instant
decided with the next (`_Resumed`); the groups of strategies that scan apart are decided
side by side, in threads (their scans release the GIL). A closed loop's cuts carry its
clients' next starts; its correction for coordinated omission is made once its expected
interval is known (`_Loop`). A closed loop of rules over arrays without servers is chained
chunk to chunk (`_Chain`).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from sim.engines.exact_sum import EXACT_UNITS, exactly
from sim.engines.fast import Prepared, chained, resumed, resumes, run_fast, run_fast_legs
from sim.engines.queues import Served, venue_load
from sim.engines.records import Records
from sim.engines.scan import Carried, needs_scan
from sim.measure.exact_percentiles import ExactPercentiles
from sim.measure.histograms import Corrected
from sim.measure.quality import arrival_touches, oracle_prices
from sim.measure.strategy_runs import fast_records
from sim.measure.tally import CHUNK, Tally
from sim.model.draws import Draws, draw_chunks
from sim.model.errors import ScenarioError
from sim.model.market import MidPath
from sim.model.scenario import NamedStrategy, Scenario
from sim.model.streams import BLOCK
from strategies.first_wins import FirstWins

# strategies decided together by one scan: those it decides, and the strategy it scans
Groups = list[tuple[list[NamedStrategy], object]]


def in_pieces(
    scenario: Scenario,
    groups: Groups,
    progress: Callable[[str, int], None] | None,
    while_drawing: Callable[[], None] | None = None,
) -> tuple[dict[str, tuple[Tally, Records]], dict[str, dict[str, Any]] | None]:
    """Every strategy of `scenario` (an open loop's, or a closed loop's: `resuming` gave its
    `groups`) decided in pieces: per strategy its tally and its run-level records added up,
    and a closed loop's corrected figures per strategy (`_Loop.summary`; None for an open
    loop). `progress(label, n)` hears of each chunk's requests as `run`'s does;
    `while_drawing()` is called while the first chunk is drawn, before any is decided."""
    served = any(v.service is not None for v in scenario.venues)
    mid = scenario.mid_path()
    tallies = {entry.name: Tally(len(scenario.venues)) for entry in scenario.strategies}
    totals: dict[str, Records] = {}
    resumed = [_Resumed(scenario, entries, by, mid, tallies) for entries, by in groups]
    by_name = {e.name: r for r in resumed for e in r.entries}
    decided = 0
    closed = scenario.arrivals.closed
    # a closed loop of rules without servers: each strategy's clients chained chunk to chunk
    chains = {
        e.name: _Chain(scenario, e, mid)
        for e in scenario.strategies
        if closed and e.name not in by_name
    }
    alone = [e for e in scenario.strategies if e.name not in by_name and e.name not in chains]
    # the groups' scans release the GIL: each group decides its chunks in a thread of its own,
    # one chunk ahead of the rest at most, on a market that never moves (a moving one is
    # extended, and forgotten behind, only by the thread that made it)
    lanes = bool(resumed) and not scenario.market.moves
    ahead: collections.deque[tuple[Draws, list]] = collections.deque()

    def add_up(draws: Draws, outcomes: list) -> None:
        """A chunk's groups' records added up, in the groups' order, once decided."""
        for outcome in outcomes:
            for name, records in (outcome.result() if lanes else outcome).items():
                totals[name] = _run_totals(totals.get(name), records)
        if progress is not None:
            for name in by_name:
                progress(f"{scenario.name}: {name}", draws.requests)

    with contextlib.ExitStack() as stack:
        threads = [_lane(stack, i) for i in range(len(resumed) if lanes else 0)]
        for draws in _drawn_ahead(scenario, mid, CHUNK, while_drawing):
            if not lanes:  # the groups are all done with the chunk before
                earliest = [r.earliest() for r in resumed]
                earliest += [c.earliest() for c in chains.values()]
                if not closed:
                    earliest.append(float(draws.arrival_s.min()))
                mid.forget_before(min(earliest))  # no lookup goes back
            mids = oracle = prepared = None
            if alone and not closed:  # shared by the rules decided at once
                prepared = Prepared(draws, mid, scenario.venues)
            if not closed:  # a closed loop's arrivals are known once decided
                mids = mid.at(draws.arrival_s)
                touches = arrival_touches(mid, draws.arrival_s, draws.side)
                oracle = oracle_prices(draws, scenario.venues, mids, scenario.order.size, touches)
            decided += draws.requests
            chunk = (draws, mids, oracle, decided)
            if lanes:
                work = [t.submit(r.decide, *chunk) for t, r in zip(threads, resumed, strict=True)]
            else:
                work = [r.decide(*chunk) for r in resumed]
            ahead.append((draws, work))
            for entry in scenario.strategies:
                if entry.name in chains:
                    records = chains[entry.name].decide(draws, tallies[entry.name])
                elif entry.name not in by_name:
                    records = fast_records(scenario, entry, draws, mid, prepared)
                    tallies[entry.name].add(records, draws.side, mids, oracle)
                else:
                    continue
                totals[entry.name] = _run_totals(totals.get(entry.name), records)
                if progress is not None:
                    progress(f"{scenario.name}: {entry.name}", draws.requests)
            while len(ahead) > (1 if lanes else 0):  # the chunk before this one, decided
                add_up(*ahead.popleft())
        while ahead:
            add_up(*ahead.popleft())
    if served:
        totals = {n: by_name[n].load(n, r) if n in by_name else r for n, r in totals.items()}
    loops = None
    if closed:
        loops = {n: (chains[n] if n in chains else by_name[n].loops[n]).summary() for n in tallies}
    return {n: (tallies[n], totals[n]) for n in tallies}, loops


def _lane(stack: contextlib.ExitStack, i: int) -> ThreadPoolExecutor:
    """A thread that decides one group's chunks in order, ended with `stack` (what it has
    not begun is dropped: a group failed)."""
    lane = ThreadPoolExecutor(1, thread_name_prefix=f"pieces_{i}")
    stack.callback(lane.shutdown, cancel_futures=True)
    return lane


def resuming(scenario: Scenario) -> Groups | None:
    """The strategies of an open loop on the fast engine whose races interact, in groups
    that `_Resumed` decides a chunk at a time, each with the strategy it scans; None when
    some cannot be (a learning strategy the scan cannot resume, rules over arrays that the
    scan does not serve, as deadline, through servers that propagate cancels: their races
    move the queues). In a closed loop, every strategy alone, when all resume there (through
    servers); without servers, none (rules over arrays are chained, `_Chain`), unless some
    learn."""
    served = any(v.service is not None for v in scenario.venues)
    if scenario.arrivals.closed:
        if scenario.arrivals.clients > CHUNK:  # a chunk's clients all wait on the one before
            return None
        if not served:  # rules over arrays, chained chunk to chunk (`_Chain`)
            return None if any(needs_scan(e.strategy) for e in scenario.strategies) else []
        # each strategy its own closed loop; adaptive's verdicts are read at time 0 on
        # (sim.engines.fast.resumed), where the forgetful market path no longer reaches
        if all(
            resumes(e.strategy, scenario.venues, closed=True) and e.strategy.kind != "adaptive"
            for e in scenario.strategies
        ):
            return [([entry], entry.strategy) for entry in scenario.strategies]
        return None
    groups: Groups = []
    rules = []
    for entry in scenario.strategies:
        if resumes(entry.strategy, scenario.venues):
            groups.append(([entry], entry.strategy))
        elif needs_scan(entry.strategy):
            return None
        elif served:
            rules.append(entry)
    if rules:
        if any(v.cancel_propagation for v in scenario.venues if v.service is not None):
            return None
        timeout = max(e.strategy.timeout_ms for e in rules)
        groups.append((rules, FirstWins(timeout_ms=timeout)))
    return groups


# requests a resumed scan decides at a time (its last idle instant ends each): a quarter of a
# chunk, whose scans' temporaries the allocator keeps, where a chunk's are mapped afresh
STEP = BLOCK


class _Resumed:
    """Strategies' run in a `summary`, decided STEP requests at a time by a scan that resumes
    from what the one before learned and stops at its last idle instant
    (sim.engines.fast.resumed); the requests after it wait for the next. `scan_as`: the
    strategy scanned, each of `entries` itself (one that learns, or first_wins through
    servers), or first_wins for rules over arrays whose races do not move the venues'
    queues (no cancel propagation): its scan serves the queues, and each rule decides on
    the quotes they gave."""

    def __init__(
        self,
        scenario: Scenario,
        entries: list[NamedStrategy],
        scan_as: object,
        mid: MidPath,
        tallies: dict[str, Tally],
    ) -> None:
        self.scenario, self.entries, self.scan_as, self.mid = scenario, entries, scan_as, mid
        self.carried = Carried()
        self.waiting: Draws | None = None  # drawn, not yet decided
        self.patience = 0  # waiting requests to scan at once (doubled while no idle instant)
        self.served: tuple[Served | None, ...] = ()  # the venues' load so far, through servers
        self.kept = {e.name: _Kept(tallies[e.name], len(scenario.venues)) for e in entries}
        self.clients = scenario.arrivals.clients if scenario.arrivals.closed else None
        self.loops = {e.name: _Loop(scenario) for e in entries} if self.clients else {}

    def earliest(self) -> float:
        """The first arrival not yet decided (infinity: none); in a closed loop, the first of
        the starts carried (0 before any)."""
        if self.clients:  # the requests not yet drawn start after those carried
            starts = self.carried.starts
            return 0.0 if starts is None else float(starts.min())
        waiting = self.waiting
        return float(waiting.arrival_s[0]) if waiting and waiting.requests else math.inf

    def decide(
        self, draws: Draws, mids: np.ndarray, oracle: np.ndarray, drawn: int
    ) -> dict[str, Records]:
        """Decide what `draws` (a chunk, with the mids and oracle prices at its arrivals)
        lets decide, and add up each chunk whose requests are all decided: per strategy the
        run-level records of the requests decided (none: no strategy). `drawn`: requests
        drawn so far."""
        for kept in self.kept.values():
            kept.chunks.append((draws.side, mids, oracle))
        last = drawn == self.scenario.requests
        decided: dict[str, Records] = {}
        for a in range(0, draws.requests, STEP):
            piece = draws.rows(slice(a, a + STEP))
            self.waiting = piece if self.waiting is None else self.waiting.then(piece)
            end = last and a + STEP >= draws.requests
            if not end and self.waiting.requests < self.patience:
                continue  # scanned already without an idle instant: wait for twice as many
            for name, records in self._scan(pause=not end):
                decided[name] = _run_totals(decided.get(name), records)
        for kept in self.kept.values():
            kept.add_up()
        return decided

    def _scan(self, pause: bool) -> Iterator[tuple[str, Records]]:
        """The waiting requests decided up to the last idle instant (all, unless `pause`).
        A scan that finds none decides nothing, and the next waits for twice as many, so that
        a queue that never empties is scanned a bounded number of times over (each scan
        starts from the first waiting request)."""
        s, waiting = self.scenario, self.waiting
        scanned = resumed(
            waiting,
            self.scan_as,
            venues=s.venues,
            mid=self.mid,
            order_size=s.order.size,
            seed=s.seed,
            carried=self.carried,
            pause=pause,
            clients=self.clients,
        )
        cut = scanned.arrival_s.size
        self.patience = 0 if cut else 2 * waiting.requests
        if cut == 0:
            return
        if pause:
            self.carried = scanned.carried
        head, self.waiting = waiting.rows(slice(0, cut)), waiting.rows(slice(cut, None))
        if scanned.queued is not None:
            self.served = scanned.queued.servers
        # the group's strategies race the same requests: one Prepared for all (an open loop's;
        # a closed loop's starts are the scan's, which run_fast_legs times them by)
        prepared = None if self.clients else Prepared(head, self.mid, s.venues)
        for entry in self.entries:
            itself = entry.strategy is self.scan_as
            records, legs = run_fast_legs(
                head,
                entry.strategy,
                venues=s.venues,
                mid=self.mid,
                order_size=s.order.size,
                prepared=prepared,
                max_retries=entry.max_retries,
                seed=s.seed,
                scanned=scanned if itself else None,
                queued=None if itself else scanned.queued,
                venue_load=False,  # the whole run's, made by `load`
            )
            at = None
            if self.clients:  # the mids and oracle prices at its arrivals, known now
                mids = self.mid.at(records.arrival_s)
                touches = arrival_touches(self.mid, records.arrival_s, head.side)
                at = mids, oracle_prices(head, s.venues, mids, s.order.size, touches)
                self.loops[entry.name].decided(records)
            self.kept[entry.name].decided(records, legs, head, at)
            yield entry.name, records

    def load(self, name: str, records: Records) -> Records:
        """`records` (strategy `name`'s, added up) with the venues' load over the whole run,
        as `venue_load` gives it for a run decided at once."""
        if not self.served:
            return records
        capacity = [v.capacity for v in self.scenario.venues]
        used = np.array([u / EXACT_UNITS for u in self.kept[name].used])
        load = venue_load(self.served, capacity, used, records.span_s)
        return dataclasses.replace(records, **load)


class _Chain:
    """One strategy's closed loop of a rule over arrays without venue servers in a
    `summary`, decided a chunk at a time: each request starts once its client's request
    before it ended (`clients` requests back), so each chunk's first requests start after
    the ends of the last ones of the chunk before (sim.engines.fast.chained)."""

    def __init__(self, scenario: Scenario, entry: NamedStrategy, mid: MidPath) -> None:
        self.scenario, self.entry, self.mid = scenario, entry, mid
        self.before: np.ndarray | None = None  # the ends of the last requests decided
        self.loop = _Loop(scenario)

    def earliest(self) -> float:
        """The earliest the requests not yet decided can start."""
        return 0.0 if self.before is None else float(self.before.min())

    def decide(self, draws: Draws, tally: Tally) -> Records:
        """Decide the chunk `draws` and add it to `tally`: its Records."""
        s, mid = self.scenario, self.mid
        clients = s.arrivals.clients
        try:
            timed, ends = chained(
                draws,
                self.entry.strategy,
                venues=s.venues,
                mid=mid,
                order_size=s.order.size,
                clients=clients,
                before=self.before,
            )
            self.before = ends[-clients:]
            records = run_fast(
                timed, self.entry.strategy, venues=s.venues, mid=mid, order_size=s.order.size
            )  # an open loop's, on the starts chained
        except ScenarioError as e:  # a limit met only during the run (a closed loop's span)
            raise e.in_file(s.file) from None
        mids = mid.at(records.arrival_s)
        touches = arrival_touches(mid, records.arrival_s, draws.side)
        tally.add(
            records, draws.side, mids, oracle_prices(draws, s.venues, mids, s.order.size, touches)
        )
        self.loop.decided(records)
        return records

    def summary(self) -> dict[str, Any]:
        return self.loop.summary()


class _Loop:
    """One strategy's closed loop in a `summary`, a piece of requests at a time, for what
    `_closed_loop_summary` makes of all of them: the gaps between each client's consecutive
    starts (their exact median is the expected interval, unless the scenario gives it) and
    the decision latencies, kept on disk until that interval is known, then corrected."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        given = scenario.arrivals.expected_interval_ms is not None
        self.gaps = None if given else ExactPercentiles()
        self.last = np.empty(0)  # the arrivals of the last `clients` requests so far
        self.latency = tempfile.TemporaryFile()  # noqa: SIM115 (closed once read back)
        self.latencies = 0

    def decided(self, records: Records) -> None:
        """The next requests decided, in order: their `records`."""
        if self.gaps is not None:  # request i + clients is its client's next after i
            k = self.scenario.arrivals.clients
            arrivals = np.concatenate([self.last, records.arrival_s])
            if arrivals.size > k:
                self.gaps.add(arrivals[k:] - arrivals[:-k])
            self.last = arrivals[-k:].copy()  # not a view holding the whole piece
        decision_s = records.decision_s[~np.isnan(records.decision_s)]
        decision_s.tofile(self.latency)
        self.latencies += decision_s.size

    def summary(self) -> dict[str, Any]:
        """`_closed_loop_summary` of every request decided."""
        arrivals = self.scenario.arrivals
        if self.gaps is None:
            interval_s = arrivals.expected_interval_ms * 1e-3
        else:
            interval_s = _median(self.gaps)
        corrected = Corrected(interval_s)
        with self.latency as latency:
            latency.seek(0)
            for _ in range(0, self.latencies, CHUNK):
                corrected.record(np.fromfile(latency, dtype=np.float64, count=CHUNK))
        try:
            ms = corrected.ms()
        except ValueError as e:
            file = self.scenario.file
            raise ScenarioError("arrivals.expected_interval_ms", str(e), file) from None
        return {"expected_interval_ms": round(interval_s * 1e3, 6), "decision_ms_corrected": ms}


def _median(values: ExactPercentiles) -> float:
    """np.median of `values` (0 if none), as `_median_interval` takes it."""
    n = values.count
    if not n:
        return 0.0
    ranks = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
    found = values.ranked(ranks)
    return found[n // 2] if n % 2 else (found[n // 2 - 1] + found[n // 2]) / 2


class _Kept:
    """One strategy's requests decided in pieces (`_Resumed`), added to its tally a chunk of
    requests at a time, in order, as `Tally.add_in_chunks` adds a whole run's; and the
    service time of the quotes it acted on, summed exactly."""

    def __init__(self, tally: Tally, venues: int) -> None:
        self.tally = tally
        # to add up: sides, and an open loop's mids and oracle prices
        self.chunks: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]] = []
        self.pieces: list[Records] = []  # decided, not yet added up
        self.at: list[tuple[np.ndarray, np.ndarray]] = []  # a closed loop's: theirs
        self.used = [0] * venues  # in EXACT_UNITs

    def decided(
        self,
        records: Records,
        legs: np.ndarray,
        draws: Draws,
        at: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """The next requests decided: their `records`, and the first attempt's `legs`
        (leg x request, the venue of each order) on `draws`; a closed loop's mids and oracle
        prices at their arrivals (`at`)."""
        self.pieces.append(records)
        if at is not None:
            self.at.append(at)
        for v, d in enumerate(draws.venues):
            if d.service_s is not None:
                service = np.broadcast_to(np.asarray(d.service_s[0]), legs.shape)[legs == v]
                self.used[v] += exactly(service)

    def add_up(self) -> None:
        """Add to the tally every chunk whose requests are all decided."""
        have = sum(p.decision_s.size for p in self.pieces)
        while self.chunks and have >= self.chunks[0][0].size:
            side, mids, oracle = self.chunks.pop(0)
            k = side.size
            chunk, self.pieces = _split(self.pieces, k)
            if mids is None:
                mids, oracle = (np.concatenate(x) for x in zip(*self.at, strict=True))
                self.at = [(mids[k:].copy(), oracle[k:].copy())]  # not views of the whole
            self.tally.add(_joined(chunk), side, mids[:k], oracle[:k])
            have -= k


# Records' per-request fields (the others are the run's)
PER_REQUEST = ("arrival_s", "decision_s", "venue", "outcome", "fill_price", "fill_s")
PER_REQUEST += ("filled_size", "orders")


def _joined(pieces: list[Records]) -> Records:
    """Records of consecutive requests as one: their per-request fields joined (the run-level
    ones are the last piece's)."""
    fields = {n: np.concatenate([getattr(p, n) for p in pieces]) for n in PER_REQUEST}
    return dataclasses.replace(pieces[-1], **fields)


def _split(pieces: list[Records], k: int) -> tuple[list[Records], list[Records]]:
    """Records of consecutive requests, as the first `k` requests' and the rest's: only
    the piece that straddles the cut is sliced (a view of that piece alone), so that what
    is joined is the first k requests', and what is kept no more than the pieces after."""
    first: list[Records] = []
    rest: list[Records] = []
    n = 0
    for piece in pieces:
        size = piece.decision_s.size
        if n >= k:
            rest.append(piece)
        elif n + size <= k:
            first.append(piece)
        else:
            first.append(_rows(piece, slice(0, k - n)))
            rest.append(_rows(piece, slice(k - n, None)))
        n += size
    return first, rest


def _rows(records: Records, rows: slice) -> Records:
    """The per-request fields of `records` for `rows` alone."""
    fields = {n: getattr(records, n)[rows] for n in PER_REQUEST}
    return dataclasses.replace(records, **fields)


def _drawn_ahead(
    scenario: Scenario, mid: MidPath, size: int, meanwhile: Callable[[], None] | None = None
) -> Iterator[Draws]:
    """`draw_chunks(scenario, size)`, each chunk drawn in a background thread while the one
    before is decided, and its market path made in another, as far as its quotes reach (the
    strategies' longest timeout after its last arrival; lookups beyond make the rest): the
    work a fast run leaves to one core, spread over both. Draws are keyed, so nothing moves.
    `meanwhile()` is called in this thread while the first chunk is drawn."""
    reach = max(entry.strategy.timeout_ms for entry in scenario.strategies) * 1e-3
    chunks = draw_chunks(scenario, size)

    def next_chunk() -> Draws | None:
        draws = next(chunks, None)
        if draws is not None and draws.requests and draws.arrival_s is not None:
            mid.prefetch(float(draws.arrival_s[-1]) + reach)
        return draws

    with ThreadPoolExecutor(1, thread_name_prefix="draws") as pool:
        ahead = pool.submit(next_chunk)
        if meanwhile is not None:
            meanwhile()
        while (draws := ahead.result()) is not None:
            ahead = pool.submit(next_chunk)
            yield draws


def _run_totals(before: Records | None, chunk: Records) -> Records:
    """`chunk`'s Records with the run-level counts of every chunk so far added up (the fast
    engine has no timers, and the venues' load through servers `_Resumed.load` makes for the
    whole run: the other run-level fields are the same in each)."""
    if before is None:
        return chunk
    return dataclasses.replace(
        chunk,
        rejects=before.rejects + chunk.rejects,
        venue_requests=before.venue_requests + chunk.venue_requests,
        span_s=max(before.span_s, chunk.span_s),
    )
