"""Network mode end to end over loopback: venue servers as processes (quoterace venue), the
same strategies racing them over TCP, and venues that refuse, die, babble or fall silent.

These run on the wall clock, so they assert what the network cannot change (which venue a
price-only rule picks, the exact prices, that every request is accounted for) and bounds that
hold on a loaded machine, not latencies to the microsecond. Each run is a few hundred
milliseconds of requests, plus about a second for the servers to start.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import trio
import trio.testing

import sim
from sim.cli.main import main
from sim.engines.records import FILLED, NO_QUOTE, OUTCOMES
from sim.model.scenario import load, parse
from sim.network import connection
from sim.network.connection import Address, VenueConnection, connected
from sim.network.launch import READY
from sim.network.run import Network
from sim.network.venue_server import venue_server
from strategies import FirstWins
from venues import timerfd
from venues.fix import FixReader, Heartbeat, Limits, Logon, QuoteReply, Session, decode, encode
from venues.messages import Quote, QuoteRequest

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


def every_request_ended(result: sim.RunResult, requests: int) -> None:
    """Nothing lost: each strategy's every request started (its schedule lag is known), and
    ended one way, its records agreeing: decided (a venue, a decision time, an order) and then
    filled, or rejected for a reason, "venue_failed" only at a venue failed with its reason;
    or no quote (no venue, no decision, no order). The summary counts the same."""
    names = [v.name for v in result.scenario.venues]
    for name, s in result.summary["strategies"].items():
        r = result.records(name)
        assert len(r["outcome"]) == requests, name
        lag_s = result.strategies[name].records.schedule_lag_s
        assert len(lag_s) == requests and not np.isnan(lag_s).any(), f"{name}: never started"
        none = r["outcome"] == NO_QUOTE
        assert ((r["venue"] == -1) == none).all(), name
        assert (np.isnan(r["decision_s"]) == none).all(), name
        assert ((r["orders"] == 0) == none).all(), name
        for i in np.flatnonzero(r["outcome"] == OUTCOMES.index("venue_failed")):
            assert s["venue_failures"][names[r["venue"][i]]], f"{name}: request {i}"
        assert sum(s["venue_wins"].values()) == int((~none).sum()), name
        assert s["no_quote"] == int(none.sum()), name


def explained(result, strategy: str, fake: FakeFixVenue | None = None) -> str:
    """What a failed network test needs said of `strategy`: why each venue failed, the outcomes, how
    late the requests started and the races decided, the fake venue's own errors."""
    summary = result.summary["strategies"][strategy]
    records = result.records(strategy)
    counts = collections.Counter(OUTCOMES[o] for o in records["outcome"])
    keys = ("venue_failures", "venue_wins", "no_quote", "decision_ms", "schedule_lag_ms")
    said = {k: summary.get(k) for k in keys}
    return (
        f"{strategy}: {said}; outcomes {dict(counts)} in order {records['outcome'].tolist()};"
        f" session rejects {result.summary['network']['session_rejects']}; fake venue: "
        f"{None if fake is None else fake.errors}"
    )


# far 149 ms further than near, and a second to wait for it: more than a loaded machine's
# stalls, which can hand a far quote to the client in the same batch as a near one (at 7 ms,
# one full suite run saw far win 6 of 60; at 39 ms, two busy loops beside the tests, 1 of 10)
FAR_OFF = SCENARIO.replace("ms = 8.0", "ms = 150.0").replace("= 200.0", "= 1000.0")


def test_a_network_run_gives_the_simulators_prices_and_choices(scenario_file: Path) -> None:
    """A still market: the prices over TCP are the drawn ones, bit for bit, so best_price
    picks as in process; first_wins takes the venue 149 ms nearer every time."""
    scenario_file.write_text(FAR_OFF, encoding="utf-8")
    network = sim.run(scenario_file, network=Network())
    virtual = sim.run(scenario_file)
    assert network.summary["transport"] == "fix-tcp" and virtual.summary["transport"] == (
        "in-process"
    )
    assert network.summary["clock"] == "real"
    assert network.summary["network"]["started_here"] == ["near", "far"]
    every_request_ended(network, 60)
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
    # measured over loopback: more than the drawn 1 ms, and not a timeout's worth more
    assert (first["decision_s"] > 1e-3).all() and np.median(first["decision_s"]) < 0.1


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


