"""The Python API as a user scripts it: strategies named in Python, kinds by name that keep the
scenario's parameters, and scenarios given as a dict or TOML text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

import sim
from sim.model.errors import ScenarioError
from sim.model.scenario import parse
from strategies import BestPrice, FirstK, fields, register, scatter
from strategies.registry import STRATEGIES


def venues_data(strategies: list[dict]) -> dict:
    return {
        "scenario": {"requests": 300, "seed": 3},
        "venues": [
            {"name": "a", "latency": {"dist": "constant", "ms": 1}, "spread_bps": 2.0},
            {"name": "b", "latency": {"dist": "lognormal", "median_ms": 3, "sigma": 1.0}},
        ],
        "strategies": strategies,
    }


def test_strategy_objects_take_a_name():
    result = sim.run(
        "default", [FirstK(k=1, name="first_1"), FirstK(k=2, name="first_2")], requests=300
    )
    assert list(result.summary["strategies"]) == ["first_1", "first_2"]
    first_1, first_2 = (result.summary["strategies"][n] for n in ("first_1", "first_2"))
    assert first_1["decision_ms"]["p50"] < first_2["decision_ms"]["p50"]
    # A NamedStrategy's name wins over the object's own.
    named = sim.run("default", [sim.NamedStrategy("x", FirstK(name="y"))], requests=10)
    assert list(named.summary["strategies"]) == ["x"]
    with pytest.raises(ScenarioError, match=r"duplicate .*: give each its own name="):
        sim.run("default", [FirstK(k=1), FirstK(k=2)], requests=10)


async def take_first(request, venues, *, timeout_ms: float = 50.0):
    """Take the first quote to arrive."""
    async with scatter(request, venues, timeout_s=timeout_ms * 1e-3) as quotes:
        received = await quotes.collect(1)
    return received[0] if received else None


def test_a_registered_function_takes_a_name_too():
    saved = dict(STRATEGIES)
    try:
        cls = register(take_first)
        result = sim.run(
            "default", [cls(name="mine"), cls(timeout_ms=1.0, name="hasty")], requests=50
        )
        assert list(result.summary["strategies"]) == ["mine", "hasty"]
    finally:
        STRATEGIES.clear()
        STRATEGIES.update(saved)


@dataclass(frozen=True)
class TakeFirst:
    kind: ClassVar[str] = "take_first_class"
    name: str = fields.name()
    timeout_ms: float = fields.timeout_ms(50.0)

    async def decide(self, request, venues):
        return await take_first(request, venues, timeout_ms=self.timeout_ms)


def test_a_registered_dataclass_takes_a_name_when_it_declares_one():
    saved = dict(STRATEGIES)
    try:
        register(TakeFirst)
        result = sim.run("default", [TakeFirst(name="a"), TakeFirst(name="b")], requests=50)
        assert list(result.summary["strategies"]) == ["a", "b"]
    finally:
        STRATEGIES.clear()
        STRATEGIES.update(saved)


def test_a_kind_by_name_keeps_the_scenarios_parameters():
    scenario = parse(
        venues_data([{"kind": "best_price", "timeout_ms": 5}, {"kind": "first_wins"}]),
        default_name="own",
    )
    for wanted in ("best_price", BestPrice):
        chosen = scenario.with_strategies([wanted]).strategies
        assert [(s.name, s.strategy.timeout_ms) for s in chosen] == [("best_price", 5.0)]
    by_kind = sim.run(scenario, ["best_price"]).summary["strategies"]["best_price"]
    as_written = sim.run(scenario).summary["strategies"]["best_price"]
    assert by_kind == as_written and by_kind["decision_ms"]["max"] <= 5.0
    # A kind the scenario lacks comes with its defaults.
    assert scenario.with_strategies(["first_k"]).strategies[0].strategy == FirstK()


def test_a_kind_the_scenario_has_twice_must_be_named():
    scenario = parse(
        venues_data(
            [
                {"kind": "best_price", "timeout_ms": 5, "name": "hasty"},
                {"kind": "best_price", "timeout_ms": 50, "name": "patient", "max_retries": 2},
            ]
        ),
        default_name="twice",
    )
    with pytest.raises(ScenarioError, match=r"2 best_price strategies \(hasty, patient\)"):
        scenario.with_strategies(["best_price"])
    (patient,) = scenario.with_strategies(["patient"]).strategies
    assert (patient.name, patient.strategy.timeout_ms, patient.max_retries) == ("patient", 50, 2)


TEXT = """
[scenario]
name = "from_text"
requests = 200

[[venues]]
name = "a"
latency = { dist = "constant", ms = 1 }

[[venues]]
name = "b"
latency = { dist = "constant", ms = 2 }

[[strategies]]
kind = "best_price"
timeout_ms = 5
"""


def test_a_scenario_may_be_a_dict_or_toml_text(tmp_path):
    data = venues_data([{"kind": "best_price", "timeout_ms": 5}])
    from_dict = sim.run(data)
    assert from_dict.summary == sim.run(parse(data, default_name="scenario")).summary
    from_text = sim.run(TEXT)
    assert from_text.scenario.name == "from_text"
    assert from_text.summary["strategies"]["best_price"]["venue_wins"] == {"a": 200, "b": 0}
    # A path (str or Path) and a bundled name hold no newline: still read as files.
    file = tmp_path / "mine.toml"
    file.write_text(TEXT)
    assert sim.run(str(file)).summary == sim.run(file).summary == from_text.summary
    assert sim.summary("default", requests=50) == sim.run("default", requests=50).summary
    with pytest.raises(ScenarioError, match=r"^<text>: TOML syntax error"):
        sim.run(TEXT + "[[venues\n")
    with pytest.raises(ScenarioError, match=r"^<text>: venues\[1\]\.latency\.ms"):
        sim.run(TEXT.replace("ms = 2", "ms = -2"))
