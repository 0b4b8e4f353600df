"""Proxy training: `train_proxy(spec, task, TrainConfig(...), report=None) -> TrainResult`.

Imports no Optuna, Ray or MLflow; `report(step, metrics)` is the only coupling to search and
tracking.
"""

from hybridlab.train.config import (
    Device,
    Precision,
    SeedStatistic,
    SettingTypeError,
    TrainConfig,
)
from hybridlab.train.result import TrainResult
from hybridlab.train.spec_fit import fit_spec
from hybridlab.train.trainer import StopTraining, train_proxy

__all__ = [
    "Device",
    "Precision",
    "SeedStatistic",
    "SettingTypeError",
    "StopTraining",
    "TrainConfig",
    "TrainResult",
    "fit_spec",
    "train_proxy",
]
