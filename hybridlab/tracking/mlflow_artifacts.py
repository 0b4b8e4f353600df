"""Files attached to a study's trial runs after the study ran (e.g. an exported `config.json`).

`attach_to_trials` finds the study's parent run and its trial runs by their tags (as a resume
does, `hybridlab.tracking.mlflow_resume`) and logs each trial's files under one artifact folder,
so the front in the MLflow UI links to them. Trials without a run (a study run without MLflow)
are skipped and returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from hybridlab.tracking.mlflow_resume import find_parent, load_children
from hybridlab.tracking.mlflow_store import RunStore


def attach_to_trials(
    uri: str | None,
    folder: Path,
    name: str,
    files: Mapping[int, Sequence[Path]],
    artifact_dir: str,
) -> list[int]:
    """Log `files[number]` to trial `number`'s run of study `name` under `artifact_dir`;
    return the trial numbers that have no run (nothing was logged for them).

    `uri`: the study's MLflow tracking URI; None: the sqlite file in the study `folder`."""
    folder = folder.resolve()
    if uri is None and not (folder / "mlflow.db").exists():
        return sorted(files)
    store = RunStore(uri or f"sqlite:///{folder / 'mlflow.db'}", name, folder)
    parent = find_parent(store, name)
    runs = load_children(store, parent, []).runs if parent else {}
    for number, paths in files.items():
        run_id = runs.get(number)
        if run_id is not None:
            for path in paths:
                store.client.log_artifact(run_id, str(path), artifact_dir)
    return sorted(number for number in files if number not in runs)
