"""`tracking: mlflow` against a real sqlite store: runs one-for-one with Optuna's trials, parent
and child links, the front as tags, failures, resume after a crash, an unreachable server.

One study (and one sqlite store: MLflow's first migration takes seconds) serves the module: a
first run where training fails once and some samples are infeasible, a crash (an Optuna trial
and its MLflow run left RUNNING), then a resume with a larger budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import optuna
import pandas
import pytest
from optuna.trial import TrialState
from study_helpers import KIND_SPACE, write_study
from typer.testing import CliRunner

from hybridlab.execution import worker as worker_module
from hybridlab.results import Fault
from hybridlab.study import load_plan, run_study
from hybridlab.study.storage import open_study
from hybridlab.tracking import Outcome, StudyEnd, StudyStart, TrialRecord
from hybridlab.tracking.mlflow_tracker import MLflowTracker, run_name
from hybridlab.tracking.mlflow_view import VIEW_TAG, front_address
from hybridlab.train import TrainResult

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = KIND_SPACE + "constraints:\n  - \"kind != 'scan' or d_model == 16\"\n"


def fake_training(spec, task, config, report=None):
    """Instant and deterministic in the spec; the first call of a study raises."""
    fake_training.calls += 1
    if fake_training.calls == 1:
        raise RuntimeError("boom inside training")
    for step in (1, 2):
        if report is not None:
            report(step, {"train/loss": 2.0 / step})
    accuracy = (len(spec.format()) * 7 % 11) / 11
    return TrainResult(status="ok", accuracy=accuracy, loss=1.0)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow_study")
    fake_training.calls = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(worker_module, "train_proxy", fake_training)
        path = write_study(folder, space=SPACE, trials=4, extra="tracking: mlflow\n")
        plan = load_plan(path)
        first = run_study(plan)
        client = mlflow.tracking.MlflowClient(f"sqlite:///{plan.folder.resolve()}/mlflow.db")
        experiment = client.get_experiment_by_name("tiny")
        first_parent = _runs(client, experiment, "study")[0].info.run_id
        # A crash mid-trial: Optuna's trial, its MLflow run and the parent run left RUNNING.
        optuna_study = open_study(plan, create=False)
        optuna_study.enqueue_trial({"d_model": 16, "kind": "ssd", "d_state": 4})
        zombie = optuna_study.ask()
        proposal = plan.space.propose(zombie, plan.task.vocab_size)
        crashed = MLflowTracker()
        crashed.start_study(
            StudyStart(
                name="tiny",
                folder=plan.folder,
                storage="journal",
                labels=plan.labels,
                directions=plan.directions,
                settings=plan.summary(),
            )
        )
        crashed.log_trial_started(
            TrialRecord(zombie.number, "running", params=proposal.params, stack="ssd")
        )
        crashed.log_metrics(zombie.number, 1, {"train/loss": 3.0})
        resumed = run_study(load_plan(path, ["budget.trials=7"]))
    return {
        "plan": plan,
        "client": client,
        "experiment": experiment,
        "first_parent": first_parent,
        "zombie": zombie.number,
        "summaries": (first, resumed),
    }


def _runs(client, experiment, role):
    return client.search_runs(
        [experiment.experiment_id], f"tags.`hybridlab.role` = '{role}'", max_results=1000
    )


def _trials(study):
    return {t.number: t for t in open_study(study["plan"], create=False).get_trials()}


def test_one_parent_run_reused_on_resume(study):
    parents = _runs(study["client"], study["experiment"], "study")
    assert [p.info.run_id for p in parents] == [study["first_parent"]]
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.info.run_name == "tiny"
    assert parent.data.params["train.steps"] == "3" and parent.data.params["task.name"] == "mqar"
    assert parent.data.tags["summary.trained"] == "7"
    # The hypervolume is logged against the number of complete trials, and never decreases.
    history = study["client"].get_metric_history(parent.info.run_id, "hypervolume")
    values = [m.value for m in sorted(history, key=lambda m: m.step)]
    assert values == sorted(values) and history
    # The front as MLflow's tables are stored (pandas' "split" layout), flagged as a table.
    # (MlflowClient.load_table searches the fluent API's default store, not the client's.)
    assert '"type": "table"' in parent.data.tags["mlflow.loggedArtifacts"]
    front = pandas.read_json(
        study["client"].download_artifacts(parent.info.run_id, "front.json"), orient="split"
    )
    best = open_study(study["plan"], create=False).best_trials
    assert sorted(front["trial_number"]) == sorted(t.number for t in best)
    artifacts = {a.path for a in study["client"].list_artifacts(parent.info.run_id)}
    assert {"front.json", "pareto.png", "pareto.html"} <= artifacts
    html = Path(study["client"].download_artifacts(parent.info.run_id, "pareto.html")).read_text()
    # Offline: plotly's JavaScript is embedded, no script is fetched from a CDN.
    assert "Plotly.newPlot" in html and '<script src="http' not in html


def test_runs_one_for_one_with_trials_and_no_duplicates_after_resume(study):
    children = _runs(study["client"], study["experiment"], "trial")
    numbers = [int(r.data.tags["trial_number"]) for r in children]
    assert sorted(numbers) == sorted(_trials(study)) and len(set(numbers)) == len(numbers)
    for run in children:
        assert run.data.tags["mlflow.parentRunId"] == study["first_parent"]
        assert run.data.tags["hybridlab.study"] == "tiny"


def test_child_runs_carry_params_tags_metrics_and_status(study):
    trials = _trials(study)
    status = {"complete": "FINISHED", "failed": "FAILED", "infeasible": "FAILED"}
    status["interrupted"] = "KILLED"
    for run in _runs(study["client"], study["experiment"], "trial"):
        trial = trials[int(run.data.tags["trial_number"])]
        outcome = trial.user_attrs["outcome"]
        assert run.info.status == status[outcome], (trial.number, outcome)
        assert {f"knobs.{k}": str(v) for k, v in trial.params.items()}.items() <= {
            k: v.strip('"') for k, v in run.data.params.items()
        }.items()
        if outcome == "complete":
            assert run.data.tags["stack"] == trial.user_attrs["stack"]
            assert run.data.tags["pattern"] == trial.user_attrs["pattern"]
            assert run.data.params["train.batch_size"] == "4"
            for label, value in zip(study["plan"].labels, trial.values, strict=True):
                assert run.data.metrics[f"obj/{label}"] == pytest.approx(value)
            if "duplicate_of" not in trial.user_attrs:
                history = study["client"].get_metric_history(run.info.run_id, "train/loss")
                assert [m.step for m in history] == [1, 2]
        if outcome in ("failed", "infeasible"):
            assert run.data.tags["failure_reason"] == trial.user_attrs["failure_reason"]
        if outcome == "infeasible":
            assert run.data.tags["infeasible"] == "true"
            assert "does not hold" in run.data.tags["failure_reason"]
    outcomes = {t.user_attrs["outcome"] for t in trials.values()}
    assert {"complete", "failed", "infeasible", "interrupted"} <= outcomes


def test_a_run_left_running_by_a_crash_is_killed_and_its_trial_rerun(study):
    runs = {
        int(r.data.tags["trial_number"]): r
        for r in _runs(study["client"], study["experiment"], "trial")
    }
    assert runs[study["zombie"]].info.status == "KILLED"
    rerun = [t for t in _trials(study).values() if t.user_attrs.get("retry_of") == study["zombie"]]
    assert len(rerun) == 1 and runs[rerun[0].number].info.status == "FINISHED"
    assert study["summaries"][1].interrupted == [study["zombie"]]


def test_pareto_tags_match_optunas_best_trials(study):
    best = {t.number for t in open_study(study["plan"], create=False).best_trials}
    trials = _trials(study)
    for run in _runs(study["client"], study["experiment"], "trial"):
        number = int(run.data.tags["trial_number"])
        on_front = number in best
        assert run.data.tags["pareto"] == ("true" if on_front else "false"), number
        if trials[number].state == TrialState.COMPLETE:
            assert (run.data.tags["pareto_rank"] == "1") == on_front
            assert int(run.data.tags["pareto_rank"]) >= 1
        else:
            assert "pareto_rank" not in run.data.tags


def test_the_front_view_lists_each_front_trial_with_every_objective_and_its_stack(study):
    """The shared view `hybridlab ui` opens: its filter finds exactly the front trials, and its
    columns are metrics and tags those runs carry."""
    client, plan = study["client"], study["plan"]
    experiment = client.get_experiment(study["experiment"].experiment_id)
    view = json.loads(experiment.tags[VIEW_TAG])
    shown = client.search_runs([experiment.experiment_id], view["searchFilter"])
    best = {t.number for t in open_study(plan, create=False).best_trials}
    assert {int(r.data.tags["trial_number"]) for r in shown} == best
    objectives = [f"metrics.`obj/{label}`" for label in plan.labels]
    assert view["selectedColumns"] == [*objectives, "tags.`pattern`", "tags.`stack`"]
    assert view["orderByKey"] == objectives[0]
    assert view["orderByAsc"] == (plan.directions[0] == "minimize")
    for run in shown:
        assert {f"obj/{label}" for label in plan.labels} <= set(run.data.metrics)
        # The run name carries the architecture: visible even where only that column fits.
        number, stack = run.data.tags["trial_number"], run.data.tags["stack"]
        assert stack and run.info.run_name == f"{number}: {stack}"
    uri = f"sqlite:///{plan.folder.resolve()}/mlflow.db"
    runs = f"#/experiments/{experiment.experiment_id}/runs"
    assert front_address(uri, "tiny") == f"{runs}?viewStateShareKey=pareto-front"
    assert front_address(uri, "no-such-study") == ""


def test_a_long_stack_is_cut_in_the_run_name_and_kept_whole_in_its_tag():
    name = run_name(7, "ssd(d_state=8), mlp, " * 30)
    assert len(name) == 200 and name.startswith("7: ssd(d_state=8), mlp") and name.endswith("…")
    assert run_name(7, "") == "trial-7"


def test_a_store_without_the_front_view_opens_on_the_runs_page(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    experiment_id = mlflow.tracking.MlflowClient(uri).create_experiment("older")
    assert front_address(uri, "older") == f"#/experiments/{experiment_id}/runs"


def test_an_unreachable_tracking_server_is_a_config_error_before_training(tmp_path, monkeypatch):
    from hybridlab.cli import app

    trained = []
    monkeypatch.setattr(worker_module, "train_proxy", lambda *a, **k: trained.append(a))
    path = write_study(tmp_path, trials=1)
    overrides = ["tracking=mlflow", "tracking.uri=http://127.0.0.1:9"]
    result = CliRunner().invoke(app, ["study", "run", str(path), *overrides])
    assert result.exit_code == 2, result.output
    assert "tracking.uri" in result.stderr and "cannot be reached" in result.stderr
    assert trained == []
    assert not (tmp_path / "out").exists(), "nothing is written before the check"


def test_tracking_settings_are_checked_at_load(tmp_path):
    from hybridlab.config import StudyConfigError

    path = write_study(tmp_path, trials=1)
    assert load_plan(path, ["tracking=mlflow"]).tracking.backend == "mlflow"
    plan = load_plan(path, ["tracking=mlflow", "tracking.uri=sqlite:///x.db"])
    assert plan.tracking.uri == "sqlite:///x.db"
    with pytest.raises(StudyConfigError, match=r"tracking\.uri needs a tracking backend"):
        load_plan(path, ["tracking.uri=sqlite:///x.db"])
    with pytest.raises(StudyConfigError, match="unknown tracking backend 'wandb'"):
        load_plan(path, ["tracking=wandb"])


def test_pareto_tags_equal_optunas_best_trials_after_every_trial(tmp_path, monkeypatch):
    """A second tracker, called after MLflow's, reads the store each time the front moves."""
    from hybridlab.tracking import Tracker

    monkeypatch.setattr(worker_module, "train_proxy", fake_training)
    fake_training.calls = 1  # no failure in this study
    path = write_study(tmp_path, space=KIND_SPACE, trials=5, extra="tracking: mlflow\n")
    plan = load_plan(path)
    client = mlflow.tracking.MlflowClient(f"sqlite:///{plan.folder.resolve()}/mlflow.db")
    checks = []

    class Checker(Tracker):
        def update_front(self, update):
            best = {t.number for t in open_study(plan, create=False).best_trials}
            experiment = client.get_experiment_by_name("tiny")
            runs = _runs(client, experiment, "trial")
            tagged = {
                int(r.data.tags["trial_number"])
                for r in runs
                if r.data.tags.get("pareto") == "true"
            }
            checks.append(tagged == best == {p.number for p in update.front})

    run_study(plan, trackers=[Checker()])
    assert len(checks) >= 5 and all(checks), checks


