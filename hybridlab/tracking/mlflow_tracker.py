"""`tracking: mlflow`: every trial of a study as an MLflow run, the Pareto front as tags.

Layout in the store (one experiment per study, named after it):

    parent run   tags hybridlab.study=<name>, hybridlab.role=study; params: the resolved
                 settings as flat dotted keys; metric `hypervolume` (step = complete trials);
                 artifacts `front.json` (an MLflow table: one row per front trial),
                 `pareto.png` and `pareto.html` (every objective, `hybridlab.tracking.figures`)
    child runs   one per trial, named "<number>: <stack>": tags mlflow.parentRunId,
                 hybridlab.role=trial, trial_number, stack, pattern, outcome, pareto
                 ("true"/"false"), pareto_rank (non-dominated sorting rank among complete
                 trials, 1 = on the front), failure_reason, infeasible=true, fault and
                 retried=true (a fault, run again as a new trial), pruned=true and
                 pruned_at_step (stopped early by the study's pruner), worker.node_id /
                 worker.node_ip / worker.hostname / worker.pid
                 (where it ran, on Ray); params knobs.<knob>, task.<key>, train.<key>; metrics: the
                 training metrics per step, `obj/<objective>`, `final/<result field>`;
                 for front trials trained again under more seeds (`budget.front_seeds`):
                 `seeds/<objective>/mean`, `seeds/<objective>/std`, `seeds/n` and the tags
                 within_noise ("true"/"false") and within_noise_of (a trial number);
                 status FINISHED (complete), FAILED (failed or infeasible), KILLED (interrupted
                 or pruned)
    experiment   tag mlflow.sharedViewState.pareto-front: the front view `hybridlab ui` opens
                 (`hybridlab.tracking.mlflow_view`)

Only the driver logs (one writer per sqlite file). Resuming is `hybridlab.tracking.mlflow_resume`:
the parent run is reused, no finished trial is logged twice, and runs a crash left RUNNING are
closed as the study has them. The default store is `sqlite:///<study folder>/mlflow.db`;
artifacts go to `<study folder>/mlartifacts` unless the URI is a tracking server (http, https),
which keeps its own. An http(s) tracking URI that cannot be reached is a `StudyConfigError`
before any trial trains.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hybridlab.results import RunMetric, final_metric, objective_metric, seed_metric
from hybridlab.tracking.base import Tracker
from hybridlab.tracking.figures import pareto_figure, to_html, to_matplotlib
from hybridlab.tracking.mlflow_resume import (
    NUMBER_TAG,
    PARENT_TAG,
    ROLE_TAG,
    STUDY_TAG,
    RunBook,
    load_children,
    open_parent,
)
from hybridlab.tracking.mlflow_store import (
    MAX_VALUE,
    RunStore,
    check_reachable,
    flatten,
    numeric,
)
from hybridlab.tracking.mlflow_view import save_front_view
from hybridlab.tracking.records import (
    FrontPoint,
    FrontUpdate,
    Outcome,
    StudyEnd,
    StudyStart,
    TrialRecord,
)

STATUS = {
    Outcome.COMPLETE: "FINISHED",
    Outcome.FAILED: "FAILED",
    Outcome.INFEASIBLE: "FAILED",
    Outcome.INTERRUPTED: "KILLED",
    Outcome.PRUNED: "KILLED",
}
MAX_NAME = 200  # characters of a run name
SUMMARY_TAGS = ("trained", "complete", "failed", "infeasible", "front_size", "stopped_by")


def run_name(number: int, stack: str) -> str:
    """A trial run's name: its number and its stack, so that every view of the runs (tables,
    chart legends, a narrow window where only the name column fits) says which architecture
    it is. Long stacks are cut (the tag `stack` keeps the whole).

    Example:
        >>> run_name(3, "ssd(d_state=8)*2, attn(heads=2)")
        '3: ssd(d_state=8)*2, attn(heads=2)'
    """
    if not stack:
        return f"trial-{number}"
    name = f"{number}: {stack}"
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


class MLflowTracker(Tracker):
    """Logs a study to MLflow; see the module docstring for what goes where.

    Args:
        uri: an MLflow tracking URI (`http://host:5000`, `sqlite:///path.db`, ...); None: a
            sqlite file in the study folder.

    Example (normally built by the driver from `tracking: {backend: mlflow, uri: ...}`):
        >>> tracker = MLflowTracker(uri=None)
    """

    def __init__(self, uri: str | None = None) -> None:
        # A server that does not answer is an error now, before the study writes anything.
        if uri is not None:
            check_reachable(uri)
        self.uri_setting = uri
        self.store: RunStore | None = None
        self.book = RunBook()
        self.front: list[FrontPoint] = []

    # -- the Tracker interface ------------------------------------------------------------

    def start_study(self, start: StudyStart) -> None:
        folder = Path(start.folder).resolve()
        self.uri = self.uri_setting or f"sqlite:///{folder / 'mlflow.db'}"
        self.name, self.labels, self.directions = start.name, start.labels, start.directions
        settings = start.settings
        self.config_params = flatten({k: settings[k] for k in ("task", "train") if k in settings})
        self.store = RunStore(self.uri, self.name, folder)
        self.parent_id = open_parent(self.store, self.name, settings)
        save_front_view(self.store.client, self.store.experiment_id, self.labels, self.directions)
        self.book = load_children(self.store, self.parent_id, self.labels)

    def log_trial_started(self, trial: TrialRecord) -> None:
        if trial.number not in self.book.runs:
            self._create_run(trial)

    def log_metrics(self, number: int, step: int, metrics: dict[str, float]) -> None:
        run_id = self.book.runs.get(number)
        if run_id is not None and number not in self.book.finished:
            self._store.log(run_id, metrics=numeric(metrics), step=step)

    def log_trial_finished(self, record: TrialRecord) -> None:
        if record.number not in self.book.finished:
            self._finish_run(record)

    def recover_trial(self, record: TrialRecord) -> None:
        # Missing, left RUNNING, or closed otherwise than the study has it (a driver stopped
        # between Optuna's tell and this log closes the run as KILLED): log it as the study has it.
        book = self.book
        if record.number not in book.finished or book.outcomes.get(record.number) != record.outcome:
            self._finish_run(record)

    def update_front(self, update: FrontUpdate) -> None:
        self.front = list(update.front)
        on_front = {p.number for p in update.front}
        book = self.book
        for point in update.front:
            book.values.setdefault(point.number, [point.values[k] for k in self.labels])
        for number, run_id in book.runs.items():
            rank = update.ranks.get(number)
            if rank is None:
                continue
            tags = ("true" if number in on_front else "false", str(rank))
            if book.pareto.get(number) != tags:
                self._store.log(run_id, tags={"pareto": tags[0], "pareto_rank": tags[1]})
                book.pareto[number] = tags
        self._log_spread(update)
        metrics: dict[str, float] = {RunMetric.FRONT_SIZE: float(len(update.front))}
        if update.hypervolume is not None:
            metrics[RunMetric.HYPERVOLUME] = update.hypervolume
        self._store.log(self.parent_id, metrics=metrics, step=len(book.values))

    def end_study(self, end: StudyEnd) -> None:
        if self.store is None:
            return
        book = self.book
        for number, run_id in book.runs.items():
            if number not in book.finished:
                # Still in flight when the driver stopped: re-enqueued on the next run.
                self.store.log(run_id, tags={"outcome": Outcome.INTERRUPTED})
                self.store.client.set_terminated(run_id, "KILLED")
                book.finished.add(number)
        if self.front:
            self._log_front()
            self._log_figures()
        tags = {f"summary.{k}": str(getattr(end, k)) for k in SUMMARY_TAGS}
        self.store.log(self.parent_id, tags=tags)
        self.store.client.set_terminated(self.parent_id, "FINISHED" if end.stopped_by else "KILLED")

    # -- helpers --------------------------------------------------------------------------

    @property
    def _store(self) -> RunStore:
        assert self.store is not None, "start_study opens the store"
        return self.store

    def _log_spread(self, update: FrontUpdate) -> None:
        """Seed noise of the front trials that were trained again under more seeds."""
        for number, by_label in update.spread.items():
            run_id = self.book.runs.get(number)
            if run_id is None:
                continue
            metrics: dict[str, float] = {}
            for label, (mean, std, n) in by_label.items():
                metrics[seed_metric(label, "mean")] = mean
                metrics[seed_metric(label, "std")] = std
                metrics[RunMetric.SEEDS_N] = float(n)
            other = update.within_noise_of.get(number)
            tags = {
                "within_noise": "true" if other is not None else "false",
                "within_noise_of": "" if other is None else str(other),
            }
            self._store.log(run_id, metrics=metrics, tags=tags)

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
        run_id = self._store.create_run(run_name(trial.number, trial.stack), tags)
        self.book.runs[trial.number] = run_id
        self._store.log(run_id, params={**flatten(trial.params, "knobs."), **self.config_params})
        return run_id

    def _finish_run(self, record: TrialRecord) -> None:
        number, book = record.number, self.book
        run_id = book.runs.get(number) or self._create_run(record)
        tags = {"outcome": str(record.outcome)}
        if record.reason:
            tags["failure_reason"] = record.reason[:MAX_VALUE]
        if record.outcome == Outcome.INFEASIBLE:
            tags["infeasible"] = "true"
        if record.fault:
            tags["fault"] = record.fault
        if record.retried:
            tags["retried"] = "true"
        if record.pruned_at_step is not None:
            tags.update(pruned="true", pruned_at_step=str(record.pruned_at_step))
        worker = (record.result or {}).get("worker") or {}
        tags.update({f"worker.{k}": str(v) for k, v in worker.items() if v not in (None, [])})
        metrics = {objective_metric(k): v for k, v in record.values.items()}
        metrics.update({final_metric(k): v for k, v in numeric(record.result or {}).items()})
        # A trial trained under several seeds (`train.seeds`): its mean ± std over them.
        for name, spread in ((record.result or {}).get("spread") or {}).items():
            metrics[seed_metric(name, "mean")] = float(spread["mean"])
            metrics[seed_metric(name, "std")] = float(spread["std"])
            metrics[RunMetric.SEEDS_N] = float(spread["n"])
        self._store.log(run_id, metrics=metrics, tags=tags)
        self._store.client.set_terminated(run_id, STATUS.get(record.outcome, "FAILED"))
        book.finished.add(number)
        book.outcomes[number] = record.outcome
        if record.outcome == Outcome.COMPLETE:
            book.values[number] = [float(record.values[label]) for label in self.labels]

    def _log_front(self) -> None:
        """The front as an MLflow table artifact (`front.json`, pandas' "split" layout)."""
        columns = ["trial_number", *self.labels, "stack", "pattern", "run_id"]
        data = [
            [
                p.number,
                *[p.values[k] for k in self.labels],
                p.stack,
                p.pattern,
                self.book.runs.get(p.number),
            ]
            for p in self.front
        ]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "front.json"
            path.write_text(json.dumps({"columns": columns, "data": data}))
            # log_table would append to an existing front.json; the front replaces it.
            self._store.client.log_artifact(self.parent_id, str(path))
        logged = json.dumps([{"path": "front.json", "type": "table"}])
        self._store.log(self.parent_id, tags={"mlflow.loggedArtifacts": logged})

    def _log_figures(self) -> None:
        """`pareto.png` and `pareto.html` on the parent run (`hybridlab.tracking.figures`)."""
        stacks = {p.number: p.stack for p in self.front}
        data = pareto_figure(self.name, self.labels, self.directions, self.book.values, stacks)
        if data is None:
            return
        figure = to_matplotlib(data)
        if figure is not None:
            self._store.client.log_figure(self.parent_id, figure, "pareto.png")
        self._store.client.log_text(self.parent_id, to_html(data), "pareto.html")
