"""Where commands write, and the one-line error when they cannot."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sim.model.errors import ScenarioError

RESULTS = Path("results")  # the default home of results folders, sweeps and bench.json


@contextmanager
def writing(out: Path) -> Iterator[None]:
    """Turn an OSError while writing results into the one-line error for `--out`."""
    try:
        yield
    except OSError as e:
        reason = f"cannot write {e.filename or out}: {e.strerror}"
        raise ScenarioError("--out", reason) from None
