"""`hybridlab dashboard`: optuna-dashboard on a study's storage, on loopback, stopped cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from study_helpers import write_study
from typer.testing import CliRunner

from hybridlab.cli import app
from hybridlab.execution import worker as worker_module
from hybridlab.study import load_plan, run_study
from hybridlab.train import TrainResult


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        pytest.param(signal.SIGTERM, 128 + signal.SIGTERM, id="sigterm"),
        # No handler runs: the group's guard sees the pipe from `hybridlab dashboard` close.
        pytest.param(signal.SIGKILL, -signal.SIGKILL, id="sigkill"),
    ],
)
def test_the_dashboard_serves_the_study_and_a_signal_stops_all_of_it(
    tmp_path, monkeypatch, how, expected
):
    monkeypatch.setattr(
        worker_module,
        "train_proxy",
        lambda spec, task, config, report=None: TrainResult(status="ok", accuracy=0.5, loss=1.0),
    )
    path = write_study(tmp_path, trials=2)
    run_study(load_plan(path))
    port = _free_port()
    dashboard = subprocess.Popen(
        [sys.executable, "-m", "hybridlab", "dashboard", str(path), "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert f"http://127.0.0.1:{port}/" in dashboard.stdout.readline()
        deadline = time.monotonic() + 60
        while True:
            try:
                url = f"http://127.0.0.1:{port}/api/studies"
                with urllib.request.urlopen(url, timeout=2) as response:
                    studies = json.load(response)["study_summaries"]
                break
            except OSError:
                assert time.monotonic() < deadline, "optuna-dashboard never answered"
                time.sleep(0.3)
        assert [s["study_name"] for s in studies] == ["tiny"]
        # The group's leader: the guard, whose child is optuna-dashboard.
        with open(f"/proc/{dashboard.pid}/task/{dashboard.pid}/children") as f:
            (group,) = [int(p) for p in f.read().split()]
        os.kill(dashboard.pid, how)
        assert dashboard.wait(timeout=30) == expected
    finally:
        if dashboard.poll() is None:
            dashboard.kill()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(group, signal.SIGKILL)
        pytest.fail("the dashboard's process group outlived the command")
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the port still answers"


def test_a_study_that_has_not_run_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["dashboard", str(write_study(tmp_path)), "--port", "8123"])
    assert result.exit_code == 2
    assert "no study in" in result.stderr and "hybridlab study run" in result.stderr


def _study_that_ran(tmp_path, monkeypatch):
    monkeypatch.setattr(
        worker_module,
        "train_proxy",
        lambda spec, task, config, report=None: TrainResult(status="ok", accuracy=0.5, loss=1.0),
    )
    path = write_study(tmp_path, trials=1)
    run_study(load_plan(path))
    return path, tmp_path / "out" / "study.journal"


def test_a_corrupt_journal_record_is_named_before_the_dashboard_starts(tmp_path, monkeypatch):
    path, journal = _study_that_ran(tmp_path, monkeypatch)
    lines = journal.read_bytes().splitlines(keepends=True)
    lines.insert(2, b'{"op_code": 4, broken\n')
    journal.write_bytes(b"".join(lines))
    result = CliRunner().invoke(app, ["dashboard", str(path), "--port", str(_free_port())])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert f"{journal}' cannot be read: line 3 is no JSON record" in result.stderr
    assert journal.read_bytes() == b"".join(lines)


def test_a_torn_journal_tail_is_set_aside_before_the_dashboard_starts(tmp_path, monkeypatch):
    from hybridlab.cli import dashboard_cmd
    from hybridlab.study.storage import TornJournalWarning

    path, journal = _study_that_ran(tmp_path, monkeypatch)
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"op_code": 6, "wor')
    served = []
    monkeypatch.setattr(
        dashboard_cmd, "serve", lambda command, port, on_ready: served.append(command) or 0
    )
    with pytest.warns(TornJournalWarning, match="study.journal.torn-"):
        result = CliRunner().invoke(app, ["dashboard", str(path), "--port", str(_free_port())])
    assert result.exit_code == 0, result.output
    assert journal.read_bytes() == whole and len(served) == 1
