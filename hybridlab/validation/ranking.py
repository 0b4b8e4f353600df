"""Does a ranking survive a higher fidelity? Rank correlations with bootstrap intervals, and seed
noise, for `hybridlab study validate`.

Legend: R rows (the data, or one bootstrap resample per row), N trials.

- Kendall's τ_b (Kendall 1945) and Spearman's ρ (Pearson's correlation of the ranks, ties given
  their average rank), as scipy computes them (`scipy.stats.kendalltau`, `spearmanr`).
- 95% interval: scipy's paired percentile bootstrap (`scipy.stats.bootstrap(..., paired=True,
  method="percentile")`, Efron & Tibshirani 1993, ch. 13): resample the N trials with
  replacement, recompute, take the 2.5th and 97.5th percentiles. Resamples whose values are all
  tied (the coefficient is undefined) are left out, so the interval is taken over scipy's
  bootstrap distribution here rather than by scipy. Seeded: the same data give the same interval.

Both coefficients are undefined for fewer than 3 trials (`MIN_TRIALS`) or a side with no
variation; then they are None with the reason.

Example:
    >>> c = rank_correlation([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0])
    >>> c.kendall_tau, c.spearman, c.ci95
    (1.0, 1.0, [1.0, 1.0])
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

MIN_TRIALS = 3
RESAMPLES = 2000

Array = NDArray[np.float64]


@dataclass
class Correlation:
    """Rank agreement of one objective between two fidelities.

    Attributes:
        kendall_tau, spearman: the coefficients, None when undefined (see `reason`).
        ci95: Kendall's τ's bootstrap 95% interval [lo, hi]; spearman_ci95: Spearman's ρ's.
        n: trials with a value at both fidelities.
    """

    kendall_tau: float | None
    spearman: float | None
    ci95: list[float] | None
    spearman_ci95: list[float] | None
    n: int
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kendall_tau": self.kendall_tau,
            "spearman": self.spearman,
            "ci95": self.ci95,
            "spearman_ci95": self.spearman_ci95,
            "n": self.n,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def kendall_tau_b(x_RN: Array, y_RN: Array) -> Array:
    """Kendall's τ_b of each row pair (NaN where all of a row's values tie)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        tau: Array = np.asarray(stats.kendalltau(x_RN, y_RN, axis=-1).statistic, np.float64)
    return tau


def spearman_rho(x_RN: Array, y_RN: Array) -> Array:
    """Spearman's ρ of each row pair (NaN where all of a row's values tie)."""
    rx = stats.rankdata(x_RN, axis=-1)
    ry = stats.rankdata(y_RN, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((rx * rx).sum(axis=-1) * (ry * ry).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho: Array = np.where(denominator > 0, (rx * ry).sum(axis=-1) / denominator, np.nan)
    return rho


def rank_correlation(
    x: Sequence[float], y: Sequence[float], *, resamples: int = RESAMPLES, seed: int = 0
) -> Correlation:
    """Kendall's τ_b and Spearman's ρ of paired values `x[i]`, `y[i]` (trial i at two
    fidelities), with percentile-bootstrap 95% intervals over `resamples` resamples."""
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x has {n} values, y has {len(y)}")
    if n < MIN_TRIALS:
        reason = f"{n} trial(s) with values at both fidelities; a rank correlation needs 3"
        return Correlation(None, None, None, None, n, reason)
    x_1N = np.asarray([x], dtype=np.float64)
    y_1N = np.asarray([y], dtype=np.float64)
    tau, rho = float(kendall_tau_b(x_1N, y_1N)[0]), float(spearman_rho(x_1N, y_1N)[0])
    if math.isnan(tau) or math.isnan(rho):
        side = "the proxy" if len(set(x)) == 1 else "the scaled fidelity"
        reason = f"every trial has the same value at {side}: no ranking to compare"
        return Correlation(None, None, None, None, n, reason)
    return Correlation(
        kendall_tau=tau,
        spearman=rho,
        ci95=_bootstrap_interval(x_1N[0], y_1N[0], kendall_tau_b, resamples, seed),
        spearman_ci95=_bootstrap_interval(x_1N[0], y_1N[0], spearman_rho, resamples, seed),
        n=n,
    )


def _bootstrap_interval(
    x: Array, y: Array, statistic: Any, resamples: int, seed: int
) -> list[float] | None:
    """The 2.5th and 97.5th percentiles of `statistic` over scipy's paired bootstrap
    resamples, leaving out the undefined ones (NaN)."""

    def paired(a: Array, b: Array, axis: int = -1) -> Array:
        result: Array = statistic(np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1))
        return result

    with warnings.catch_warnings():
        # A degenerate distribution (a perfect ranking) is an answer here, not a problem.
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (x, y),
            paired,
            paired=True,
            vectorized=True,
            n_resamples=resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    samples = np.asarray(result.bootstrap_distribution, np.float64)
    kept = samples[~np.isnan(samples)]
    if kept.size == 0:
        return None
    lo, hi = np.percentile(kept, [2.5, 97.5])
    return [float(lo), float(hi)]


def seed_noise(stds: Sequence[float]) -> float | None:
    """The seed noise of one objective at one fidelity: the mean over trials of the standard
    deviation over seeds (`stds`: trials with at least two runs); None without any."""
    return statistics.fmean(stds) if stds else None
