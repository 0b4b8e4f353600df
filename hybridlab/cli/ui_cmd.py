"""`hybridlab ui STUDY.yaml`: the MLflow UI over a study's tracking store.

The UI is `mlflow ui` on 127.0.0.1 with one worker, started in its own process group: `mlflow`
leaves helper processes behind (uvicorn, its job runner, huey consumers) when only its own
process is killed. However `hybridlab ui` ends — Ctrl-C (SIGINT), SIGTERM (`kill`, `timeout`, a
supervisor), SIGHUP (a closed terminal), or the server exiting by itself — the whole group is
stopped (SIGTERM, then SIGKILL after a grace period) and the port is free again. The exit code
after a signal is 128 + its number, as a shell reports it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from hybridlab.cli.errors import fail

GRACE_S = 10.0
# How long helpers that outlived the leader get to exit on their own before SIGKILL.
HELPERS_GRACE_S = 2.0


def tracking_uri(plan) -> str:
    """The study's MLflow store: `tracking.uri`, or the sqlite file in its study folder."""
    if plan.tracking.uri:
        return plan.tracking.uri
    return f"sqlite:///{(plan.folder / 'mlflow.db').resolve()}"


def ui_command(uri: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip


def ui(
    study: Annotated[Path, typer.Argument(help="The study YAML file.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5000,
    overrides: Annotated[list[str] | None, typer.Argument(help="key=value overrides.")] = None,
) -> None:
    """Open the MLflow UI on a study's runs (`tracking: mlflow`); Ctrl-C stops it.

    Example: hybridlab ui studies/quickstart.yaml --port 5001
    """
    from hybridlab.study import StudyConfigError, load_plan

    if not 1 <= port <= 65535:
        fail(f"--port must be a TCP port, 1 to 65535, got {port}")
    try:
        plan = load_plan(study, overrides or [])
    except StudyConfigError as err:
        fail(str(err))
    if plan.tracking.uri and plan.tracking.uri.startswith(("http://", "https://")):
        print(f"the study logs to a tracking server: open {plan.tracking.uri}")
        return
    if not plan.tracking.uri and not (plan.folder / "mlflow.db").is_file():
        fail(
            f"no MLflow store in {plan.folder}: run the study with tracking: mlflow "
            f"(or the override tracking=mlflow) first"
        )
    if not port_is_free(port):
        fail(f"port {port} on 127.0.0.1 is in use; pick another with --port")
    uri = tracking_uri(plan)
    url = f"http://127.0.0.1:{port}/" + experiment_fragment(uri, plan.name)
    print(f"MLflow UI for {plan.name} on {url} (Ctrl-C stops it)", flush=True)
    raise typer.Exit(serve(ui_command(uri, port)))


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signum)


def serve(command: list[str]) -> int:
    """Run `command` in its own process group until it exits or this process is signalled;
    either way the whole group is stopped. Returns the exit code for `hybridlab ui`: 0 when the
    server exited cleanly, 1 when it failed, 128 + the signal's number when stopped by one."""
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    process = subprocess.Popen(command, start_new_session=True)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        stop_group(process)
        return 128 + signal.SIGINT
    except _Stopped as stopped:
        stop_group(process)
        return 128 + stopped.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # The server ended by itself: its helpers may still run in its group.
    stop_group(process)
    return 0 if code == 0 else 1


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port` (binding it succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def experiment_fragment(uri: str, name: str) -> str:
    """The UI's address of the study's experiment (`#/experiments/<id>/runs`), or "" if the
    store has none of that name yet."""
    import mlflow

    experiment = mlflow.MlflowClient(uri).get_experiment_by_name(name)
    return f"#/experiments/{experiment.experiment_id}/runs" if experiment else ""


def stop_group(process: subprocess.Popen[bytes]) -> int:
    """Stop the process group `process` leads (its own session): SIGTERM, the leader's exit
    awaited for GRACE_S (else SIGKILL), then a moment for the helpers still in the group and
    SIGKILL for those left. Returns the leader's exit code."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        code = process.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        code = process.wait()
    deadline = time.monotonic() + HELPERS_GRACE_S
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return code


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
