"""Where trials run: the executor interface, in the driver's process (`inline`) or on Ray Tune.

Modules: `base` (the `Executor` contract, `ExecutorConfig` and the backends by name),
`requests` (`TrialRequest`), `inline`, `worker` (`run_trial`: plain dict in, plain dict out,
wherever a trial runs), `ray_executor` with `tune_bridge` (Ray Tune's side; imported only when a
study runs on Ray), `environment` (what a worker must not inherit from the driver). Knows
nothing of Optuna or MLflow: the study driver decides, executors run.

Importing this package imports no torch: only a trial's run does, where it runs.
`run_trial` is loaded from `worker` when first named.
"""

from typing import Any

from hybridlab.execution.base import (
    EXECUTORS,
    Executor,
    ExecutorConfig,
    ExecutorFailed,
    TrialOutcome,
    executor_class,
    make_executor,
)
from hybridlab.execution.inline import InlineExecutor
from hybridlab.execution.requests import TrialRequest

__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorConfig",
    "ExecutorFailed",
    "InlineExecutor",
    "TrialOutcome",
    "TrialRequest",
    "executor_class",
    "make_executor",
    "run_trial",
]


def __getattr__(name: str) -> Any:
    """`run_trial`, imported from `worker` (and with it torch) on first use."""
    if name == "run_trial":
        from hybridlab.execution.worker import run_trial

        return run_trial
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
