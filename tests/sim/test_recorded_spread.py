"""A venue quoting the recorded spread (`recorded_spread = true`): its quote is the recorded
touch of the row in force when it prices (the ask to a buyer, the bid to a seller), then its
skew, noise and depth beyond the touch; bad configurations are one line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sim
from sim.cli.main import main
from sim.model.scenario import load
from sim.network.run import Network
from sim.report.atomic import summary_json
from tests.helpers.cli_checks import one_error_line
from tests.helpers.scenarios import write_toml

# Epoch milliseconds; the spread changes from row to row, two rows share an instant.
ROWS = [(0, 99.9, 100.1), (400, 99.95, 100.15), (400, 99.7, 100.4), (1000, 100.5, 100.6)]
TICKS = "timestamp,bid,ask\n" + "".join(f"{t},{b},{a}\n" for t, b, a in ROWS)
RECORDED = 'file = "ticks.csv"\ntime_unit = "ms"'


def scenario_file(folder: Path, venue: str, *, data: str = TICKS, market: str = RECORDED) -> Path:
    """600 requests at 400/s (1.5 s, past the last row) on `data`, one venue with `venue`."""
    (folder / "ticks.csv").write_text(data, encoding="utf-8")
    text = f"""
[scenario]
seed = 7
requests = 600

[arrivals]
rate_per_s = 400.0

[market]
{market}

[[venues]]
name = "touch"
latency = {{ dist = "constant", ms = 1.0 }}
{venue}

[[strategies]]
kind = "first_wins"

[order]
side = "random"
"""
    return write_toml(folder, "spread.toml", text)


def in_force(t: np.ndarray, side: np.ndarray) -> np.ndarray:
    """The ask (buys) or bid (sells) of the last row of ROWS at or before each engine time."""
    stamps = np.array([r[0] for r in ROWS]) / 1e3
    row = np.maximum(np.searchsorted(stamps, t, side="right") - 1, 0)
    bids, asks = np.array([r[1] for r in ROWS]), np.array([r[2] for r in ROWS])
    return np.where(side > 0, asks[row], bids[row])


def test_the_touch_is_the_row_in_force_at_each_instant(tmp_path) -> None:
    path = load(scenario_file(tmp_path, "recorded_spread = true")).mid_path()
    instants = [-1.0, 0.0, 0.3999, 0.4, 0.9999, 1.0, 50.0]
    asks = [100.1, 100.1, 100.1, 100.4, 100.4, 100.6, 100.6]
    bids = [99.9, 99.9, 99.9, 99.7, 99.7, 100.5, 100.5]
    assert [path.touch(t, 1.0) for t in instants] == asks
    assert [path.touch(t, -1.0) for t in instants] == bids
    times = np.array(instants * 2)
    sides = np.repeat([1.0, -1.0], len(instants))
    assert path.touch_at(times, sides).tolist() == asks + bids


@pytest.mark.parametrize("engine", ["trio", "fast"])
def test_a_venue_quotes_exactly_the_recorded_bid_or_ask(tmp_path, engine) -> None:
    """Priced halfway through its 1 ms latency, each fill is the ask (a buy) or the bid (a
    sell) of the row in force then, to the bit."""
    result = sim.run(scenario_file(tmp_path, "recorded_spread = true"), engine=engine)
    records = result.strategies["first_wins"].records
    side = result.draws.side.astype(float)
    priced_at = records.arrival_s + 0.5 * np.asarray(result.draws.venues[0].latency_s[0])
    assert (side > 0).any() and (side < 0).any() and priced_at.max() > 1.0
    assert records.fill_price.tolist() == in_force(priced_at, side).tolist()


def test_skew_noise_and_depth_price_from_the_touch(tmp_path) -> None:
    """An order of 2 walks a level at the touch and one 4 bps wider: 2 bps of full spread
    beyond the touch, half of it on the order's side, plus 1 bp of skew."""
    venue = "recorded_spread = true\nskew_bps = 1.0\ndepth = ["
    venue += "{ size = 1.0, spread_bps = 0.0 }, { size = 1.0, spread_bps = 4.0 }]"
    path = scenario_file(tmp_path, venue)
    path.write_text(path.read_text().replace("[order]", "[order]\nsize = 2.0"))
    result = sim.run(path, engine="fast")
    records = result.strategies["first_wins"].records
    side = result.draws.side.astype(float)
    priced_at = records.arrival_s + 0.5 * np.asarray(result.draws.venues[0].latency_s[0])
    expected = in_force(priced_at, side) * (1.0 + (side * 1.0 + 1.0) * 1e-4)
    assert np.allclose(records.fill_price, expected, rtol=1e-15, atol=0.0)
    assert summary_json(sim.summary(path, engine="trio") | {"engine": "-"}) == summary_json(
        sim.summary(path, engine="fast") | {"engine": "-"}
    )


def test_a_venue_server_quotes_the_recorded_touch(tmp_path) -> None:
    """Over FIX on the wall clock (the venue in its own process): one recorded row, so every
    buy fills at its ask and every sell at its bid, whenever the venue prices."""
    data = "timestamp,bid,ask\n0,99.5,100.5\n"
    path = scenario_file(tmp_path, "recorded_spread = true", data=data)
    path.write_text(path.read_text().replace("requests = 600", "requests = 20"))
    result = sim.run(path, network=Network())
    records = result.strategies["first_wins"].records
    side = result.draws.side.astype(float)
    assert result.summary["transport"] == "fix-tcp" and (side > 0).any() and (side < 0).any()
    assert records.fill_price.tolist() == np.where(side > 0, 100.5, 99.5).tolist()
    assert result.strategies["first_wins"].oracle.tolist() == records.fill_price.tolist()


@pytest.mark.parametrize(
    ("venue", "data", "market", "message"),
    [
        (
            "recorded_spread = true",
            TICKS,
            "volatility_bps = 1.0",
            "venues[0].recorded_spread: needs a recorded market: [market] file = a CSV of "
            "timestamp,bid,ask",
        ),
        (
            "recorded_spread = true",
            "timestamp,mid\n0,100\n",
            RECORDED,
            "venues[0].recorded_spread: ticks.csv records mids, not bids and asks (no spread)",
        ),
        (
            "recorded_spread = true\nspread_bps = 1.0",
            TICKS,
            RECORDED,
            "venues[0].recorded_spread: give spread_bps or recorded_spread, not both",
        ),
    ],
    ids=["no file", "mids only", "with spread_bps"],
)
def test_a_recorded_spread_without_one_is_one_line(
    tmp_path, capsys, venue, data, market, message
) -> None:
    path = scenario_file(tmp_path, venue, data=data, market=market)
    line = one_error_line(capsys, main(["run", str(path), "--quiet"]))
    assert line == f"{path}: {message}", line