def test_one_process_serves_several_venues_a_port_each(scenario_file: Path) -> None:
    """`quoterace venue FILE --venue far --venue near`: a line per venue, in the order given,
    and on each port that venue, answering with its own draws (far's 8 ms, near's 1 ms)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim",
            "venue",
            str(scenario_file),
            "--venue",
            "far",
            "--venue",
            "near",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    stuck = threading.Timer(30, process.kill)  # a second line never printed: EOF, not a hang
    stuck.start()
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        stuck.cancel()
        assert [line.split()[-1] for line in lines] == ["far", "near"], lines
        assert all(line.startswith(READY) for line in lines), lines
        ports = [int(line.split()[2].rsplit(":", 1)[1]) for line in lines]
        assert len(set(ports)) == 2

        async def answer(port: int) -> Quote:  # one quote request, over raw FIX
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            session = Session("C", "far" if port == ports[0] else "near")
            reader, replies = FixReader(), []
            asked = QuoteRequest(3, 0.0, size=1.0)  # asks for quoterace's tags: index, latency
            logon, request = Logon(0, extras=True), encode(asked, extras=True)
            await stream.send_all(session.encode(encode(logon)) + session.encode(request))
            with trio.fail_after(30):
                while len(replies) < 2:
                    replies += reader.feed(await stream.receive_some())
            await stream.aclose()
            return decode(replies[1]).quote

        far, near = (trio.run(answer, port) for port in ports)
        # each venue's index in the scenario and its drawn latency: its own draws, not timing
        assert (far.venue, far.latency_s, near.venue, near.latency_s) == (1, 8e-3, 0, 1e-3)
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_venue_killed_mid_run_fails_and_the_race_goes_on(scenario_file: Path) -> None:
    """Two venues already running (--venue); one is killed a third of the way through: its
    connection is a failed venue with the reason, the other keeps deciding, and no request is
    lost. Killed when the 31st request starts, not after a time: on a loaded machine the
    requests can start late, several at once."""
    scenario_file.write_text(FAR_OFF, encoding="utf-8")
    near, near_port = serve(scenario_file, "near")
    far, far_port = serve(scenario_file, "far")
    started = itertools.count(1)

    def progress(label: str, n: int) -> None:
        if next(started) == 31:
            near.kill()

    try:
        network = Network({"near": ("127.0.0.1", near_port), "far": ("127.0.0.1", far_port)})
        result = sim.run(scenario_file, ["first_wins"], network=network, progress=progress)
    finally:
        for process in (near, far):
            process.kill()
            process.wait()
            process.stdout.close()
    summary = result.summary["strategies"]["first_wins"]
    assert summary["venue_failures"]["far"] is None
    near = summary["venue_failures"]["near"]
    assert near == "the venue closed the connection" or near.startswith("connection lost")
    venue = result.records("first_wins")["venue"]
    assert (venue[:10] == 0).all() and (venue[-10:] == 1).all()  # near, then far alone
    every_request_ended(result, 60)
    assert summary["fill_rate"] >= 0.9  # at most the few orders out when it died


def test_a_venue_that_refuses_is_failed_and_best_price_waits_out_its_timeout(
    scenario_file: Path,
) -> None:
    # a second for a race: near's 1 ms quote, late by a loaded machine's stall, still in it
    scenario_file.write_text(SCENARIO.replace("= 200.0", "= 1000.0"), encoding="utf-8")
    port = free_port()
    network = Network({"far": ("127.0.0.1", port)})  # near is started here
    result = sim.run(scenario_file, ["best_price"], network=network, requests=20)
    why = explained(result, "best_price")
    summary = result.summary["strategies"]["best_price"]
    assert summary["venue_failures"]["far"].startswith(f"cannot connect to 127.0.0.1:{port}"), why
    assert summary["venue_failures"]["near"] is None, why
    assert summary["venue_wins"] == {"near": 20, "far": 0}, why
    # far never answers: every decision waits for the timeout
    assert (result.records("best_price")["decision_s"] >= 1.0).all(), why


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
    if not reply:  # the silent venue fails then; long enough for near to log on, loaded
        monkeypatch.setattr(connection, "CONNECT_TIMEOUT_S", 4.0)
    # 5 s for a race: first_wins decides on near's quote, however late a stall makes it
    scenario_file.write_text(SCENARIO.replace("= 200.0", "= 5000.0"), encoding="utf-8")
    fake = FakeVenue(reply)
    try:
        network = Network({"far": ("127.0.0.1", fake.port)})
        result = sim.run(scenario_file, ["first_wins"], network=network, requests=20)
    finally:
        fake.close()
    why = explained(result, "first_wins")
    summary = result.summary["strategies"]["first_wins"]
    far_failure = summary["venue_failures"]["far"]
    assert far_failure is None if failure is None else far_failure.startswith(failure), why
    assert summary["venue_wins"] == {"near": 20, "far": 0}, why
    outcome = result.records("first_wins")["outcome"]
    assert (outcome == FILLED).all() and NO_QUOTE not in outcome, why


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
    every_request_ended(result, 300)


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
        (["--timers", "epoll"], "--timers: applies to network mode"),
        (["--epoch", "1"], "--epoch: applies to network mode"),
        (["--network", "--epoch", "1"], "--epoch: the market epoch"),
    ],
)
def test_network_options_that_cannot_work_are_one_line(
    scenario_file: Path, capsys, argv: list[str], error: str
) -> None:
    named = [] if "--all" in argv else [str(scenario_file)]  # --all takes no scenario
    assert main(["run", *named, *argv, "--requests", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and error in err


def test_a_venue_address_without_a_port_is_refused_by_the_parser(capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["run", "--venue", "near=127.0.0.1:99999"])
    assert exit.value.code == 2
    assert "is not NAME=HOST:PORT" in capsys.readouterr().err


def test_a_venue_rejects_over_tcp_as_in_process(scenario_file: Path) -> None:
    """Quotes that live 0.1 ms: every order reaches near after its quote expired, in process
    and over TCP alike. far answers in 150 ms (the timeout is 200 ms): a loaded machine's
    stall of near's quote must not let far's, which never expires, win first."""
    text = scenario_file.read_text().replace(
        "spread_bps = 3.0", "spread_bps = 3.0\nquote_ttl_ms = 0.1"
    )
    text = text.replace("ms = 8.0", "ms = 150.0")
    scenario_file.write_text(text)
    for result in (
        sim.run(scenario_file, ["first_wins"], requests=20),
        sim.run(scenario_file, ["first_wins"], requests=20, network=Network()),
    ):
        outcome = result.records("first_wins")["outcome"]
        assert (outcome == OUTCOMES.index("expired")).all()
        assert result.summary["strategies"]["first_wins"]["reject_rate"]["expired"] == 1.0


def test_no_venue_server_outlives_a_client_killed_by_sigterm(scenario_file: Path) -> None:
    client = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim",
            "run",
            str(scenario_file),
            "--network",
            "--requests",
            "3000",
            "--quiet",
            "--json",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not servers_of(scenario_file) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(servers_of(scenario_file)) == 1  # one process serves both venues
    time.sleep(2.5)  # listening, and the run under way (a server not yet listening would die
    # anyway, writing its port to a closed pipe)
    client.terminate()
    client.wait(10)
    deadline = time.monotonic() + 10
    while servers_of(scenario_file) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert servers_of(scenario_file) == []


def servers_of(path: Path) -> list[int]:
    """Process ids of venue servers serving the scenario file `path`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"venue" in cmdline and str(path).encode() in cmdline:
            found.append(int(proc.name))
    return found


