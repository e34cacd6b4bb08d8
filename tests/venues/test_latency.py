"""Latency distributions (venues.latency) against their theoretical laws from scipy.stats.

Method: draw N samples with a fixed seed and, at points x where the reference CDF is p = F(x)
(for continuous laws the quantiles x = F^-1(q) of a fixed grid of q), compare the empirical CDF
F_N(x) with p. N * F_N(x) is Binomial(N, p), so F_N(x) has standard error sqrt(p(1-p)/N); we
require every |F_N(x) - p| < Z_MAX standard errors. With Z_MAX = 5 a correct implementation fails
one point with probability ~5.7e-7, so all the ~400 points of this file together with
probability < 3e-4; the seed is fixed, so the outcome is deterministic anyway. Each law is also
checked against a plausible wrong parameterisation (scale read as rate, median as mean, no
truncation, Lomax instead of Pareto I, missing shift, ...), which the same check must reject:
this proves the check has the power to fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from scipy import optimize, stats

from venues.latency import (
    Component,
    Constant,
    Empirical,
    Exponential,
    Gamma,
    Histogram,
    Lognormal,
    Mixture,
    Normal,
    Pareto,
    Uniform,
    Weibull,
    sample_ms,
    sample_s,
)

SEED = 20240611
# 100_000 draws per case: the 5-standard-error band at the median is +-0.0079 in probability,
# narrow enough to reject every wrong parameterisation below, and a case costs a few ms.
N = 100_000
Z_MAX = 5.0
QS = np.array([0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999])
SHIFTS = (0.0, 0.75)


def _rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def _z_scores(samples: np.ndarray, xs: np.ndarray, ps: np.ndarray) -> np.ndarray:
    """|F_N(x) - p| in binomial standard errors sqrt(p(1-p)/N), for each point x with F(x) = p."""
    ordered = np.sort(samples)
    empirical = np.searchsorted(ordered, xs, side="right") / ordered.size
    return np.abs(empirical - ps) / np.sqrt(ps * (1.0 - ps) / ordered.size)


@dataclass(frozen=True)
class MixtureLaw:
    """The law of a Mixture: CDF sum_i w_i F_i(x - shift), quantiles solved with brentq."""

    weights: tuple[float, ...]
    laws: tuple[Any, ...]
    shift: float

    def cdf(self, x: Any) -> Any:
        x = np.asarray(x, dtype=float) - self.shift
        return sum(w * law.cdf(x) for w, law in zip(self.weights, self.laws, strict=True))

    def ppf(self, qs: np.ndarray) -> np.ndarray:
        # The CDF is continuous and increasing; every component quantile brackets the root.
        lo = min(float(law.ppf(0.0)) for law in self.laws) + self.shift
        hi = max(float(law.ppf(0.9999999)) for law in self.laws) + self.shift
        return np.array(
            [optimize.brentq(lambda x, q=q: float(self.cdf(x)) - q, lo, hi, xtol=1e-12) for q in qs]
        )


# Continuous laws: (id, distribution, matching scipy law, wrong laws that must be rejected).
# Parameters are chosen away from 1 so that scale/rate or mean/median confusions change the law.
def _continuous(shift: float) -> list[tuple[str, Any, Any, dict[str, Any]]]:
    mixture_weights = (0.6, 0.3, 0.1)
    mixture_laws = (
        stats.expon(loc=0.2, scale=0.5),  # component shift_ms 0.2 applies inside the component
        stats.lognorm(s=0.6, scale=3.0),
        stats.pareto(b=1.5, scale=8.0),
    )
    return [
        (
            "uniform",
            Uniform(low_ms=2.0, high_ms=5.0, shift_ms=shift),
            stats.uniform(loc=2.0 + shift, scale=3.0),
            # (low, high) read as scipy's (loc, scale): uniform on [2, 7].
            {"loc_scale": stats.uniform(loc=2.0 + shift, scale=5.0)},
        ),
        (
            "exponential",
            Exponential(mean_ms=2.0, shift_ms=shift),
            stats.expon(loc=shift, scale=2.0),
            {"rate_not_mean": stats.expon(loc=shift, scale=1 / 2.0)},
        ),
        (
            "normal",
            # mean/std = 0.67: a quarter of the untruncated mass is below 0, so truncation shows.
            Normal(mean_ms=1.0, std_ms=1.5, shift_ms=shift),
            stats.truncnorm(a=-1.0 / 1.5, b=np.inf, loc=1.0 + shift, scale=1.5),
            {"untruncated": stats.norm(loc=1.0 + shift, scale=1.5)},
        ),
        (
            "lognormal",
            Lognormal(median_ms=3.0, sigma=0.8, shift_ms=shift),
            stats.lognorm(s=0.8, loc=shift, scale=3.0),
            {
                # median_ms taken as the mean: median = mean * exp(-sigma^2 / 2).
                "median_as_mean": stats.lognorm(s=0.8, loc=shift, scale=3.0 * np.exp(-0.32)),
                "sigma_as_variance": stats.lognorm(s=np.sqrt(0.8), loc=shift, scale=3.0),
            },
        ),
        (
            "gamma",
            Gamma(shape=2.5, mean_ms=3.0, shift_ms=shift),
            stats.gamma(a=2.5, loc=shift, scale=3.0 / 2.5),
            {
                "mean_as_scale": stats.gamma(a=2.5, loc=shift, scale=3.0),
                "scale_as_rate": stats.gamma(a=2.5, loc=shift, scale=2.5 / 3.0),
            },
        ),
        (
            "weibull",
            Weibull(shape=0.7, scale_ms=2.0, shift_ms=shift),
            stats.weibull_min(c=0.7, loc=shift, scale=2.0),
            {
                "scale_as_rate": stats.weibull_min(c=0.7, loc=shift, scale=1 / 2.0),
                "inverse_shape": stats.weibull_min(c=1 / 0.7, loc=shift, scale=2.0),
            },
        ),
        (
            "pareto",
            Pareto(alpha=1.5, scale_ms=2.0, shift_ms=shift),
            stats.pareto(b=1.5, loc=shift, scale=2.0),
            # numpy's pareto() alone is Lomax (Pareto II), starting at 0 instead of scale_ms.
            {"lomax": stats.lomax(c=1.5, loc=shift, scale=2.0)},
        ),
        (
            "mixture",
            Mixture(
                components=(
                    Component(0.6, Exponential(mean_ms=0.5, shift_ms=0.2)),
                    Component(0.3, Lognormal(median_ms=3.0, sigma=0.6)),
                    Component(0.1, Pareto(alpha=1.5, scale_ms=8.0)),
                ),
                shift_ms=shift,
            ),
            MixtureLaw(mixture_weights, mixture_laws, shift),
            {
                "weights_reversed": MixtureLaw(mixture_weights[::-1], mixture_laws, shift),
                "component_shift_dropped": MixtureLaw(
                    mixture_weights, (stats.expon(scale=0.5), *mixture_laws[1:]), shift
                ),
            },
        ),
    ]


CONTINUOUS = [
    pytest.param(dist, law, wrong, id=f"{name}-shift{shift:g}")
    for shift in SHIFTS
    for name, dist, law, wrong in _continuous(shift)
]


@pytest.mark.parametrize(("dist", "law", "wrong"), CONTINUOUS)
def test_continuous_matches_scipy_quantiles(dist: Any, law: Any, wrong: Any) -> None:
    samples = sample_ms(dist, _rng(), N)
    assert samples.shape == (N,)
    z = _z_scores(samples, law.ppf(QS), QS)
    assert z.max() < Z_MAX, dict(zip(QS.tolist(), z.round(2).tolist(), strict=True))


@pytest.mark.parametrize(("dist", "law", "wrong"), CONTINUOUS)
def test_continuous_check_rejects_wrong_parameterisation(dist: Any, law: Any, wrong: Any) -> None:
    """The check above has power: the same samples fail against each wrong law."""
    samples = sample_ms(dist, _rng(), N)
    if dist.shift_ms:
        # The law without the shift must fail too: shift_ms is really added.
        wrong = wrong | {"no_shift": _unshifted(dist, law)}
    for name, bad in wrong.items():
        assert _z_scores(samples, bad.ppf(QS), QS).max() > Z_MAX, name


def _unshifted(dist: Any, law: Any) -> Any:
    if isinstance(law, MixtureLaw):
        return MixtureLaw(law.weights, law.laws, 0.0)
    args, kwds = law.args, dict(law.kwds)
    kwds["loc"] = kwds.get("loc", 0.0) - dist.shift_ms
    return law.dist(*args, **kwds)


EMPIRICAL_SAMPLES = (1.0, 2.0, 2.0, 5.0, 8.5, 0.25)


@pytest.mark.parametrize("shift", SHIFTS)
def test_empirical_matches_its_discrete_law(shift: float) -> None:
    """Each value is drawn with probability (its count in samples_ms) / len(samples_ms)."""
    values, counts = np.unique(EMPIRICAL_SAMPLES, return_counts=True)
    law = stats.rv_discrete(values=(values + shift, counts / counts.sum()))
    samples = sample_ms(Empirical(EMPIRICAL_SAMPLES, shift_ms=shift), _rng(), N)
    # The CDF at each support point but the last (where F = 1 and there is no spread to test).
    xs = values[:-1] + shift
    z = _z_scores(samples, xs, law.cdf(xs))
    assert z.max() < Z_MAX, z
    # Power: the duplicate 2.0 must carry twice the weight; uniform over distinct values fails.
    flat = np.full(values.size, 1.0 / values.size)
    assert _z_scores(samples, xs, np.cumsum(flat)[:-1]).max() > Z_MAX


@pytest.mark.parametrize("shift", SHIFTS)
def test_empirical_returns_only_its_samples(shift: float) -> None:
    samples = sample_ms(Empirical(EMPIRICAL_SAMPLES, shift_ms=shift), _rng(), 10_000)
    allowed = np.asarray(EMPIRICAL_SAMPLES) + shift
    assert np.isin(samples, allowed).all()
    # And every sample shows up: P(one of 5 values missing in 10_000 draws) < 5 * (5/6)^10000.
    assert set(samples.tolist()) == set(allowed.tolist())


@pytest.mark.parametrize(("ms", "shift"), [(0.0, 0.0), (1.25, 0.0), (1.25, 0.5), (0.1, 0.2)])
def test_constant_is_exactly_ms_plus_shift(ms: float, shift: float) -> None:
    samples = sample_ms(Constant(ms, shift_ms=shift), _rng(), 1000)
    assert samples.shape == (1000,)
    assert (samples == ms + shift).all()


ALL_DISTRIBUTIONS = [
    pytest.param(dist, id=f"{type(dist).__name__.lower()}-shift{dist.shift_ms:g}")
    for shift in SHIFTS
    for dist in (
        Constant(1.5, shift_ms=shift),
        Empirical(EMPIRICAL_SAMPLES, shift_ms=shift),
        Histogram((0.5, 1.0, 4.0), (0.5, 2.0, 8.0), (3, 5, 1), shift_ms=shift),
        *(case[1] for case in _continuous(shift)),
    )
]


@pytest.mark.parametrize("dist", ALL_DISTRIBUTIONS)
def test_sample_s_is_sample_ms_times_1e_3(dist: Any) -> None:
    in_ms = sample_ms(dist, _rng(), 1000)
    in_s = sample_s(dist, _rng(), 1000)
    assert np.array_equal(in_s, in_ms * 1e-3)


@pytest.mark.parametrize("dist", ALL_DISTRIBUTIONS)
def test_draws_are_at_least_shift_and_reproducible(dist: Any) -> None:
    a = sample_ms(dist, _rng(), 1000)
    assert a.dtype == np.float64
    assert (a >= dist.shift_ms).all()
    assert np.array_equal(a, sample_ms(dist, _rng(), 1000))
    assert sample_ms(dist, _rng(), 0).shape == (0,)


@pytest.mark.parametrize(
    "weights", [(0.5, 0.4), (0.7, 0.7), (0.5, 0.5 + 1e-6)], ids=["under", "over", "slightly_over"]
)
def test_mixture_weights_must_sum_to_one(weights: tuple[float, float]) -> None:
    components = tuple(Component(w, Constant(1.0)) for w in weights)
    with pytest.raises(ValueError, match=r"^components:"):
        Mixture(components)


def test_mixture_weights_summing_to_one_up_to_rounding_are_accepted() -> None:
    # 0.1 + 0.2 + 0.7 != 1.0 in floats (fsum gives 0.9999999999999999): within the 1e-9 slack.
    Mixture(tuple(Component(w, Constant(1.0)) for w in (0.1, 0.2, 0.7)))


def test_mixture_without_components_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"^components:"):
        Mixture(())


def test_uniform_high_below_low_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"^high_ms:"):
        Uniform(low_ms=2.0, high_ms=1.0)


def test_uniform_high_equal_to_low_is_a_point() -> None:
    samples = sample_ms(Uniform(low_ms=2.0, high_ms=2.0, shift_ms=0.5), _rng(), 100)
    assert (samples == 2.5).all()


def test_empirical_without_samples_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"^samples_ms:"):
        Empirical(())
