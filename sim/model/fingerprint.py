"""A scenario's draws, named by a digest: equal digests mean request i saw the same draws.

Every draw (sim.model.draws) and the market's mid path come from the seed, the request count
and the scenario's world: arrivals, order, venues, market (a recording by its rows' times and
prices), shared latency, regime, the files' start, a replayed trace by its content's
digest. The digest covers all of these and nothing else: not the strategies (every strategy of
a run shares the draws, and a retry's draws are its own streams), nor names, the description,
the file or the clock (venues' streams are keyed by their order, not their names). So two
results folders with the same digest can be compared request by request (sim.measure.compare).

It errs towards "different": any change to the world, even one no draw reads (a spread),
changes it. DRAWS_VERSION goes into it, to be raised when the drawing code changes what a
scenario draws.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.model.trace import Trace

if TYPE_CHECKING:
    from sim.model.scenario import Scenario

DRAWS_VERSION = 1
# Fields that name or place things rather than decide a draw (a recording's path differs
# between machines; its scan and the digest of its rows, which stay in, say what it holds).
_LEFT_OUT = frozenset(
    {"name", "description", "file", "clock", "strategies", "path", "shown", "key"}
)


def draws_fingerprint(scenario: Scenario) -> str:
    """The digest of what `scenario`'s draws depend on: 16 hex digits (64 bits of SHA-256)."""
    text = json.dumps([DRAWS_VERSION, _canonical(scenario)], sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical(value: Any) -> Any:
    """`value` as plain JSON data: a dataclass as its type and fields; anything this does not
    know is a TypeError rather than left out, so nothing is silently skipped."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: _canonical(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.compare and f.name not in _LEFT_OUT
        }
        if isinstance(value, Trace):  # its rows, by the digest of the file they came from
            fields["digest"] = value.digest
        return {"type": type(value).__name__, **fields}
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return [str(value.dtype), value.shape, hashlib.sha256(value.tobytes()).hexdigest()]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"no canonical form for {type(value).__name__}")
