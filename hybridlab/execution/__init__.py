"""Where trials run: the executor interface, in the driver's process (`inline`) or on Ray Tune.

Modules: `base` (the `Executor` contract), `config` (`ExecutorConfig`, the backends by name),
`inline`, `worker` (`TrialRequest` and `run_trial`: plain dict in, plain dict out, wherever a
trial runs), `ray_executor` with `tune_bridge` (Ray Tune's side; imported only when a study runs
on Ray), `environment` (what a worker must not inherit from the driver). Knows nothing of
Optuna or MLflow: the study driver decides, executors run.
"""

from hybridlab.execution.base import Executor, ExecutorFailed, TrialOutcome
from hybridlab.execution.config import EXECUTORS, ExecutorConfig, executor_class, make_executor
from hybridlab.execution.inline import InlineExecutor
from hybridlab.execution.worker import TrialRequest, run_trial

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
