"""Trackers: where a study's results are logged besides Optuna's own storage.

Modules: `records` (`StudyStart`, `StudyEnd`, trial records, `Outcome`, the front as plain
data), `base` (the `Tracker` interface and the no-op tracker), `config` (`TrackingConfig`, the
backends by name), and MLflow's tracker split by concern: `mlflow_tracker` (the runs of a
study), `mlflow_resume` (finding them again on a resume), `mlflow_store` (the client, batched
logging), `mlflow_view` (the front view the UI opens on), `figures` (the Pareto figures). Metric
names come from `hybridlab.results`. This room imports nothing from the rooms above it (study,
validation, execution, space, cli), and MLflow only when a study asks for it.
"""

from hybridlab.tracking.base import Tracker, Trackers
from hybridlab.tracking.config import TRACKERS, TrackingConfig, make_tracker
from hybridlab.tracking.records import (
    FrontPoint,
    FrontUpdate,
    Outcome,
    StudyEnd,
    StudyStart,
    TrialRecord,
)

__all__ = [
    "TRACKERS",
    "FrontPoint",
    "FrontUpdate",
    "Outcome",
    "StudyEnd",
    "StudyStart",
    "Tracker",
    "Trackers",
    "TrackingConfig",
    "TrialRecord",
    "make_tracker",
]
