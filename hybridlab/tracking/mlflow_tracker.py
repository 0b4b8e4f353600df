"""`tracking: mlflow`: every trial of a study as an MLflow run, the Pareto front as tags.

Layout in the store (one experiment per study, named after it):

    parent run   tags hybridlab.study=<name>, hybridlab.role=study; params: the resolved
                 settings as flat dotted keys; metric `hypervolume` (step = complete trials);
                 artifact `front.json` (an MLflow table: one row per front trial)
    child runs   one per trial: tags mlflow.parentRunId, hybridlab.role=trial, trial_number,
                 stack, pattern, outcome, pareto ("true"/"false"), pareto_rank (non-dominated
                 sorting rank among complete trials, 1 = on the front), failure_reason,
                 infeasible=true, fault and retried=true (a fault, run again as a new
                 trial), worker.node_id / worker.node_ip / worker.hostname / worker.pid
                 (where it ran, on Ray); params knobs.<knob>, task.<key>, train.<key>; metrics: the
                 training metrics per step, `obj/<objective>`, `final/<result field>`;
                 status FINISHED (complete), FAILED (failed or infeasible), KILLED (interrupted)

Only the driver logs (one writer per sqlite file). A resumed study finds its parent run by its
tags, reuses it, never logs a finished trial twice (child runs are matched by `trial_number`),
and closes runs a crash left RUNNING as KILLED. The default store is
`sqlite:///<study folder>/mlflow.db`; artifacts go to `<study folder>/mlartifacts` unless the
URI is a tracking server (http, https), which keeps its own. An http(s) tracking URI that
cannot be reached is a `StudyConfigError` before any trial trains.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hybridlab.search.errors import StudyConfigError
from hybridlab.search.pareto import FrontPoint, dominates
from hybridlab.search.tracker import COMPLETE, FAILED, INFEASIBLE, INTERRUPTED, Tracker, TrialRecord

STUDY_TAG, ROLE_TAG, NUMBER_TAG = "hybridlab.study", "hybridlab.role", "trial_number"
PARENT_TAG = "mlflow.parentRunId"
STATUS = {COMPLETE: "FINISHED", FAILED: "FAILED", INFEASIBLE: "FAILED", INTERRUPTED: "KILLED"}
# MLflow's limits on one value (params 6000 characters, tags 8000) and on one log_batch call.
MAX_VALUE, BATCH = 5000, 100


class MLflowTracker(Tracker):
    """Logs a study to MLflow; see the module docstring for what goes where.

    Args:
        uri: an MLflow tracking URI (`http://host:5000`, `sqlite:///path.db`, ...); None: a
            sqlite file in the study folder.

    Example (normally built by the driver from `tracking: {backend: mlflow, uri: ...}`):
        >>> tracker = MLflowTracker(uri=None)
    """

    def __init__(self, uri: str | None = None) -> None:
        self.uri_setting = uri
        self.client: Any = None
        self.runs: dict[int, str] = {}  # trial number → run id
        self.finished: set[int] = set()  # trial numbers whose run is terminated
        self.outcomes: dict[int, str | None] = {}  # their `outcome` tag
        self.values: dict[int, list[float]] = {}  # complete trials' objective values
        self.tags: dict[int, tuple[str, str]] = {}  # trial number → (pareto, pareto_rank)
        self.front: list[FrontPoint] = []

    # -- the Tracker interface ------------------------------------------------------------

    def start_study(self, info: dict[str, Any]) -> None:
        # A stale MLFLOW_RUN_ID overrides parent_run_id in MLflow's fluent API (mlflow#15713),
        # here and in every process the driver starts.
        os.environ.pop("MLFLOW_RUN_ID", None)
        logging.getLogger("mlflow.store").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        folder = Path(info["folder"]).resolve()
        self.uri = self.uri_setting or f"sqlite:///{folder / 'mlflow.db'}"
        self.name, self.labels, self.directions = info["name"], info["labels"], info["directions"]
        settings = info.get("settings", {})
        self.config_params = flatten({k: settings[k] for k in ("task", "train") if k in settings})
        check_reachable(self.uri)
        try:
            self.client = MlflowClient(tracking_uri=self.uri)
            self.experiment_id = self._experiment(folder)
        except StudyConfigError:
            raise
        except Exception as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise StudyConfigError(
                f"cannot log to the MLflow tracking store {self.uri}: {message}",
                key="tracking.uri",
            ) from None
        self._open_parent(settings)
        self._load_children()

    def log_trial_started(self, trial: TrialRecord) -> None:
        if trial.number not in self.runs:
            self._create_run(trial)

    def log_metrics(self, number: int, step: int, metrics: dict[str, float]) -> None:
        run_id = self.runs.get(number)
        if run_id is not None and number not in self.finished:
            self._log(run_id, metrics=_numeric(metrics), step=step)

    def log_trial_finished(self, record: TrialRecord) -> None:
        if record.number not in self.finished:
            self._finish_run(record)

    def _finish_run(self, record: TrialRecord) -> None:
        number = record.number
        run_id = self.runs.get(number) or self._create_run(record)
        tags = {"outcome": record.outcome}
        if record.reason:
            tags["failure_reason"] = record.reason[:MAX_VALUE]
        if record.outcome == INFEASIBLE:
            tags["infeasible"] = "true"
        if record.fault:
            tags["fault"] = record.fault
        if record.retried:
            tags["retried"] = "true"
        worker = (record.result or {}).get("worker") or {}
        tags.update({f"worker.{k}": str(v) for k, v in worker.items() if v not in (None, [])})
        metrics = {f"obj/{k}": v for k, v in record.values.items()}
        metrics.update({f"final/{k}": v for k, v in _numeric(record.result or {}).items()})
        self._log(run_id, metrics=metrics, tags=tags)
        self.client.set_terminated(run_id, STATUS.get(record.outcome, "FAILED"))
        self.finished.add(number)
        self.outcomes[number] = record.outcome
        if record.outcome == COMPLETE:
            self.values[number] = [float(record.values[label]) for label in self.labels]

    def recover_trial(self, record: TrialRecord) -> None:
        # Missing, left RUNNING, or closed otherwise than the study has it (a driver stopped
        # between Optuna's tell and this log closes the run as KILLED): log it as the study has it.
        if record.number not in self.finished or self.outcomes.get(record.number) != record.outcome:
            self._finish_run(record)

    def update_front(self, front: Sequence[FrontPoint], hypervolume: float | None) -> None:
        self.front = list(front)
        on_front = {p.number for p in front}
        for point in front:
            self.values.setdefault(point.number, [point.values[k] for k in self.labels])
        ranks = pareto_ranks(self.values, self.directions, on_front)
        for number, run_id in self.runs.items():
            if number not in ranks:
                continue
            tags = ("true" if number in on_front else "false", str(ranks[number]))
            if self.tags.get(number) != tags:
                self._log(run_id, tags={"pareto": tags[0], "pareto_rank": tags[1]})
                self.tags[number] = tags
        metrics = {"front_size": len(front)}
        if hypervolume is not None:
            metrics["hypervolume"] = hypervolume
        self._log(self.parent_id, metrics=metrics, step=len(self.values))

    def end_study(self, summary: dict[str, Any]) -> None:
        if self.client is None:
            return
        for number, run_id in self.runs.items():
            if number not in self.finished:
                # Still in flight when the driver stopped: re-enqueued on the next run.
                self._log(run_id, tags={"outcome": INTERRUPTED})
                self.client.set_terminated(run_id, "KILLED")
                self.finished.add(number)
        if self.front:
            self._log_front()
            self._log_plot()
            self._log_plot_html()
        tags = {f"summary.{k}": str(v) for k, v in summary.items() if k in SUMMARY_TAGS}
        self._log(self.parent_id, tags=tags)
        self.client.set_terminated(
            self.parent_id, "FINISHED" if summary.get("stopped_by") else "KILLED"
        )

    # -- helpers --------------------------------------------------------------------------

    def _experiment(self, folder: Path) -> str:
        experiment = self.client.get_experiment_by_name(self.name)
        if experiment is None:
            # Artifacts go to the study folder, not to MLflow's default ./mlruns in the cwd; a
            # tracking server stores (or proxies) them itself.
            server = urlparse(self.uri).scheme in ("http", "https")
            artifacts = None if server else (folder / "mlartifacts").as_uri()
            return self.client.create_experiment(self.name, artifact_location=artifacts)
        if experiment.lifecycle_stage == "deleted":
            self.client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id

    def _open_parent(self, settings: dict[str, Any]) -> None:
        found = self._search(f"tags.`{ROLE_TAG}` = 'study' AND tags.`{STUDY_TAG}` = '{self.name}'")
        if found:
            parent = min(found, key=lambda r: r.info.start_time)
            self.parent_id = parent.info.run_id
            if parent.info.status != "RUNNING":
                self.client.update_run(self.parent_id, status="RUNNING")
            known = parent.data.params
        else:
            tags = {ROLE_TAG: "study", STUDY_TAG: self.name}
            run = self.client.create_run(self.experiment_id, run_name=self.name, tags=tags)
            self.parent_id, known = run.info.run_id, {}
        # Params cannot change once logged: a resume (e.g. a larger budget) adds new keys only.
        params = {k: v for k, v in flatten(settings).items() if k not in known}
        self._log(self.parent_id, params=params)

    def _load_children(self) -> None:
        for run in self._search(f"tags.`{PARENT_TAG}` = '{self.parent_id}'"):
            tags, run_id = run.data.tags, run.info.run_id
            if NUMBER_TAG not in tags:
                continue
            number = int(tags[NUMBER_TAG])
            self.runs[number] = run_id
            if run.info.status == "RUNNING":
                # Left running by a crash: `recover_trial` closes it as the study has it
                # (complete, failed, or interrupted and re-enqueued); else `end_study` as KILLED.
                continue
            self.finished.add(number)
            self.outcomes[number] = tags.get("outcome")
            metrics = run.data.metrics
            objectives = [metrics.get(f"obj/{label}") for label in self.labels]
            if run.info.status == "FINISHED" and None not in objectives:
                self.values[number] = objectives
            if "pareto_rank" in tags:
                self.tags[number] = (tags.get("pareto", "false"), tags["pareto_rank"])

    def _search(self, filter_string: str) -> list[Any]:
        runs, token = [], None
        while True:
            page = self.client.search_runs(
                [self.experiment_id], filter_string, max_results=1000, page_token=token
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def _create_run(self, trial: TrialRecord) -> str:
        tags = {
            PARENT_TAG: self.parent_id,
            ROLE_TAG: "trial",
            STUDY_TAG: self.name,
            NUMBER_TAG: str(trial.number),
            "stack": trial.stack[:MAX_VALUE],
            "pattern": trial.pattern[:MAX_VALUE],
            "pareto": "false",
        }
        run = self.client.create_run(
            self.experiment_id, run_name=f"trial-{trial.number}", tags=tags
        )
        run_id = run.info.run_id
        self.runs[trial.number] = run_id
        self._log(run_id, params={**flatten(trial.params, "knobs."), **self.config_params})
        return run_id

    def _log(
        self,
        run_id: str,
        *,
        params: dict[str, str] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
        step: int = 0,
    ) -> None:
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

    def _log_front(self) -> None:
        """The front as an MLflow table artifact (`front.json`, pandas' "split" layout)."""
        columns = ["trial_number", *self.labels, "stack", "pattern", "run_id"]
        data = [
            [
                p.number,
                *[p.values[k] for k in self.labels],
                p.stack,
                p.pattern,
                self.runs.get(p.number),
            ]
            for p in self.front
        ]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "front.json"
            path.write_text(json.dumps({"columns": columns, "data": data}))
            # log_table would append to an existing front.json; the front replaces it.
            self.client.log_artifact(self.parent_id, str(path))
        logged = json.dumps([{"path": "front.json", "type": "table"}])
        self._log(self.parent_id, tags={"mlflow.loggedArtifacts": logged})

    def _log_plot(self) -> None:
        """`pareto.png` on the parent run: the first two objectives of every complete trial,
        the front highlighted."""
        if len(self.labels) < 2:
            return
        try:
            from matplotlib.figure import Figure
        except ImportError:  # matplotlib comes with mlflow; without it there is no plot
            return
        on_front = {p.number for p in self.front}
        x_label, y_label = self.labels[:2]
        figure = Figure(figsize=(5, 4), dpi=100)
        axes = figure.add_subplot()
        for front, style in ((False, dict(c="0.6", s=14)), (True, dict(c="C3", s=28))):
            points = [v for n, v in self.values.items() if (n in on_front) == front]
            if points:
                axes.scatter(
                    [v[0] for v in points],
                    [v[1] for v in points],
                    **style,
                    label="Pareto front" if front else "other trials",
                )
        axes.set(
            xlabel=f"{x_label} ({self.directions[0]})",
            ylabel=f"{y_label} ({self.directions[1]})",
            title=self.name,
        )
        axes.legend(loc="best", fontsize=8)
        figure.tight_layout()
        self.client.log_figure(self.parent_id, figure, "pareto.png")

    def _log_plot_html(self) -> None:
        """`pareto.html` on the parent run: the same scatter, interactive (hover shows the trial
        and its stack), with plotly's JavaScript embedded so it renders with no internet."""
        if len(self.labels) < 2:
            return
        import plotly.graph_objects as go

        on_front = {p.number for p in self.front}
        stacks = {p.number: p.stack for p in self.front}
        figure = go.Figure()
        for front, name, color in (
            (False, "other trials", "#999999"),
            (True, "Pareto front", "#d62728"),
        ):
            numbers = [n for n in self.values if (n in on_front) == front]
            figure.add_trace(
                go.Scatter(
                    x=[self.values[n][0] for n in numbers],
                    y=[self.values[n][1] for n in numbers],
                    mode="markers",
                    name=name,
                    marker={"color": color, "size": 10 if front else 7},
                    text=[f"trial {n}<br>{stacks.get(n, '')}" for n in numbers],
                    hoverinfo="text+x+y",
                )
            )
        x_label, y_label = self.labels[:2]
        figure.update_layout(
            title=self.name,
            xaxis_title=f"{x_label} ({self.directions[0]})",
            yaxis_title=f"{y_label} ({self.directions[1]})",
        )
        html = figure.to_html(include_plotlyjs=True, full_html=True)
        self.client.log_text(self.parent_id, html, "pareto.html")


SUMMARY_TAGS = ("trained", "complete", "failed", "infeasible", "front_size", "stopped_by")


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


def pareto_ranks(
    values: dict[int, list[float]], directions: Sequence[str], front: set[int]
) -> dict[int, int]:
    """Non-dominated sorting ranks: `front` (Optuna's best trials) is rank 1, then each layer
    of what no remaining trial dominates is the next rank (O(n²) per layer)."""
    ranks = {n: 1 for n in front if n in values}
    rest = {n: v for n, v in values.items() if n not in front}
    rank = 2
    while rest:
        layer = [
            n
            for n, v in rest.items()
            if not any(dominates(w, v, directions) for m, w in rest.items() if m != n)
        ]
        for n in layer:
            ranks[n] = rank
            del rest[n]
        rank += 1
    return ranks


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Raise a `StudyConfigError` when an http(s) tracking server does not accept connections
    (MLflow's own client would retry for minutes first)."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "localhost", port), timeout=timeout_s).close()
    except OSError as err:
        raise StudyConfigError(
            f"the MLflow tracking server {uri} cannot be reached ({err.strerror or err}); start "
            f"it, or leave tracking.uri unset to log to a sqlite file in the study folder",
            key="tracking.uri",
        ) from None


def _numeric(values: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
