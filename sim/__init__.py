"""Orchestration: scenarios, draws, the trio engine, metrics, reports and the CLI.

The Python API: `sim.run(scenario, strategies=[...], seed=..., requests=...)` (a scenario:
a path, a bundled name, a Scenario, a dict of its tables or TOML text) returns a
RunResult with the summary dict and per-request records (`result.records(name)`);
`sim.summary(...)`, with the same arguments, gives the same summary keeping no records, in
memory that stays flat however many requests. `sim.run(..., network=sim.Network())` races
the venues as FIX servers over TCP (network mode). `sim.sweep(scenario, {key: [values]})`
runs a grid of settings, as `quoterace sweep` does, into a pandas DataFrame.
"""

from typing import Any

from sim.engines.records import OUTCOMES
from sim.measure.run import RunResult, StrategyResult, run, summary
from sim.measure.sweep import sweep
from sim.model.errors import ScenarioError
from sim.model.scenario import NamedStrategy, Scenario, load


def __getattr__(name: str) -> Any:
    """`Network`, imported on first use: network mode's FIX client and servers are loaded by
    the runs that race venues over TCP, not by every import of sim."""
    if name == "Network":
        from sim.network.run import Network

        return Network
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the ones imported on first use among them."""
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "OUTCOMES",
    "NamedStrategy",
    "Network",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "StrategyResult",
    "load",
    "run",
    "summary",
    "sweep",
]
