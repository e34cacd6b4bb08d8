"""The draws of a scenario: arrivals and every venue's latencies and failures, made up front.

Drawing before the run, from streams keyed by purpose and venue (sim.streams), is what makes a
run deterministic under trio's randomized scheduler and gives every strategy the same draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.arrivals import arrival_times
from sim.errors import ScenarioError
from sim.streams import Purpose, blocked
from venues.latency import Latency, sample_s

if TYPE_CHECKING:
    from sim.scenario import Scenario


def quote_latency_s(seed: int, venue: int, latency: Latency, n: int) -> np.ndarray:
    """Venue `venue`'s quote latency in seconds for requests 0..n-1."""
    return blocked(
        seed, Purpose.QUOTE_LATENCY, (venue,), n, lambda rng, k: sample_s(latency, rng, k)
    )


def answers(seed: int, venue: int, fail_prob: float, n: int) -> np.ndarray:
    """Whether venue `venue` answers each of requests 0..n-1 (False with `fail_prob`)."""
    return blocked(seed, Purpose.FAILURE, (venue,), n, lambda rng, k: rng.random(k) >= fail_prob)


@dataclass(frozen=True)
class Draws:
    """Everything random in a run, drawn before it starts.

    `arrival_s[i]` is request i's start time; `latency_s[v][i]` and `answers[v][i]` are venue v's
    quote latency (seconds) and whether it answers request i at all.
    """

    arrival_s: np.ndarray
    latency_s: tuple[np.ndarray, ...]
    answers: tuple[np.ndarray, ...]

    @property
    def requests(self) -> int:
        """How many requests were drawn for."""
        return self.arrival_s.size


def draw(scenario: Scenario) -> Draws:
    """All draws of `scenario` under its seed."""
    seed, n = scenario.seed, scenario.requests
    return Draws(
        arrival_s=arrival_times(scenario.arrivals.process, scenario.arrivals.rate_per_s, seed, n),
        latency_s=tuple(
            _finite(quote_latency_s(seed, v, spec.latency, n), f"venues[{v}].latency", scenario)
            for v, spec in enumerate(scenario.venues)
        ),
        answers=tuple(
            answers(seed, v, spec.fail_prob, n) for v, spec in enumerate(scenario.venues)
        ),
    )


def _finite(latency_s: np.ndarray, key: str, scenario: Scenario) -> np.ndarray:
    """`latency_s`, unless parameters so extreme that draws overflow made some non-finite."""
    if not np.isfinite(latency_s).all():
        bad = latency_s[~np.isfinite(latency_s)][0]
        message = f"parameters too extreme: a draw came out {bad} (not a finite latency)"
        raise ScenarioError(key, message, scenario.file)
    return latency_s
