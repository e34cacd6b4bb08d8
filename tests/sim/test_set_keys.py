"""Scenario keys set from outside the file: `run --set KEY=V`, `[*]` wildcards (with `count`
venues too), their values and their errors, and the teaching variants docs/scenarios.md
gives as one-liners, with the figures it quotes."""

from __future__ import annotations

import json

import pytest

import sim
from sim.cli.main import main
from sim.model.errors import ScenarioError
from sim.model.scenario import resolve
from sim.model.settings import apply, parse_set, parse_setting, read_source
from tests.helpers.cli_checks import one_error_line

COUNTED = """
[scenario]
requests = 200

[[venues]]
name = "edge"
count = 3
latency = { dist = "constant", ms = 1.0 }

[[venues]]
name = "far"
latency = { dist = "constant", ms = 5.0 }

[[strategies]]
kind = "first_wins"
"""


def test_values_are_toml_values_else_numbers_else_strings() -> None:
    assert parse_setting("arrivals.rate_per_s=500") == ("arrivals.rate_per_s", 500)
    assert parse_setting("venues[*].cancel_propagation = false") == (
        "venues[*].cancel_propagation",
        False,
    )
    assert parse_setting("arrivals.process=uniform") == ("arrivals.process", "uniform")
    assert parse_setting("x=.5") == ("x", 0.5)
    assert parse_setting('x="a,b"') == ("x", "a,b")
    table = 'arrivals={ process = "poisson", rate_per_s = 304 }'
    assert parse_setting(table) == ("arrivals", {"process": "poisson", "rate_per_s": 304})
    assert parse_set("a=0.5,1,true,uniform") == ("a", [0.5, 1, True, "uniform"])
    assert parse_set("a={ ms = 1 },{ ms = 2 }") == ("a", [{"ms": 1}, {"ms": 2}])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nonsense", "--set: 'nonsense': expected KEY=VALUE"),
        ("=1", "--set: '=1': expected KEY=VALUE"),
        ("a..b=1", "--set: 'a..b': not a key path like venues[0].latency.ms"),
        ("venues[x].ms=1", "--set: 'venues[x].ms': not a key path like venues[0].latency.ms"),
        (
            "arrivals.rate_per_s=1,2",
            "--set: 'arrivals.rate_per_s=1,2': one value (quoterace sweep takes several); a "
            "text with a comma in TOML quotes: arrivals.rate_per_s='\"1,2\"'",
        ),
    ],
)
def test_a_malformed_setting_is_one_error_naming_it(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        parse_setting(text)
    assert str(error.value) == message


def test_a_wildcard_sets_every_entry_and_a_later_key_overrides_it() -> None:
    data = {"venues": [{"name": "a"}, {"name": "b", "latency": {"ms": 1}}]}
    changed = apply(data, {"venues[*].latency.ms": 2, "venues[1].latency.ms": 3})
    assert changed == {
        "venues": [{"name": "a", "latency": {"ms": 2}}, {"name": "b", "latency": {"ms": 3}}]
    }
    assert data["venues"][1]["latency"] == {"ms": 1}  # the tables read are left as they were


def test_a_wildcard_on_a_counted_entry_sets_every_copy() -> None:
    scenario = read_source(COUNTED).scenario({"venues[*].latency.ms": 2.5})
    assert [v.name for v in scenario.venues] == ["edge-1", "edge-2", "edge-3", "far"]
    assert {v.latency.ms for v in scenario.venues} == {2.5}
    one = read_source(COUNTED).scenario({"venues[0].latency.ms": 2.5})
    assert [v.latency.ms for v in one.venues] == [2.5, 2.5, 2.5, 5.0]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        # indexes count the entries as written, not the copies
        (
            {"venues[3].latency.ms": 1},
            "--set: 'venues[3].latency.ms': there is no venues[3] (the file has 2 entries: one "
            "with count stands for its copies)",
        ),
        # a key no venue has names the first venue that refuses it
        (
            {"venues[*].latency.mean_ms": 1},
            "<text>: venues[0].latency.mean_ms: unknown key (expected one of ms, shift_ms)",
        ),
        (
            {"venues[*].cancel_propogation": True},
            "<text>: venues[0].cancel_propogation: unknown key (did you mean "
            "'cancel_propagation'?)",
        ),
        ({"scenario[*].x": 1}, "--set: 'scenario[*].x': scenario is not an array of entries"),
        (
            {"venues[0].name.x": 1},
            "--set: 'venues[0].name.x': venues[0].name is a value, not a table",
        ),
    ],
)
def test_a_key_the_scenario_cannot_take_is_one_error_naming_it(settings, message) -> None:
    with pytest.raises(ScenarioError) as error:
        read_source(COUNTED).scenario(settings)
    assert str(error.value) == message


