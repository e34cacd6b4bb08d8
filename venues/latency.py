"""Latency distributions: how long a venue takes to answer, in milliseconds.

Each distribution is a frozen dataclass named by its `kind` (the `dist` key of a scenario file).
`sample_s(dist, rng, n)` draws `n` latencies in seconds. Every distribution takes `shift_ms`, a
constant added to each draw (a wire or processing floor).

Field metadata states the bounds of each parameter (`gt`, `ge`, `le`); whoever builds a
distribution from user input checks them. Conditions between fields are checked in
`__post_init__`, which raises ValueError("<key>: <what is wrong>").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

POSITIVE = {"gt": 0.0}
NON_NEGATIVE = {"ge": 0.0}


def _shift() -> Any:
    """The `shift_ms` field every distribution has."""
    return field(default=0.0, metadata=NON_NEGATIVE)


@dataclass(frozen=True)
class Constant:
    """Always `ms`: the simplest venue, and the one whose races are easiest to reason about."""

    kind: ClassVar[str] = "constant"
    ms: float = field(metadata=NON_NEGATIVE)
    shift_ms: float = _shift()

    def draw_ms(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.ms)


@dataclass(frozen=True)
class Uniform:
    """Uniform between `low_ms` and `high_ms`."""

    kind: ClassVar[str] = "uniform"
    low_ms: float = field(metadata=NON_NEGATIVE)
    high_ms: float = field(metadata=NON_NEGATIVE)
    shift_ms: float = _shift()

    def __post_init__(self) -> None:
        if self.high_ms < self.low_ms:
            raise ValueError(f"high_ms: must be >= low_ms ({self.low_ms})")

    def draw_ms(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low_ms, self.high_ms, n)


@dataclass(frozen=True)
class Exponential:
    """Exponential with mean `mean_ms`: memoryless, the queueing-theory default."""

    kind: ClassVar[str] = "exponential"
    mean_ms: float = field(metadata=POSITIVE)
    shift_ms: float = _shift()

    def draw_ms(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean_ms, n)


@dataclass(frozen=True)
class Normal:
    """Normal(`mean_ms`, `std_ms`) truncated at 0: negative draws are drawn again.

    Truncation (not clipping) keeps the density smooth at 0; with `mean_ms` > 0 at most half of
    the draws are redrawn, so the redraw loop ends quickly. Each round redraws from a child
    stream, in index order, so draw i depends only on draws 0..i (prefix-stable).
    """

    kind: ClassVar[str] = "normal"
    mean_ms: float = field(metadata=POSITIVE)
    std_ms: float = field(metadata=POSITIVE)
    shift_ms: float = _shift()

    def draw_ms(self, rng: np.random.Generator, n: int) -> np.ndarray:
        x = rng.normal(self.mean_ms, self.std_ms, n)
        for _ in range(200):  # each round keeps >= half of the rest: 2**-200 never happens
            negative = np.flatnonzero(x < 0)
            if negative.size == 0:
                return x
            (redraw,) = rng.spawn(1)
            x[negative] = redraw.normal(self.mean_ms, self.std_ms, negative.size)
        raise RuntimeError("truncated normal: redraw did not converge")


@dataclass(frozen=True)
class Lognormal:
    """Lognormal with median `median_ms` and log-scale `sigma`: a long right tail."""

    kind: ClassVar[str] = "lognormal"
    median_ms: float = field(metadata=POSITIVE)
    sigma: float = field(metadata=POSITIVE)
    shift_ms: float = _shift()

    def draw_ms(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.lognormal(math.log(self.median_ms), self.sigma, n)


@dataclass(frozen=True)
class Gamma:
    """Gamma with `shape` and mean `mean_ms` (scale = mean / shape)."""

    kind: ClassVar[str] = "gamma"
    shape: float = field(metadata=POSITIVE)
    mean_ms: float = field(metadata=POSITIVE)
    shift_ms: float = _shift()

    def draw_ms(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.gamma(self.shape, self.mean_ms / self.shape, n)


@dataclass(frozen=True)
class Weibull:
    """Weibull with `shape` and `scale_ms`: shape < 1 gives a heavy tail, > 1 a light one."""

    kind: ClassVar[str] = "weibull"
    shape: float = field(metadata=POSITIVE)
    scale_ms: float = field(metadata=POSITIVE)
    shift_ms: float = _shift()

    def draw_ms(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.scale_ms * rng.weibull(self.shape, n)


@dataclass(frozen=True)
class Pareto:
    """Pareto (type I) with tail index `alpha` and minimum `scale_ms`: P(X > x) = (scale/x)^alpha.

    With alpha <= 2 the variance is infinite and with alpha <= 1 so is the mean: the tail that
    makes waiting for the slowest venue hopeless.
    """

    kind: ClassVar[str] = "pareto"
    alpha: float = field(metadata=POSITIVE)
    scale_ms: float = field(metadata=POSITIVE)
    shift_ms: float = _shift()

    def draw_ms(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.scale_ms * (1.0 + rng.pareto(self.alpha, n))


@dataclass(frozen=True)
class Empirical:
    """Resamples measured latencies `samples_ms` uniformly (a bootstrap of real data)."""

    kind: ClassVar[str] = "empirical"
    samples_ms: tuple[float, ...] = field(metadata=NON_NEGATIVE)
    shift_ms: float = _shift()

    def __post_init__(self) -> None:
        if not self.samples_ms:
            raise ValueError("samples_ms: must not be empty")

    def draw_ms(self, rng: np.random.Generator, n: int) -> np.ndarray:
        samples = np.asarray(self.samples_ms, dtype=float)
        return samples[rng.integers(0, samples.size, n)]


@dataclass(frozen=True)
class Histogram:
    """A recorded distribution (an HdrHistogram's buckets): bucket i holds `counts[i]` values
    between `low_ms[i]` and `high_ms[i]`, and draws reproduce it bucket for bucket.

    One uniform draw u per value is the inverse of the piecewise-uniform CDF: u * total falls
    among the cumulative counts in bucket i, and how far into the bucket's count it falls is
    how far into its range the value lies (uniform within the bucket, given the bucket). One
    draw per value keeps the draws prefix-stable.
    """

    kind: ClassVar[str] = "hdrhistogram"
    low_ms: tuple[float, ...] = field(metadata=NON_NEGATIVE)
    high_ms: tuple[float, ...] = field(metadata=NON_NEGATIVE)
    counts: tuple[int, ...] = field(metadata=POSITIVE)
    shift_ms: float = _shift()

    def __post_init__(self) -> None:
        if not self.counts:
            raise ValueError("counts: must not be empty")
        if not len(self.low_ms) == len(self.high_ms) == len(self.counts):
            raise ValueError("counts: low_ms, high_ms and counts must have the same length")
        if any(h < lo for lo, h in zip(self.low_ms, self.high_ms, strict=True)):
            raise ValueError("high_ms: each must be >= its low_ms")

    def draw_ms(self, rng: np.random.Generator, n: int) -> np.ndarray:
        counts = np.asarray(self.counts, dtype=np.float64)
        above = np.cumsum(counts)  # the running count at each bucket's top
        x = rng.random(n) * above[-1]
        i = np.minimum(np.searchsorted(above, x, side="right"), counts.size - 1)
        fraction = (x - (above[i] - counts[i])) / counts[i]
        low = np.asarray(self.low_ms)[i]
        return low + fraction * (np.asarray(self.high_ms)[i] - low)


@dataclass(frozen=True)
class Component:
    """One part of a mixture: drawn from `dist` with probability `weight`."""

    weight: float = field(metadata={"gt": 0.0, "le": 1.0})
    dist: Latency


@dataclass(frozen=True)
class Mixture:
    """Draws from component i with probability weight_i: e.g. a fast path and a rare slow path.

    A uniform draw chooses the component; each component draws for every request from its own
    child stream, so draw i depends neither on which components were chosen nor on how many
    draws are made (prefix-stable).
    """

    kind: ClassVar[str] = "mixture"
    components: tuple[Component, ...]
    shift_ms: float = _shift()

    def __post_init__(self) -> None:
        if not self.components:
            raise ValueError("components: must not be empty")
        total = math.fsum(c.weight for c in self.components)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"components: weights must sum to 1 (they sum to {total:g})")

    def draw_ms(self, rng: np.random.Generator, n: int) -> np.ndarray:
        choice_rng, *component_rngs = rng.spawn(1 + len(self.components))
        bounds = np.cumsum([c.weight for c in self.components])[:-1]
        choice = np.searchsorted(bounds, choice_rng.random(n), side="right")
        draws = np.stack(
            [sample_ms(c.dist, r, n) for c, r in zip(self.components, component_rngs, strict=True)]
        )
        return draws[choice, np.arange(n)]


Latency = (
    Constant
    | Uniform
    | Exponential
    | Normal
    | Lognormal
    | Gamma
    | Weibull
    | Pareto
    | Empirical
    | Histogram
    | Mixture
)

DISTRIBUTIONS: dict[str, type] = {
    cls.kind: cls
    for cls in (
        Constant,
        Uniform,
        Exponential,
        Normal,
        Lognormal,
        Gamma,
        Weibull,
        Pareto,
        Empirical,
        Histogram,
        Mixture,
    )
}


def sample_ms(dist: Latency, rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` draws of `dist` in milliseconds, shift included."""
    return dist.draw_ms(rng, n) + dist.shift_ms


def sample_s(dist: Latency, rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` draws of `dist` in seconds, shift included."""
    return sample_ms(dist, rng, n) * 1e-3


def whole_ns(seconds: Any) -> Any:
    """`seconds` in whole nanoseconds, ties to even (infinity and NaN stay as they are): a
    float gives an int, a numpy array the same values as floats. Times are compared in whole
    nanoseconds where float sums of the same times in another order could differ in the last
    bit (last look's expiry; exact below 2**53 ns, 104 days)."""
    if isinstance(seconds, np.ndarray):
        return np.rint(seconds * 1e9)  # rint keeps infinity and NaN
    return round(seconds * 1e9) if math.isfinite(seconds) else seconds
