"""Studies on a real local Ray (one instance shared by the session): trials run as Ray Tune
trials in worker processes, only the driver writes Optuna and MLflow, and a worker killed
mid-trial is recorded failed, retried, and the study completes."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from optuna.trial import TrialState
from study_helpers import write_study

from hybridlab.execution.ray_executor import RayExecutor
from hybridlab.study import load_plan, run_study
from hybridlab.study.storage import open_study
from hybridlab.tracking import Tracker


def mlflow_trial_runs(folder: Path) -> dict[int, object]:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{folder}/mlflow.db")
    (experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
    runs = client.search_runs([experiment.experiment_id], "tags.`hybridlab.role` = 'trial'")
    return {int(r.data.tags["trial_number"]): r for r in runs}


class Recorder(Tracker):
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.metric_threads: set[str] = set()
        self.metric_steps: dict[int, list[int]] = {}

    def log_trial_started(self, trial) -> None:
        self.calls.append(("started", trial.number))

    def log_metrics(self, number, step, metrics) -> None:
        self.metric_threads.add(threading.current_thread().name)
        self.metric_steps.setdefault(number, []).append(step)

    def log_trial_finished(self, record) -> None:
        self.calls.append((record.outcome, record.number))


@pytest.mark.ray
@pytest.mark.slow
def test_a_study_runs_on_local_ray_and_only_the_driver_logs(tmp_path, ray_local):
    path = write_study(
        tmp_path,
        trials=4,
        steps=20,
        executor="{backend: ray, max_concurrent: 2, resources: {cpu: 1}}",
        extra="tracking: mlflow\n",
    )
    plan = load_plan(path)
    recorder = Recorder()
    summary = run_study(plan, trackers=[recorder])

    assert (summary.trained, summary.complete, summary.failed) == (4, 4, 0)
    # Two trials were in flight at once: the second started before the first finished.
    assert [kind for kind, _ in recorder.calls[:2]] == ["started", "started"]
    node_id = ray_local.get_runtime_context().get_node_id()
    trials = open_study(plan, create=False).trials
    # Intermediate metrics reached the trackers, in the driver's thread, for every trial trained
    # (a repeat of an architecture already trained reuses its result: `duplicate_of`).
    assert recorder.metric_threads == {threading.main_thread().name}
    trained = [t.number for t in trials if "duplicate_of" not in t.user_attrs]
    assert sorted(recorder.metric_steps) == trained and len(trained) >= 3
    for trial in trials:
        worker = trial.user_attrs["worker"]
        assert worker["node_id"] == node_id and worker["pid"] != os.getpid()
        assert worker["torch_threads"] == 1  # = the trial's CPUs
        assert worker["triton_cache_dir"] == str((plan.folder / "triton-cache").resolve())
        assert worker["mlflow_env"] == []  # the Ray workers had MLFLOW_RUN_ID; trials drop it
    runs = mlflow_trial_runs(plan.folder)
    assert sorted(runs) == [0, 1, 2, 3]
    for number, run in runs.items():
        assert run.info.status == "FINISHED"
        assert run.data.tags["worker.node_id"] == node_id
        assert run.data.tags["worker.pid"] == str(trials[number].user_attrs["worker"]["pid"])
        assert ("train/loss" in run.data.metrics) == (number in trained)


class Killer:
    """Kills trial 0's worker process with SIGKILL as soon as it reports a metric."""

    def __init__(self) -> None:
        self.executor: RayExecutor | None = None
        self.killed: int | None = None

    def on_metrics(self, number: int, step: int, metrics: dict) -> None:
        if number == 0 and self.killed is None:
            self.killed = self.executor.workers[0]["pid"]
            os.kill(self.killed, signal.SIGKILL)


@pytest.mark.ray
@pytest.mark.slow
def test_a_worker_killed_mid_trial_is_recorded_failed_retried_and_the_study_completes(
    tmp_path, ray_local
):
    path = write_study(
        tmp_path, trials=3, steps=300, executor="{backend: ray}", extra="tracking: mlflow\n"
    )
    plan = load_plan(path)
    killer = Killer()
    killer.executor = RayExecutor(killer.on_metrics, folder=plan.folder, max_concurrent=1)
    summary = run_study(plan, executor=killer.executor)

    assert killer.killed is not None
    assert (summary.trained, summary.complete, summary.failed, summary.retried) == (3, 3, 0, 1)
    trials = open_study(plan, create=False).trials
    assert [t.state for t in trials] == [TrialState.FAIL] + [TrialState.COMPLETE] * 3
    killed, retry = trials[0], trials[1]
    assert killed.user_attrs["fault"] == "worker_died" and killed.user_attrs["retried"] is True
    assert "worker process died" in killed.user_attrs["failure_reason"]
    assert (retry.user_attrs["retry_of"], retry.params) == (0, killed.params)
    assert retry.user_attrs["worker"]["pid"] != killer.killed
    runs = mlflow_trial_runs(plan.folder)
    assert [runs[n].info.status for n in range(4)] == ["FAILED"] + ["FINISHED"] * 3
    tags = runs[0].data.tags
    assert (tags["fault"], tags["retried"]) == ("worker_died", "true")
    assert tags["failure_reason"] == killed.user_attrs["failure_reason"]


@pytest.mark.ray
def test_a_dead_tune_loop_stops_the_study_with_a_message_and_keeps_it_resumable(
    tmp_path, ray_local, monkeypatch
):
    from ray import tune

    from hybridlab.execution import ExecutorFailed

    def broken_fit(self):
        raise RuntimeError("tune broke")

    monkeypatch.setattr(tune.Tuner, "fit", broken_fit)
    plan = load_plan(write_study(tmp_path, trials=2, executor="{backend: ray}"))
    with pytest.raises(ExecutorFailed, match="RuntimeError: tune broke; run the same command"):
        run_study(plan)
    trials = open_study(plan, create=False).trials
    ran = [t for t in trials if t.state != TrialState.WAITING]
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert ran and all(t.user_attrs["outcome"] == "interrupted" for t in ran)
    # ... and re-enqueued, to run first when the same command runs again.
    assert sorted(t.user_attrs["retry_of"] for t in waiting) == [t.number for t in ran]


@pytest.mark.ray
def test_resources_the_cluster_cannot_fit_are_a_config_error_before_anything_is_written(
    tmp_path, ray_local
):
    from hybridlab.config import StudyConfigError

    plan = load_plan(write_study(tmp_path, executor="{backend: ray, resources: {cpu: 3}}"))
    with pytest.raises(StudyConfigError, match=r"executor.resources: .* do not fit .*2 CPU"):
        run_study(plan)
    assert not plan.folder.exists()


def test_an_unreachable_cluster_address_exits_2_in_seconds_with_nothing_written(tmp_path):
    import subprocess
    import sys
    import time

    from ray_helpers import free_port

    path = write_study(tmp_path, executor="{backend: ray}")
    address = f"127.0.0.1:{free_port()}"
    hybridlab = str(Path(sys.executable).with_name("hybridlab"))
    start = time.monotonic()
    done = subprocess.run(
        [hybridlab, "study", "run", str(path), "--address", address],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert f"executor.address: cannot reach the Ray cluster at {address}" in done.stderr
    assert time.monotonic() - start < 60
    assert not (tmp_path / "out").exists()
