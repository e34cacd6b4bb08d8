"""Fit quoterace's parametric latency families to measured latencies by maximum likelihood.

Each family is fitted as quoterace draws it (venues.latency, no shift): the normal truncated at
0, the Pareto of type I. Values may carry weights (an HdrHistogram's bucket midpoints weighted
by their counts), so every estimate is a weighted one: the closed forms where they exist
(exponential, lognormal, Pareto), one equation in the shape solved by Brent's method (gamma,
Weibull), or a bounded numeric optimum (truncated normal). scipy.stats gives each fitted law's
log-density, CDF and quantiles. Fits are ranked by AIC = 2 k - 2 log L (k parameters); the
Kolmogorov-Smirnov statistic sup |F_n - F| says how far the best is from the data all the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special, stats

FAMILIES = ("exponential", "normal", "lognormal", "gamma", "weibull", "pareto")


@dataclass(frozen=True, eq=False)
class Fit:
    """One family fitted: its quoterace parameters (ms), the scipy law they make, and how well
    it fits (log-likelihood, AIC, KS statistic)."""

    family: str
    params: tuple[tuple[str, float], ...]
    law: Any  # a frozen scipy.stats distribution
    log_likelihood: float
    aic: float
    ks: float

    def toml(self) -> str:
        """The scenario line that draws from this fit."""
        params = "".join(f", {name} = {value:.6g}" for name, value in self.params)
        return f'latency = {{ dist = "{self.family}"{params} }}'


class Unfittable(ValueError):
    """A family that cannot describe the data (e.g. a lognormal with zeros among the values)."""


def fit_all(values_ms: np.ndarray, weights: np.ndarray | None = None) -> list[Fit]:
    """Every family that can be fitted to `values_ms` (with `weights`), best AIC first."""
    fits = []
    for family in FAMILIES:
        try:
            fits.append(fit(family, values_ms, weights))
        except Unfittable:
            continue
    return sorted(fits, key=lambda f: f.aic)


def fit(family: str, values_ms: np.ndarray, weights: np.ndarray | None = None) -> Fit:
    """The maximum-likelihood fit of `family` to `values_ms` (each counted `weights` times);
    Unfittable if the family cannot describe them."""
    x = np.asarray(values_ms, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = w > 0
    x, w = x[keep], w[keep]
    if x.size < 2 or np.ptp(x) == 0:
        raise Unfittable("needs at least two different values")
    params, law = _ESTIMATORS[family](x, w)
    log_likelihood = float(np.sum(w * law.logpdf(x)))
    if not math.isfinite(log_likelihood):
        raise Unfittable(f"{family}: the fitted law gives a value zero density")
    aic = 2 * len(params) - 2 * log_likelihood
    return Fit(family, params, law, log_likelihood, aic, ks_statistic(x, w, law.cdf))


def ks_statistic(x: np.ndarray, w: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray]) -> float:
    """sup |F_n - F| of the weighted empirical CDF of `x`: checked just after each value (where
    F_n has stepped up) and just before it (where it has not yet)."""
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    after = np.cumsum(w) / w.sum()
    before = after - w / w.sum()
    f = cdf(x)
    return float(max(np.max(after - f), np.max(f - before)))


def weighted_quantiles(x: np.ndarray, w: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The weighted empirical quantiles of `x` at probabilities `p` (inverse of F_n)."""
    order = np.argsort(x, kind="stable")
    x, cw = x[order], np.cumsum(w[order])
    return x[np.minimum(np.searchsorted(cw, p * cw[-1], side="left"), x.size - 1)]


def _mean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * x) / np.sum(w))


def _exponential(x: np.ndarray, w: np.ndarray) -> tuple[tuple[tuple[str, float], ...], Any]:
    mean = _mean(x, w)
    return (("mean_ms", mean),), stats.expon(scale=mean)


def _normal(x: np.ndarray, w: np.ndarray) -> tuple[tuple[tuple[str, float], ...], Any]:
    """The normal truncated at 0: maximize sum w [log phi((x - m)/s) - log s - log Phi(m/s)]
    from the untruncated estimates, with m > 0 (quoterace's mean_ms must be)."""
    mean = _mean(x, w)
    std = math.sqrt(_mean((x - mean) ** 2, w))

    def minus_log_likelihood(theta: np.ndarray) -> float:
        m, s = theta[0], math.exp(theta[1])
        z = (x - m) / s
        return -float(np.sum(w * (-0.5 * z * z - math.log(s))) - w.sum() * special.log_ndtr(m / s))

    floor = 1e-9 * max(mean, std)
    start = np.array([max(mean, floor), math.log(std)])
    best = optimize.minimize(minus_log_likelihood, start, bounds=[(floor, None), (None, None)])
    m, s = float(best.x[0]), math.exp(float(best.x[1]))
    return (("mean_ms", m), ("std_ms", s)), stats.truncnorm(-m / s, np.inf, loc=m, scale=s)


def _logs(x: np.ndarray, family: str) -> np.ndarray:
    if (x <= 0).any():
        raise Unfittable(f"{family} needs values > 0")
    return np.log(x)


def _lognormal(x: np.ndarray, w: np.ndarray) -> tuple[tuple[tuple[str, float], ...], Any]:
    logs = _logs(x, "lognormal")
    mu = _mean(logs, w)
    sigma = math.sqrt(_mean((logs - mu) ** 2, w))
    median = math.exp(mu)
    return (("median_ms", median), ("sigma", sigma)), stats.lognorm(sigma, scale=median)


def _gamma(x: np.ndarray, w: np.ndarray) -> tuple[tuple[tuple[str, float], ...], Any]:
    """The shape k solves log k - digamma(k) = log mean - mean log (> 0 by Jensen), and then
    the mean is the sample mean."""
    mean = _mean(x, w)
    gap = math.log(mean) - _mean(_logs(x, "gamma"), w)
    shape = optimize.brentq(lambda k: math.log(k) - special.digamma(k) - gap, 1e-9, 1e9)
    return (("shape", shape), ("mean_ms", mean)), stats.gamma(shape, scale=mean / shape)


def _weibull(x: np.ndarray, w: np.ndarray) -> tuple[tuple[tuple[str, float], ...], Any]:
    """The shape k solves sum w y^k log y / sum w y^k - 1/k = mean log y, rising in k; y is x
    over its largest value (the equation does not change, and y^k cannot overflow)."""
    top = float(x.max())
    logs = _logs(x / top, "weibull")
    mean_log = _mean(logs, w)

    def equation(k: float) -> float:
        powers = w * np.exp(k * logs)
        return float(np.sum(powers * logs) / np.sum(powers)) - 1.0 / k - mean_log

    shape = optimize.brentq(equation, 1e-6, 1e6)
    scale = top * _mean(np.exp(shape * logs), w) ** (1.0 / shape)
    return (("shape", shape), ("scale_ms", scale)), stats.weibull_min(shape, scale=scale)


def _pareto(x: np.ndarray, w: np.ndarray) -> tuple[tuple[tuple[str, float], ...], Any]:
    """The scale is the smallest value; alpha = n / sum log(x / scale)."""
    scale = float(x.min())
    if scale <= 0:
        raise Unfittable("pareto needs values > 0")
    alpha = float(w.sum() / np.sum(w * np.log(x / scale)))
    return (("alpha", alpha), ("scale_ms", scale)), stats.pareto(alpha, scale=scale)


_ESTIMATORS = {
    "exponential": _exponential,
    "normal": _normal,
    "lognormal": _lognormal,
    "gamma": _gamma,
    "weibull": _weibull,
    "pareto": _pareto,
}
