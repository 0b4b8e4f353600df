"""Does a ranking survive a higher fidelity? Rank correlations with bootstrap intervals, and seed
noise, for `hybridlab study validate`.

Legend: R rows (the data, or one bootstrap resample per row), N trials.

- Kendall's τ_b: (concordant − discordant pairs) / √((n₀ − n_x)(n₀ − n_y)), with n₀ = N(N−1)/2
  and n_x, n_y the pairs tied in x and in y (Kendall 1945; what `scipy.stats.kendalltau`
  computes by default). O(N²) per row, vectorised over rows.
- Spearman's ρ: Pearson's correlation of the ranks (ties get their average rank).
- 95% interval: the percentile bootstrap (Efron & Tibshirani 1993, ch. 13): resample the N trials
  with replacement, recompute, take the 2.5th and 97.5th percentiles. Resamples whose values are
  all tied (the coefficient is undefined) are left out. Seeded: the same data give the same
  interval.

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

MIN_TRIALS = 3
RESAMPLES = 2000
# Elements of the (rows, N, N) pair arrays computed at once.
_CHUNK = 2_000_000

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
    rows, n = x_RN.shape
    out = np.empty(rows)
    step = max(1, _CHUNK // max(1, n * n))
    pairs = n * (n - 1) / 2
    for start in range(0, rows, step):
        x, y = x_RN[start : start + step], y_RN[start : start + step]
        dx = np.sign(x[:, :, None] - x[:, None, :])  # (r, n, n)
        dy = np.sign(y[:, :, None] - y[:, None, :])
        # Each unordered pair appears twice; the diagonal (i = j) ties in both.
        score = (dx * dy).sum(axis=(1, 2)) / 2
        tied_x = ((dx == 0).sum(axis=(1, 2)) - n) / 2
        tied_y = ((dy == 0).sum(axis=(1, 2)) - n) / 2
        denominator = np.sqrt((pairs - tied_x) * (pairs - tied_y))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + step] = np.where(denominator > 0, score / denominator, np.nan)
    return out


def spearman_rho(x_RN: Array, y_RN: Array) -> Array:
    """Spearman's ρ of each row pair (NaN where all of a row's values tie)."""
    rows, n = x_RN.shape
    out = np.empty(rows)
    step = max(1, _CHUNK // max(1, n * n))
    for start in range(0, rows, step):
        rx = average_ranks(x_RN[start : start + step])
        ry = average_ranks(y_RN[start : start + step])
        rx -= rx.mean(axis=1, keepdims=True)
        ry -= ry.mean(axis=1, keepdims=True)
        denominator = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + step] = np.where(
                denominator > 0, (rx * ry).sum(axis=1) / denominator, np.nan
            )
    return out


def average_ranks(x_RN: Array) -> Array:
    """1-based ranks within each row, ties given their average rank (O(N²) per row)."""
    less = (x_RN[:, :, None] > x_RN[:, None, :]).sum(axis=2)
    equal = (x_RN[:, :, None] == x_RN[:, None, :]).sum(axis=2)
    ranks: Array = less + (equal + 1) / 2
    return ranks


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
    rng = np.random.default_rng(seed)
    index_RN = rng.integers(0, n, size=(resamples, n))
    x_RN, y_RN = x_1N[0][index_RN], y_1N[0][index_RN]
    return Correlation(
        kendall_tau=tau,
        spearman=rho,
        ci95=_interval(kendall_tau_b(x_RN, y_RN)),
        spearman_ci95=_interval(spearman_rho(x_RN, y_RN)),
        n=n,
    )


def _interval(samples: Array) -> list[float] | None:
    kept = samples[~np.isnan(samples)]
    if kept.size == 0:
        return None
    lo, hi = np.percentile(kept, [2.5, 97.5])
    return [float(lo), float(hi)]


def seed_noise(stds: Sequence[float]) -> float | None:
    """The seed noise of one objective at one fidelity: the mean over trials of the standard
    deviation over seeds (`stds`: trials with at least two runs); None without any."""
    return statistics.fmean(stds) if stds else None
