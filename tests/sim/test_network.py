"""Network mode end to end over loopback: venue servers as processes (quoterace venue), the
same strategies racing them over TCP, and venues that refuse, die, babble or fall silent.

These run on the wall clock, so they assert what the network cannot change (which venue a
price-only rule picks, the exact prices, that every request is accounted for) and bounds that
hold on a loaded machine, not latencies to the microsecond. Each run is a few hundred
milliseconds of requests, plus about a second for the servers to start.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.cli import main
from sim.engine import FILLED, NO_QUOTE, OUTCOMES
from sim.network import connection
from sim.network.launch import READY
from sim.network.run import Network

SCENARIO = """
[scenario]
seed = 7
requests = 60

[arrivals]
process = "uniform"
rate_per_s = 100

[market]
volatility_bps = 0.0

[order]
size = 1.0

[[venues]]
name = "near"
latency = { dist = "constant", ms = 1.0 }
spread_bps = 3.0

[[venues]]
name = "far"
latency = { dist = "constant", ms = 8.0 }
spread_bps = 1.0
noise_bps = 0.5

[[strategies]]
kind = "first_wins"
timeout_ms = 200.0

[[strategies]]
kind = "best_price"
timeout_ms = 200.0
"""


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "two.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def accounted(summary: dict, requests: int) -> None:
    """Every request ended one way: filled, rejected for a reason, or no quote."""
    for name, s in summary["strategies"].items():
        decided = sum(s["venue_wins"].values())
        assert decided + s["no_quote"] == requests, name


def test_a_network_run_gives_the_simulators_prices_and_choices(scenario_file: Path) -> None:
    """A still market: the prices over TCP are the drawn ones, bit for bit, so best_price
    picks as in process; first_wins takes the venue 7 ms nearer every time."""
    network = sim.run(scenario_file, network=Network())
    virtual = sim.run(scenario_file)
    assert network.summary["transport"] == "fix-tcp" and virtual.summary["transport"] == (
        "in-process"
    )
    assert network.summary["clock"] == "real"
    assert network.summary["network"]["started_here"] == ["near", "far"]
    accounted(network.summary, 60)
    for name in ("first_wins", "best_price"):
        ours, theirs = network.records(name), virtual.records(name)
        assert np.array_equal(ours["venue"], theirs["venue"]), name
        assert np.array_equal(ours["price"], theirs["price"], equal_nan=True), name
        assert (ours["outcome"] == FILLED).all(), name
        assert network.summary["strategies"][name]["venue_failures"] == {
            "near": None,
            "far": None,
        }
    first = network.records("first_wins")
    assert (first["venue"] == 0).all()
    # measured over loopback: at least the drawn 1 ms, and not a timeout's worth more
    assert (first["decision_s"] >= 1e-3).all() and np.median(first["decision_s"]) < 0.1


def serve(path: Path, name: str, *extra: str) -> tuple[subprocess.Popen, int]:
    """`quoterace venue` for venue `name` of `path`, and its port once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sim", "venue", str(path), "--venue", name, *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    assert line.startswith(READY), line
    return process, int(line.rsplit(":", 1)[1])


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_venue_killed_mid_run_fails_and_the_race_goes_on(scenario_file: Path) -> None:
    """Two venues already running (--venue); one is killed a third of the way through: its
    connection is a failed venue with the reason, the other keeps deciding, and no request is
    lost."""
    near, near_port = serve(scenario_file, "near")
    far, far_port = serve(scenario_file, "far")
    try:
        network = Network({"near": ("127.0.0.1", near_port), "far": ("127.0.0.1", far_port)})
        killer = threading.Timer(0.2, near.kill)  # 60 requests at 100/s: 0.6 s
        killer.start()
        result = sim.run(scenario_file, ["first_wins"], network=network)
        killer.join()
    finally:
        for process in (near, far):
            process.kill()
            process.wait()
            process.stdout.close()
    summary = result.summary["strategies"]["first_wins"]
    assert summary["venue_failures"]["far"] is None
    assert summary["venue_failures"]["near"] in {
        "the venue closed the connection",
        "connection lost: reset",
    } or summary["venue_failures"]["near"].startswith("connection lost")
    venue = result.records("first_wins")["venue"]
    assert (venue[:10] == 0).all() and (venue[-10:] == 1).all()  # near, then far alone
    accounted(result.summary, 60)
    assert summary["fill_rate"] >= 0.9  # at most the few orders out when it died


