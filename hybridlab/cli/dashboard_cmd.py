"""`hybridlab dashboard STUDY.yaml`: optuna-dashboard over a study's Optuna storage.

Optuna's own view of the study, for its users: the history, hyperparameter importance, the
Pareto front plot, every trial's user attrs (the stack, the pattern, the learning rate the race
chose). It reads the storage the driver writes (the journal file in the study folder, or the
`storage:` database), on 127.0.0.1, served by `hybridlab.cli.serve`: however it ends, its whole
process group ends with it and the port is free again.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from hybridlab.cli.errors import fail
from hybridlab.cli.serve import check_port, serve


def dashboard_command(storage: str, journal: bool, port: int) -> list[str]:
    """The optuna-dashboard command line for `storage` (a journal file path or an RDB URL)."""
    beside = Path(sys.executable).with_name("optuna-dashboard")
    program = str(beside) if beside.exists() else shutil.which("optuna-dashboard")
    if program is None:
        fail("optuna-dashboard is not installed: pip install optuna-dashboard")
    command = [program, storage, "--host", "127.0.0.1", "--port", str(port), "--quiet"]
    if journal:
        command += ["--storage-class", "JournalFileStorage"]
    return command


def dashboard(
    study: Annotated[Path, typer.Argument(help="The study YAML file.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8080,
    overrides: Annotated[list[str] | None, typer.Argument(help="key=value overrides.")] = None,
) -> None:
    """Open optuna-dashboard on a study's Optuna storage; Ctrl-C stops it.

    Example: hybridlab dashboard studies/quickstart.yaml --port 8080
    """
    from hybridlab.study import StudyConfigError, load_plan
    from hybridlab.study.storage import make_storage

    check_port(port)
    try:
        plan = load_plan(study, overrides or [])
    except StudyConfigError as err:
        fail(str(err))
    if plan.storage is None and not plan.journal_path.is_file():
        fail(f"no study in {plan.folder}: run `hybridlab study run {study}` first")
    if plan.storage is None:
        # optuna-dashboard replays the journal too, and dies with a traceback on a record it
        # cannot read: a torn tail is set aside and a corrupt record named here first.
        try:
            make_storage(plan, create=False)
        except StudyConfigError as err:
            fail(str(err))
    check_port(port, free=True)
    storage = plan.storage or str(plan.journal_path.resolve())
    address = f"http://127.0.0.1:{port}/"

    def announce() -> None:
        print(f"optuna-dashboard for {plan.name} on {address} (Ctrl-C stops it)", flush=True)

    print(f"starting optuna-dashboard on port {port} ...", file=sys.stderr, flush=True)
    raise typer.Exit(serve(dashboard_command(storage, plan.storage is None, port), port, announce))
