"""Orchestration: scenarios, draws, the trio engine, metrics, reports and the CLI.

The Python API: `sim.run(scenario, strategies=[...], seed=..., requests=...)` returns a
RunResult with the summary dict and per-request records (`result.records(name)`);
`sim.summary(...)`, with the same arguments, gives the same summary keeping no records, in
memory that stays flat however many requests. `sim.run(..., network=sim.Network())` races
the venues as FIX servers over TCP (network mode).
"""

from sim.engine import OUTCOMES
from sim.errors import ScenarioError
from sim.network.run import Network
from sim.runner import RunResult, StrategyResult, run, summary
from sim.scenario import NamedStrategy, Scenario, load

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
]
