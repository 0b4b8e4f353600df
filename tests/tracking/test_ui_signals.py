"""However `hybridlab ui` ends, nothing of MLflow is left running and the port is free: Ctrl-C,
SIGTERM (kill, timeout, a supervisor), SIGHUP (a closed terminal), SIGKILL (kill -9), the server
dying. Each case starts the real MLflow UI (about 20 s on 2 cores)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from study_helpers import KIND_SPACE, write_study
from typer.testing import CliRunner

from hybridlab.cli import app
from hybridlab.execution import worker as worker_module
from hybridlab.study import load_plan, run_study
from hybridlab.train import TrainResult

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    """Any process of the group that is not a zombie waiting to be reaped."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


@pytest.fixture
def study_with_store(tmp_path, monkeypatch):
    monkeypatch.setattr(
        worker_module,
        "train_proxy",
        lambda spec, task, config, report=None: TrainResult(status="ok", accuracy=0.5, loss=1.0),
    )
    path = write_study(tmp_path, space=KIND_SPACE, trials=2, extra="tracking: mlflow\n")
    run_study(load_plan(path))
    return path


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(signal.SIGINT, id="sigint"),
        pytest.param(signal.SIGTERM, id="sigterm"),
        pytest.param(signal.SIGHUP, id="sighup"),
        # No handler runs: the group's guard sees the pipe from `hybridlab ui` close.
        pytest.param(signal.SIGKILL, id="sigkill"),
        pytest.param(None, id="server-dies"),
    ],
)
def test_the_whole_mlflow_group_ends_and_the_port_is_free(study_with_store, how):
    port = _free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "hybridlab", "ui", str(study_with_store), "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        # As from a terminal: a job started in the background (`cmd &`, as a CI script may run
        # the tests) inherits SIGINT ignored, and Ctrl-C could not reach it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    guard = None
    try:
        assert f"127.0.0.1:{port}" in ui.stdout.readline()
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "the MLflow UI never answered"
                time.sleep(0.5)
        # The group's leader is the guard; the MLflow server is its child.
        (guard,) = _children(ui.pid)
        (server,) = _children(guard)
        if how is None:
            os.kill(server, signal.SIGKILL)  # the server dies; its helpers are orphaned
            expected = 1
        elif how == signal.SIGKILL:
            os.kill(ui.pid, how)
            expected = -signal.SIGKILL
        else:
            os.kill(ui.pid, how)
            expected = 128 + how
        assert ui.wait(timeout=60) == expected
    finally:
        # The test failed: end what it started, helpers included.
        if ui.poll() is None:
            for pid in _children(ui.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            ui.kill()
        elif guard is not None and _group_alive(guard):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(guard, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while _group_alive(guard) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(guard), "MLflow helpers are still running"
    # A process killed a moment ago may still be closing its listening socket.
    deadline = time.monotonic() + 5
    while _answers(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _answers(port), "the port still answers"


@pytest.mark.parametrize("port", [0, -1, 99999], ids=["zero", "negative", "too-large"])
def test_a_port_that_is_no_tcp_port_is_refused(tmp_path, port):
    result = CliRunner().invoke(app, ["ui", str(write_study(tmp_path)), "--port", str(port)])
    assert result.exit_code == 2
    assert f"--port must be a TCP port, 1 to 65535, got {port}" in result.stderr


def test_a_port_in_use_is_refused_before_anything_starts(study_with_store):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["ui", str(study_with_store), "--port", str(port)])
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr
