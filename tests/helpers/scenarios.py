"""Small scenarios for tests, built from the tables a scenario file would hold.

A test file fixes its own defaults once, e.g.
`scenario = functools.partial(build_scenario, seed=7, requests=2000, rate=5000.0)`,
and each test then names only the venues, strategies and settings it is about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.model.scenario import Scenario, parse

Table = dict[str, Any]


def build_scenario(
    venues: list[Table],
    strategies: list[Table] | None = None,
    *,
    seed: int,
    requests: int,
    rate: float | None = None,
    process: str | None = None,
    arrivals: Table | None = None,
    market: Table | None = None,
    order: Table | None = None,
    shared_latency: Table | None = None,
    regime: Table | None = None,
    name: str = "t",
    **header: Any,
) -> Scenario:
    """The Scenario these tables describe, validated as a file would be (ScenarioError if not).

    `rate` and `process` set `arrivals.rate_per_s` and `arrivals.process`; `header` adds keys to
    [scenario] (e.g. `clock="real"`); a table left None is left out, so the file default holds.
    Without `strategies`, first_wins races best_price.
    """
    given = {"process": process, "rate_per_s": rate}
    if any(value is not None for value in given.values()):
        arrivals = (arrivals or {}) | {k: v for k, v in given.items() if v is not None}
    data: dict[str, Any] = {
        "scenario": {"seed": seed, "requests": requests, **header},
        "venues": venues,
        "strategies": strategies or [{"kind": "first_wins"}, {"kind": "best_price"}],
    }
    optional = {"arrivals": arrivals, "market": market, "order": order}
    optional |= {"shared_latency": shared_latency, "regime": regime}
    data |= {key: table for key, table in optional.items() if table is not None}
    return parse(data, default_name=name)


def write_toml(folder: Path, name: str, text: str) -> Path:
    """`text` saved as the scenario file `folder/name` (UTF-8); its path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
