"""Orchestration: scenarios, draws, the trio engine, metrics, reports and the CLI."""

from sim.errors import ScenarioError
from sim.run import RunResult, StrategyResult, run
from sim.scenario import Scenario, load

__all__ = ["RunResult", "Scenario", "ScenarioError", "StrategyResult", "load", "run"]
