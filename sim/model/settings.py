"""Scenario keys set from outside the file: `quoterace run --set KEY=V`, the points of
`quoterace sweep --set KEY=V1,V2,...` and of `sim.sweep`.

A key is the path error messages use (`arrivals.rate_per_s`, `venues[0].latency.median_ms`);
`[*]` stands for every entry of an array (`venues[*].cancel_propagation`: every `[[venues]]`
entry, so every copy of one with `count`). Indexes count the entries as written. A value is
read as a TOML value (`0.5`, `true`, `"text"`, `{ dist = "constant", ms = 1 }`), else as a
bare string (`poisson`). The settings go into the file's tables, which are then checked as a
file would be: a key the scenario cannot take is one error naming it.
"""

from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.model.errors import ScenarioError
from sim.model.scenario import TEXT, Scenario, parsed, read_file, read_text

OPTION = "--set"  # what errors of a setting name
EVERY = "*"  # `[*]`: every entry of an array
_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[(?:\d+|\*)\])*)")
_INDEX = re.compile(r"\[(\d+|\*)\]")

Step = str | int  # a table's key, an array's index, or EVERY


def parse_setting(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` (run's --set) as (key, value)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ScenarioError(OPTION, f"{text!r}: expected KEY=VALUE")
    key, value = key.strip(), value.strip()
    steps(key)
    if "," in value and _toml(value) is None:
        raise ScenarioError(
            OPTION,
            f"{text!r}: one value (quoterace sweep takes several); a text with a comma in TOML "
            f"quotes: {key}='\"{value}\"'",
        )
    return key, _value(value)


def parse_set(text: str) -> tuple[str, list[Any]]:
    """`KEY=V1,V2,...` (sweep's --set) as (key, values)."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ScenarioError(OPTION, f"{text!r}: expected KEY=VALUE[,VALUE...]")
    key = key.strip()
    steps(key)
    try:  # the values as a TOML array, so that a value may hold commas ({...}, "a,b")
        return key, tomllib.loads(f"v = [{values}]")["v"]
    except (tomllib.TOMLDecodeError, KeyError):
        return key, [_value(v.strip()) for v in values.split(",")]


def _value(text: str) -> Any:
    """`text` as a TOML value, else a number as Python reads one (`.5`), else the string."""
    toml = _toml(text)
    if toml is not None:
        return toml[0]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _toml(text: str) -> tuple[Any] | None:
    """(`text` read as one TOML value,), or None if it is not one."""
    try:
        table = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return None
    return (table["v"],) if list(table) == ["v"] else None


def steps(key: str) -> list[Step]:
    """`key`'s path: table keys, array indexes and EVERY; ScenarioError if it is not one."""
    if not isinstance(key, str):
        raise ScenarioError(OPTION, f"{key!r}: a key is a string, such as 'arrivals.rate_per_s'")
    path: list[Step] = []
    for segment in key.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise ScenarioError(OPTION, f"{key!r}: not a key path like venues[0].latency.ms")
        path.append(match.group(1))
        path += [i if i == EVERY else int(i) for i in _INDEX.findall(match.group(2))]
    return path


def apply(data: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of the parsed TOML `data` with `settings` (key -> value) set, in order (so a
    later key overrides an earlier one where they meet: `venues[*].x`, then `venues[0].x`)."""
    changed = copy.deepcopy(data)
    for key, value in settings.items():
        _assign(changed, steps(key), value, key, "")
    return changed


def _assign(node: Any, path: list[Step], value: Any, key: str, at: str) -> None:
    """Set `value` at `path` under `node` (reached by the key path `at`)."""
    step, rest = path[0], path[1:]
    if isinstance(step, str) and step != EVERY:
        if not isinstance(node, dict):
            raise ScenarioError(OPTION, f"{key!r}: {at} is a value, not a table")
        if not rest:
            node[step] = value
            return
        if step not in node:
            node[step] = {} if isinstance(rest[0], str) and rest[0] != EVERY else []
        _assign(node[step], rest, value, key, f"{at}.{step}" if at else step)
        return
    if not isinstance(node, list):
        raise ScenarioError(OPTION, f"{key!r}: {at} is not an array of entries")
    if step == EVERY and not node:
        raise ScenarioError(OPTION, f"{key!r}: {at} has no entries")
    if step != EVERY and step >= len(node):
        raise ScenarioError(OPTION, f"{key!r}: there is no {at}[{step}]{_counted_hint(node)}")
    for index in range(len(node)) if step == EVERY else [step]:
        if rest:
            _assign(node[index], rest, value, key, f"{at}[{index}]")
        else:
            node[index] = value


def _counted_hint(entries: list[Any]) -> str:
    if any(isinstance(entry, dict) and "count" in entry for entry in entries):
        return f" (the file has {len(entries)} entries: one with count stands for its copies)"
    return ""


@dataclass(frozen=True)
class Source:
    """A scenario's tables as read, before any check, and what parsing them needs: the name
    it defaults to, the folder its files are relative to, and the name its errors give it."""

    data: dict[str, Any]
    default_name: str = "scenario"
    base_dir: Path | None = None
    shown: str = ""

    def scenario(self, settings: dict[str, Any] | None = None) -> Scenario:
        """The scenario with `settings` set, checked as a file would be."""
        data = apply(self.data, settings) if settings else self.data
        return parsed(data, self.default_name, self.base_dir, self.shown)


def read_source(source: str | Path | dict[str, Any]) -> Source:
    """`source`'s tables: a path or bundled name, TOML text (a str holding a newline), or a
    dict laid out as a file's tables (as `sim.run` takes them)."""
    if isinstance(source, dict):
        return Source(copy.deepcopy(source))
    if isinstance(source, str) and "\n" in source:
        return Source(read_text(source), shown=TEXT)
    if not isinstance(source, str | Path):
        raise ScenarioError(
            "scenario",
            f"keys are set in a scenario's tables: give a path, a bundled name, TOML text or a "
            f"dict, not {type(source).__name__}",
        )
    data, path, shown = read_file(source)
    return Source(data, path.stem, path.parent, shown)
