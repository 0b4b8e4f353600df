"""Tracker recovery: on every start, the trackers hear of every finished trial again.

They record those they missed: a driver killed between Optuna's tell and the tracker's log,
trials interrupted by a crash (also one killed before its tracker heard of it), trials run
before tracking was on. The study's storage is the truth; trackers follow it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hybridlab.results import Fault
from hybridlab.study.attrs import TrialAttr
from hybridlab.study.reuse import kept_result
from hybridlab.tracking import Outcome, Tracker, TrialRecord


def recover_tracking(study: Any, labels: Sequence[str], tracker: Tracker) -> bool:
    """Send every finished trial of `study` to `tracker`; whether any of them is complete (the
    front then needs sending too)."""
    from optuna.trial import TrialState

    recovered = False
    for trial in study.get_trials(deepcopy=False):
        outcome = trial.user_attrs.get(TrialAttr.OUTCOME)
        if outcome is None or trial.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        complete = trial.state == TrialState.COMPLETE
        tracker.recover_trial(stored_record(trial, labels if complete else None))
        recovered = recovered or complete
    return recovered


def stored_record(trial: Any, labels: Sequence[str] | None) -> TrialRecord:
    """The `TrialRecord` of a finished trial as the study stored it (`labels`: the objectives'
    labels of a complete trial, None for one without values)."""
    attrs = trial.user_attrs
    return TrialRecord(
        trial.number,
        Outcome(attrs[TrialAttr.OUTCOME]),
        values={} if labels is None else dict(zip(labels, trial.values, strict=True)),
        params=dict(trial.params),
        stack=attrs.get(TrialAttr.STACK, ""),
        pattern=attrs.get(TrialAttr.PATTERN, ""),
        reason=attrs.get(TrialAttr.REASON),
        result=kept_result(trial) or None,
        hypervolume=attrs.get(TrialAttr.HYPERVOLUME),
        fault=None if attrs.get(TrialAttr.FAULT) is None else Fault(attrs[TrialAttr.FAULT]),
        retried=bool(attrs.get(TrialAttr.RETRIED)),
        pruned_at_step=attrs.get(TrialAttr.PRUNED_AT),
    )
