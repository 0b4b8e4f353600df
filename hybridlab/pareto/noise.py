"""Seed noise: mean and spread over seeds, and when a trial is only luckier than another.

For each trial and measured objective: the mean and the sample standard deviation over its n
runs. Two trials are within noise of each other in an objective when their means differ by at
most twice the standard error of the difference, 2·√(s_a²/n_a + s_b²/n_b) (about a 95%
interval for a normal difference). A front trial is flagged when another front trial is at
least as good in every analytic (exact) objective and within noise in every measured one: on
this evidence it is not better than that trial, only luckier. A trial that reports the best of
its seeds (`train.seeds_statistic: best`; its `Spread.best`) is left out of the test: the
spread of its seeds is not the noise of their best, and one trial does not measure that.

Example:
    >>> within_noise(spread([0.9, 0.7]), spread([0.8, 0.85]))
    True
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hybridlab.pareto.dominance import as_good


@dataclass
class Spread:
    """One objective of one trial over its seeds."""

    mean: float
    std: float
    n: int
    # The trial reports the best of its seeds (the member lowest on validation), not the mean.
    best: float | None = None

    def to_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {"mean": self.mean, "std": self.std, "n": self.n}
        if self.best is not None:
            out["best"] = self.best
        return out


@dataclass
class SeedSummary:
    """Seed noise per trial and measured objective, and the flags."""

    spread: dict[int, dict[str, Spread]] = field(default_factory=dict)
    # trial number → the front trial it is within noise of (cheaper or as cheap).
    within_noise_of: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            str(n): {
                "spread": {label: s.to_dict() for label, s in by_label.items()},
                "within_noise_of": self.within_noise_of.get(n),
            }
            for n, by_label in self.spread.items()
        }


def spread(values: Sequence[float]) -> Spread:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if n > 1 else 0.0
    return Spread(mean, std, n)


def within_noise(a: Spread, b: Spread) -> bool:
    """Whether two means differ by at most twice the standard error of their difference (never
    for a trial that reports the best of its seeds: see the module docstring)."""
    if a.n < 2 or b.n < 2 or a.best is not None or b.best is not None:
        return False
    return abs(a.mean - b.mean) <= 2.0 * math.sqrt(a.std**2 / a.n + b.std**2 / b.n)


def summarise(
    front: Mapping[int, Mapping[str, float]],
    runs: Mapping[int, Sequence[Mapping[str, Any]]],
    measured: Sequence[str],
    analytic: Sequence[str],
    directions: Mapping[str, str],
) -> SeedSummary:
    """The `SeedSummary` of front trials (number → objective values of the trial itself) and
    their seed runs (number → [{"seed", "values"}]; runs without values, failed ones, are
    left out)."""
    summary = SeedSummary()
    for number, values in front.items():
        by_label = {}
        for label in measured:
            samples = [float(values[label])]
            for run in runs.get(number, []):
                value = (run.get("values") or {}).get(label)
                if value is not None and math.isfinite(float(value)):
                    samples.append(float(value))
            by_label[label] = spread(samples)
        summary.spread[number] = by_label
    summary.within_noise_of = flag_within_noise(
        front, summary.spread, measured, analytic, directions
    )
    return summary


def flag_within_noise(
    front: Mapping[int, Mapping[str, float]],
    spreads: Mapping[int, Mapping[str, Spread]],
    measured: Sequence[str],
    analytic: Sequence[str],
    directions: Mapping[str, str],
) -> dict[int, int]:
    """Trial number → the first other front trial (by number) at least as good in every
    analytic objective and within noise in every measured one (trials with `spreads` only)."""
    flagged: dict[int, int] = {}
    for number in sorted(spreads):
        for other in sorted(spreads):
            if other == number or not as_good(front[other], front[number], analytic, directions):
                continue
            mine, theirs = spreads[number], spreads[other]
            if measured and all(
                label in mine and label in theirs and within_noise(mine[label], theirs[label])
                for label in measured
            ):
                flagged[number] = other
                break
    return flagged
