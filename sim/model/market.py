"""The market: a mid price path that every venue and every strategy of a run shares.

mid(t) is piecewise constant, updated at Poisson times (`updates_per_s`); each update moves the
log price by Normal(0, volatility * sqrt(dt)), so over any interval T the log return has
variance volatility^2 * T whatever the update rate. Optional jumps arrive at their own Poisson
rate and move the log price by +/- size_bps (sign by a fair coin). The path is generated lazily,
CHUNK_S seconds at a time, chunk k from its own keyed stream, so it is the same however far a
run reaches; mid(t) is a binary search.

A recorded market (`file`) replays a mid path from quotes instead (sim.model.recording): the
mid at t is that of the last row at or before t, rows read the same CHUNK_S seconds at a time.
A path asked for its `touch` keeps the recorded bids and asks beside the mids, for venues that
quote the recorded spread (`touch(t, side)`: the ask a buyer meets, the bid a seller meets).
"""

from __future__ import annotations

import bisect
import math
import threading
import weakref
from dataclasses import dataclass, field

import numpy as np

from sim.model.errors import ScenarioError
from sim.model.recording import Recording
from sim.model.streams import Purpose, streams
from sim.model.timestamps import UNIT_NS

CHUNK_S = 1.0
MAX_MARKET_UPDATES = 2e7  # a run's mid path is held in memory: 16 bytes an update as arrays,
# 20 more for `at` (the fast engine's), 64 more where looked up one time at a time (trio's)
AT_END = ("hold", "loop")


@dataclass(frozen=True)
class Jumps:
    """Rare large moves: `rate_per_s` of them on average, each of `size_bps` up or down."""

    rate_per_s: float = field(metadata={"gt": 0.0, "le": 10_000.0})
    size_bps: float = field(metadata={"gt": 0.0, "le": 1000.0})


@dataclass(frozen=True)
class MarketSpec:
    """The `[market]` table. volatility_bps is per square root of a second.

    With `file`, the mid is replayed from recorded quotes instead (the synthetic keys are then
    an error): timestamps in `time_unit` when they are epoch numbers; past the last row the
    last mid holds, or with `at_end = "loop"` the recording plays again from its start.
    """

    mid: float = field(default=100.0, metadata={"gt": 0.0, "le": 1e9})
    volatility_bps: float = field(default=0.0, metadata={"ge": 0.0, "le": 10_000.0})
    updates_per_s: float = field(default=1000.0, metadata={"gt": 0.0, "le": 1e6})
    jumps: Jumps | None = None
    file: str | None = None
    time_unit: str = field(default="s", metadata={"choices": tuple(UNIT_NS)})
    at_end: str = field(default="hold", metadata={"choices": AT_END})

    def __post_init__(self) -> None:
        if self.file is not None:
            synthetic = {"mid": 100.0, "volatility_bps": 0.0, "updates_per_s": 1000.0}
            for key, default in (*synthetic.items(), ("jumps", None)):
                if getattr(self, key) != default:
                    raise ValueError(f"{key}: a recorded market (file) takes no synthetic keys")
        else:
            for key, default in (("time_unit", "s"), ("at_end", "hold")):
                if getattr(self, key) != default:
                    raise ValueError(f"{key}: only for a recorded market (give file)")

    @property
    def moves(self) -> bool:
        """Whether the mid ever changes."""
        return self.file is not None or self.volatility_bps > 0 or self.jumps is not None

    def updates_per_s_total(self) -> float:
        """Mid updates per second, jumps included (0 for a market that never moves, and for a
        recorded one: its rows are read, not generated, however long the run)."""
        if not self.moves or self.file is not None:
            return 0.0
        return self.updates_per_s + (self.jumps.rate_per_s if self.jumps else 0.0)


