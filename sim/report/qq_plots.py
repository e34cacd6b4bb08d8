"""QQ plots of fitted latency laws (`quoterace fit --out`): the fitted law's quantiles against
the data's, one PNG per family. Points on the diagonal are a law that fits; a tail bending away
from it is a tail the law gets wrong, which a good AIC can hide. Log axes when every value is
positive, so the tail gets the room it deserves.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

from sim.measure.fit import Fit, weighted_quantiles

POINTS = 400  # quantiles per plot, log-spaced in the tail


def qq_png(fit: Fit, values_ms: np.ndarray, weights: np.ndarray | None = None) -> bytes:
    """The QQ plot of `fit` against `values_ms` (each counted `weights` times), as PNG bytes."""
    x = np.asarray(values_ms, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    total = float(w.sum())
    # probabilities from 1/(2n) to 1 - 1/(2n), denser towards the tail: 1 - p log-spaced
    tail = np.geomspace(0.5 / total, 0.5, POINTS // 2)
    p = np.unique(np.concatenate((tail, 1 - tail)))
    data = weighted_quantiles(x, w, p)
    law = fit.law.ppf(p)
    figure = Figure(figsize=(6.0, 6.0), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.grid(True, which="major", alpha=0.3)
    axes.plot(law, data, ".", markersize=3, label="quantiles")
    low, high = float(min(law.min(), data.min())), float(max(law.max(), data.max()))
    axes.plot([low, high], [low, high], "-", color="gray", linewidth=1, label="y = x")
    if low > 0:
        axes.set_xscale("log")
        axes.set_yscale("log")
    params = ", ".join(f"{name} = {value:.4g}" for name, value in fit.params)
    axes.set_title(f"{fit.family}: {params}\nAIC {fit.aic:,.1f}, KS {fit.ks:.4f}", fontsize=10)
    axes.set_xlabel(f"fitted {fit.family} quantile (ms)")
    axes.set_ylabel("measured quantile (ms)")
    axes.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})  # same bytes everywhere
    return buffer.getvalue()
