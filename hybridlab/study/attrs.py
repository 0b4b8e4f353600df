"""The names under which a study keeps its records in Optuna's user attributes.

Optuna's storage is the study's record of truth (resume, `study pareto`); trackers and the live
view receive the same facts as plain data. Every key is named here once.
"""

from __future__ import annotations

import enum


class TrialAttr(enum.StrEnum):
    """User attributes of a trial."""

    # What became of it (`hybridlab.tracking.Outcome`) and why, when it failed.
    OUTCOME = "outcome"
    REASON = "failure_reason"
    # The sampled architecture: canonical stack, Megatron pattern, `ModelSpec.to_dict()`.
    STACK = "stack"
    PATTERN = "pattern"
    SPEC = "spec"
    INFEASIBLE = "infeasible"
    # "random-fallback" when a seeded random sampler drew it after infeasible samples in a row.
    SAMPLED_BY = "sampled_by"
    # A digest of spec, task and training settings; a repeat reuses the earlier result.
    REQUEST_KEY = "request_key"
    DUPLICATE_OF = "duplicate_of"
    # A fault (not a result): the trial failed, and `retried` runs it again as a new trial
    # with `retry_of` (the failed trial's number) and `attempt`.
    FAULT = "fault"
    # Several seeds (`train.seeds`): {result field: {"mean", "std", "n"}}.
    SPREAD = "spread"
    RETRIED = "retried"
    RETRY_OF = "retry_of"
    ATTEMPT = "attempt"
    # The study's hypervolume once this trial completed.
    HYPERVOLUME = "hypervolume"
    # The pruner's records: {rung step: objective values there}, and where it stopped the
    # trial (`hybridlab.study.pruning`).
    RUNGS = "rungs"
    PRUNED_AT = "pruned_at_step"


class StudyAttr(enum.StrEnum):
    """User attributes of the study."""

    # The resolved settings, for the record.
    SETTINGS = "hybridlab"
    # The digest of the settings that determine what a trial measures (`study.fingerprint`).
    FINGERPRINT = "measuring_fingerprint"
    # The hypervolume reference, fixed when the study is created.
    HV_REFERENCE = "hv_reference"
    HYPERVOLUME = "hypervolume"
    # A validation at a higher fidelity is kept under "validation/<fingerprint of the
    # fidelity>": its settings and every scaled run (`hybridlab.study.validate`).
    VALIDATION = "validation"


# Training result fields kept in a complete or failed trial's user attrs (the rest stays in the
# trackers' records).
KEPT_RESULT = (
    "status",
    "stop_reason",
    "accuracy",
    "loss",
    "bits_per_byte",
    "tokens_per_s",
    "wall_time_s",
    "steps_done",
    "lr",
    "lr_race",
    "race_steps",
    "peak_memory_bytes",
    "device",
    "fault",
    "worker",
    "weights_path",
    # Several seeds (`train.seeds`): the spread of the averaged values, and every member.
    "seeds",
    "spread",
    "members",
)
