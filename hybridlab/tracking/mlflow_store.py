"""A thin layer over `MlflowClient` for the MLflow tracker: batched logging within MLflow's
limits, paged run searches, the study's experiment, settings as flat params.

Imported only when a study logs to MLflow.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from hybridlab.config import SettingError, StudyConfigError, first_line
from hybridlab.tracking.uris import check_reachable as check_server_reachable
from hybridlab.tracking.uris import is_server

# MLflow's limits on one value (params 6000 characters, tags 8000) and on one log_batch call.
MAX_VALUE, BATCH = 5000, 100


class RunStore:
    """One tracking store (`sqlite:///...`, `http://host:5000`) and the experiment of a study.

    Raises `StudyConfigError` (key `tracking.uri`) when the store cannot be reached or opened.
    """

    def __init__(self, uri: str, experiment: str, folder: Path) -> None:
        logging.getLogger("mlflow.store").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        self.uri = uri
        check_reachable(uri)
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.experiment_id = self._experiment(experiment, folder)
        except StudyConfigError:
            raise
        except Exception as err:
            raise StudyConfigError(
                f"cannot log to the MLflow tracking store {uri}: {first_line(err)}",
                key="tracking.uri",
            ) from None

    def _experiment(self, name: str, folder: Path) -> str:
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            # Artifacts go to the study folder, not to MLflow's default ./mlruns in the cwd; a
            # tracking server stores (or proxies) them itself.
            artifacts = None if is_server(self.uri) else (folder / "mlartifacts").as_uri()
            return str(self.client.create_experiment(name, artifact_location=artifacts))
        if experiment.lifecycle_stage == "deleted":
            self.client.restore_experiment(experiment.experiment_id)
        return str(experiment.experiment_id)

    def search(self, filter_string: str) -> list[Any]:
        """Every run of the experiment that matches `filter_string` (all pages)."""
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id], filter_string, max_results=1000, page_token=token
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def create_run(self, name: str, tags: dict[str, str]) -> str:
        return str(self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id)

    def log(
        self,
        run_id: str,
        *,
        params: dict[str, str] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
        step: int = 0,
    ) -> None:
        """Params, metrics (at `step`) and tags in as few `log_batch` calls as MLflow allows."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        entries = (
            [Param(k, v) for k, v in (params or {}).items()]
            + [Metric(k, float(v), now, step) for k, v in (metrics or {}).items()]
            + [RunTag(k, v) for k, v in (tags or {}).items()]
        )
        for i in range(0, len(entries), BATCH):
            chunk = entries[i : i + BATCH]
            self.client.log_batch(
                run_id,
                params=[e for e in chunk if isinstance(e, Param)],
                metrics=[e for e in chunk if isinstance(e, Metric)],
                tags=[e for e in chunk if isinstance(e, RunTag)],
            )


def check_reachable(uri: str) -> None:
    """Raise a `StudyConfigError` when an http(s) tracking server does not accept connections
    (MLflow's own client would retry for minutes first)."""
    if not is_server(uri):
        return
    try:
        check_server_reachable(uri)
    except SettingError as err:
        raise StudyConfigError(str(err), key=err.key) from None


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as flat dotted keys with string values (JSON for non-strings).

    Example:
        >>> flatten({"train": {"steps": 3, "device": "cpu"}})
        {'train.steps': '3', 'train.device': 'cpu'}
    """
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            flat[name] = text[:MAX_VALUE]
    return flat


def numeric(values: dict[str, Any]) -> dict[str, float]:
    """The entries of `values` that are numbers (booleans excluded), as floats."""
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