class MidPath:
    """mid(t) for t >= 0 under `spec` and `seed`, generated on demand.

    Chunk k is kept as arrays (update times, mids after each update) with the mid it starts
    from, and with `touch` (a recording of bids and asks) the bids and asks after each update
    with those it starts from; a query generates every chunk up to its own, then searches that
    one. A lookup of one time searches the chunk's values as lists, made on its first such
    lookup (bisect on a list is several times faster than numpy's search for one value);
    lookups of many (`at`, the fast engine's) search the arrays, never converted. A run that
    only looks forward from some time on can `forget_before` it, so that the path in memory
    stays short.
    """

    def __init__(
        self, spec: MarketSpec, seed: int, recording: Recording | None = None, touch: bool = False
    ) -> None:
        if (spec.file is None) != (recording is None):
            raise ValueError("a recorded market's path needs its Recording (Scenario.mid_path)")
        if touch and (recording is None or not recording.quoted):
            raise ValueError("a path's touch needs a recording of bids and asks")
        self.has_touch = touch
        self._spec = spec
        self._seed = seed
        self._feed = None if recording is None else _Feed(recording, spec.at_end == "loop")
        # the mid before time 0 (and at 0 until an update there)
        self._before = spec.mid if self._feed is None else self._feed.initial
        self._touch_before = None if self._feed is None else self._feed.initial_touch
        self._chunks: list[_Chunk] = []
        self._first = 0  # the chunk number of _chunks[0]: those before it are forgotten
        self._moves = spec.moves  # read on every lookup
        self._synthetic = None if self._feed is not None else _Synthetic(spec, seed)
        self._ahead: _Ahead | None = None  # chunks made in a background thread (`prefetch`)
        self._last_mid = self._before  # exactly: exp(log(mid)) can differ in the last bit
        self._last_touch = self._touch_before
        self._updates = 0
        self._flat: _Flat | None = None  # `at`'s
        self._maker = threading.current_thread()  # the only thread that may extend the path
        self._prefetching = threading.Lock()

    def __call__(self, t: float) -> float:
        """The mid at engine time `t` (the last update at or before t)."""
        if not self._moves or t < 0:
            return self._before
        k = int(t // CHUNK_S) - self._first
        chunks = self._chunks
        while len(chunks) <= k:
            self._extend()
        if k < 0:
            raise RuntimeError(f"the market path before {self._first * CHUNK_S:g} s is forgotten")
        chunk = chunks[k]
        times, mids = chunk.lists()
        j = bisect.bisect_right(times, t) - 1
        return chunk.start_mid if j < 0 else mids[j]

    def touch(self, t: float, side: float) -> float:
        """The recorded touch on `side` at engine time `t` (the last row at or before t): the
        ask a buyer (side > 0) meets, the bid a seller meets."""
        if not self.has_touch:
            raise RuntimeError("this path keeps no bids and asks (MidPath(touch=True))")
        ask = side > 0
        if t < 0:
            return self._touch_before[ask]
        self(t)  # the chunk made, or the same RuntimeError for a forgotten one
        chunk = self._chunks[int(t // CHUNK_S) - self._first]
        (times, _), (bids, asks) = chunk.lists(), chunk.touch_lists()
        j = bisect.bisect_right(times, t) - 1
        if ask:
            return chunk.start_touch[1] if j < 0 else asks[j]
        return chunk.start_touch[0] if j < 0 else bids[j]

    def _flat_arrays(self, until: float) -> _Flat:
        """The flat arrays of every update kept, up to `until` at least (made once, grown as
        needed)."""
        last = int(until // CHUNK_S) - self._first
        if len(self._chunks) <= last and threading.current_thread() is not self._maker:
            # sim.engines.fast makes the path before its threads look it up: this is a bug there
            raise RuntimeError("the market path may only be extended by the thread that made it")
        while len(self._chunks) <= last:
            self._extend()
        if self._flat is None or self._flat.chunks < len(self._chunks):
            chunks = self._chunks
            # a NaN after the last: never at or before a time, it ends _Index's steps
            padded = np.concatenate([*(c.times for c in chunks), [np.nan]])
            # the mid before the first update kept, then the mid after each update
            mids = np.concatenate([[chunks[0].start_mid], *(c.mids for c in chunks)])
            touches = None
            if self.has_touch:
                first = np.array(chunks[0].start_touch, ndmin=2).T
                touches = np.concatenate([first, *(c.touch for c in chunks)], axis=1)
            self._flat = _Flat(mids, touches, len(chunks), _Index(padded))
        return self._flat

    def at(self, t: np.ndarray) -> np.ndarray:
        """The mid at each engine time in `t`, as `self(t)` gives it one at a time (NaN for a
        NaN time)."""
        t = np.asarray(t, dtype=np.float64)
        if not self._moves:
            return np.where(np.isnan(t), np.nan, self._before)
        found = self._found(t)
        if found is None:  # every time NaN, or none
            return np.full(t.shape, np.nan)
        flat, index, low, nan = found
        out = flat.mids[index]  # after the last update at or before t (mids[0]: before)
        if low < 0:
            out = np.where(t.ravel() < 0, self._before, out)
        if nan is not None:
            out[nan] = np.nan
        return out.reshape(t.shape)

    def _found(self, t: np.ndarray) -> tuple[_Flat, np.ndarray, float, np.ndarray | None] | None:
        """Where each time of `t` (flattened) falls among the update times kept (made as far
        as they reach): the flat arrays, the index in them of the mid at each time, the
        earliest time, and which times are NaN (None: none); None when every time is NaN."""
        flat = t.ravel()
        low = float(np.fmin.reduce(flat, initial=np.inf))
        high = float(np.fmax.reduce(flat, initial=-np.inf))
        if high < low:
            return None
        made = self._flat_arrays(high)
        if self._first and low < self._first * CHUNK_S:
            raise RuntimeError(f"the market path before {self._first * CHUNK_S:g} s is forgotten")
        nan = np.isnan(flat)
        return made, made.index.find(flat), low, nan if nan.any() else None

    def touch_at(self, t: np.ndarray, side: np.ndarray) -> np.ndarray:
        """The touch at each engine time in `t` on each `side` (broadcast to t's shape), as
        `self.touch` gives it one at a time (NaN for a NaN time)."""
        if not self.has_touch:
            raise RuntimeError("this path keeps no bids and asks (MidPath(touch=True))")
        t = np.asarray(t, dtype=np.float64)
        ask = np.broadcast_to(np.asarray(side) > 0, t.shape).astype(np.intp).ravel()
        before = np.asarray(self._touch_before)[ask]
        found = self._found(t)
        if found is None:
            return np.full(t.shape, np.nan)
        flat, index, low, nan = found
        out = flat.touches[ask, index]
        if low < 0:
            out = np.where(t.ravel() < 0, before, out)
        if nan is not None:
            out[nan] = np.nan
        return out.reshape(t.shape)

    def forget_before(self, t: float) -> None:
        """Drop the chunks wholly before engine time `t`: no lookup will go back there (a
        lookup that does is a RuntimeError, not a wrong mid)."""
        drop = min(max(int(t // CHUNK_S) - self._first, 0), len(self._chunks))
        if drop:
            self._updates -= sum(chunk.times.size for chunk in self._chunks[:drop])
            del self._chunks[:drop]
            self._first += drop
            self._flat = None

    def prefetch(self, until: float) -> None:
        """Make the chunks up to engine time `until` in a background thread from now on, so
        that lookups reaching them find them made (the fast engine's summary asks for the
        next chunk of requests' reach while it decides this one). Any thread may ask. The
        chunks are made in order, each from its own keyed stream, so the path is the same."""
        if self._synthetic is None or not self._moves:
            return
        with self._prefetching:  # never while `_extend` makes a chunk itself
            if self._ahead is None:
                self._ahead = _Ahead(self._synthetic)
                weakref.finalize(self, self._ahead.close)  # a path dropped stops its thread
        self._ahead.ask(int(until // CHUNK_S))

    def _extend(self) -> None:
        """Generate the next chunk, k: [k, k+1) * CHUNK_S."""
        k = self._first + len(self._chunks)
        if self._feed is not None:
            self._add(k, *self._feed.until((k + 1) * CHUNK_S, self.has_touch))
            return
        with self._prefetching:
            ahead = self._ahead
            made = self._synthetic.chunk() if ahead is None else None
        self._add(k, *(ahead.take(k) if made is None else made))

    def _add(
        self, k: int, times: np.ndarray, mids: np.ndarray, touch: np.ndarray | None = None
    ) -> None:
        """Keep chunk k: its update times and the mid (and touch: bids, asks) after each."""
        chunk = _Chunk(times, mids, self._last_mid, touch, self._last_touch)
        if mids.size:
            self._last_mid = float(mids[-1])
            if touch is not None:
                self._last_touch = (float(touch[0, -1]), float(touch[1, -1]))
        self._updates += times.size
        if self._updates > MAX_MARKET_UPDATES:  # a closed loop, whose span was not known
            if self._ahead is not None:
                self._ahead.close()  # the run is over: make no more
            key = "market.updates_per_s" if self._feed is None else "market.file"
            raise ScenarioError(
                key,
                f"the run went on past {(k + 1) * CHUNK_S:g} s of virtual time, more than "
                f"{MAX_MARKET_UPDATES:g} mid updates (36 to 100 bytes each): lower the rate, the "
                "requests or the latencies",
            )
        self._chunks.append(chunk)


class _Synthetic:
    """The synthetic path's chunks, made one after another: each chunk's draws from its own
    keyed stream, its moves on from the last update and log mid before it. `next`: the chunk
    `chunk` makes next."""

    def __init__(self, spec: MarketSpec, seed: int) -> None:
        self._spec, self._seed = spec, seed
        self._log_mid = math.log(spec.mid)
        self._last_diffusion = 0.0  # time of the last diffusion update (jumps aside)
        self._streams = streams(seed, Purpose.MARKET)  # chunk k's is the k-th
        self.next = 0

    def chunk(self) -> tuple[np.ndarray, np.ndarray]:
        """The next chunk's update times and the mid after each."""
        k, self.next = self.next, self.next + 1
        start = k * CHUNK_S
        rng = next(self._streams)  # stream(seed, Purpose.MARKET, k)
        spec = self._spec
        # In place where numpy allows: a chunk is a few thousand values, and each temporary
        # array costs as much as the arithmetic (the same operations, so the same floats).
        times = _uniform(rng, rng.poisson(spec.updates_per_s))
        times.sort()
        times += start
        returns = times.copy()  # the gap since the update before, then the move over it
        if times.size:
            returns[1:] -= times[:-1]
            returns[0] -= self._last_diffusion
            self._last_diffusion = float(times[-1])
        np.sqrt(returns, out=returns)
        returns *= spec.volatility_bps * 1e-4
        returns *= rng.standard_normal(times.size)
        if spec.jumps is not None:
            jumps = _uniform(rng, rng.poisson(spec.jumps.rate_per_s))
            if jumps.size:  # (none in most chunks: the draws of none would take nothing)
                signs = np.where(rng.random(jumps.size) < 0.5, -1.0, 1.0)
                times = np.concatenate((times, jumps + start))
                returns = np.concatenate((returns, signs * spec.jumps.size_bps * 1e-4))
                order = np.argsort(times, kind="stable")
                times, returns = times[order], returns[order]
        log_mids = np.cumsum(returns)
        log_mids += self._log_mid
        if log_mids.size:
            self._log_mid = float(log_mids[-1])
        return times, np.exp(log_mids)


def _uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    """rng.uniform(0.0, CHUNK_S, n), the same draws and values (0.0 + CHUNK_S * u), sooner."""
    times = rng.random(n)
    if CHUNK_S != 1.0:
        times *= CHUNK_S
    return times


class _Ahead:
    """A _Synthetic's chunks made in a background thread, in order, from its next up to the
    last one asked for, and handed over as taken. The thread waits while nothing is asked or
    it holds more than MAX_MARKET_UPDATES updates not yet taken (as many as a path may hold:
    a lookup as far would fail), and ends when closed (the path dropped or failed); it is a
    daemon, so a process that fails mid-run exits at once."""

    def __init__(self, synthetic: _Synthetic) -> None:
        self._synthetic = synthetic
        self._next = synthetic.next
        self._until = self._next - 1
        self._made: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._held = 0  # updates in _made
        self._failed: BaseException | None = None
        self._closed = False
        self._changed = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="market", daemon=True)
        self.thread.start()

    def ask(self, last: int) -> None:
        """Make chunks up to `last`."""
        with self._changed:
            if last > self._until:
                self._until = last
                self._changed.notify_all()

    def take(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Chunk k (the next one not taken), once made."""
        self.ask(k)
        with self._changed:
            while k not in self._made and self._failed is None and not self._closed:
                self._changed.wait()
            if self._failed is not None:
                raise self._failed
            if self._closed:
                raise RuntimeError("the market path's background thread was closed")
            made = self._made.pop(k)
            self._held -= made[0].size
            self._changed.notify_all()
            return made

    def close(self) -> None:
        """Make no more, drop what was made, and end the thread."""
        with self._changed:
            self._closed = True
            self._made.clear()
            self._held = 0
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._closed and (
                    self._next > self._until or self._held > MAX_MARKET_UPDATES
                ):
                    self._changed.wait()
                if self._closed:
                    return
                k = self._next
            try:
                made = self._synthetic.chunk()
            except BaseException as e:  # handed to the taker, whose lookup then fails
                with self._changed:
                    self._failed = e
                    self._changed.notify_all()
                return
            with self._changed:
                if self._closed:
                    return
                self._made[k] = made
                self._held += made[0].size
                self._next = k + 1
                self._changed.notify_all()


@dataclass(frozen=True)
class _Flat:
    """The mid before the first update kept and after each (one more), with a touch the bids
    and asks likewise (2 x updates + 1); made from the first `chunks` chunks kept, and where
    times fall among their updates (`index`, which holds the update times)."""

    mids: np.ndarray
    touches: np.ndarray | None
    chunks: int
    index: _Index


class _Index:
    """Where times fall among sorted update `times`: np.searchsorted(times, t, "right"),
    found from a grid of cells about one update wide (the updates before a time's cell, then
    a step or two through it) rather than by bisecting all of them, several times faster for
    the hundreds of thousands of times the fast engine looks up at once. A cell is
    floor((t - first) * scale), never decreasing in t, so a time lies after every update in
    the cells before its own and before every one in the cells after; a time still in a
    crowded cell after STEPS steps is bisected."""

    STEPS = 4

    def __init__(self, padded: np.ndarray) -> None:
        """`padded`: the update times, then a NaN."""
        times = self._times = padded[:-1]
        self._padded = padded
        self._low = float(times[0]) if times.size else 0.0
        span = float(times[-1]) - self._low if times.size else 0.0
        self._scale = times.size / span if span > 0 else 0.0
        cell = ((times - self._low) * self._scale).astype(np.intp)
        self._last = int(cell[-1]) if times.size else 0  # the cells never decrease
        # the updates in the cells before each cell (int32: a path holds fewer than 2**31)
        self._start = np.zeros(self._last + 1, dtype=np.int32)
        np.cumsum(np.bincount(cell, minlength=self._last + 1)[:-1], out=self._start[1:])

    def find(self, t: np.ndarray) -> np.ndarray:
        """np.searchsorted(times, t, "right") for a 1-d `t` (any index for a NaN)."""
        if self._last:
            cell = t - self._low
            cell *= self._scale
            np.fmax(cell, 0.0, out=cell)  # NaN too
            np.fmin(cell, self._last, out=cell)
            index = self._start[cell.astype(np.intp)]
        else:  # one cell
            index = np.zeros(t.size, dtype=np.int32)
        padded = self._padded
        stepping = np.flatnonzero(padded[index] <= t)
        for _ in range(self.STEPS):
            if not stepping.size:
                return index
            index[stepping] += 1
            stepping = stepping[padded[index[stepping]] <= t[stepping]]
        index[stepping] = np.searchsorted(self._times, t[stepping], side="right")
        return index


class _Chunk:
    """CHUNK_S seconds of the path: its update times, the mid after each and the one before
    them all, and for a path with a touch the bids and asks (a 2 x updates array) likewise;
    as lists too, once looked up one time at a time."""

    __slots__ = ("_lists", "_touch_lists", "mids", "start_mid", "start_touch", "times", "touch")

    def __init__(
        self,
        times: np.ndarray,
        mids: np.ndarray,
        start_mid: float,
        touch: np.ndarray | None,
        start_touch: tuple[float, float] | None,
    ) -> None:
        self.times, self.mids, self.start_mid = times, mids, start_mid
        self.touch, self.start_touch = touch, start_touch
        self._lists: tuple[list[float], list[float]] | None = None
        self._touch_lists: tuple[list[float], list[float]] | None = None

    def lists(self) -> tuple[list[float], list[float]]:
        """The times and mids as lists."""
        if self._lists is None:
            self._lists = self.times.tolist(), self.mids.tolist()
        return self._lists

    def touch_lists(self) -> tuple[list[float], list[float]]:
        """The bids and asks as lists."""
        if self._touch_lists is None:
            self._touch_lists = self.touch[0].tolist(), self.touch[1].tolist()
        return self._touch_lists


class _Feed:
    """A recording's rows as engine times (seconds after its origin) and mids (and bids and
    asks, for a recording of them), in order, read a chunk of rows at a time. Looping, pass p
    shifts every row by p periods: the span (last - first timestamp) and one mean gap between
    rows, so the last row stands that long before the next pass begins (as a latency trace
    loops: sim.model.trace)."""

    def __init__(self, recording: Recording, loop: bool) -> None:
        self._recording = recording
        span = recording.last_ns - recording.first_ns
        self._period = span + span // max(recording.rows - 1, 1)
        self._loop = loop and span > 0
        self._pass = 0
        if self._loop and recording.origin_ns > recording.last_ns:  # skip whole passes
            self._pass = (recording.origin_ns - recording.first_ns) // self._period
        self._rows = recording.chunks()
        self._times = self._mids = np.empty(0)
        self._touch = np.empty((2, 0)) if recording.quoted else None  # bids, asks
        self._done = False
        # Rows before engine time 0 only set the mid (and touch) at 0: the last of them.
        self.initial: float | None = None
        self.initial_touch: tuple[float, float] | None = None
        while not self._done and (not self._times.size or self._times[-1] < 0):
            self._read()
            before = int(np.searchsorted(self._times, 0.0, side="left"))
            if before:
                self._set_initial(before - 1)
                self._drop(before)
        if self.initial is None:
            self._set_initial(0)  # the recording starts at or after time 0

    def _set_initial(self, row: int) -> None:
        self.initial = float(self._mids[row])
        if self._touch is not None:
            self.initial_touch = (float(self._touch[0, row]), float(self._touch[1, row]))

    def _drop(self, n: int) -> None:
        """Forget the first `n` rows held."""
        self._times, self._mids = self._times[n:], self._mids[n:]
        if self._touch is not None:
            self._touch = self._touch[:, n:]

    def until(
        self, end: float, touch: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The rows not given yet that come before engine time `end`: (times, mids, and with
        `touch` their bids and asks as a 2-row array, else None)."""
        while not self._done and (not self._times.size or self._times[-1] < end):
            self._read()
        n = int(np.searchsorted(self._times, end, side="left"))
        # copies: a view would keep the whole array read alive as long as the chunk
        out = self._times[:n].copy(), self._mids[:n].copy()
        out += (self._touch[:, :n].copy() if touch else None,)
        self._drop(n)
        return out

    def _read(self) -> None:
        """Add the next chunk of rows (on to the next pass at the end, when looping)."""
        for ns, mids, touch in self._rows:
            origin = self._recording.origin_ns - self._pass * self._period
            times = (ns - origin).astype(np.float64) / 1e9
            self._times = np.concatenate((self._times, times))
            self._mids = np.concatenate((self._mids, mids))
            if self._touch is not None:
                self._touch = np.concatenate((self._touch, touch), axis=1)
            return
        if self._loop:
            self._pass += 1
            self._rows = self._recording.chunks()
        else:
            self._done = True
