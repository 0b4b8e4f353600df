"""`tracking.uri=http://...`: a tiny study logged to a real `mlflow server` on loopback.

The server (a sqlite store, local artifacts) starts in its own session; teardown ends its whole
process group (uvicorn, MLflow's job runner and its huey consumers) and checks none is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import mlflow
import optuna
import pytest
from study_helpers import KIND_SPACE, write_study

from hybridlab.execution import worker as worker_module
from hybridlab.study import load_plan, run_study
from hybridlab.study.storage import open_study
from hybridlab.train import TrainResult

optuna.logging.set_verbosity(optuna.logging.WARNING)

pytestmark = pytest.mark.slow

STARTUP_S, STOP_S = 90.0, 5.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(process: subprocess.Popen, pgid: int) -> None:
    """SIGTERM to the server's process group, SIGKILL if any of it is alive after STOP_S; then
    wait for the group to be gone (the server's children are reaped by init, not by us)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_S)
        deadline = time.monotonic() + STOP_S
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _group_alive(pgid):
            break


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A `mlflow server` on 127.0.0.1 at a free port; yields its URL."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    folder = tmp_path / "server"
    folder.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
        "--default-artifact-root", str(folder / "artifacts"),
    ]  # fmt: skip
    log_path = folder / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pgid = process.pid  # start_new_session: the server leads its own process group
    try:
        deadline = time.monotonic() + STARTUP_S
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited ({process.returncode}):\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not up after {STARTUP_S} s:\n{log_path.read_text()}")
            time.sleep(0.25)
        yield url
    finally:
        _stop_group(process, pgid)
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)


def fake_training(spec, task, config, report=None):
    """Instant and deterministic in the spec."""
    for step in (1, 2):
        if report is not None:
            report(step, {"train/loss": 2.0 / step})
    accuracy = (len(spec.format()) * 7 % 11) / 11
    return TrainResult(status="ok", accuracy=accuracy, loss=1.0)


def test_a_study_logs_to_a_real_tracking_server(server, tmp_path, monkeypatch):
    monkeypatch.setattr(worker_module, "train_proxy", fake_training)
    path = write_study(tmp_path / "study", space=KIND_SPACE, trials=4, extra="tracking: mlflow\n")
    plan = load_plan(path, [f"tracking.uri={server}"])
    assert plan.tracking.uri == server
    run_study(plan)

    client = mlflow.MlflowClient(tracking_uri=server)
    experiment = client.get_experiment_by_name("tiny")
    assert experiment is not None

    def runs(role):
        query = f"tags.`hybridlab.role` = '{role}'"
        return client.search_runs([experiment.experiment_id], query, max_results=1000)

    parents = runs("study")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.info.run_name == "tiny"

    optuna_study = open_study(plan, create=False)
    trials = {t.number for t in optuna_study.get_trials()}
    assert len(trials) == 4
    children = runs("trial")
    numbers = [int(r.data.tags["trial_number"]) for r in children]
    assert sorted(numbers) == sorted(trials)
    for run in children:
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status in ("FINISHED", "FAILED")

    best = {t.number for t in optuna_study.best_trials}
    assert best
    pareto = {int(r.data.tags["trial_number"]) for r in children if r.data.tags["pareto"] == "true"}
    assert pareto == best
    # The server keeps the artifacts (front table and plot) under its default artifact root.
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"front.json", "pareto.png"} <= artifacts
