"""`hybridlab ui STUDY.yaml`: the MLflow UI over a study's tracking store.

The UI is `mlflow ui` on 127.0.0.1 with one worker, started in its own process group: `mlflow`
leaves helper processes behind when only its own process is killed, so Ctrl-C stops the whole
group (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from hybridlab.cli.errors import fail

GRACE_S = 10.0


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
    uri = tracking_uri(plan)
    url = f"http://127.0.0.1:{port}/" + experiment_fragment(uri, plan.name)
    print(f"MLflow UI for {plan.name} on {url} (Ctrl-C stops it)", flush=True)
    process = subprocess.Popen(ui_command(uri, port), start_new_session=True)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        code = stop_group(process)
    if code not in (0, -signal.SIGTERM, -signal.SIGINT):
        raise typer.Exit(1)


def experiment_fragment(uri: str, name: str) -> str:
    """The UI's address of the study's experiment (`#/experiments/<id>/runs`), or "" if the
    store has none of that name yet."""
    import mlflow

    experiment = mlflow.MlflowClient(uri).get_experiment_by_name(name)
    return f"#/experiments/{experiment.experiment_id}/runs" if experiment else ""


def stop_group(process: subprocess.Popen) -> int:
    """SIGTERM the process group of `process` (it leads its own session), SIGKILL if needed."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            return process.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            continue
    code = process.wait()
    # Helpers that outlived the leader (still in its group) go too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return code
