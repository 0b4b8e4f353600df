"""Seed noise: the front's trials trained again under more seeds, and what the spread means.

`budget.front_seeds: k` (or the override `budget.front_seeds=k` on a finished study) trains
every front trial again with `train.seed + 1 … train.seed + k` once the trial budget is spent.
The runs go through the study's executor like trials (in parallel on Ray) but are not Optuna
trials: samplers never see them and the front is still Optuna's. Their values are kept in the
study's user attribute `seeds` (`{"<trial number>": [{"seed": s, "values": {label: v}}, ...]}`),
so a resumed study trains only the seeds it is missing.

For each front trial and measured objective the mean and the sample standard deviation over
its n = k + 1 runs (the trial itself included) are reported. Two trials are within noise of
each other in an objective when their means differ by at most twice the standard error of the
difference, 2·√(s_a²/n_a + s_b²/n_b) (about a 95% interval for a normal difference). A front
trial is flagged when another front trial is at least as good in every analytic (exact)
objective and within noise in every measured one: on this evidence it is not better than that
trial, only luckier.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SEEDS_ATTR = "seeds"


@dataclass
class Spread:
    """One objective of one trial over its seeds."""

    mean: float
    std: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "std": self.std, "n": self.n}


@dataclass
class SeedSummary:
    """The front's seed noise: per trial, per measured objective, and the flags."""

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


def missing_seeds(recorded: Sequence[Mapping[str, Any]], base_seed: int, k: int) -> list[int]:
    """The seeds `base_seed + 1 … base_seed + k` not yet in `recorded`."""
    done = {int(run["seed"]) for run in recorded}
    return [base_seed + i for i in range(1, k + 1) if base_seed + i not in done]


def spread(values: Sequence[float]) -> Spread:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if n > 1 else 0.0
    return Spread(mean, std, n)


def within_noise(a: Spread, b: Spread) -> bool:
    """Whether two means differ by at most twice the standard error of their difference."""
    if a.n < 2 or b.n < 2:
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
    for number in sorted(front):
        for other in sorted(front):
            if other == number or not _as_good(front[other], front[number], analytic, directions):
                continue
            mine, theirs = summary.spread[number], summary.spread[other]
            if measured and all(within_noise(mine[label], theirs[label]) for label in measured):
                summary.within_noise_of[number] = other
                break
    return summary


def _as_good(
    a: Mapping[str, float],
    b: Mapping[str, float],
    labels: Sequence[str],
    directions: Mapping[str, str],
) -> bool:
    """Whether `a` is at least as good as `b` in every objective of `labels`."""
    for label in labels:
        x, y = a[label], b[label]
        if directions[label] == "maximize":
            x, y = -x, -y
        if x > y:
            return False
    return True
