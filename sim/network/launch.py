"""Venue servers as local processes, one per venue of a scenario, for `quoterace run --network`.

Each is `quoterace venue FILE --venue NAME --port 0 ...` on 127.0.0.1: the operating system
picks a free port, and the server prints it on its first line once it listens. They share the
run's requests, seed, attempts and market epoch, so each answers exactly as the simulated venue
would. They are stopped (SIGTERM, then SIGKILL after STOP_TIMEOUT_S) when the run ends; on
Linux each also gets SIGTERM if this process dies first, however it dies (PR_SET_PDEATHSIG),
so that no server outlives the run.
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

READY_TIMEOUT_S = 60.0  # for a server to draw its venue's values and listen
STOP_TIMEOUT_S = 5.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
READY = "listening on "  # the first line a server prints: "listening on HOST:PORT"


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
    precise: bool,
) -> Iterator[list[Address]]:
    """Serve each venue in `names` of the scenario file `source` from its own process on
    127.0.0.1; their addresses, in that order. A server that fails to start is a
    ServerStartError."""
    processes: list[tuple[subprocess.Popen, IO[bytes]]] = []
    try:
        for name in names:
            command = [
                *(sys.executable, "-m", "sim", "venue", str(source), "--venue", name),
                *("--port", "0", "--requests", str(requests), "--seed", str(seed)),
                *("--attempts", str(attempts), "--epoch", repr(epoch_unix)),
                *("--latency", latency, *(["--precise"] if precise else [])),
            ]
            # errors to a file: a pipe nobody reads could fill up and stall the server
            errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=errors, text=True, preexec_fn=_with_parent
            )
            processes.append((process, errors))
        yield [
            Address(name, "127.0.0.1", _port(name, *started))
            for name, started in zip(names, processes, strict=True)
        ]
    finally:
        for process, _ in processes:
            process.terminate()
        for process, errors in processes:
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()
            errors.close()


def _port(name: str, process: subprocess.Popen, errors: IO[bytes]) -> int:
    """The port `process` says it listens on, once it does; else a ServerStartError with the
    last line of its `errors`."""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(READY_TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    if not line.startswith(READY):
        process.kill()
        process.wait()
        errors.seek(0)
        err = errors.read().decode(errors="replace").strip()
        why = err.splitlines()[-1] if err else f"nothing in {READY_TIMEOUT_S:g} s"
        raise ServerStartError(f"venue {name}'s server did not start: {why}")
    return int(line[len(READY) :].rsplit(":", 1)[1])


def _with_parent() -> None:
    """In the child, before it runs the server: SIGTERM when the parent dies (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
