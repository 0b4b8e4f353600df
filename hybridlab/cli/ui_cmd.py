"""`hybridlab ui STUDY.yaml`: the MLflow UI over a study's tracking store.

The UI is `mlflow ui` on 127.0.0.1 with one worker, served by `hybridlab.cli.serve`: its address
is printed once it answers (about 30 s on 2 cores; MLflow's own lines go to stderr), and however
`hybridlab ui` ends, MLflow's whole process group ends with it and the port is free again. A
study that logs to a tracking server (`tracking.uri: http://...`) gets that server's address,
once it answers.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hybridlab.cli.errors import fail
from hybridlab.cli.serve import check_port, serve
from hybridlab.tracking.mlflow_view import front_address


def tracking_uri(plan) -> str:
    """The study's MLflow store: `tracking.uri`, or the sqlite file in its study folder."""
    if plan.tracking.uri:
        return plan.tracking.uri
    return f"sqlite:///{(plan.folder / 'mlflow.db').resolve()}"


def server_error(uri: str) -> str | None:
    """Why nothing answers at the http(s) `uri` ("Connection refused"), or None if a TCP
    connection to its host and port opens."""
    from urllib.parse import urlsplit

    from hybridlab.config.addresses import connect_error

    parts = urlsplit(uri)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as err:  # a port that is no number, or out of range
        return str(err)
    if not parts.hostname:
        return "no host in the URI"
    return connect_error(parts.hostname, port)


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

    check_port(port)
    try:
        plan = load_plan(study, overrides or [])
    except StudyConfigError as err:
        fail(str(err))
    if plan.tracking.uri and plan.tracking.uri.startswith(("http://", "https://")):
        problem = server_error(plan.tracking.uri)
        if problem is not None:
            fail(
                f"tracking.uri: nothing answers at {plan.tracking.uri} ({problem}); start the "
                f"MLflow server there, or correct the URI"
            )
        print(f"the study logs to a tracking server: open {plan.tracking.uri}")
        return
    if not plan.tracking.uri and not (plan.folder / "mlflow.db").is_file():
        fail(
            f"no MLflow store in {plan.folder}: run the study with tracking: mlflow "
            f"(or the override tracking=mlflow) first"
        )
    check_port(port, free=True)
    uri = tracking_uri(plan)
    try:
        fragment = front_address(uri, plan.name)
    except Exception as err:  # MLflow raises many types for a store it cannot read
        message = " ".join(str(err).split())[:300] or type(err).__name__
        fail(f"the MLflow store {uri} cannot be read ({message}); is it an MLflow database?")
    url = f"http://127.0.0.1:{port}/" + fragment

    def announce() -> None:
        print(f"MLflow UI for {plan.name} on {url} (Ctrl-C stops it)", flush=True)
        if "viewStateShareKey" in fragment:
            print(
                "  it opens on the Pareto front: one row per front trial, its objectives and "
                "stack; the parent run, named after the study, holds pareto.html, pareto.png and "
                "front.json",
                flush=True,
            )

    print(f"starting the MLflow UI on port {port} ...", file=sys.stderr, flush=True)
    raise typer.Exit(serve(ui_command(uri, port), port, announce))