class FakeFixVenue:
    """A FIX venue "far" on 127.0.0.1 that logs on and heartbeats, but quotes without a price
    ("unpriced"), never reports its orders ("unreported"), or never finishes its Logon
    ("trickling"); served by trio in a thread of its own."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.port = 0
        self.errors: list[str] = []  # what went wrong on its side: for a failure's message
        ready = threading.Event()
        self._stop = None

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                self._stop = trio.lowlevel.current_trio_token()
                listeners = await nursery.start(
                    functools.partial(trio.serve_tcp, self._handle, 0, host="127.0.0.1")
                )
                self.port = listeners[0].socket.getsockname()[1]
                ready.set()
                await self._stopped.wait()
                nursery.cancel_scope.cancel()

        def thread() -> None:
            try:
                trio.run(main)
            except BaseException as e:  # said by the test's assertions, not lost in a thread
                self.errors.append(f"the fake venue's loop ended: {e!r}")
                ready.set()

        self._stopped = trio.Event()
        self._thread = threading.Thread(target=thread, daemon=True)
        self._thread.start()
        # generous: a loaded machine may take seconds to start a thread's loop; port 0 would
        # fail the venue at connect, for a reason that has nothing to do with the test
        assert ready.wait(30) and self.port, f"the fake venue did not listen: {self.errors}"

    async def _handle(self, stream: trio.SocketStream) -> None:
        # The client hanging up may reach a send of the heartbeat task first: its reset then
        # comes out of the nursery in an ExceptionGroup (seen beside two busy loops: the
        # client closed after its Logout's linger with a Heartbeat unread, so a reset).
        try:
            await self._converse(stream)  # until the client hangs up
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except* Exception as group:  # a bad message: this connection ends, not the whole venue
            self.errors.extend(f"{self.mode}: {e!r}" for e in group.exceptions)

    async def _converse(self, stream: trio.SocketStream) -> None:
        session, reader = Session("far"), FixReader()
        if self.mode == "trickling":
            await stream.send_all(b"8=FIX.4.4\x019=4000\x0135=A")
            for _ in range(600):  # 30 s: the client gives up first, whatever its stalls
                await trio.sleep(0.05)
                await stream.send_all(b"x")
            return
        sending = trio.Lock()
        async with trio.open_nursery() as nursery:

            async def send(message) -> None:
                async with sending:  # beat() sends too: one at a time, numbered in order
                    await stream.send_all(session.encode(encode(message)))

            async def beat() -> None:
                while True:
                    await trio.sleep(0.2)
                    await send(Heartbeat())

            while data := await stream.receive_some(4096):
                for fix in reader.feed(data):
                    session.check(fix)
                    message = decode(fix)
                    if isinstance(message, Logon):
                        await send(Logon(1))
                        nursery.start_soon(beat)
                    elif isinstance(message, QuoteRequest):
                        price = None if self.mode == "unpriced" else 100.0 - message.side
                        quote = Quote(message.index, 1, 0.001, price, 10.0)
                        await send(QuoteReply(message.attempt, message.side, quote))
            nursery.cancel_scope.cancel()

    def close(self) -> None:
        if self._thread.is_alive():
            self._stop.run_sync_soon(self._stopped.set)
        self._thread.join(30)


@pytest.mark.parametrize(
    ("mode", "failure"),
    [
        ("unpriced", None),  # a quote no order can take is the venue passing: not a failure
        ("unreported", "no report for an order in 2 s"),
        ("trickling", "no Logon reply in 4 s"),
    ],
)
def test_a_venue_that_misbehaves_within_fix_is_failed_not_waited_for(
    scenario_file: Path, monkeypatch, mode: str, failure: str | None
) -> None:
    """An order never reported, a Logon never finished: the venue fails with the reason, the
    run ends, and every request is accounted for. A quote the client cannot act on (no price)
    is a pass: no quote from that venue for that race, the venue not failed."""
    # Each bound is shortened only for the mode whose far venue it fails, and stays far beyond
    # what a loaded machine's stalls (seconds, with busy loops beside the tests) make of near,
    # which works: its order reports (2 s where shortened: only far's orders are owed then),
    # its Logon (4 s where shortened; the trickling venue trickles for 30), its 1 ms quote (5 s
    # for a race: first_wins decides on near's quote, so waits no longer than that; best_price,
    # for "unreported", waits out far's timeout once far failed: a second).
    if mode == "unreported":
        monkeypatch.setattr(connection, "ORDER_TIMEOUT_S", 2.0)
    if mode == "trickling":
        monkeypatch.setattr(connection, "CONNECT_TIMEOUT_S", 4.0)
    timeout = "= 1000.0" if mode == "unreported" else "= 5000.0"
    scenario_file.write_text(SCENARIO.replace("= 200.0", timeout), encoding="utf-8")
    fake = FakeFixVenue(mode)
    try:
        network = Network({"far": ("127.0.0.1", fake.port)})
        strategy = "best_price" if mode == "unreported" else "first_wins"  # far's price wins
        result = sim.run(scenario_file, [strategy], network=network, requests=20)
    finally:
        fake.close()
    why = explained(result, strategy, fake)
    summary = result.summary["strategies"][strategy]
    far_failure = summary["venue_failures"]["far"]
    assert far_failure is None if failure is None else far_failure.startswith(failure), why
    assert summary["venue_failures"]["near"] is None, why
    every_request_ended(result, 20)
    outcome = result.records(strategy)["outcome"]
    if mode == "unreported":  # the orders out when far failed; near's afterwards
        assert (outcome[:1] == OUTCOMES.index("venue_failed")).all(), why
        assert summary["reject_rate"]["venue_failed"] > 0, why
    else:
        assert (outcome == FILLED).all(), why
    assert fake.errors == [], why


async def test_a_request_given_up_on_is_cancelled_at_the_venue(nursery) -> None:
    """One server, 200 ms a request, cancel propagation: a request the client gives up on
    after 20 ms is dropped at the venue, so the next one is served at once (0.2 s), not after
    it (0.38 s)."""
    scenario = parse(
        {
            "venues": [
                {
                    "name": "queue",
                    "latency": {"dist": "constant", "ms": 1.0},
                    "service": {"dist": "constant", "ms": 200.0},
                    "capacity": 1,
                    "cancel_propagation": True,
                }
            ],
            "strategies": [{"kind": "first_wins"}],
        },
        default_name="queue",
    ).with_overrides(requests=2)
    port = await nursery.start(venue_server(scenario, "queue").serve)
    async with connected([Address("queue", "127.0.0.1", port)]) as (venue,):
        with trio.move_on_after(0.02):
            await venue.quote(QuoteRequest(0, trio.current_time()))
        quote = await venue.quote(QuoteRequest(1, trio.current_time()))
    assert 0.2 < quote.latency_s < 0.3


async def test_a_race_over_connections_cancels_the_requests_it_leaves(nursery) -> None:
    """first_wins over a connection to a 1 ms venue and one to a queue (200 ms of service,
    cancel propagation): the near quote wins, and the request left at the queue is cancelled
    there when the race ends (the connection hands quotes to the race itself, with no task to
    cancel), so the queue's server is freed long before its 200 ms."""
    scenario = parse(
        {
            "venues": [
                {"name": "near", "latency": {"dist": "constant", "ms": 1.0}},
                {
                    "name": "queue",
                    "latency": {"dist": "constant", "ms": 1.0},
                    "service": {"dist": "constant", "ms": 200.0},
                    "capacity": 1,
                    "cancel_propagation": True,
                },
            ],
            "strategies": [{"kind": "first_wins"}],
        },
        default_name="two",
    ).with_overrides(requests=1)
    servers = [venue_server(scenario, name) for name in ("near", "queue")]
    ports = [await nursery.start(server.serve) for server in servers]
    addresses = [Address(n, "127.0.0.1", p) for n, p in zip(("near", "queue"), ports, strict=True)]
    async with connected(addresses) as venues:
        quote = await FirstWins(timeout_ms=5000.0).decide(
            QuoteRequest(0, trio.current_time()), venues
        )
        queue = servers[1].venue.servers
        for _ in range(500):  # until the queue has no request in service: at most 5 s
            if queue.started and queue._busy == 0:
                break
            await trio.sleep(0.01)
    assert quote.venue == 0
    assert venues[1]._quotes == {}
    assert queue.started == 1 and queue._busy == 0
    assert queue.busy_s < 0.2  # dropped before its service was done


