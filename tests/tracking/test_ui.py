"""`hybridlab ui`: the command it runs, a missing store, stopping the whole process group.

(Starting the real MLflow UI takes about 20 s on 2 cores; it was checked by hand: /health
answers, and Ctrl-C leaves none of its uvicorn and huey helpers behind.)
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from study_helpers import write_study
from typer.testing import CliRunner

from hybridlab.cli import app
from hybridlab.cli.serve import stop_group
from hybridlab.cli.ui_cmd import tracking_uri, ui_command
from hybridlab.study import load_plan


def test_the_ui_listens_on_localhost_with_one_worker_on_the_study_store(tmp_path):
    plan = load_plan(write_study(tmp_path, trials=1), ["tracking=mlflow"])
    uri = tracking_uri(plan)
    assert uri == f"sqlite:///{(tmp_path / 'out' / 'mlflow.db').resolve()}"
    command = ui_command(uri, 5123)
    assert command[1:4] == ["-m", "mlflow", "ui"]
    for flag, value in (("--host", "127.0.0.1"), ("--port", "5123"), ("--workers", "1")):
        assert command[command.index(flag) + 1] == value
    plan = load_plan(
        write_study(tmp_path, trials=1), ["tracking=mlflow", "tracking.uri=sqlite:///a.db"]
    )
    assert tracking_uri(plan) == "sqlite:///a.db"


def test_ui_without_a_store_is_a_clear_error(tmp_path):
    path = write_study(tmp_path, trials=1)
    result = CliRunner().invoke(app, ["ui", str(path), "--port", "5124"])
    assert result.exit_code == 2
    assert "no MLflow store" in result.stderr and "tracking=mlflow" in result.stderr


def test_stop_group_stops_the_leader_and_its_helpers():
    process = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True)
    stop_group(process)
    # The orphaned sleeps are reaped by init, not by us: give it a moment.
    deadline = time.monotonic() + 5
    with pytest.raises(ProcessLookupError):
        while time.monotonic() < deadline:
            os.killpg(process.pid, 0)
            time.sleep(0.05)


def test_ui_on_a_store_that_is_no_database_is_a_clear_error(tmp_path):
    path = write_study(tmp_path, trials=1)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mlflow.db").write_bytes(b"\x00\xbe\xff" * 2000)
    result = CliRunner().invoke(app, ["ui", str(path), "tracking=mlflow", "--port", "5125"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "cannot be read" in result.stderr and "is it an MLflow database?" in result.stderr
