"""One strategy's records on either engine, and which engine runs a scenario: what a whole
run (sim.measure.run) and a summary decided in pieces (sim.measure.pieces) share."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from sim.engines.fast import Prepared, run_fast, unsupported
from sim.engines.records import Records
from sim.model.draws import Draws
from sim.model.errors import ScenarioError
from sim.model.market import MidPath
from sim.model.scenario import NamedStrategy, Scenario

if TYPE_CHECKING:
    from sim.engines.trio import Remote


def fast_records(
    scenario: Scenario,
    entry: NamedStrategy,
    draws: Draws,
    mid: MidPath,
    prepared: Prepared | None,
) -> Records:
    """One strategy's run on the fast engine (an open loop's strategies share `prepared`)."""
    try:
        return run_fast(
            draws,
            entry.strategy,
            venues=scenario.venues,
            mid=mid,
            order_size=scenario.order.size,
            prepared=prepared,
            max_retries=entry.max_retries,
            seed=scenario.seed,
            clients=scenario.arrivals.clients if scenario.arrivals.closed else None,
        )
    except ScenarioError as e:  # a limit met only during the run (a closed loop's span)
        raise e.in_file(scenario.file) from None


def trio_records(
    scenario: Scenario,
    entry: NamedStrategy,
    draws: Draws,
    mid: Callable[[float], float],
    clients: int | None,
    progress: Callable[[str, int], None] | None,
    remote: Remote | None = None,
) -> Records:
    """One strategy's run on the trio engine; `remote`: its venues in network mode
    (sim.network.run)."""
    from sim.engines.trio import run_trio  # trio's tasks: a fast run never loads them

    try:
        return run_trio(
            draws,
            entry.strategy,
            venues=scenario.venues,
            mid=mid,
            order_size=scenario.order.size,
            max_retries=entry.max_retries,
            seed=scenario.seed,
            clients=clients,
            clock=scenario.clock,
            on_progress=None
            if progress is None
            else functools.partial(progress, f"{scenario.name}: {entry.name}"),
            remote=remote,
        )
    except ScenarioError as e:  # a limit met only during the run (a closed loop's span)
        raise e.in_file(scenario.file) from None


ENGINES = ("auto", "trio", "fast")


def choose_engine(engine: str, scenario: Scenario) -> str:
    """The engine that will run `scenario`: "auto" is the fast one where it can."""
    if engine not in ENGINES:
        raise ScenarioError("--engine", f"must be one of {', '.join(ENGINES)} (got {engine!r})")
    why = unsupported(scenario)
    if engine == "fast" and why is not None:
        raise ScenarioError("--engine", f"the fast engine cannot run {scenario.name}: {why}")
    return "trio" if engine == "trio" or why is not None else "fast"
