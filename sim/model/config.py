"""Build frozen dataclasses from TOML tables, checking every key.

`build(cls, table, path)` accepts exactly the init fields of `cls`: an unknown key (with a
suggestion for a misspelling), a missing key, a wrong type or an out-of-range value raises
ScenarioError naming the key path. Bounds come from field metadata (`gt`, `ge`, `lt`, `le`,
`choices`); a `__post_init__` that raises ValueError("<key>: <message>") reports conditions
between fields. Fields typed as a latency distribution are built by `build_latency`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sim.model.errors import ScenarioError
from sim.model.latency_files import UNITS, FileError, read_histogram, to_ms
from sim.model.trace import Trace, read_trace
from venues.latency import DISTRIBUTIONS, Component, Empirical, Histogram, Latency

T = TypeVar("T")

MAX_SAMPLES_BYTES = 64 * 1024 * 1024
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TRACE_KEYS = re.compile(r"venues\[\d+\]\.(latency|order_latency)|shared_latency")
_BOUNDS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "gt": (lambda v, b: v > b, ">"),
    "ge": (lambda v, b: v >= b, ">="),
    "lt": (lambda v, b: v < b, "<"),
    "le": (lambda v, b: v <= b, "<="),
}


def build(
    cls: type[T],
    table: Any,
    path: str,
    base_dir: Path | None = None,
    handled_elsewhere: tuple[str, ...] = (),
) -> T:
    """An instance of dataclass `cls` from `table`, every key checked; errors name `path`.

    `handled_elsewhere` names keys of the same table that the caller took out first: they are
    offered as suggestions for a misspelt key.
    """
    table = _expect_table(table, path)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    _reject_unknown(table, list(dict.fromkeys([*fields, *handled_elsewhere])), path)
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        key = _join(path, name)
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ScenarioError(key, "missing")
            continue
        value = _coerce(table[name], hints[name], key, base_dir)
        check_bounds(value, f.metadata, key)
        values[name] = value
    return construct(cls, values, path)


def construct(cls: type[T], values: Mapping[str, Any], path: str) -> T:
    """`cls(**values)`, turning its ValueError("<key>: <message>") into a ScenarioError."""
    try:
        return cls(**values)
    except ValueError as e:
        key, _, message = str(e).partition(": ")
        raise ScenarioError(_join(path, key), message) from None


def check_bounds(value: Any, metadata: Mapping[str, Any], key: str) -> None:
    """Check `value` (or each element of a tuple) against the bounds in `metadata`; None (an
    optional parameter left out) has none."""
    if value is None:
        return
    if "choices" in metadata and value not in metadata["choices"]:
        allowed = ", ".join(repr(c) for c in metadata["choices"])
        raise ScenarioError(key, f"must be one of {allowed} (got {value!r})")
    for element in value if isinstance(value, tuple) else (value,):
        for name, (holds, symbol) in _BOUNDS.items():
            if name in metadata and not holds(element, metadata[name]):
                bound = metadata[name]
                raise ScenarioError(
                    key, f"must be {symbol} {_number(bound)} (got {_number(element)})"
                )


def check(obj: Any, path: str) -> Any:
    """`obj`, a dataclass built in Python rather than from a file, checked against the same
    types, bounds and rules (its fields' metadata and `__post_init__`) as one from a file."""
    hints = typing.get_type_hints(type(obj))
    values = {}
    for f in dataclasses.fields(obj):
        if f.init:
            value, key = getattr(obj, f.name), _join(path, f.name)
            if value is not None or f.default is not None:  # None: an optional left out
                value = _coerce(
                    list(value) if isinstance(value, tuple) else value, hints[f.name], key, None
                )
            check_bounds(value, f.metadata, key)
            values[f.name] = value
    return construct(type(obj), values, path)


def build_latency(table: Any, path: str, base_dir: Path | None = None) -> Latency:
    """A latency distribution from `{dist = KIND, ...parameters}`."""
    table = dict(_expect_table(table, path))
    kind = table.pop("dist", None)
    if kind is None:
        raise ScenarioError(_join(path, "dist"), "missing")
    kinds = {**DISTRIBUTIONS, Trace.kind: Trace}
    cls = kinds.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ScenarioError(_join(path, "dist"), unknown_choice(kind, kinds))
    if cls is Trace:
        if not _TRACE_KEYS.fullmatch(path):
            message = (
                "a trace is replayed at arrival times: only for a venue's latency or "
                "order_latency, or [shared_latency]"
            )
            raise ScenarioError(_join(path, "dist"), message)
        return read_trace(build(Trace, table, path, base_dir), _join(path, "file"), base_dir)
    if cls is Empirical and "file" in table:
        if "samples_ms" in table:
            raise ScenarioError(_join(path, "file"), "give samples_ms or file, not both")
        table["samples_ms"] = list(_read_samples(table.pop("file"), _join(path, "file"), base_dir))
    if cls is Histogram:
        table = _histogram_buckets(table, path, base_dir)
    return build(cls, table, path, base_dir)


def _histogram_buckets(table: dict[str, Any], path: str, base_dir: Path | None) -> dict[str, Any]:
    """`table` with its `file`, `unit` and `tag` replaced by the buckets the file records."""
    given = [k for k in ("low_ms", "high_ms", "counts") if k in table]
    if "file" not in table:
        if given:
            return table  # buckets written out
        raise ScenarioError(_join(path, "file"), "missing (an HdrHistogram .hlog or .hgrm file)")
    if given:
        raise ScenarioError(_join(path, "file"), f"give {given[0]} or file, not both")
    unit = table.pop("unit", None)
    if unit is None:
        raise ScenarioError(_join(path, "unit"), f"missing (the file's unit: {', '.join(UNITS)})")
    check_bounds(unit, {"choices": UNITS}, _join(path, "unit"))
    tag = _coerce(table.pop("tag"), str, _join(path, "tag"), base_dir) if "tag" in table else None
    key = _join(path, "file")
    file = table.pop("file")
    try:
        buckets = read_histogram(_regular_file(file, key, base_dir), str(file), tag)
    except FileError as e:
        raise ScenarioError(key, str(e)) from None
    table["low_ms"] = to_ms(buckets.low, unit).tolist()
    table["high_ms"] = to_ms(buckets.high, unit).tolist()
    table["counts"] = buckets.counts.tolist()
    return table


def _build_component(table: Any, path: str, base_dir: Path | None) -> Component:
    table = dict(_expect_table(table, path))
    if "weight" not in table:
        raise ScenarioError(_join(path, "weight"), "missing")
    weight = _coerce(table.pop("weight"), float, _join(path, "weight"), base_dir)
    check_bounds(weight, dataclasses.fields(Component)[0].metadata, _join(path, "weight"))
    return Component(weight, build_latency(table, path, base_dir))


def _regular_file(file: Any, key: str, base_dir: Path | None) -> Path:
    """The path of `file` (relative to `base_dir`), a regular file of at most MAX_SAMPLES_BYTES."""
    if not isinstance(file, str):
        raise ScenarioError(key, f"must be a string path (got {type(file).__name__})")
    path = Path(file) if base_dir is None else base_dir / file
    try:
        if not path.is_file():  # a FIFO or a device could block or never end
            exists = path.exists()
            raise ScenarioError(
                key,
                f"{file!r} is not a regular file"
                if exists
                else f"cannot read {file!r}: No such file or directory",
            )
        if path.stat().st_size > MAX_SAMPLES_BYTES:
            raise ScenarioError(key, f"{file!r} is larger than {MAX_SAMPLES_BYTES:,} bytes")
    except OSError as e:
        raise ScenarioError(key, f"cannot read {file!r}: {e.strerror or e}") from None
    return path


def _read_samples(file: Any, key: str, base_dir: Path | None) -> tuple[float, ...]:
    path = _regular_file(file, key, base_dir)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ScenarioError(key, f"cannot read {file!r}: {reason}") from None
    samples = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            raise ScenarioError(key, f"{file} line {number}: {text!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise ScenarioError(key, f"{file} line {number}: must be a finite number >= 0")
        samples.append(value)
    if not samples:
        raise ScenarioError(key, f"{file} holds no samples")
    return tuple(samples)


def _coerce(value: Any, hint: Any, key: str, base_dir: Path | None) -> Any:
    """`value` as type `hint`, or a ScenarioError saying what was expected."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union) and hint != Latency:
        # `X | None`: TOML has no null, so a value that is there is an X.
        others = tuple(a for a in typing.get_args(hint) if a is not type(None))
        hint = Latency if set(others) == set(typing.get_args(Latency)) else others[0]
    if hint == Latency:
        return build_latency(value, key, base_dir)
    if hint is Component:
        return _build_component(value, key, base_dir)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key, base_dir)
    if typing.get_origin(hint) is tuple:
        element = typing.get_args(hint)[0]
        items = _expect_list(value, key)
        return tuple(_coerce(v, element, f"{key}[{i}]", base_dir) for i, v in enumerate(items))
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(key, f"must be a number (got {_describe(value)})")
        if not math.isfinite(value):
            raise ScenarioError(key, f"must be a finite number (got {value})")
        return float(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ScenarioError(key, f"must be true or false (got {_describe(value)})")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(key, f"must be an integer (got {_describe(value)})")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ScenarioError(key, f"must be a string (got {_describe(value)})")
        return value
    raise TypeError(f"{key}: no coercion for {hint!r}")  # a bug in a dataclass, not user input


def _reject_unknown(table: Mapping[str, Any], allowed: Sequence[str], path: str) -> None:
    for key in table:
        if key not in allowed:
            raise ScenarioError(_join(path, key), _unknown_key(key, allowed))


def _unknown_key(key: str, allowed: Sequence[str]) -> str:
    return f"unknown key ({_suggestion(key, allowed)})"


def unknown_choice(value: Any, allowed: Mapping[str, Any]) -> str:
    """The message for an unknown kind: a suggestion if one is close, else every choice."""
    return f"unknown kind {value!r} ({_suggestion(str(value), list(allowed))})"


def close_match(value: str, allowed: Sequence[str]) -> str | None:
    """The name in `allowed` that a misspelt `value` most likely meant, if one is close."""
    close = difflib.get_close_matches(value, list(allowed), n=1)
    return close[0] if close else None


def _suggestion(value: str, allowed: Sequence[str]) -> str:
    close = close_match(value, allowed)
    return f"did you mean {close!r}?" if close else "expected one of " + ", ".join(allowed)


def bounds_text(metadata: Mapping[str, Any]) -> str:
    """The bounds in field `metadata` as people write them, e.g. "> 0, <= 3.6e+06"."""
    return ", ".join(
        f"{symbol} {_number(metadata[name])}"
        for name, (_, symbol) in _BOUNDS.items()
        if name in metadata
    )


def _expect_table(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(path, f"must be a table (got {_describe(value)})")
    return value


def _expect_list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ScenarioError(key, f"must be an array (got {_describe(value)})")
    return value


def _describe(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def key_name(key: str) -> str:
    """`key` as TOML writes it: bare if it can be, else quoted (so a path stays one line)."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _join(path: str, key: str) -> str:
    return f"{path}.{key_name(key)}" if path else key_name(key)
