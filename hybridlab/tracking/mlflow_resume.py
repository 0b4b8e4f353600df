"""Resuming a study's MLflow record: find the parent run, and what each trial's run holds.

A resumed study finds its parent run by its tags and reuses it; its children are matched to
trials by the `trial_number` tag, so no finished trial is logged twice. Runs a crash left
RUNNING are left open here: the tracker's `recover_trial` closes each as the study has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hybridlab.results import objective_metric
from hybridlab.tracking.mlflow_store import RunStore, flatten

STUDY_TAG, ROLE_TAG, NUMBER_TAG = "hybridlab.study", "hybridlab.role", "trial_number"
PARENT_TAG = "mlflow.parentRunId"


@dataclass
class RunBook:
    """What the tracker knows of a study's trial runs.

    Attributes:
        runs: trial number → run id.
        finished: trial numbers whose run is terminated.
        outcomes: their `outcome` tag.
        values: complete trials' objective values, in the objectives' order.
        pareto: trial number → its (pareto, pareto_rank) tags as logged.
    """

    runs: dict[int, str] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)
    outcomes: dict[int, str | None] = field(default_factory=dict)
    values: dict[int, list[float]] = field(default_factory=dict)
    pareto: dict[int, tuple[str, str]] = field(default_factory=dict)


def open_parent(
    store: RunStore,
    name: str,
    settings: dict[str, Any],
    *,
    tags: dict[str, str] | None = None,
    new_tags: dict[str, str] | None = None,
) -> str:
    """The parent run that `tags` identify (default: the study `name`'s), reopened if found
    (the earliest), else created under `name` with `tags` and `new_tags`; logs the settings
    not yet logged (params cannot change once logged: a resume with a larger budget adds new
    keys)."""
    tags = tags or {ROLE_TAG: "study", STUDY_TAG: name}
    found = store.search(" AND ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items()))
    if found:
        parent = min(found, key=lambda r: r.info.start_time)
        parent_id = str(parent.info.run_id)
        if parent.info.status != "RUNNING":
            store.client.update_run(parent_id, status="RUNNING")
        known = parent.data.params
    else:
        parent_id = store.create_run(name, {**tags, **(new_tags or {})})
        known = {}
    params = {k: v for k, v in flatten(settings).items() if k not in known}
    store.log(parent_id, params=params)
    return parent_id


def find_parent(store: RunStore, name: str) -> str:
    """The id of study `name`'s parent run ("" when the study logged none)."""
    found = store.search(f"tags.`{ROLE_TAG}` = 'study' AND tags.`{STUDY_TAG}` = '{name}'")
    return str(min(found, key=lambda r: r.info.start_time).info.run_id) if found else ""


def load_children(store: RunStore, parent_id: str, labels: Sequence[str]) -> RunBook:
    """The `RunBook` of the trial runs under `parent_id`."""
    book = RunBook()
    for run in store.search(f"tags.`{PARENT_TAG}` = '{parent_id}'"):
        tags, run_id = run.data.tags, run.info.run_id
        if NUMBER_TAG not in tags:
            continue
        number = int(tags[NUMBER_TAG])
        book.runs[number] = run_id
        if run.info.status == "RUNNING":
            # Left running by a crash: `recover_trial` closes it as the study has it
            # (complete, failed, or interrupted and re-enqueued); else `end_study` as KILLED.
            continue
        book.finished.add(number)
        book.outcomes[number] = tags.get("outcome")
        metrics = run.data.metrics
        objectives = [metrics.get(objective_metric(label)) for label in labels]
        if run.info.status == "FINISHED" and None not in objectives:
            book.values[number] = objectives
        if "pareto_rank" in tags:
            book.pareto[number] = (tags.get("pareto", "false"), tags["pareto_rank"])
    return book
