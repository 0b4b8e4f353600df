"""`hybridlab ui`: the command it runs, a missing store, stopping the whole process group.

(Starting the real MLflow UI takes about 20 s on 2 cores; it was checked by hand: /health
answers, and Ctrl-C leaves none of its uvicorn and huey helpers behind.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from study_helpers import write_study
from typer.testing import CliRunner

from hybridlab.cli import app
from hybridlab.cli.serve import serve, stop_group
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


def test_sigkill_of_the_serving_command_ends_the_server_group_with_its_helpers():
    # `serve` in a process of its own, killed as `kill -9` would: no handler runs there.
    server = (
        "from hybridlab.cli.serve import serve; "
        "serve(['sh', '-c', 'sleep 60 & sleep 60 & wait'], 1, print)"
    )
    command = subprocess.Popen([sys.executable, "-c", server])
    try:
        deadline = time.monotonic() + 60
        while not (children := _children(command.pid)):
            assert time.monotonic() < deadline, "serve never started its guard"
            time.sleep(0.1)
        (guard,) = children
        while len(_group_members(guard)) < 4:  # the guard, sh and its two sleeps
            assert time.monotonic() < deadline, "the server never started its helpers"
            time.sleep(0.1)
        command.kill()
        command.wait()
        deadline = time.monotonic() + 15
        while _group_members(guard) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_members(guard), "the server group outlived the command"
    finally:
        if command.poll() is None:
            command.kill()


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _group_members(pgid: int) -> list[int]:
    """The processes of the group that are not zombies waiting to be reaped."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("http://127.0.0.1:1", id="nothing-listens"),
        pytest.param("https://127.0.0.1:9", id="https-nothing-listens"),
        pytest.param("http://127.0.0.1:99999", id="port-out-of-range"),
    ],
)
def test_a_tracking_server_that_does_not_answer_is_refused(tmp_path, uri):
    path = write_study(tmp_path, trials=1)
    result = CliRunner().invoke(app, ["ui", str(path), "tracking=mlflow", f"tracking.uri={uri}"])
    assert result.exit_code == 2, result.output
    assert f"tracking.uri: nothing answers at {uri} (" in result.stderr
    assert "open" not in result.stdout


def test_a_tracking_server_that_answers_is_named(tmp_path):
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        uri = f"http://127.0.0.1:{listening.getsockname()[1]}"
        path = write_study(tmp_path, trials=1)
        result = CliRunner().invoke(
            app, ["ui", str(path), "tracking=mlflow", f"tracking.uri={uri}"]
        )
    assert result.exit_code == 0, result.output
    assert f"the study logs to a tracking server: open {uri}" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_address_is_announced_once_the_server_answers():
    port = _free_port()
    answered = []

    def on_ready():
        # Something listens now; then stop as Ctrl-C would.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            answered.append(port)
        raise KeyboardInterrupt

    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    assert serve(server, port, on_ready) == 128 + signal.SIGINT
    assert answered == [port]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the port still answers"


def test_a_server_that_exits_before_answering_announces_nothing(capsys):
    announced = []
    code = serve([sys.executable, "-c", "raise SystemExit(3)"], _free_port(), announced.append)
    assert code == 1 and not announced
    assert "error: the server exited (code 3) before it answered on port" in capsys.readouterr().err
