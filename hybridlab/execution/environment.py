"""The process environment of trials: what a worker must not inherit from the driver.

MLflow scopes its fluent logging to a run through environment variables; `MLFLOW_RUN_ID` in a
process even overrides `parent_run_id` (mlflow#15713). A worker that inherited them from the
driver's shell would log into the driver's run, so every process that runs trials drops them:
the driver before it starts a local Ray (whose workers inherit its environment) and each Ray
worker before its trial (a cluster's workers have their own environment).
"""

from __future__ import annotations

import os

MLFLOW_RUN_VARS = ("MLFLOW_RUN_ID", "MLFLOW_PARENT_RUN_ID", "MLFLOW_EXPERIMENT_ID")


def drop_mlflow_run_vars() -> None:
    """Remove the run-scoped MLflow variables from this process's environment."""
    for key in MLFLOW_RUN_VARS:
        os.environ.pop(key, None)
