"""A venue: its description in a scenario, and its behaviour in a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import trio

from venues.latency import Latency
from venues.messages import Quote, QuoteRequest


@dataclass(frozen=True)
class VenueSpec:
    """A venue as a scenario describes it.

    `latency` is the time from sending a quote request to receiving the quote, drawn
    independently for every request; with probability `fail_prob` the venue never answers.
    """

    name: str
    latency: Latency
    fail_prob: float = field(default=0.0, metadata={"ge": 0.0, "le": 1.0})


class Venue:
    """A venue in a run, answering from pre-drawn per-request values.

    `latency_s[i]` and `answers[i]` are request i's draws, made before the run from streams keyed
    by venue and request, so that every strategy meets the same venue (common random numbers) and
    no draw depends on trio's scheduling order. `requests` counts the quote requests received.
    """

    __slots__ = ("_answers", "_latency_s", "index", "requests")

    def __init__(self, index: int, latency_s: Sequence[float], answers: Sequence[bool]) -> None:
        self.index = index
        self._latency_s = latency_s
        self._answers = answers
        self.requests = 0

    async def quote(self, request: QuoteRequest) -> Quote:
        """Answer `request` after its drawn latency, or never if this venue fails it."""
        self.requests += 1
        i = request.index
        if not self._answers[i]:
            await trio.sleep_forever()
        latency = self._latency_s[i]
        await trio.sleep_until(request.t0 + latency)
        return Quote(i, self.index, latency)
