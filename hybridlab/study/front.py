"""The Pareto front of a study: Optuna's `study.best_trials`, as plain records.

A trial dominates another when it is at least as good in every objective (in each objective's
direction) and better in one; the front is the set of completed trials no other dominates.
`nondominated` is the brute-force definition, used on the driver (and by tests) where Optuna's
study is not at hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """Whether objective vector `a` dominates `b`."""
    better = False
    for x, y, d in zip(a, b, directions, strict=True):
        if d == "maximize":
            x, y = -x, -y
        if x > y:
            return False
        better = better or x < y
    return better


def nondominated(values: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Indices of the vectors in `values` that no other vector dominates (O(n²))."""
    return [
        i
        for i, v in enumerate(values)
        if not any(dominates(w, v, directions) for j, w in enumerate(values) if j != i)
    ]


@dataclass
class FrontPoint:
    """One trial of the front, as the CLI and trackers show it."""

    number: int
    values: dict[str, float]
    params: dict[str, Any]
    stack: str
    pattern: str
    spec: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "values": self.values,
            "params": self.params,
            "stack": self.stack,
            "pattern": self.pattern,
        }


def study_front(study: Any, labels: Sequence[str]) -> list[FrontPoint]:
    """The front of an Optuna study (`best_trials`), sorted by trial number."""
    front = []
    for trial in sorted(study.best_trials, key=lambda t: t.number):
        attrs = trial.user_attrs
        front.append(
            FrontPoint(
                number=trial.number,
                values=dict(zip(labels, trial.values, strict=True)),
                params=dict(trial.params),
                stack=attrs.get("stack", ""),
                pattern=attrs.get("pattern", ""),
                spec=attrs.get("spec", {}),
            )
        )
    return front