async def test_a_peer_that_never_finishes_its_logon_is_dropped(nursery) -> None:
    """A byte every 50 ms keeps it from being idle, but the Logon has a deadline of its own."""
    scenario = load("default").with_overrides(requests=1)
    server = venue_server(scenario, "fast", limits=Limits(logon_timeout_s=0.3))
    port = await nursery.start(server.serve)
    start = trio.current_time()  # before connecting: the server's deadline starts at accept
    stream = await trio.open_tcp_stream("127.0.0.1", port)

    async def trickle() -> None:
        with contextlib.suppress(trio.BrokenResourceError):
            for byte in b"8=FIX.4.4\x019=4000\x0135=A\x01" * 4:
                await stream.send_all(bytes([byte]))
                await trio.sleep(0.05)

    async with trio.open_nursery() as talking:
        talking.start_soon(trickle)
        with trio.fail_after(5):
            try:
                said = await stream.receive_some()
            except trio.BrokenResourceError:  # closed with a trickled byte unread: a reset
                said = b""
            assert said == b""  # closed, without a word
        talking.cancel_scope.cancel()
    assert 0.3 <= trio.current_time() - start < 1.5


async def test_a_venue_that_stops_reading_fails_within_the_send_timeout(monkeypatch) -> None:
    """A venue that logs on, then reads nothing more: the client's request cannot be sent
    (lockstep streams have no buffers), and the venue fails once the send stalled
    SEND_TIMEOUT_S, instead of the client waiting on it forever."""
    monkeypatch.setattr(connection, "SEND_TIMEOUT_S", 0.3)
    ours, theirs = trio.testing.lockstep_stream_pair()
    venue = VenueConnection(0, Address("deaf", "127.0.0.1", 0))

    async def deaf() -> None:
        session, reader, logon = Session("deaf"), FixReader(), []
        while not logon:
            logon = reader.feed(await theirs.receive_some())
        session.check(logon[0])
        await theirs.send_all(session.encode(encode(Logon(1))))
        await trio.sleep_forever()

    with trio.fail_after(3):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(deaf)
            await nursery.start(venue.serve, ours)
            assert venue.failure is None  # logged on
            start = trio.current_time()
            nursery.start_soon(venue.quote, QuoteRequest(0, start))
            while venue.failure is None:
                await trio.sleep(0.01)
            failed_after = trio.current_time() - start
            nursery.cancel_scope.cancel()
    assert venue.failure == "the venue is not reading: a send stalled 0.3 s"
    assert 0.3 <= failed_after < 2.0


