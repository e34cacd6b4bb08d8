"""What every registered strategy promises: no venue request outlives its decision, a
docstring that teaches, a listing in `quoterace strategies`, and one-line errors for bad
parameters."""

from __future__ import annotations

import inspect
import math

import pytest
import trio

from sim.cli.main import main
from strategies import STRATEGIES
from tests.helpers.fakes import decide, venues

KINDS = sorted(STRATEGIES)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "latencies",
    [(0.4, 1.5, None, 3.0), (None, None, None, None), (2.0, 2.0, 0.1, 0.1)],
    ids=["mixed", "silent", "ties"],
)
async def test_once_it_decides_nothing_of_its_race_is_outstanding(autojump_clock, kind, latencies):
    strategy = STRATEGIES[kind](timeout_ms=20.0)
    vs = venues(*latencies, prices=(100.3, 100.1, 100.2, 100.0))
    for _ in range(25):  # past any warm-up (hedged learns its delay after 20 races)
        await decide(strategy, vs, mid=100.0)  # asserts that no venue task is still live
        await trio.sleep(0.05)
    assert sum(v.requests for v in vs) >= 25


@pytest.mark.parametrize("kind", KINDS)
def test_every_strategy_teaches_and_is_listed(kind, capsys):
    doc = inspect.getdoc(STRATEGIES[kind]) or ""
    assert len(doc.split("\n\n")) >= 2, "a rule, then the trade-off it embodies"
    assert main(["strategies"]) == 0
    listing = f"\n{capsys.readouterr().out}"
    block = listing.split(f"\n{kind}\n", 1)[1].split("\n\n", 1)[0]  # this kind's entry
    assert "    timeout_ms = " in block
    assert "    name = " not in block  # every strategy's name=, not a parameter of its rule


@pytest.mark.parametrize("kind", KINDS)
def test_bad_parameters_get_one_line(kind, toml_file, capsys):
    path = toml_file(
        '[[venues]]\nname = "a"\nlatency = { dist = "constant", ms = 1 }\n'
        f'[[strategies]]\nkind = "{kind}"\ntimeout_ms = -1\n',
        "bad.toml",
    )
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == (f"{path}: strategies[0].timeout_ms: must be > 0 (got -1)\n")


def test_timeouts_are_what_ends_a_silent_race():
    assert all(not math.isinf(STRATEGIES[k]().timeout_ms) for k in KINDS)
