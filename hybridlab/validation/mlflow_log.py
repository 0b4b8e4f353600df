"""`tracking: mlflow` for a validation at a higher fidelity (`hybridlab study validate`).

Layout in the study's experiment (`hybridlab.tracking.mlflow_tracker` has the study's own runs):

    validation run   one per fidelity, named "validate-<fingerprint>": tags hybridlab.role=
                     validation, hybridlab.study=<name>, hybridlab.validation=<fingerprint>,
                     hybridlab.validates=<the study's parent run id> (empty when the study has
                     none); params fidelity.<key> (as given) and the resolved settings as
                     scaled.task.<key>, scaled.train.<key>, scaled.model.d_model; metrics
                     kendall_tau/<objective>, spearman/<objective>, front_retention, trials;
                     artifacts validation.json (the report) and validation.png (proxy against
                     scaled, one panel per measured objective)
    child runs       one per re-training, named "<trial>: <fidelity> seed <seed>": tags
                     mlflow.parentRunId (the validation run), hybridlab.role=validation-run,
                     validation_key, trial_number, fidelity (proxy or scaled), seed, stack,
                     outcome, failure_reason; params d_model, seed; metrics: the training
                     metrics per step and value/<objective>

No validation run carries the `pareto` tag, so the study's front view (`tags.pareto = 'true'`)
never lists one, and their metrics are not named `obj/...`, so charts of the study's objectives
show trials only. A second invocation at the same fidelity reuses the validation run and adds
the children it lacks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hybridlab.tracking.mlflow_resume import (
    NUMBER_TAG,
    PARENT_TAG,
    ROLE_TAG,
    STUDY_TAG,
    find_parent,
    open_parent,
)
from hybridlab.tracking.mlflow_store import MAX_VALUE, RunStore, check_reachable, numeric
from hybridlab.validation.records import Retraining, ValidationStart, ValidationSummary
from hybridlab.validation.trackers import ValidationTracker

FINGERPRINT_TAG = "hybridlab.validation"
VALIDATES_TAG = "hybridlab.validates"
KEY_TAG = "validation_key"


class MLflowValidationTracker(ValidationTracker):
    """Logs a validation to MLflow; see the module docstring for what goes where.

    Args:
        uri: an MLflow tracking URI; None: the study folder's sqlite file.
    """

    def __init__(self, uri: str | None = None) -> None:
        if uri is not None:
            check_reachable(uri)
        self.uri_setting = uri
        self.store: RunStore | None = None
        self.parent_id = ""
        # validation key → run id, and the keys whose run is terminated.
        self.runs: dict[str, str] = {}
        self.finished: set[str] = set()

    def start(self, info: ValidationStart) -> None:
        folder = Path(info.folder).resolve()
        uri = self.uri_setting or f"sqlite:///{folder / 'mlflow.db'}"
        name, fingerprint = info.name, info.fingerprint
        store = self.store = RunStore(uri, name, folder)
        # The study's settings are its parent run's; here the fidelity is the setting.
        settings = {"fidelity": {k: str(v) for k, v in info.fidelity.items()}}
        settings["scaled"] = info.settings
        self.parent_id = open_parent(
            store,
            f"validate-{fingerprint}",
            settings,
            tags={ROLE_TAG: "validation", STUDY_TAG: name, FINGERPRINT_TAG: fingerprint},
            new_tags={VALIDATES_TAG: find_parent(store, name)},
        )
        store.log(self.parent_id, tags={k: str(v) for k, v in info.options.items()})
        for run in store.search(f"tags.`{PARENT_TAG}` = '{self.parent_id}'"):
            key = run.data.tags.get(KEY_TAG)
            if key is None:
                continue
            self.runs[key] = str(run.info.run_id)
            if run.info.status != "RUNNING":
                self.finished.add(key)

    def run_started(self, run: Retraining) -> None:
        if run.key not in self.runs:
            self._create(run)

    def log_metrics(self, key: str, step: int, metrics: dict[str, float]) -> None:
        run_id = self.runs.get(key)
        if run_id is not None and key not in self.finished:
            self._store.log(run_id, metrics=numeric(metrics), step=step)

    def run_finished(self, run: Retraining) -> None:
        store = self._store
        run_id = self.runs.get(run.key) or self._create(run)
        tags = {"outcome": "complete" if run.values is not None else "failed"}
        if run.reason:
            tags["failure_reason"] = run.reason[:MAX_VALUE]
        metrics = {f"value/{k}": v for k, v in (run.values or {}).items()}
        store.log(run_id, metrics=metrics, tags=tags)
        store.client.set_terminated(run_id, "FINISHED" if run.values is not None else "FAILED")
        self.finished.add(run.key)

    def recover_run(self, run: Retraining) -> None:
        if run.key not in self.finished:
            self.run_finished(run)

    def end(self, summary: ValidationSummary | None, *, interrupted: bool = False) -> None:
        if self.store is None:
            return
        store = self.store
        for key, run_id in self.runs.items():
            if key not in self.finished:
                # In flight when the validation stopped: trained again on the next invocation.
                store.log(run_id, tags={"outcome": "interrupted"})
                store.client.set_terminated(run_id, "KILLED")
                self.finished.add(key)
        if summary is not None:
            store.log(self.parent_id, metrics=summary.metrics)
            text = json.dumps(summary.report, indent=1)
            store.client.log_text(self.parent_id, text, "validation.json")
            report = summary.report
            fidelity = " ".join(f"{k}={v}" for k, v in report.get("fidelity", {}).items())
            figure = proxy_scaled_figure(summary, title=f"{report.get('study', '')} at {fidelity}")
            if figure is not None:
                store.client.log_figure(self.parent_id, figure, "validation.png")
        store.client.set_terminated(self.parent_id, "KILLED" if interrupted else "FINISHED")

    @property
    def _store(self) -> RunStore:
        assert self.store is not None, "start opens the store"
        return self.store

    def _create(self, run: Retraining) -> str:
        tags = {
            PARENT_TAG: self.parent_id,
            ROLE_TAG: "validation-run",
            KEY_TAG: run.key,
            NUMBER_TAG: str(run.number),
            "fidelity": run.fidelity,
            "seed": str(run.seed),
            "stack": run.stack[:MAX_VALUE],
        }
        name = f"{run.number}: {run.fidelity} seed {run.seed}"
        run_id = self._store.create_run(name, tags)
        self._store.log(run_id, params={"d_model": str(run.d_model), "seed": str(run.seed)})
        self.runs[run.key] = run_id
        return run_id


def proxy_scaled_figure(summary: ValidationSummary, title: str = "") -> Any:
    """One panel per measured objective: each trial's mean at the proxy (x) against its mean
    at scale (y), ± one standard deviation over seeds, front trials in red, labelled with
    their numbers; None without matplotlib or without a trial measured at both."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    labels = summary.labels
    both = [p for p in summary.points if any(k in p.proxy and k in p.scaled for k in labels)]
    if not labels or not both:
        return None
    figure = Figure(figsize=(4.5 * len(labels), 4.2), dpi=100)
    grid = figure.subplots(1, len(labels), squeeze=False)
    for axes, label in zip(grid[0], labels, strict=True):
        for front in (False, True):
            points = [p for p in both if p.on_front == front and label in p.proxy]
            points = [p for p in points if label in p.scaled]
            if not points:
                continue
            x = [p.proxy[label][0] for p in points]
            y = [p.scaled[label][0] for p in points]
            axes.errorbar(
                x,
                y,
                xerr=[p.proxy[label][1] for p in points],
                yerr=[p.scaled[label][1] for p in points],
                fmt="o",
                color="C3" if front else "0.55",
                label="proxy front" if front else "dominated at the proxy",
                markersize=6 if front else 4,
                capsize=2,
            )
            for p, xi, yi in zip(points, x, y, strict=True):
                axes.annotate(str(p.number), (xi, yi), fontsize=7, xytext=(3, 3),
                              textcoords="offset points")  # fmt: skip
        tau_rho = summary.correlations.get(label)
        stats = "" if tau_rho is None else f"  τ={tau_rho[0]:.2f}  ρ={tau_rho[1]:.2f}"
        axes.set(xlabel=f"{label} at the proxy", ylabel=f"{label} at scale", title=label + stats)
        axes.legend(loc="best", fontsize=7)
    figure.suptitle(f"{title}: proxy against scaled" if title else "proxy against scaled")
    figure.tight_layout()
    return figure
