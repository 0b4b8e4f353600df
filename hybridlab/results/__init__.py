"""Typed records that cross the rooms: a trial result's `Status` and `Fault`, and the one table
of metric names (`Metric`, `Speed`, `RunMetric` and the templated run metrics).

Modules: `status`, `metrics`. The bottom room beside `hybridlab.config`: it imports nothing of
hybridlab, no torch, no Optuna, Ray or MLflow, so every room above may read it.
"""

from hybridlab.results.metrics import (
    Metric,
    RunMetric,
    Speed,
    final_metric,
    objective_metric,
    seed_metric,
)
from hybridlab.results.status import Fault, Status

__all__ = [
    "Fault",
    "Metric",
    "RunMetric",
    "Speed",
    "Status",
    "final_metric",
    "objective_metric",
    "seed_metric",
]
