"""`scenario_summary(..., while_drawing=f)` calls f once, before any request is decided, while
the first chunk is drawn in its background thread (the CLI loads numba then); the summary is
the same.
The drawing waits at a barrier until f has run, so that the test fails unless the two overlap
(a barrier never met breaks after its timeout: no timing is measured). The hook is the CLI's:
`sim.summary` takes `sim.run`'s arguments, as documented, and no more."""

from __future__ import annotations

import inspect
import threading

import sim
import sim.measure.pieces as pieces_module
from sim.measure.run import scenario_summary, summary
from sim.model.scenario import load


def test_the_first_chunk_is_drawn_while_the_callback_runs(monkeypatch) -> None:
    scenario = load("overload").with_overrides(requests=300)
    plain = summary(scenario, engine="fast")
    met = threading.Barrier(2, timeout=30)
    draw_chunks = pieces_module.draw_chunks

    def waiting(scenario, size):
        met.wait()  # drawn only once the callback is running
        yield from draw_chunks(scenario, size)

    calls: list[int] = []
    decided: list[int] = []

    def meanwhile() -> None:
        met.wait()
        calls.append(len(decided))

    monkeypatch.setattr(pieces_module, "draw_chunks", waiting)
    progress = lambda label, n: decided.append(n)  # noqa: E731
    got = scenario_summary(scenario, engine="fast", progress=progress, while_drawing=meanwhile)
    assert got == plain
    assert calls == [0]  # once, before any request was decided
    assert sum(decided) == scenario.requests * len(scenario.strategies)


def test_a_summary_decided_at_once_calls_it_first() -> None:
    scenario = load("default").with_overrides(requests=50)  # trio: not in pieces
    calls: list[str] = []
    got = scenario_summary(scenario, engine="trio", while_drawing=lambda: calls.append("called"))
    assert calls == ["called"]
    assert got == summary(scenario, engine="trio")


def test_the_public_summary_takes_runs_arguments_but_network() -> None:
    run_parameters = dict(inspect.signature(sim.run).parameters)
    del run_parameters["network"]
    assert dict(inspect.signature(sim.summary).parameters) == run_parameters