# --- quoterace run --set ----------------------------------------------------------------------


def test_run_set_runs_the_scenario_with_the_keys_set(capsys, tmp_path) -> None:
    """The summary of `run --set` is the one of the file written with those values."""
    argv = ["run", "overload", "--requests", "300", "--json", "--quiet"]
    argv += ["--set", "arrivals.rate_per_s=200", "--set", "venues[*].capacity=2"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    edited = resolve("overload").read_text().replace("rate_per_s = 900", "rate_per_s = 200")
    edited = edited.replace("capacity = 1", "capacity = 2")
    assert edited.count("capacity = 2") == 4
    (tmp_path / "overload.toml").write_text(edited)
    assert printed == sim.summary(tmp_path / "overload.toml", requests=300)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["venues[9].latency.ms=1"], "--set: 'venues[9].latency.ms': there is no venues[9]"),
        (["arrivals.rate_per_s=-5"], "overload.toml: arrivals.rate_per_s: must be >= 0 (got -5)"),
        (["nonsense"], "--set: 'nonsense': expected KEY=VALUE"),
        (
            ["venues[*].capacty=2"],
            "overload.toml: venues[0].capacty: unknown key (did you mean 'capacity'?)",
        ),
        (["a=1", "a=2"], "--set: 'a' is set twice"),
    ],
)
def test_run_set_bad_keys_and_values_are_one_line(capsys, sets, message) -> None:
    argv = ["run", "overload", "--requests", "100", "--quiet"]
    for text in sets:
        argv += ["--set", text]
    assert one_error_line(capsys, main(argv)) == message


def test_run_set_is_refused_in_network_mode(capsys) -> None:
    """Venue servers started for a run load the scenario file themselves, as written."""
    argv = ["run", "overload", "--network", "--set", "arrivals.rate_per_s=200"]
    assert one_error_line(capsys, main(argv)) == (
        "--set: not in network mode: venue servers read the file as written"
    )


# --- the teaching variants of docs/scenarios.md -------------------------------------------------


def _cli_scenario(name: str, *sets: str) -> sim.Scenario:
    """The scenario `quoterace run NAME --set ...` runs (sim.cli.run's path)."""
    return read_source(name).scenario(dict(parse_setting(text) for text in sets))


def test_tied_requests_without_propagation_as_docs_quote_it() -> None:
    """`quoterace run tied-requests --set 'venues[*].cancel_propagation=false'`: first_wins's
    p99 6.0 ms (2.6 with propagation) and every venue about 50% busy (20%)."""
    scenario = _cli_scenario("tied-requests", "venues[*].cancel_propagation=false")
    assert not any(v.cancel_propagation for v in scenario.venues)
    first_wins = sim.summary(scenario, ["first_wins"])["strategies"]["first_wins"]
    assert round(first_wins["decision_ms"]["p99"], 1) == 6.0
    assert {round(u, 1) for u in first_wins["venue_utilization"].values()} == {0.5}


def test_coordinated_omission_as_an_open_loop_as_docs_quote_it() -> None:
    """`quoterace run coordinated-omission --set 'arrivals={ process = "poisson",
    rate_per_s = 304 }'`: the closed loop's rate as an open loop, p99 1397 ms."""
    scenario = _cli_scenario(
        "coordinated-omission", 'arrivals={ process = "poisson", rate_per_s = 304 }'
    )
    first_wins = sim.summary(scenario)["strategies"]["first_wins"]
    assert round(first_wins["decision_ms"]["p99"]) == 1397