def test_a_trial_completed_just_before_the_driver_stopped_is_finished_in_mlflow_on_resume(
    tmp_path, monkeypatch
):
    fake_training.calls = 1  # no failure in this study
    monkeypatch.setattr(worker_module, "train_proxy", fake_training)
    path = write_study(tmp_path, space=SPACE, trials=2, extra="tracking: mlflow\n")
    real = MLflowTracker.log_trial_finished

    def stop_at_the_second(self, record):
        if record.outcome == "complete" and self.book.values:
            raise KeyboardInterrupt  # after Optuna's tell, before this log
        real(self, record)

    monkeypatch.setattr(MLflowTracker, "log_trial_finished", stop_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        run_study(load_plan(path))
    monkeypatch.setattr(MLflowTracker, "log_trial_finished", real)
    plan = load_plan(path, ["budget.trials=3"])
    run_study(plan)

    client = mlflow.tracking.MlflowClient(f"sqlite:///{plan.folder.resolve()}/mlflow.db")
    runs = {
        int(r.data.tags["trial_number"]): r
        for r in _runs(client, client.get_experiment_by_name("tiny"), "trial")
    }
    complete = [
        t for t in open_study(plan, create=False).get_trials() if t.state == TrialState.COMPLETE
    ]
    assert len(complete) == 3
    for trial in complete:
        run = runs[trial.number]
        assert (run.info.status, run.data.tags["outcome"]) == ("FINISHED", "complete")
        for label, value in zip(plan.labels, trial.values, strict=True):
            assert run.data.metrics[f"obj/{label}"] == pytest.approx(value)
    best = {t.number for t in open_study(plan, create=False).best_trials}
    assert {n for n, r in runs.items() if r.data.tags.get("pareto") == "true"} == best


def test_trials_run_before_tracking_was_on_get_runs_on_the_next_start(tmp_path, monkeypatch):
    fake_training.calls = 1
    monkeypatch.setattr(worker_module, "train_proxy", fake_training)
    path = write_study(tmp_path, space=SPACE, trials=2)
    run_study(load_plan(path))
    plan = load_plan(path, ["budget.trials=3", "tracking=mlflow"])
    run_study(plan)
    client = mlflow.tracking.MlflowClient(f"sqlite:///{plan.folder.resolve()}/mlflow.db")
    runs = _runs(client, client.get_experiment_by_name("tiny"), "trial")
    trials = open_study(plan, create=False).get_trials()
    assert sorted(int(r.data.tags["trial_number"]) for r in runs) == [t.number for t in trials]
    assert all(r.info.status == "FINISHED" for r in runs if r.data.tags["outcome"] == "complete")


def test_a_study_that_says_nothing_of_tracking_logs_to_mlflow(tmp_path, monkeypatch):
    monkeypatch.setattr(worker_module, "train_proxy", fake_training)
    fake_training.calls = 1
    path = write_study(tmp_path, space=KIND_SPACE, trials=2)
    path.write_text(path.read_text().replace("tracking: none\n", ""))
    plan = load_plan(path)
    assert plan.tracking.backend == "mlflow" and plan.tracking.uri is None
    run_study(plan)
    client = mlflow.tracking.MlflowClient(f"sqlite:///{plan.folder.resolve()}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny")
    assert len(_runs(client, experiment, "trial")) == 2
    # `tracking: none` opts out.
    assert load_plan(path, ["tracking=none"]).tracking.backend == "none"


@pytest.mark.parametrize(
    ("stopped_by", "status"),
    [("trials", "FINISHED"), ("", "KILLED")],
    ids=["budget-spent", "interrupted"],
)
def test_a_study_start_opens_the_parent_run_and_its_end_closes_it(tmp_path, stopped_by, status):
    tracker = MLflowTracker()
    tracker.start_study(
        StudyStart(
            name="direct",
            folder=tmp_path,
            storage="journal",
            labels=["accuracy"],
            directions=["maximize"],
            settings={"train": {"steps": 3}},
        )
    )
    tracker.log_trial_started(TrialRecord(0, Outcome.RUNNING, stack="attn"))
    tracker.log_trial_finished(
        TrialRecord(0, Outcome.FAILED, stack="attn", reason="out of memory", fault="oom")
    )
    tracker.end_study(
        StudyEnd(
            trained=1,
            complete=0,
            failed=1,
            infeasible=0,
            pruned=0,
            retried=1,
            front_size=0,
            hypervolume=None,
            wall_time_s=1.5,
            stopped_by=stopped_by,
        )
    )

    client = mlflow.tracking.MlflowClient(f"sqlite:///{tmp_path.resolve()}/mlflow.db")
    experiment = client.get_experiment_by_name("direct")
    (parent,) = _runs(client, experiment, "study")
    assert parent.info.status == status and parent.data.params["train.steps"] == "3"
    summary = {k: v for k, v in parent.data.tags.items() if k.startswith("summary.")}
    assert summary == {
        "summary.trained": "1",
        "summary.complete": "0",
        "summary.failed": "1",
        "summary.infeasible": "0",
        "summary.front_size": "0",
        "summary.stopped_by": stopped_by,
    }
    (child,) = _runs(client, experiment, "trial")
    assert (child.info.status, child.data.tags["fault"]) == ("FAILED", "oom")


def test_a_trial_records_fault_is_read_into_a_fault_and_an_unknown_one_refused():
    assert TrialRecord(0, Outcome.FAILED, fault="node_lost").fault is Fault.NODE_LOST
    with pytest.raises(ValueError, match="'lost_in_space' is not a valid Fault"):
        TrialRecord(0, Outcome.FAILED, fault="lost_in_space")