def test_a_venue_that_refuses_is_failed_and_best_price_waits_out_its_timeout(
    scenario_file: Path,
) -> None:
    port = free_port()
    network = Network({"far": ("127.0.0.1", port)})  # near is started here
    result = sim.run(scenario_file, ["best_price"], network=network, requests=20)
    summary = result.summary["strategies"]["best_price"]
    assert summary["venue_failures"]["far"].startswith(f"cannot connect to 127.0.0.1:{port}")
    assert summary["venue_failures"]["near"] is None
    assert summary["venue_wins"] == {"near": 20, "far": 0}
    # far never answers: every decision waits for the 200 ms timeout
    assert (result.records("best_price")["decision_s"] >= 0.2).all()


class FakeVenue:
    """A TCP server on 127.0.0.1 that answers each connection with `reply` (garbage, or
    nothing at all) and then holds it open."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            if self.reply:
                conn.sendall(self.reply)

    def close(self) -> None:
        self.listener.close()
        for conn in self.connections:
            conn.close()


@pytest.mark.parametrize(
    ("reply", "failure"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "protocol error"),
        (b"", "no Logon reply"),
    ],
)
def test_a_babbling_or_silent_venue_costs_only_itself(
    scenario_file: Path, monkeypatch, reply: bytes, failure: str
) -> None:
    monkeypatch.setattr(connection, "CONNECT_TIMEOUT_S", 0.5)
    fake = FakeVenue(reply)
    try:
        network = Network({"far": ("127.0.0.1", fake.port)})
        result = sim.run(scenario_file, ["first_wins"], network=network, requests=20)
    finally:
        fake.close()
    summary = result.summary["strategies"]["first_wins"]
    assert summary["venue_failures"]["far"].startswith(failure)
    assert summary["venue_wins"] == {"near": 20, "far": 0}
    outcome = result.records("first_wins")["outcome"]
    assert (outcome == FILLED).all() and NO_QUOTE not in outcome


def test_a_silent_venue_after_logon_is_failed(scenario_file: Path, monkeypatch) -> None:
    """A server that stops answering (stopped, not killed: its socket stays open) is failed
    once nothing, not even a heartbeat (one a second), came for SILENT_AFTER_S."""
    monkeypatch.setattr(connection, "SILENT_AFTER_S", 1.5)
    near, near_port = serve(scenario_file, "near")
    far, far_port = serve(scenario_file, "far")
    try:
        network = Network({"near": ("127.0.0.1", near_port), "far": ("127.0.0.1", far_port)})
        threading.Timer(0.1, lambda: far.send_signal(signal.SIGSTOP)).start()
        start = time.monotonic()
        result = sim.run(scenario_file, ["best_price"], network=network, requests=300)
        assert time.monotonic() - start < 10  # 3 s of requests
    finally:
        for process in (near, far):
            process.kill()
            process.wait()
            process.stdout.close()
    summary = result.summary["strategies"]["best_price"]
    assert summary["venue_failures"]["far"] == "silent for 1.5 s"
    assert summary["venue_failures"]["near"] is None
    accounted(result.summary, 300)


def test_the_command_line_runs_over_the_network(scenario_file: Path, capsys) -> None:
    status = main(["run", str(scenario_file), "--network", "--requests", "20", "--json"])
    out = capsys.readouterr().out
    assert status == 0 and '"transport": "fix-tcp"' in out


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--venue", "nope=127.0.0.1:9"], "--venue: no venue named 'nope'"),
        (["--network", "--engine", "fast"], "--engine: network mode races on the trio engine"),
        (["--network", "--all"], "--all: runs in process"),
    ],
)
def test_network_options_that_cannot_work_are_one_line(
    scenario_file: Path, capsys, argv: list[str], error: str
) -> None:
    path = "default" if "--all" in argv else str(scenario_file)
    assert main(["run", path, *argv, "--requests", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and error in err


def test_a_venue_address_without_a_port_is_refused_by_the_parser(capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["run", "--venue", "near=127.0.0.1:99999"])
    assert exit.value.code == 2
    assert "is not NAME=HOST:PORT" in capsys.readouterr().err


def test_outcome_names_include_a_failed_venue() -> None:
    assert OUTCOMES[-2:] == ("venue_failed", "no_quote")