@pytest.mark.parametrize("command", ["run", "venue"])
def test_timerfd_timers_where_there_are_none_are_one_line(
    scenario_file: Path, capsys, monkeypatch, command: str
) -> None:
    """Where there are no timerfds (not Linux), `--timers timerfd` is refused in a line, as
    any other setting that cannot work, not with a traceback."""
    monkeypatch.setattr(timerfd, "available", lambda: False)
    options = ["--network"] if command == "run" else ["--venue", "near"]
    assert main([command, str(scenario_file), *options, "--timers", "timerfd"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--timers: this system has no timerfd" in err


def test_timers_reach_the_servers_and_the_client_reports_those_it_used(
    scenario_file: Path, monkeypatch
) -> None:
    """`timers` is passed on to the venue server's command line; `client_timers` says what the
    client's clock used: epoll when it could get no timerfd (too many open files, say)."""
    commands: list[list[str]] = []
    popen = subprocess.Popen

    def recorded(command, *args, **kwargs):
        commands.append(command)
        return popen(command, *args, **kwargs)

    monkeypatch.setattr("sim.network.launch.subprocess.Popen", recorded)
    monkeypatch.setattr(timerfd, "create", lambda: None)
    network = Network(timers="timerfd" if timerfd.available() else "spin")
    scenario_file.write_text(SCENARIO.replace("requests = 60", "requests = 5"), encoding="utf-8")
    result = sim.run(scenario_file, network=network)
    [command] = commands
    at = command.index("--timers")
    assert command[at + 1] == network.timers == result.summary["network"]["timers"]
    expected = "epoll" if network.timers == "timerfd" else "spin"
    assert result.summary["network"]["client_timers"] == expected


def test_a_closed_loop_runs_over_the_network(scenario_file: Path) -> None:
    """Clients that send when their last request ends race venues over TCP as in process:
    every request accounted for, by the same number of clients."""
    closed = SCENARIO.replace(
        'process = "uniform"\nrate_per_s = 100', 'process = "closed"\nclients = 2'
    )
    scenario_file.write_text(closed.replace("requests = 60", "requests = 20"), encoding="utf-8")
    result = sim.run(scenario_file, network=Network())
    every_request_ended(result, 20)
