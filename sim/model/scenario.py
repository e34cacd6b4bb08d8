"""Scenario files: TOML read into validated, frozen objects.

A scenario has the tables `[scenario]`, `[arrivals]`, `[[venues]]` and `[[strategies]]` (and
optional ones: `[market]`, `[order]`, `[shared_latency]`, `[regime]`); every key is checked
(sim.model.config), and any mistake is one ScenarioError naming the file and key.
Bundled scenarios live in sim/scenarios/ and are loaded by name.
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from sim.model.arrivals import MAX_SPAN_S, Arrivals
from sim.model.config import (
    build,
    build_latency,
    check,
    check_bounds,
    close_match,
    key_name,
    unknown_choice,
)
from sim.model.errors import ScenarioError
from sim.model.market import MAX_MARKET_UPDATES, MarketSpec, MidPath
from sim.model.recording import Recording, open_recording
from sim.model.regime import Regime
from sim.model.timestamps import parse_instant
from sim.model.trace import Trace
from strategies.registry import RESERVED, STRATEGIES, Strategy
from venues.latency import Latency
from venues.venue import VenueSpec

# Seeds up to 2**63 - 1: numpy pads seeds of up to 128 bits before the stream key, so no two
# (seed, purpose, key) triples share a stream.
MAX_SEED = 2**63 - 1
MAX_REQUESTS = 100_000_000
CLOCKS = ("virtual", "real")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Header:
    """The `[scenario]` table: what it is, its seed, how many requests it runs, and on which
    clock: "virtual" (trio's MockClock, the default) or "real" (the wall clock). `start`, an
    ISO-8601 time (zone-less: UTC), is engine time 0 for every file the scenario replays
    (by default each file's first timestamp)."""

    name: str = ""
    description: str = ""
    seed: int = field(default=0, metadata={"ge": 0, "le": MAX_SEED})
    requests: int = field(default=10_000, metadata={"gt": 0, "le": MAX_REQUESTS})
    clock: str = field(default="virtual", metadata={"choices": CLOCKS})
    start: str | None = None

    def __post_init__(self) -> None:
        if self.start is not None:
            try:
                parse_instant(self.start)
            except ValueError:
                raise ValueError(
                    f"start: {self.start!r} is not an ISO-8601 time (e.g. 2024-03-01T14:30:00Z)"
                ) from None


@dataclass(frozen=True)
class OrderSpec:
    """The `[order]` table: what every request trades. "random" draws each request's side."""

    side: str = field(default="buy", metadata={"choices": ("buy", "sell", "random")})
    size: float = field(default=1.0, metadata={"gt": 0.0})


@dataclass(frozen=True)
class NamedStrategy:
    """A strategy under the name a run reports it by (its kind unless the scenario names it),
    and how many times a request re-races after its order is rejected."""

    name: str
    strategy: Strategy
    max_retries: int = 0


@dataclass(frozen=True)
class Scenario:
    """A whole scenario. `file` names its source in error messages; `start` is engine time 0
    of the files it replays (Header.start); `recording` the market's file, checked (for a
    recorded market)."""

    name: str
    description: str
    seed: int
    requests: int
    arrivals: Arrivals
    venues: tuple[VenueSpec, ...]
    strategies: tuple[NamedStrategy, ...]
    market: MarketSpec = field(default_factory=MarketSpec)
    order: OrderSpec = field(default_factory=OrderSpec)
    clock: str = "virtual"
    file: str = "<scenario>"
    start: str | None = None
    recording: Recording | None = None
    shared_latency: Latency | None = None
    regime: Regime | None = None

    def __post_init__(self) -> None:
        if not _reads(self.recording, self.market, self.start_ns()):  # built or changed in Python
            recording = open_market(self.market, None, self.start)
            object.__setattr__(self, "recording", recording)
        self._recorded_spreads_have_quotes()
        if self.arrivals.closed:
            self._needs_no_arrival_times()
        if self.start is not None:
            self._starts_within_files()
        rate = self.arrivals.mean_rate_per_s()
        if rate is not None:  # a closed loop's span is known only from its draws (sim.model.draws)
            self.check_span(self.requests / rate, "arrivals.rate_per_s", f"{rate:g}/s is too low")

    def start_ns(self) -> int | None:
        """`start` in nanoseconds since the Unix epoch (None: each file's first timestamp)."""
        return None if self.start is None else parse_instant(self.start)

    def mid_path(self) -> MidPath:
        """The market's mid path for a run of this scenario (with the recorded bids and asks
        when a venue quotes the recorded spread)."""
        touch = any(v.recorded_spread for v in self.venues)
        return MidPath(self.market, self.seed, self.recording, touch)

    def _recorded_spreads_have_quotes(self) -> None:
        """A venue quoting the recorded spread needs a recording of bids and asks."""
        for i, v in enumerate(self.venues):
            if not v.recorded_spread:
                continue
            key = f"venues[{i}].recorded_spread"
            if self.recording is None:
                message = "needs a recorded market: [market] file = a CSV of timestamp,bid,ask"
                raise ScenarioError(key, message, self.file)
            if not self.recording.quoted:
                message = f"{self.recording.shown} records mids, not bids and asks (no spread)"
                raise ScenarioError(key, message, self.file)

    def _starts_within_files(self) -> None:
        """A `start` past the last row of a file replayed once would hold its last value for the
        whole run: a mistyped date, most likely, so refuse it (a file that loops or is
        resampled has no last row to pass)."""
        start = self.start_ns()
        files = []
        if self.recording is not None and self.market.at_end == "hold":
            files.append((self.recording.shown, self.recording.last_ns))
        for dist in [
            self.shared_latency,
            *(d for v in self.venues for d in (v.latency, v.order_latency)),
        ]:
            if isinstance(dist, Trace) and dist.mode == "replay" and dist.at_end == "hold":
                files.append((dist.file, int(dist.times_ns[-1])))
        for shown, last_ns in files:
            if start > last_ns:
                last = np.datetime64(last_ns, "ns")
                message = (
                    f"{self.start} is after the last row of {shown} ({last}Z), which would hold "
                    'its last value all run (at_end = "loop" replays it)'
                )
                raise ScenarioError("scenario.start", message, self.file)

    def _needs_no_arrival_times(self) -> None:
        """A closed loop knows its arrival times only as it runs: nothing drawn before the
        run may depend on them (a regime, a trace)."""
        why = "which a closed loop knows only as it runs"
        if self.regime is not None:
            message = f"not for a closed loop (the regime is read at arrival times, {why})"
            raise ScenarioError("regime", message, self.file)
        latencies = [("shared_latency", self.shared_latency)]
        for i, v in enumerate(self.venues):
            latencies += [(f"venues[{i}].latency", v.latency)]
            latencies += [(f"venues[{i}].order_latency", v.order_latency)]
        for key, dist in latencies:
            if isinstance(dist, Trace):
                message = (
                    f"a trace is not for a closed loop (it is replayed at arrival times, {why})"
                )
                raise ScenarioError(key, message, self.file)

    def check_span(self, span_s: float, key: str, why: str) -> None:
        """Refuse a run that would span `span_s` of virtual time or more: too long for engine
        time's resolution, or for the market path's memory. `key` and `why` say what made it
        so long."""
        updates = span_s * self.market.updates_per_s_total()
        if updates > MAX_MARKET_UPDATES:
            raise ScenarioError(
                "market.updates_per_s",
                f"{updates:.3g} mid updates over the run's {span_s:.3g} s (at most "
                f"{MAX_MARKET_UPDATES:g}, 36 to 100 bytes each): lower the rate or the requests",
                self.file,
            )
        if span_s > MAX_SPAN_S:
            raise ScenarioError(
                key,
                f"{why}: {self.requests:,} requests would span {span_s:.3g} s of virtual time (at "
                f"most {MAX_SPAN_S:g} s, where engine time keeps sub-nanosecond resolution)",
                self.file,
            )

    def with_strategies(
        self, strategies: Sequence[Strategy | NamedStrategy | str | type]
    ) -> Scenario:
        """This scenario with other strategies (Python API): objects (reported by their `name`,
        else their kind), kinds by name or class, or NamedStrategy; each checked as a scenario
        file's would be. A kind by name or class keeps this scenario's strategy of that kind
        (`_own`), so its parameters are the file's, not the defaults."""
        named = []
        if not strategies:
            raise ScenarioError("strategies", "give at least one", self.file)
        for i, item in enumerate(strategies):
            path = f"strategies[{i}]"
            if not isinstance(item, NamedStrategy):
                item = NamedStrategy("", item)
            strategy, retries = item.strategy, item.max_retries
            if isinstance(strategy, str | type):
                label = strategy if isinstance(strategy, str) else ""
                own = self._own(strategy, path)
                strategy, retries = own.strategy, retries or own.max_retries
            else:
                label = getattr(strategy, "name", "")
            if not _is_strategy(strategy):
                raise ScenarioError(
                    path,
                    "not a strategy (an instance with a kind, an async decide and, if any, "
                    f"for_run(seed)): {strategy!r}",
                )
            if not (type(retries) is int and 0 <= retries <= MAX_RETRIES):
                raise ScenarioError(f"{path}.max_retries", f"must be from 0 to {MAX_RETRIES}")
            strategy = check(strategy, path)
            _known_venues(strategy, [v.name for v in self.venues], path)
            named.append(NamedStrategy(item.name or label or strategy.kind, strategy, retries))
        hint = ": give each its own name= (or a NamedStrategy)"
        _unique_names([s.name for s in named], "strategies", hint)
        return dataclasses.replace(self, strategies=tuple(named))

    def _own(self, wanted: str | type, path: str) -> NamedStrategy:
        """This scenario's strategy `wanted` names (one of its names, else its kind); a kind it
        does not have comes with the defaults (and no retries); a kind it has twice is an error
        naming them."""
        if isinstance(wanted, str):
            for entry in self.strategies:
                if entry.name == wanted:
                    return entry
            if wanted not in STRATEGIES:
                raise ScenarioError(f"{path}.kind", unknown_choice(wanted, STRATEGIES))
            wanted = STRATEGIES[wanted]
        kind = getattr(wanted, "kind", None)
        if not isinstance(kind, str):
            raise ScenarioError(path, f"not a strategy (a class with no kind): {wanted!r}")
        same = [entry for entry in self.strategies if entry.strategy.kind == kind]
        if len(same) > 1:
            names = ", ".join(entry.name for entry in same)
            raise ScenarioError(
                path,
                f"{self.name} has {len(same)} {kind} strategies ({names}): pass one by its name, "
                "or a strategy object",
            )
        return same[0] if same else NamedStrategy(kind, wanted())

    def with_overrides(
        self, *, seed: int | None = None, requests: int | None = None, clock: str | None = None
    ) -> Scenario:
        """This scenario with another seed, request count or clock (from the command line)."""
        changes: dict[str, Any] = {}
        bounds = {f.name: f.metadata for f in dataclasses.fields(Header)}
        for key, value in (("seed", seed), ("requests", requests), ("clock", clock)):
            if value is not None:
                if type(value) is not (str if key == "clock" else int):
                    kind = "a string" if key == "clock" else "an integer"
                    raise ScenarioError(key, f"must be {kind} (got {value!r})", self.file)
                check_bounds(value, bounds[key], key)
                changes[key] = value
        try:
            return dataclasses.replace(self, **changes)
        except ScenarioError as e:
            raise ScenarioError("--requests", f"{e.key}: {e.message}", self.file) from None


_TABLES = (
    "scenario",
    "arrivals",
    "market",
    "order",
    "venues",
    "strategies",
    "shared_latency",
    "regime",
)
MAX_RETRIES = 10


def bundled_dir() -> Path:
    """The folder of the bundled scenarios (package data)."""
    return Path(str(resources.files("sim") / "scenarios"))


def bundled() -> list[str]:
    """Names of the bundled scenarios, sorted."""
    return sorted(p.stem for p in bundled_dir().glob("*.toml"))


def resolve(source: str | Path) -> Path:
    """The file for `source`: a path to a scenario file, or the name of a bundled one."""
    path = Path(source)
    if path.is_file():
        return path
    if path.is_dir():
        raise ScenarioError("", "is a directory, not a scenario file", str(source))
    candidate = bundled_dir() / f"{source}.toml"
    if isinstance(source, str) and "/" not in source and candidate.is_file():
        return candidate
    close = close_match(str(source), bundled())
    hint = f"did you mean {close!r}?" if close else "bundled: " + ", ".join(bundled())
    raise ScenarioError("", f"no such file, nor a bundled scenario ({hint})", str(source))


def load(source: str | Path) -> Scenario:
    """Read and validate a scenario file or bundled scenario; raises ScenarioError."""
    data, path, shown = read_file(source)
    return parsed(data, path.stem, path.parent, shown)


def read_file(source: str | Path) -> tuple[dict[str, Any], Path, str]:
    """A scenario file's (or bundled scenario's) TOML as parsed, unchecked, with its path and
    the name errors give it; raises ScenarioError when it cannot be read."""
    path = resolve(source)
    shown = path.name if path.parent == bundled_dir() else str(source)
    try:
        with path.open("rb") as f:
            return tomllib.load(f), path, shown
    except OSError as e:
        raise ScenarioError("", f"cannot read: {e.strerror or e}", shown) from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError("", f"TOML syntax error: {e}", shown) from None
    except UnicodeDecodeError as e:
        raise ScenarioError("", f"not UTF-8 text: {e.reason}", shown) from None
    except RecursionError:
        raise ScenarioError("", "nested too deeply", shown) from None


TEXT = "<text>"  # what errors call a scenario given as TOML text


def loads(text: str, *, default_name: str = "scenario") -> Scenario:
    """A scenario from TOML `text` (as `load` reads a file; files it names are relative to the
    current directory); raises ScenarioError, naming the file "<text>"."""
    return parsed(read_text(text), default_name, None, TEXT)


def read_text(text: str) -> dict[str, Any]:
    """TOML `text` as parsed, unchecked; raises ScenarioError for bad TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError("", f"TOML syntax error: {e}", TEXT) from None
    except RecursionError:
        raise ScenarioError("", "nested too deeply", TEXT) from None


def parsed(data: dict[str, Any], default_name: str, base_dir: Path | None, shown: str) -> Scenario:
    """`parse`, its errors naming the file `shown`."""
    try:
        return parse(data, default_name=default_name, base_dir=base_dir, file=shown)
    except ScenarioError as e:
        raise e.in_file(shown) from None
    except RecursionError:
        raise ScenarioError("", "nested too deeply", shown) from None


def parse(
    data: dict[str, Any], *, default_name: str, base_dir: Path | None = None, file: str = ""
) -> Scenario:
    """A Scenario from the parsed TOML `data`; raises ScenarioError naming the key path."""
    for key, value in data.items():
        if key not in _TABLES:
            tables = ", ".join(f"[{t}]" for t in _TABLES)
            if isinstance(value, dict | list):
                raise ScenarioError(key_name(key), f"unknown table (expected {tables})")
            raise ScenarioError(key_name(key), f"unknown key at top level (keys go in {tables})")
    header = build(Header, _iso_start(data.get("scenario", {})), "scenario")
    arrivals = build(Arrivals, data.get("arrivals", {}), "arrivals")
    market = build(MarketSpec, data.get("market", {}), "market")
    order = build(OrderSpec, data.get("order", {}), "order")
    name = header.name or default_name
    if not _SAFE_NAME.fullmatch(name):
        where = "scenario.name" if header.name else "scenario.name (the file's name, by default)"
        raise ScenarioError(
            where,
            f"{name!r}: use letters, digits, '_', '-' and '.', starting with a letter or digit "
            "(it names the results folder)",
        )
    venues = _venues(data.get("venues"), base_dir)
    shared_latency = None
    if "shared_latency" in data:
        shared_latency = build_latency(data["shared_latency"], "shared_latency", base_dir)
    regime = build(Regime, data["regime"], "regime") if "regime" in data else None
    strategies = _strategies(data.get("strategies"), [v.name for v in venues])
    recording = open_market(market, base_dir, header.start)
    return Scenario(
        name=name,
        description=header.description,
        seed=header.seed,
        requests=header.requests,
        arrivals=arrivals,
        venues=venues,
        strategies=strategies,
        market=market,
        order=order,
        clock=header.clock,
        file=file or default_name,
        start=header.start,
        recording=recording,
        shared_latency=shared_latency,
        regime=regime,
    )


def _reads(recording: Recording | None, market: MarketSpec, start_ns: int | None) -> bool:
    """Whether `recording` is the one `market` and `start` name (None for a synthetic one)."""
    if recording is None or market.file is None:
        return recording is None and market.file is None
    origin = recording.first_ns if start_ns is None else start_ns
    given = (recording.shown, recording.time_unit, recording.origin_ns)
    return given == (market.file, market.time_unit, origin)


def open_market(market: MarketSpec, base_dir: Path | None, start: str | None) -> Recording | None:
    """A recorded market's file (relative to `base_dir`), read and checked; None for a
    synthetic market."""
    if market.file is None:
        return None
    start_ns = None if start is None else parse_instant(start)
    recording = open_recording(market.file, base_dir, market.time_unit, "market.file", start_ns)
    if market.at_end == "loop" and recording.last_ns == recording.first_ns:
        raise ScenarioError("market.at_end", f"{market.file}: a loop needs rows at two instants")
    return recording


def _iso_start(table: Any) -> Any:
    """`[scenario]` with a TOML date-time `start` (unquoted) written as the ISO-8601 text it
    stands for; a local one (no offset) is UTC, as everywhere."""
    if isinstance(table, dict) and isinstance(table.get("start"), datetime.datetime):
        return {**table, "start": table["start"].isoformat()}
    return table


MAX_VENUES = 10_000  # venues a `count` may bring the scenario to (each is a table row, a task)
_NUMBER = re.compile(r"\{(\d+)\}")  # where a counted entry's name puts each copy's number


def _venues(tables: Any, base_dir: Path | None) -> tuple[VenueSpec, ...]:
    """The `[[venues]]` entries in order, an entry with `count = N` standing for N copies
    written out one after another at its place (so each copy keeps the index, hence the draws,
    it would have written out). Errors name the entry as written (`venues[i]`)."""
    items = _array_of_tables(tables, "venues")
    venues: list[VenueSpec] = []
    entry_of: list[int] = []  # each venue's entry
    for i, table in enumerate(items):
        path = f"venues[{i}]"
        counted = isinstance(table, dict) and "count" in table
        if counted:
            table = dict(table)
            count = _venue_count(table.pop("count"), len(venues), path)
        spec = build(VenueSpec, table, path, base_dir, handled_elsewhere=("count",))
        copies = [spec]
        if counted:
            copies = [dataclasses.replace(spec, name=n) for n in _numbered(spec.name, count)]
        venues += copies
        entry_of += [i] * len(copies)
    _unique_names([v.name for v in venues], "venues", entries=entry_of)
    return tuple(venues)


def _venue_count(count: Any, before: int, path: str) -> int:
    """A `count` checked: an integer from 1, bringing the venues to at most MAX_VENUES."""
    key = f"{path}.count"
    if type(count) is not int:
        raise ScenarioError(key, f"must be an integer (got {count!r})")
    if count < 1:
        raise ScenarioError(key, f"must be >= 1 (got {count})")
    if before + count > MAX_VENUES:
        raise ScenarioError(
            key, f"{count:,} copies make {before + count:,} venues (at most {MAX_VENUES:,})"
        )
    return count


def _numbered(name: str, count: int) -> list[str]:
    """The names of `count` copies of venue `name`: NAME-1 .. NAME-N, or, when the name holds
    a number in braces, that number counted up in its place, zero-padded to its width
    ("v{00}": v00 .. v99)."""
    match = _NUMBER.search(name)
    if match is None:
        return [f"{name}-{k}" for k in range(1, count + 1)]
    first, width = int(match.group(1)), len(match.group(1))
    head, tail = name[: match.start()], name[match.end() :]
    return [f"{head}{first + k:0{width}d}{tail}" for k in range(count)]


def _strategies(tables: Any, venue_names: list[str]) -> tuple[NamedStrategy, ...]:
    items = _array_of_tables(tables, "strategies")
    named = []
    for i, table in enumerate(items):
        path = f"strategies[{i}]"
        if not isinstance(table, dict):
            raise ScenarioError(path, "must be a table")
        params = dict(table)
        kind = params.pop("kind", None)
        if kind is None:
            raise ScenarioError(f"{path}.kind", "missing")
        if not isinstance(kind, str) or kind not in STRATEGIES:
            raise ScenarioError(f"{path}.kind", unknown_choice(kind, STRATEGIES))
        name = params.pop("name", kind)
        if not isinstance(name, str):
            raise ScenarioError(f"{path}.name", "must be a string")
        retries = params.pop("max_retries", 0)
        if isinstance(retries, bool) or not isinstance(retries, int):
            raise ScenarioError(f"{path}.max_retries", "must be an integer")
        if not 0 <= retries <= MAX_RETRIES:
            raise ScenarioError(f"{path}.max_retries", f"must be from 0 to {MAX_RETRIES}")
        strategy = build(STRATEGIES[kind], params, path, handled_elsewhere=RESERVED)
        _known_venues(strategy, venue_names, path)
        named.append(NamedStrategy(name, strategy, retries))
    _unique_names([s.name for s in named], "strategies")
    return tuple(named)


def _is_strategy(obj: Any) -> bool:
    for_run = getattr(obj, "for_run", None)
    return (
        dataclasses.is_dataclass(obj)
        and not isinstance(obj, type)
        and isinstance(getattr(obj, "kind", None), str)
        and inspect.iscoroutinefunction(getattr(obj, "decide", None))
        and (for_run is None or len(inspect.signature(for_run).parameters) == 1)  # (seed)
    )


def _known_venues(strategy: Strategy, venue_names: list[str], path: str) -> None:
    """A strategy that names venues (`venues = [...]`) must name the scenario's."""
    names = getattr(strategy, "venues", ())
    if len(set(names)) != len(names):
        raise ScenarioError(f"{path}.venues", "names a venue twice")
    for i, name in enumerate(names):
        if name not in venue_names:
            known = ", ".join(venue_names)
            raise ScenarioError(f"{path}.venues[{i}]", f"no venue {name!r} (venues: {known})")


def _array_of_tables(value: Any, key: str) -> list[Any]:
    if value is None:
        raise ScenarioError(key, f"missing (add at least one [[{key}]] table)")
    if not isinstance(value, list) or not value:
        raise ScenarioError(key, f"must be one or more [[{key}]] tables")
    return value


def _unique_names(
    names: list[str], key: str, hint: str = "", entries: Sequence[int] | None = None
) -> None:
    """Each name safe for a file name and not taken by an earlier one; errors name the entry
    as written (`entries[i]`: name i's, when a `count` made several of one entry)."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        at = i if entries is None else entries[i]
        if not _SAFE_NAME.fullmatch(name):
            raise ScenarioError(
                f"{key}[{at}].name",
                f"{name!r}: use letters, digits, '_', '-' and '.', starting with a letter or digit",
            )
        if name in seen:
            duplicate = f"duplicate of {key}[{seen[name]}] ({name!r}){hint}"
            raise ScenarioError(f"{key}[{at}].name", duplicate)
        seen[name] = at
