"""Events a learning strategy records, handed back only once they are strictly in the past.

Races run concurrently and trio orders the events of one instant arbitrarily. A strategy that
learns within a run (hedged, adaptive) reads what it has seen as of strictly earlier times, in
a fixed order (by the event tuple: time first): what happens at the very instant of a read is
not yet known to anyone, whichever race trio runs first. That keeps runs deterministic.
"""

from __future__ import annotations

from typing import Any


class PastEvents:
    """Event tuples `(time, ...)` recorded as they happen, released in order once past."""

    def __init__(self) -> None:
        self._pending: list[tuple[Any, ...]] = []

    def record(self, t: float, *event: Any) -> None:
        """Something happened at time `t`."""
        self._pending.append((t, *event))

    def before(self, t: float) -> list[tuple[Any, ...]]:
        """Every event not yet released that happened before `t`, sorted; released now."""
        ready = sorted(e for e in self._pending if e[0] < t)
        if ready:
            self._pending = [e for e in self._pending if e[0] >= t]
        return ready
