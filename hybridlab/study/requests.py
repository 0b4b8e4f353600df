"""Between a study and its executor: the request a run trains, the values read from its result.

`StudyPlan` is the study as data; these build from it what crosses to an executor and read
back what returns, for trials, seed runs and a validation's re-trainings alike.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hybridlab.execution import TrialRequest
from hybridlab.results import Status
from hybridlab.study.config import StudyPlan


def trial_request(
    plan: StudyPlan, number: int, spec: dict[str, Any], seed: int, *, judged: bool = False
) -> TrialRequest:
    """What an executor trains: `spec` (`ModelSpec.to_dict()`) on the study's task and training
    settings under `seed`; `judged`: a trial, evaluated at the pruner's rungs too and, with
    `train.keep_weights`, its weights written to `weights_file` (seed and validation runs are
    neither)."""
    train = dataclasses.asdict(plan.train)
    keep = judged and plan.train.keep_weights
    if judged and plan.rungs:
        train["eval_at"] = sorted({*train["eval_at"], *plan.rungs})
    return TrialRequest(
        number=number,
        spec=spec,
        task={"name": plan.task_name, **plan.task_settings},
        train={**train, "seed": seed},
        speed=[o.speed_request() for o in plan.objectives if o.speed],
        weights_path=str(weights_file(plan, number)) if keep else None,
    )


def weights_file(plan: StudyPlan, number: int) -> Path:
    """Where trial `number`'s weights are kept (`train.keep_weights`)."""
    return plan.folder / "weights" / f"trial-{number}.safetensors"


def measured_values(plan: StudyPlan, result: dict[str, Any]) -> dict[str, float] | None:
    """A run's measured objective values by label, the finite ones (None: it failed)."""
    if result.get("status") != Status.OK:
        return None
    values = {}
    for objective in plan.objectives:
        value = objective.measured_value(result) if objective.measured else None
        if value is not None:
            values[objective.label] = value
    return values
