"""Studies on a two-node Ray cluster on this machine (a head and a worker node started with
`ray start` on loopback, token authentication on), joined by address from the command line: the
driver is killed with SIGKILL mid-study and the same command resumes it; the worker node is lost
mid-trial and the study completes on the head."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from ray_helpers import descendants, end_processes, two_node_cluster
from study_helpers import write_study

pytestmark = [pytest.mark.ray, pytest.mark.slow]
HYBRIDLAB = str(Path(sys.executable).with_name("hybridlab"))


def load(folder: Path) -> optuna.Study:
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(folder / "study.journal")))
    return optuna.load_study(study_name="tiny", storage=storage)


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (KeyError, FileNotFoundError):  # the study does not exist yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def cluster_study(tmp_path: Path, trials: int, steps: int) -> Path:
    """A tiny study, two trials at a time (one per node: 1 CPU each), logged to MLflow."""
    executor = "{backend: ray, max_concurrent: 2, resources: {cpu: 1}, retries: 1}"
    extra = "tracking: mlflow\n"
    return write_study(tmp_path, trials=trials, steps=steps, executor=executor, extra=extra)


def start_driver(command: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_a_study_on_a_two_node_cluster_survives_its_driver_being_killed(tmp_path):
    path = cluster_study(tmp_path, trials=6, steps=150)
    folder = tmp_path / "out"
    with two_node_cluster(cpus_per_node=1) as cluster:
        env = {**os.environ, **cluster.env}
        command = [HYBRIDLAB, "study", "run", str(path), "--address", cluster.address]
        driver = start_driver(command, env, tmp_path / "first.log")
        try:

            def one_done_one_running() -> bool:
                states = [t.state for t in load(folder).trials]
                return TrialState.COMPLETE in states and TrialState.RUNNING in states

            wait_for(one_done_one_running, 240, "a complete and a running trial")
            started = descendants({driver.pid})
            driver.send_signal(signal.SIGKILL)
            driver.wait(timeout=30)
        finally:
            driver.kill()
            end_processes(descendants({driver.pid}) | (started - {driver.pid}))
        interrupted = [t.number for t in load(folder).trials if t.state == TrialState.RUNNING]
        assert interrupted

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=420)
        assert second.returncode == 0, second.stderr[-3000:]
        said = " ".join(second.stderr.split())  # rich wraps lines at the terminal's width
        assert f"{len(interrupted)} interrupted trial(s) re-enqueued" in said

    trials = load(folder).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 6
    assert sorted(t.number for t in trials if t.user_attrs.get("outcome") == "interrupted") == (
        interrupted
    )
    retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
    assert set(interrupted) <= retried

    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{folder}/mlflow.db")
    (experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
    runs = client.search_runs([experiment.experiment_id], "tags.`hybridlab.role` = 'trial'")
    by_status: dict[str, list] = {}
    for run in runs:
        by_status.setdefault(run.info.status, []).append(run)
    assert len(by_status["FINISHED"]) == 6 and len(by_status["KILLED"]) == len(interrupted)
    trained = [r for r in by_status["FINISHED"] if "train/loss" in r.data.metrics]
    nodes = {r.data.tags["worker.node_id"] for r in trained}
    assert len(nodes) == 2, f"the trials ran on {nodes}; both nodes should have been used"


def test_a_lost_worker_node_costs_its_trial_one_retry_and_the_study_completes(tmp_path):
    path = cluster_study(tmp_path, trials=3, steps=1000)
    folder = tmp_path / "out"
    with two_node_cluster(cpus_per_node=1) as cluster:
        command = [HYBRIDLAB, "study", "run", str(path), "--address", cluster.address]
        driver = start_driver(command, {**os.environ, **cluster.env}, tmp_path / "driver.log")
        try:
            wait_for(cluster.worker_node_busy, 240, "a trial running on the worker node")
            cluster.kill_worker_node()
            assert driver.wait(timeout=420) == 0, (tmp_path / "driver.log").read_text()[-3000:]
        finally:
            driver.kill()

    trials = load(folder).trials
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    (lost,) = [t for t in trials if t.user_attrs.get("fault")]
    assert lost.state == TrialState.FAIL and lost.user_attrs["retried"] is True
    assert lost.user_attrs["fault"] in ("node_lost", "worker_died"), lost.user_attrs
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == lost.number]
    assert retry.state == TrialState.COMPLETE and retry.params == lost.params
