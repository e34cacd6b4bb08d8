"""Venue servers started here, for `quoterace run --network`: one local process serving every
venue of a scenario, a port each.

It is `quoterace venue FILE --venue A --venue B ... --port 0` on 127.0.0.1: the operating
system picks free ports, and the server prints one line per venue, in order, once it listens.
One process rather than one per venue: on a small machine, six processes (the client and five
servers) queue for cores, and each request to each venue waited to be scheduled; one server
process is woken once per race. It shares the run's requests, seed, attempts and market epoch,
so each venue answers exactly as the simulated one would. It is stopped (SIGTERM, then SIGKILL
after STOP_TIMEOUT_S) when the run ends; on Linux it also gets SIGTERM if this process dies
first, however it dies (PR_SET_PDEATHSIG), so that no server outlives the run.
"""

from __future__ import annotations

import ctypes
import selectors
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sim.network.connection import Address

READY_TIMEOUT_S = 60.0  # for the server to draw its venues' values and listen
STOP_TIMEOUT_S = 5.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
READY = "listening on "  # a server's line per venue: "listening on HOST:PORT[ for NAME]"


class ServerStartError(RuntimeError):
    """A venue server that did not start: the reason is its last line of error output."""


@contextmanager
def local_venues(
    source: Path,
    names: list[str],
    *,
    requests: int,
    seed: int,
    attempts: int,
    epoch_unix: float,
    latency: str,
    timers: str | None,
) -> Iterator[list[Address]]:
    """Serve the venues `names` of the scenario file `source` from one process on 127.0.0.1;
    their addresses, in that order. A server that fails to start is a ServerStartError."""
    command = [
        *(sys.executable, "-m", "sim", "venue", str(source)),
        *(arg for name in names for arg in ("--venue", name)),
        *("--port", "0", "--requests", str(requests), "--seed", str(seed)),
        *("--attempts", str(attempts), "--epoch", repr(epoch_unix)),
        *("--latency", latency, *(["--timers", timers] if timers else [])),
    ]
    # errors to a file: a pipe nobody reads could fill up and stall the server
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, preexec_fn=_with_parent
        )
        try:
            ports = _ports(names, process, errors)
            yield [Address(n, "127.0.0.1", p) for n, p in zip(names, ports, strict=True)]
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()


def _ports(names: list[str], process: subprocess.Popen, errors: IO[bytes]) -> list[int]:
    """The port of each venue of `names`, as `process` says once it listens; else a
    ServerStartError with the last line of its `errors`."""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(READY_TIMEOUT_S)
    ports: list[int] = []
    # the lines come together, in one write, once every venue listens: no more waiting
    while ready and len(ports) < len(names):
        line = process.stdout.readline()
        if not line.startswith(READY):
            break
        ports.append(int(line[len(READY) :].split()[0].rsplit(":", 1)[1]))
    if len(ports) == len(names):
        return ports
    process.kill()
    process.wait()
    errors.seek(0)
    err = errors.read().decode(errors="replace").strip()
    why = err.splitlines()[-1] if err else f"nothing in {READY_TIMEOUT_S:g} s"
    raise ServerStartError(f"the venue server ({', '.join(names)}) did not start: {why}")


def _with_parent() -> None:
    """In the child, before it runs the server: SIGTERM when the parent dies (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
