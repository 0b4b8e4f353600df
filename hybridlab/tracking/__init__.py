"""Trackers: where a study's results are logged besides Optuna's own storage.

The interface and the no-op tracker live in `hybridlab.search.tracker` (the driver calls them);
`mlflow_tracker.MLflowTracker` logs to MLflow (`tracking: mlflow` in a study file). Nothing here
is imported by `import hybridlab`: MLflow is loaded only when a study asks for it.
"""
